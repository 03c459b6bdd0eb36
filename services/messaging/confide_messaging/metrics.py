"""The messaging service's domain counters (labels are bounded codes, never ids or text)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

messages_sent_total = Counter("messaging_messages_sent_total", "Messages stored, by kind", ["kind"])
crisis_flags_total = Counter(
    "messaging_crisis_flags_total", "Client messages that matched the crisis rule set (SAFE-24)"
)
notifications_sent_total = Counter(
    "messaging_notifications_sent_total", "Notifications handed to a provider", ["channel", "outcome"]
)
replies_overdue_total = Counter(
    "messaging_replies_overdue_total", "Text-therapy messages whose reply target passed (MSG-04)"
)
replies_overdue_open = Gauge(
    "messaging_replies_overdue_open", "Text-therapy messages past their reply target and still unanswered"
)
live_streams = Gauge("messaging_live_streams", "Open StreamMessages calls on this replica")

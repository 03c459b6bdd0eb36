"""The messaging service's domain metrics: `confide_messaging_` names, `service` first like every Confide
metric; the other labels are bounded codes, never ids or text."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from confide_chassis.metrics import bind_service

SERVICE = "messaging"

messages_sent_total = bind_service(
    Counter("confide_messaging_messages_sent_total", "Messages stored, by kind", ["service", "kind"]), SERVICE
)
crisis_flags_total = bind_service(
    Counter(
        "confide_messaging_crisis_flags_total",
        "Client messages that matched the crisis rule set (SAFE-24)",
        ["service"],
    ),
    SERVICE,
)
# SAFE-24: a risk flag whose care-team alert cannot reach a clinician. Reasons: no_care_team (nobody
# to alert), no_channel (a clinician has no e-mail or SMS channel on), undelivered (a crisis alert
# delivery attempt reached no channel; it is retried).
CRISIS_ESCALATION_FAILURE_REASONS = ("no_care_team", "no_channel", "undelivered")
crisis_escalation_failures_total = bind_service(
    Counter(
        "confide_messaging_crisis_escalation_failures_total",
        "Care-team crisis alerts that could not reach a clinician, by reason (no_care_team, no_channel, "
        "undelivered)",
        ["service", "reason"],
    ),
    SERVICE,
)
notifications_sent_total = bind_service(
    Counter(
        "confide_messaging_notifications_sent_total",
        "Notifications handed to a provider, by channel and outcome",
        ["service", "channel", "outcome"],
    ),
    SERVICE,
)
replies_overdue_total = bind_service(
    Counter(
        "confide_messaging_replies_overdue_total",
        "Text-therapy messages whose reply target passed (MSG-04)",
        ["service"],
    ),
    SERVICE,
)
replies_overdue_open = bind_service(
    Gauge(
        "confide_messaging_replies_overdue_open_messages",
        "Text-therapy messages past their reply target and still unanswered",
        ["service"],
    ),
    SERVICE,
)
live_streams = bind_service(
    Gauge("confide_messaging_live_streams", "Open StreamMessages calls on this replica", ["service"]), SERVICE
)

"""Billing's domain counters (Prometheus). `service` first like every Confide metric; the other labels
are bounded enums, never ids or amounts."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SERVICE = "billing"

estimates_issued_total = Counter(
    "confide_billing_estimates_issued_total",
    "Good Faith Estimates issued, by whether they met their legal deadline (BILL-31)",
    ["service", "timeliness"],
)
estimates_blocked_total = Counter(
    "confide_billing_estimates_blocked_total",
    "Good Faith Estimates that could not be issued, by reason (an admin must act)",
    ["service", "reason"],
)
charges_total = Counter(
    "confide_billing_charges_total",
    "Charges created, by kind and primary CPT code",
    ["service", "kind", "service_code"],
)
sessions_not_billable_total = Counter(
    "confide_billing_sessions_not_billable_total",
    "Completed sessions too short to bill (BILL-01)",
    ["service"],
)
bills_over_estimate_total = Counter(
    "confide_billing_bills_over_estimate_total",
    "Charges that took a client's bill $400 or more above the estimate (BILL-33)",
    ["service"],
)
fees_waived_total = Counter(
    "confide_billing_missed_appointment_fees_not_charged_total",
    "Missed-appointment fees not charged (no agreement, payer forbids, outside policy), by kind",
    ["service", "kind"],
)
payments_total = Counter(
    "confide_billing_payments_total",
    "Payment attempts by method and outcome",
    ["service", "method", "outcome"],
)

# Seconds from the source event (the booking, the completed session: its envelope's occurred_at) to
# billing's commit of what it owes: the event-freshness SLOs (docs/observability.md).
FRESHNESS_FLOWS = ("booking_to_gfe", "session_to_charge")
FRESHNESS_BUCKETS = (
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    4 * 3600.0,
    24 * 3600.0,
)
event_freshness_seconds = Histogram(
    "confide_billing_event_freshness_seconds",
    "Seconds from the source event (booking, completed session) to billing committing the Good Faith "
    "Estimate or the charge it caused, by flow (booking_to_gfe, session_to_charge)",
    ["service", "flow"],
    buckets=FRESHNESS_BUCKETS,
)

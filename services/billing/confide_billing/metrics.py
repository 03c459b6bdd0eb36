"""Billing's domain counters (Prometheus). `service` first like every Confide metric; the other labels
are bounded enums, never ids or amounts."""

from __future__ import annotations

from prometheus_client import Counter

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

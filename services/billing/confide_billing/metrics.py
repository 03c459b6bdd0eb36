"""Billing's domain counters (Prometheus). Labels are bounded enums, never ids or amounts.

Named ``confide_billing_...`` with the ``service`` label first, like every Confide metric (see
`confide_chassis.metrics`): `bind_service` sets it, so call sites pass only the other labels.
"""

from __future__ import annotations

from prometheus_client import Counter

from confide_chassis.metrics import bind_service

SERVICE = "billing"

estimates_issued_total = bind_service(
    Counter(
        "confide_billing_estimates_issued_total",
        "Good Faith Estimates issued, by whether they met their legal deadline (BILL-31)",
        ["service", "timeliness"],
    ),
    SERVICE,
)
estimates_blocked_total = bind_service(
    Counter(
        "confide_billing_estimates_blocked_total",
        "Good Faith Estimates that could not be issued, by reason (an admin must act)",
        ["service", "reason"],
    ),
    SERVICE,
)
charges_created_total = bind_service(
    Counter(
        "confide_billing_charges_created_total",
        "Charges created, by kind and primary CPT code",
        ["service", "kind", "service_code"],
    ),
    SERVICE,
)
sessions_not_billable_total = Counter(
    "confide_billing_sessions_not_billable_total",
    "Completed sessions too short to bill (BILL-01)",
    ["service"],
).labels(SERVICE)
bills_over_estimate_total = Counter(
    "confide_billing_bills_over_estimate_total",
    "Charges that took a client's bill $400 or more above the estimate (BILL-33)",
    ["service"],
).labels(SERVICE)
fees_waived_total = bind_service(
    Counter(
        "confide_billing_missed_appointment_fees_not_charged_total",
        "Missed-appointment fees not charged (no agreement, payer forbids, outside policy), by kind",
        ["service", "kind"],
    ),
    SERVICE,
)
payments_total = bind_service(
    Counter(
        "confide_billing_payments_total",
        "Payment attempts by method and outcome",
        ["service", "method", "outcome"],
    ),
    SERVICE,
)

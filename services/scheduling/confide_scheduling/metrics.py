"""Scheduling's domain counters (exported beside the chassis' on the metrics port).

Labels are bounded codes only (never a client, clinician, practice or appointment id, nor free text);
every counter carries ``service`` like the chassis' own metrics. Counters move after the change
committed, so a rolled-back request counts nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client import Counter

SERVICE = "scheduling"

bookings_total = Counter(
    "confide_scheduling_bookings_total",
    "Appointments booked, by how: book (one step), confirm_hold, series (per occurrence), waitlist_offer.",
    ["service", "via"],
)
booking_denials_total = Counter(
    "confide_scheduling_booking_denials_total",
    "Booking requests refused by a rule (FAILED_PRECONDITION), by rule id (LIC-, SAFE-, SCHED-).",
    ["service", "rule_id"],
)
check_ins_total = Counter(
    "confide_scheduling_check_ins_total",
    "Check-ins, by outcome: accepted, or refused (the appointment is flagged).",
    ["service", "outcome"],
)
high_risk_screenings_total = Counter(
    "confide_scheduling_high_risk_screenings_total",
    "Intake screenings triaged high risk (SAFE-23/24: crisis routing, no online self-booking).",
    ["service"],
)
no_shows_total = Counter(
    "confide_scheduling_no_shows_total",
    "Appointments marked as no-shows.",
    ["service"],
)
cancellations_total = Counter(
    "confide_scheduling_cancellations_total",
    "Appointments cancelled, by who cancelled (client, clinician, practice, system) and whether late.",
    ["service", "cancelled_by", "late"],
)

_RULE_ID = re.compile(r"^[A-Z]{2,8}-[0-9]{1,3}[A-Z]?$")


def rule_label(rule_id: str) -> str:
    """A rule id as a label; anything not shaped like one (e.g. from another service) is "other"."""
    return rule_id if _RULE_ID.match(rule_id) else "other"


def booked(via: str, count: int = 1) -> None:
    if count:
        bookings_total.labels(SERVICE, via).inc(count)


def booking_denied(rule_ids: Iterable[str]) -> None:
    for rule_id in sorted({rule_label(r) for r in rule_ids}):
        booking_denials_total.labels(SERVICE, rule_id).inc()


def checked_in(accepted: bool) -> None:
    check_ins_total.labels(SERVICE, "accepted" if accepted else "refused").inc()


def high_risk_screening() -> None:
    high_risk_screenings_total.labels(SERVICE).inc()


def no_show() -> None:
    no_shows_total.labels(SERVICE).inc()


def cancelled(cancelled_by: str, late: bool) -> None:
    cancellations_total.labels(SERVICE, cancelled_by, "true" if late else "false").inc()

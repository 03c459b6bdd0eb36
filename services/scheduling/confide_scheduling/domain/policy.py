"""Cancellation and no-show policy per practice, and whether a fee applies (BILL-41).

- A *client* cancelling less than ``late_cancel_window`` before the start (strictly less: exactly 24 h
  before is on time) makes a **late cancellation**; clinician/practice/system cancellations never are.
- A booked appointment with no check-in becomes a **no-show** once ``no_show_grace`` has elapsed after
  the start (at ``start + grace`` exactly, the grace period is over).
- A fee applies only if the practice configured one, the client was shown the fee policy in writing
  and agreed to it before the first session, and the payer is not a federal program (Medicare, Medicaid,
  TRICARE, other federal): BILL-41 — this service never charges those (a conservative reading: Medicare
  would allow a uniformly applied fee billed to the beneficiary, but never to Medicare).

The outcome is data; billing (a separate service) charges the fee from the event.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from confide_chassis.errors import FailedPrecondition, InvalidArgument, RuleViolation, ValidationCollector

from . import rules
from .appointments import Appointment, AppointmentStatus, CancelReason, require_status, transition
from .timekit import require_utc

__all__ = [
    "CancellationOutcome",
    "CancellationPolicy",
    "CancelledBy",
    "FeeContext",
    "FeeDecision",
    "FeeWaiver",
    "Money",
    "NoShowOutcome",
    "PayerType",
    "cancel_appointment",
    "classify_cancellation",
    "evaluate_no_show",
    "fee_decision",
    "mark_no_show",
    "no_show_at",
]

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Money:
    """Integer minor units of an ISO 4217 currency (e.g. 5000 USD = $50.00)."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        errors = ValidationCollector()
        errors.require(self.amount_minor >= 0, "amount_minor", "must not be negative")
        errors.require(bool(_CURRENCY.match(self.currency)), "currency", "must be an ISO 4217 code")
        errors.raise_if_any()


class PayerType(enum.StrEnum):
    SELF_PAY = "self_pay"
    COMMERCIAL = "commercial"
    MEDICARE = "medicare"
    MEDICAID = "medicaid"
    TRICARE = "tricare"
    OTHER_FEDERAL = "other_federal"

    @property
    def is_federal_program(self) -> bool:
        return self in {PayerType.MEDICARE, PayerType.MEDICAID, PayerType.TRICARE, PayerType.OTHER_FEDERAL}


class CancelledBy(enum.StrEnum):
    CLIENT = "client"
    CLINICIAN = "clinician"
    PRACTICE = "practice"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class CancellationPolicy:
    late_cancel_window: timedelta = timedelta(hours=24)
    no_show_grace: timedelta = timedelta(minutes=15)
    late_cancel_fee: Money | None = None
    no_show_fee: Money | None = None

    def __post_init__(self) -> None:
        errors = ValidationCollector()
        errors.require(
            timedelta(0) <= self.late_cancel_window <= timedelta(days=7),
            "policy.late_cancel_window",
            "must be between 0 and 7 days",
        )
        errors.require(
            timedelta(0) <= self.no_show_grace <= timedelta(hours=1),
            "policy.no_show_grace",
            "must be between 0 and 60 minutes",
        )
        errors.raise_if_any()


@dataclass(frozen=True, slots=True)
class FeeContext:
    """Facts about the client that decide fees: their payer type and whether they agreed, in writing and
    before the first session, to the practice's missed-appointment fee policy (BILL-41)."""

    payer_type: PayerType
    fee_policy_agreed: bool


class FeeWaiver(enum.StrEnum):
    NOT_APPLICABLE = "not_applicable"  # on-time or not client-initiated
    NO_FEE_CONFIGURED = "no_fee_configured"
    POLICY_NOT_AGREED = "policy_not_agreed"
    FEDERAL_PROGRAM_PAYER = "federal_program_payer"


@dataclass(frozen=True, slots=True)
class FeeDecision:
    applies: bool
    amount: Money | None = None
    waived_because: FeeWaiver | None = None
    rule_ids: tuple[str, ...] = (rules.BILL_41,)


def fee_decision(fee: Money | None, context: FeeContext) -> FeeDecision:
    """Whether a configured missed-appointment fee may be charged to this client (BILL-41)."""
    if fee is None or fee.amount_minor == 0:
        return FeeDecision(False, waived_because=FeeWaiver.NO_FEE_CONFIGURED)
    if context.payer_type.is_federal_program:
        return FeeDecision(False, waived_because=FeeWaiver.FEDERAL_PROGRAM_PAYER)
    if not context.fee_policy_agreed:
        return FeeDecision(False, waived_because=FeeWaiver.POLICY_NOT_AGREED)
    return FeeDecision(True, amount=fee)


_NO_FEE = FeeDecision(False, waived_because=FeeWaiver.NOT_APPLICABLE)


@dataclass(frozen=True, slots=True)
class CancellationOutcome:
    status: AppointmentStatus  # CANCELLED or LATE_CANCELLED
    notice: timedelta  # start - cancelled_at (negative after the start)
    fee: FeeDecision

    @property
    def late(self) -> bool:
        return self.status is AppointmentStatus.LATE_CANCELLED


def classify_cancellation(
    start: datetime,
    now: datetime,
    by: CancelledBy,
    policy: CancellationPolicy,
    fee_context: FeeContext,
) -> CancellationOutcome:
    """On-time or late, and the fee, for a cancellation at ``now`` of a session starting at ``start``."""
    notice = require_utc(start, "start") - require_utc(now, "now")
    if by is CancelledBy.CLIENT and notice < policy.late_cancel_window:
        return CancellationOutcome(
            AppointmentStatus.LATE_CANCELLED, notice, fee_decision(policy.late_cancel_fee, fee_context)
        )
    return CancellationOutcome(AppointmentStatus.CANCELLED, notice, _NO_FEE)


_REASON = {
    CancelledBy.CLIENT: CancelReason.CLIENT_REQUEST,
    CancelledBy.CLINICIAN: CancelReason.CLINICIAN_REQUEST,
    CancelledBy.PRACTICE: CancelReason.PRACTICE,
    CancelledBy.SYSTEM: CancelReason.PRACTICE,
}


def cancel_appointment(
    appointment: Appointment,
    now: datetime,
    by: CancelledBy,
    policy: CancellationPolicy,
    fee_context: FeeContext,
    *,
    reason: CancelReason | None = None,
) -> tuple[Appointment, CancellationOutcome]:
    """Cancel a booked, flagged or checked-in appointment and say whether it was late and costs a fee.

    Holds are released with ``release_hold``. An appointment flagged for authorization can never be a
    late cancellation: the platform, not the client, could not deliver it.
    """
    now_utc = require_utc(now, "now")
    require_status(
        appointment,
        AppointmentStatus.CANCELLED,
        AppointmentStatus.BOOKED,
        AppointmentStatus.FLAGGED_AUTHORIZATION,
        AppointmentStatus.CHECKED_IN,
    )
    if appointment.status is AppointmentStatus.CHECKED_IN and by is CancelledBy.CLIENT:
        raise InvalidArgument.field(
            "cancelled_by", "a checked-in session is ended by the clinician, not cancelled"
        )
    if appointment.status is AppointmentStatus.BOOKED:
        outcome = classify_cancellation(appointment.start, now_utc, by, policy, fee_context)
    else:
        outcome = CancellationOutcome(AppointmentStatus.CANCELLED, appointment.start - now_utc, _NO_FEE)
    updated = transition(
        appointment,
        outcome.status,
        now_utc,
        cancelled_at=now_utc,
        cancel_reason=reason or _REASON[by],
    )
    return updated, outcome


def no_show_at(appointment: Appointment, policy: CancellationPolicy) -> datetime:
    """The instant from which a booked appointment without check-in is a no-show."""
    return appointment.start + policy.no_show_grace


@dataclass(frozen=True, slots=True)
class NoShowOutcome:
    status: AppointmentStatus  # NO_SHOW
    fee: FeeDecision


def evaluate_no_show(
    appointment: Appointment, now: datetime, policy: CancellationPolicy, fee_context: FeeContext
) -> NoShowOutcome | None:
    """A no-show outcome when the appointment is still ``booked`` (never checked in) and the grace period
    after the start has elapsed at ``now``; otherwise None."""
    if appointment.status is not AppointmentStatus.BOOKED:
        return None
    if require_utc(now, "now") < no_show_at(appointment, policy):
        return None
    return NoShowOutcome(AppointmentStatus.NO_SHOW, fee_decision(policy.no_show_fee, fee_context))


def mark_no_show(
    appointment: Appointment, now: datetime, policy: CancellationPolicy, fee_context: FeeContext
) -> tuple[Appointment, NoShowOutcome]:
    """booked → no_show, only after the grace period (FailedPrecondition SCHED-05 before it)."""
    require_status(appointment, AppointmentStatus.NO_SHOW, AppointmentStatus.BOOKED)
    outcome = evaluate_no_show(appointment, now, policy, fee_context)
    if outcome is None:
        raise FailedPrecondition(
            RuleViolation(
                rules.SCHED_NO_SHOW_GRACE,
                "the no-show grace period after the start has not elapsed",
                subject=str(appointment.id),
            )
        )
    return transition(appointment, AppointmentStatus.NO_SHOW, now), outcome

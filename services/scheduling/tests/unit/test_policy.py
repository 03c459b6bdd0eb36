from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from confide_chassis.errors import FailedPrecondition, InvalidArgument
from confide_scheduling.domain.appointments import Appointment, AppointmentStatus, CancelReason
from confide_scheduling.domain.policy import (
    CancellationPolicy,
    CancelledBy,
    FeeContext,
    FeeWaiver,
    Money,
    PayerType,
    cancel_appointment,
    classify_cancellation,
    evaluate_no_show,
    fee_decision,
    mark_no_show,
    no_show_at,
)

AppointmentFactory = Callable[..., Appointment]
START = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)
FEE = Money(7500, "USD")
POLICY = CancellationPolicy(
    late_cancel_window=timedelta(hours=24),
    no_show_grace=timedelta(minutes=15),
    late_cancel_fee=FEE,
    no_show_fee=FEE,
)
AGREED_SELF_PAY = FeeContext(PayerType.SELF_PAY, fee_policy_agreed=True)


# ------------------------------------------------------------------------------------ late cancellation
@pytest.mark.parametrize(
    ("before_start", "late"),
    [
        (timedelta(hours=24, minutes=1), False),
        (timedelta(hours=24), False),  # exactly 24 h of notice is on time
        (timedelta(hours=23, minutes=59), True),
        (timedelta(minutes=1), True),
        (-timedelta(minutes=5), True),  # after the start
    ],
    ids=["24h01", "24h00", "23h59", "1m", "after_start"],
)
def test_bill_41_late_cancel_window_boundaries(before_start: timedelta, late: bool) -> None:
    outcome = classify_cancellation(START, START - before_start, CancelledBy.CLIENT, POLICY, AGREED_SELF_PAY)
    assert outcome.late is late
    assert outcome.status is (AppointmentStatus.LATE_CANCELLED if late else AppointmentStatus.CANCELLED)
    assert outcome.notice == before_start
    assert outcome.fee.applies is late
    assert outcome.fee.amount == (FEE if late else None)


@pytest.mark.parametrize("by", [CancelledBy.CLINICIAN, CancelledBy.PRACTICE, CancelledBy.SYSTEM])
def test_cancellation_not_by_client_is_never_late(by: CancelledBy) -> None:
    outcome = classify_cancellation(START, START - timedelta(hours=1), by, POLICY, AGREED_SELF_PAY)
    assert not outcome.late
    assert not outcome.fee.applies
    assert outcome.fee.waived_because is FeeWaiver.NOT_APPLICABLE


@pytest.mark.parametrize(
    "payer", [PayerType.MEDICARE, PayerType.MEDICAID, PayerType.TRICARE, PayerType.OTHER_FEDERAL]
)
def test_bill_41_no_fee_for_federal_program_payer(payer: PayerType) -> None:
    decision = fee_decision(FEE, FeeContext(payer, fee_policy_agreed=True))
    assert not decision.applies
    assert decision.waived_because is FeeWaiver.FEDERAL_PROGRAM_PAYER
    assert decision.rule_ids == ("BILL-41",)


def test_bill_41_no_fee_unless_policy_disclosed_and_agreed() -> None:
    decision = fee_decision(FEE, FeeContext(PayerType.COMMERCIAL, fee_policy_agreed=False))
    assert decision.waived_because is FeeWaiver.POLICY_NOT_AGREED
    assert not decision.applies


def test_bill_41_no_fee_when_practice_has_none() -> None:
    assert fee_decision(None, AGREED_SELF_PAY).waived_because is FeeWaiver.NO_FEE_CONFIGURED
    assert fee_decision(Money(0, "USD"), AGREED_SELF_PAY).waived_because is FeeWaiver.NO_FEE_CONFIGURED
    assert fee_decision(FEE, AGREED_SELF_PAY).applies


def test_cancel_appointment_applies_outcome(appointment_factory: AppointmentFactory) -> None:
    appointment = appointment_factory(start=START)
    cancelled, outcome = cancel_appointment(
        appointment, START - timedelta(hours=2), CancelledBy.CLIENT, POLICY, AGREED_SELF_PAY
    )
    assert cancelled.status is AppointmentStatus.LATE_CANCELLED
    assert cancelled.cancel_reason is CancelReason.CLIENT_REQUEST
    assert cancelled.cancelled_at == START - timedelta(hours=2)
    assert outcome.fee.applies


def test_cancelling_a_flagged_appointment_is_never_late(appointment_factory: AppointmentFactory) -> None:
    flagged = appointment_factory(start=START, status=AppointmentStatus.FLAGGED_AUTHORIZATION)
    cancelled, outcome = cancel_appointment(
        flagged, START - timedelta(hours=1), CancelledBy.CLIENT, POLICY, AGREED_SELF_PAY
    )
    assert cancelled.status is AppointmentStatus.CANCELLED
    assert not outcome.fee.applies


def test_cancel_refuses_terminal_and_held(appointment_factory: AppointmentFactory) -> None:
    for status in (AppointmentStatus.COMPLETED, AppointmentStatus.HELD, AppointmentStatus.IN_SESSION):
        with pytest.raises(FailedPrecondition):
            cancel_appointment(
                appointment_factory(status=status), START, CancelledBy.CLINICIAN, POLICY, AGREED_SELF_PAY
            )
    with pytest.raises(InvalidArgument):
        cancel_appointment(
            appointment_factory(status=AppointmentStatus.CHECKED_IN),
            START,
            CancelledBy.CLIENT,
            POLICY,
            AGREED_SELF_PAY,
        )


def test_policy_validation() -> None:
    with pytest.raises(InvalidArgument):
        CancellationPolicy(late_cancel_window=-timedelta(hours=1))
    with pytest.raises(InvalidArgument):
        Money(-1, "USD")
    with pytest.raises(InvalidArgument):
        Money(100, "usd")


# -------------------------------------------------------------------------------------------- no-show
@pytest.mark.parametrize(
    ("after_start", "is_no_show"),
    [
        (timedelta(minutes=14, seconds=59), False),
        (timedelta(minutes=15), True),
        (timedelta(minutes=15, seconds=1), True),
        (-timedelta(minutes=1), False),
    ],
    ids=["14m59s", "15m00s", "15m01s", "before_start"],
)
def test_no_show_after_grace_period_without_check_in(
    appointment_factory: AppointmentFactory, after_start: timedelta, is_no_show: bool
) -> None:
    appointment = appointment_factory(start=START)
    assert no_show_at(appointment, POLICY) == START + timedelta(minutes=15)
    outcome = evaluate_no_show(appointment, START + after_start, POLICY, AGREED_SELF_PAY)
    assert (outcome is not None) is is_no_show


def test_checked_in_client_is_never_a_no_show(appointment_factory: AppointmentFactory) -> None:
    checked_in = appointment_factory(start=START, status=AppointmentStatus.CHECKED_IN)
    assert evaluate_no_show(checked_in, START + timedelta(hours=2), POLICY, AGREED_SELF_PAY) is None
    with pytest.raises(FailedPrecondition):
        mark_no_show(checked_in, START + timedelta(hours=2), POLICY, AGREED_SELF_PAY)


def test_mark_no_show_transitions_and_decides_fee(appointment_factory: AppointmentFactory) -> None:
    appointment = appointment_factory(start=START)
    with pytest.raises(FailedPrecondition) as err:
        mark_no_show(appointment, START + timedelta(minutes=10), POLICY, AGREED_SELF_PAY)
    assert err.value.rule_ids == ("SCHED-05",)
    updated, outcome = mark_no_show(
        appointment, START + timedelta(minutes=15), POLICY, FeeContext(PayerType.MEDICAID, True)
    )
    assert updated.status is AppointmentStatus.NO_SHOW
    assert not outcome.fee.applies
    assert outcome.fee.waived_because is FeeWaiver.FEDERAL_PROGRAM_PAYER

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from confide_chassis.errors import FailedPrecondition, InvalidArgument
from confide_scheduling.domain.appointments import Appointment, AppointmentStatus, AuthorizationDecision
from confide_scheduling.domain.checkin import (
    CheckInPolicy,
    begin_check_in,
    check_in_window,
    complete_check_in,
    start_session,
)
from confide_scheduling.domain.location import ClientLocation

AppointmentFactory = Callable[..., Appointment]
START = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)  # 60-minute session
POLICY = CheckInPolicy(opens_before=timedelta(minutes=15))
HOME_NY = ClientLocation("NY", at_home=True, emergency_address_ref="addr_01J0")
ALLOW = AuthorizationDecision("dec-here", allowed=True)


@pytest.mark.parametrize(
    ("offset", "open_"),
    [
        (-timedelta(minutes=15, seconds=1), False),
        (-timedelta(minutes=15), True),
        (timedelta(0), True),
        (timedelta(minutes=59, seconds=59), True),
        (timedelta(minutes=60), False),  # closes at the end
    ],
    ids=["before_open", "opens", "start", "last_second", "end"],
)
def test_check_in_window_boundaries(
    appointment_factory: AppointmentFactory, offset: timedelta, open_: bool
) -> None:
    appointment = appointment_factory(start=START)
    assert check_in_window(appointment, POLICY) == (START - timedelta(minutes=15), START + timedelta(hours=1))
    if open_:
        begin_check_in(appointment, HOME_NY, True, START + offset, POLICY)
    else:
        with pytest.raises(FailedPrecondition) as err:
            begin_check_in(appointment, HOME_NY, True, START + offset, POLICY)
        assert err.value.rule_ids == ("SCHED-04",)


def test_lic_04_check_in_captures_location_and_asks_for_authorization_there(
    appointment_factory: AppointmentFactory,
) -> None:
    appointment = appointment_factory(start=START)
    travelling = ClientLocation("FL", at_home=False)
    attempt = begin_check_in(
        appointment,
        travelling,
        True,
        START - timedelta(minutes=5),
        POLICY,
        client_time_zone="America/New_York",
    )
    assert attempt.authorization_recheck.client_state == "FL"
    assert attempt.authorization_recheck.clinician_id == appointment.clinician_id
    assert attempt.authorization_recheck.modality == appointment.modality
    assert attempt.authorization_recheck.session_date == date(2026, 6, 15)
    outcome = complete_check_in(appointment, attempt, ALLOW, START - timedelta(minutes=4))
    assert outcome.accepted
    outcome.raise_if_refused()
    assert outcome.appointment.status is AppointmentStatus.CHECKED_IN
    assert outcome.appointment.check_in is not None
    assert outcome.appointment.check_in.location == travelling
    assert outcome.appointment.check_in.authorization_decision_id == "dec-here"
    assert outcome.appointment.authorization_decision_id == "dec-here"


def test_safe_01_identity_must_be_confirmed(appointment_factory: AppointmentFactory) -> None:
    with pytest.raises(FailedPrecondition) as err:
        begin_check_in(appointment_factory(start=START), HOME_NY, False, START, POLICY)
    assert err.value.rule_ids == ("SAFE-01",)


@pytest.mark.parametrize("state", ["ny", "XX", "New York", ""])
def test_safe_02_location_state_must_be_a_us_jurisdiction(state: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        ClientLocation(state, at_home=True)
    assert err.value.violations[0].field == "location.state"


def test_emergency_address_reference_is_opaque_and_not_in_event_facts(
    appointment_factory: AppointmentFactory,
) -> None:
    with pytest.raises(InvalidArgument):
        ClientLocation("NY", at_home=True, emergency_address_ref="12 Main St, Apt 3")
    attempt = begin_check_in(appointment_factory(start=START), HOME_NY, True, START, POLICY)
    facts = attempt.record.event_facts()
    assert facts == {
        "checked_in_at": START.isoformat(),
        "client_state": "NY",
        "at_home": True,
        "identity_confirmed": True,
    }
    assert "addr_01J0" not in str(facts)


def test_lic_03_check_in_from_unlicensed_state_is_refused_and_flagged(
    appointment_factory: AppointmentFactory,
) -> None:
    appointment = appointment_factory(start=START)
    attempt = begin_check_in(appointment, ClientLocation("CA", at_home=True), True, START, POLICY)
    denied = AuthorizationDecision("dec-ca", allowed=False, rule_ids=("LIC-03",))
    outcome = complete_check_in(appointment, attempt, denied, START)
    assert not outcome.accepted
    assert outcome.appointment.status is AppointmentStatus.FLAGGED_AUTHORIZATION
    assert outcome.appointment.authorization_decision_id == "dec-ca"
    with pytest.raises(FailedPrecondition) as err:
        outcome.raise_if_refused()
    assert err.value.rule_ids == ("LIC-01", "LIC-03")


def test_check_in_only_for_booked_appointments(appointment_factory: AppointmentFactory) -> None:
    for status in (AppointmentStatus.HELD, AppointmentStatus.CHECKED_IN, AppointmentStatus.CANCELLED):
        with pytest.raises(FailedPrecondition):
            begin_check_in(appointment_factory(start=START, status=status), HOME_NY, True, START, POLICY)


def test_attempt_must_belong_to_the_appointment(appointment_factory: AppointmentFactory) -> None:
    attempt = begin_check_in(appointment_factory(start=START), HOME_NY, True, START, POLICY)
    other = appointment_factory(start=START, id=UUID(int=77))
    with pytest.raises(InvalidArgument):
        complete_check_in(other, attempt, ALLOW, START)


def test_start_session_after_check_in(appointment_factory: AppointmentFactory) -> None:
    checked_in = appointment_factory(start=START, status=AppointmentStatus.CHECKED_IN)
    started = start_session(checked_in, START + timedelta(minutes=1))
    assert started.status is AppointmentStatus.IN_SESSION
    assert started.started_at == START + timedelta(minutes=1)
    with pytest.raises(FailedPrecondition):
        start_session(appointment_factory(start=START), START)  # not checked in
    with pytest.raises(FailedPrecondition) as err:
        start_session(checked_in, START + timedelta(hours=1))
    assert err.value.rule_ids == ("SCHED-04",)


def test_lic_04_cannot_start_without_recorded_location(appointment_factory: AppointmentFactory) -> None:
    no_record = appointment_factory(start=START, status=AppointmentStatus.CHECKED_IN, check_in=None)
    with pytest.raises(FailedPrecondition) as err:
        start_session(no_record, START)
    assert err.value.rule_ids == ("LIC-04",)

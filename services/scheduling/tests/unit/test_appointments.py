from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from confide_chassis.errors import Conflict, FailedPrecondition, InvalidArgument
from confide_scheduling.domain.appointments import (
    ALLOWED_TRANSITIONS,
    TERMINAL_STATUSES,
    Appointment,
    AppointmentStatus,
    AuthorizationDecision,
    CancelReason,
    book,
    busy_ranges,
    can_transition,
    confirm_hold,
    ensure_free,
    expire_hold,
    flag_authorization,
    is_hold_expired,
    occupies_calendar,
    place_hold,
    release_hold,
    reschedule,
    restore_authorization,
    transition,
)
from confide_scheduling.domain.catalog import Modality, SessionKind, SessionType
from confide_scheduling.domain.timekit import TimeRange

AppointmentFactory = Callable[..., Appointment]
S = AppointmentStatus
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
START = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)
ALLOW = AuthorizationDecision("dec-ok", allowed=True)
DENY = AuthorizationDecision("dec-no", allowed=False, rule_ids=("LIC-03", "LIC-11"))
FAMILY_VIDEO = SessionType(
    "family_60", SessionKind.FAMILY, timedelta(hours=1), modalities=frozenset({Modality.VIDEO})
)


def hold(
    *,
    modality: Modality = Modality.VIDEO,
    start: datetime = START,
    hold_ttl: timedelta = timedelta(minutes=10),
    min_notice: timedelta = timedelta(0),
) -> Appointment:
    return place_hold(
        appointment_id=UUID(int=1),
        practice_id=UUID(int=2),
        clinician_id=UUID(int=3),
        client_id=UUID(int=4),
        session_type=FAMILY_VIDEO,
        modality=modality,
        start=start,
        now=NOW,
        hold_ttl=hold_ttl,
        min_notice=min_notice,
    )


EXPECTED_EDGES = {
    (S.HELD, S.BOOKED),
    (S.HELD, S.CANCELLED),
    (S.BOOKED, S.CHECKED_IN),
    (S.BOOKED, S.CANCELLED),
    (S.BOOKED, S.LATE_CANCELLED),
    (S.BOOKED, S.NO_SHOW),
    (S.BOOKED, S.FLAGGED_AUTHORIZATION),
    (S.FLAGGED_AUTHORIZATION, S.BOOKED),
    (S.FLAGGED_AUTHORIZATION, S.CANCELLED),
    (S.CHECKED_IN, S.IN_SESSION),
    (S.CHECKED_IN, S.CANCELLED),
    (S.CHECKED_IN, S.FLAGGED_AUTHORIZATION),
    (S.IN_SESSION, S.COMPLETED),
}


def test_state_machine_is_exactly_the_documented_graph() -> None:
    actual = {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}
    assert actual == EXPECTED_EDGES
    assert set(ALLOWED_TRANSITIONS) == set(AppointmentStatus)
    assert {S.COMPLETED, S.CANCELLED, S.LATE_CANCELLED, S.NO_SHOW} == TERMINAL_STATUSES


@pytest.mark.parametrize(("current", "target"), sorted(EXPECTED_EDGES))
def test_legal_transitions_succeed_and_bump_version(
    appointment_factory: AppointmentFactory, current: AppointmentStatus, target: AppointmentStatus
) -> None:
    appointment = appointment_factory(status=current)
    moved = transition(appointment, target, NOW)
    assert moved.status is target
    assert moved.version == appointment.version + 1
    assert moved.updated_at == NOW
    assert appointment.status is current  # immutable


ILLEGAL = sorted(set(itertools.product(S, S)) - EXPECTED_EDGES)


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_transitions_are_failed_precondition(
    appointment_factory: AppointmentFactory, current: AppointmentStatus, target: AppointmentStatus
) -> None:
    assert not can_transition(current, target)
    with pytest.raises(FailedPrecondition) as err:
        transition(appointment_factory(status=current), target, NOW)
    assert err.value.rule_ids == ("SCHED-01",)
    assert err.value.metadata == {"from": current.value, "to": target.value}


# ------------------------------------------------------------------------------------------------ holds
def test_hold_then_confirm_books() -> None:
    held = hold()
    assert held.status is S.HELD
    assert held.hold_expires_at == NOW + timedelta(minutes=10)
    booked = confirm_hold(held, NOW + timedelta(minutes=9, seconds=59), ALLOW)
    assert booked.status is S.BOOKED
    assert booked.hold_expires_at is None
    assert booked.authorization_decision_id == "dec-ok"
    assert booked.scheduled_at == NOW + timedelta(minutes=9, seconds=59)


def test_hold_expires_at_its_expiry_instant() -> None:
    held = hold()
    expiry = NOW + timedelta(minutes=10)
    assert not is_hold_expired(held, expiry - timedelta(microseconds=1))
    assert is_hold_expired(held, expiry)
    with pytest.raises(FailedPrecondition) as err:
        confirm_hold(held, expiry, ALLOW)
    assert err.value.rule_ids == ("SCHED-02",)
    expired = expire_hold(held, expiry)
    assert expired.status is S.CANCELLED
    assert expired.cancel_reason is CancelReason.HOLD_EXPIRED


def test_expire_hold_before_expiry_is_refused() -> None:
    with pytest.raises(FailedPrecondition):
        expire_hold(hold(), NOW + timedelta(minutes=5))


def test_lic_03_confirm_with_denied_authorization_is_refused_with_rule_ids() -> None:
    with pytest.raises(FailedPrecondition) as err:
        confirm_hold(hold(), NOW, DENY)
    assert err.value.rule_ids == ("LIC-03", "LIC-11")
    assert err.value.metadata["authorization_decision_id"] == "dec-no"


def test_release_hold_only_from_held(appointment_factory: AppointmentFactory) -> None:
    released = release_hold(hold(), NOW)
    assert released.cancel_reason is CancelReason.HOLD_RELEASED
    with pytest.raises(FailedPrecondition):
        release_hold(appointment_factory(status=S.BOOKED), NOW)


def test_confirm_hold_only_from_held(appointment_factory: AppointmentFactory) -> None:
    with pytest.raises(FailedPrecondition):
        confirm_hold(appointment_factory(status=S.FLAGGED_AUTHORIZATION), NOW, ALLOW)


def test_hold_validation() -> None:
    with pytest.raises(InvalidArgument) as err:
        hold(modality=Modality.AUDIO)
    assert err.value.violations[0].field == "modality"
    with pytest.raises(InvalidArgument):
        hold(hold_ttl=timedelta(hours=2))
    with pytest.raises(FailedPrecondition) as notice:
        hold(start=NOW + timedelta(hours=1), min_notice=timedelta(hours=24))
    assert notice.value.rule_ids == ("SCHED-03",)
    with pytest.raises(InvalidArgument):
        hold(start=datetime(2026, 6, 15, 14))  # naive


def book_family(authorization: AuthorizationDecision) -> Appointment:
    return book(
        appointment_id=UUID(int=1),
        practice_id=UUID(int=2),
        clinician_id=UUID(int=3),
        client_id=UUID(int=4),
        session_type=FAMILY_VIDEO,
        modality=Modality.VIDEO,
        start=START,
        now=NOW,
        authorization=authorization,
        clinician_review_required=True,
    )


def test_book_in_one_step() -> None:
    appointment = book_family(ALLOW)
    assert appointment.status is S.BOOKED
    assert appointment.end == START + timedelta(hours=1)
    assert appointment.clinician_review_required
    with pytest.raises(FailedPrecondition):
        book_family(DENY)


# ------------------------------------------------------------------------------------- calendar use
def test_busy_ranges_include_active_and_unexpired_holds_only(appointment_factory: AppointmentFactory) -> None:
    hour = timedelta(hours=1)
    booked = appointment_factory(id=UUID(int=10), start=START)
    cancelled = appointment_factory(id=UUID(int=11), start=START + hour, status=S.CANCELLED)
    live_hold = appointment_factory(
        id=UUID(int=12), start=START + 2 * hour, status=S.HELD, hold_expires_at=NOW + hour
    )
    dead_hold = appointment_factory(
        id=UUID(int=13), start=START + 3 * hour, status=S.HELD, hold_expires_at=NOW
    )
    flagged = appointment_factory(id=UUID(int=14), start=START + 4 * hour, status=S.FLAGGED_AUTHORIZATION)
    all_ = [booked, cancelled, live_hold, dead_hold, flagged]
    assert busy_ranges(all_, NOW) == (booked.range, live_hold.range, flagged.range)
    assert busy_ranges(all_, NOW, exclude=booked.id) == (live_hold.range, flagged.range)
    assert not occupies_calendar(dead_hold, NOW)


def test_ensure_free_raises_conflict_with_buffer() -> None:
    busy = [TimeRange(START, START + timedelta(hours=1))]
    ensure_free(TimeRange(START + timedelta(hours=1), START + timedelta(hours=2)), busy)
    with pytest.raises(Conflict):
        ensure_free(
            TimeRange(START + timedelta(hours=1), START + timedelta(hours=2)), busy, timedelta(minutes=5)
        )


# ------------------------------------------------------------------------------ reschedule & flags
def test_reschedule_keeps_status_and_records_new_decision(appointment_factory: AppointmentFactory) -> None:
    moved = reschedule(appointment_factory(), START + timedelta(days=1), NOW, ALLOW)
    assert moved.status is S.BOOKED
    assert moved.start == START + timedelta(days=1)
    assert moved.end == moved.start + timedelta(hours=1)
    assert moved.scheduled_at == NOW
    with pytest.raises(FailedPrecondition):
        reschedule(appointment_factory(status=S.CHECKED_IN), START, NOW, ALLOW)
    with pytest.raises(FailedPrecondition):
        reschedule(appointment_factory(), START + timedelta(days=1), NOW, DENY)


def test_lic_03_lapse_flags_and_restores(appointment_factory: AppointmentFactory) -> None:
    flagged = flag_authorization(appointment_factory(), NOW, "dec-lapsed")
    assert flagged.status is S.FLAGGED_AUTHORIZATION
    assert flagged.authorization_decision_id == "dec-lapsed"
    with pytest.raises(FailedPrecondition):
        restore_authorization(flagged, NOW, DENY)
    restored = restore_authorization(flagged, NOW, ALLOW)
    assert restored.status is S.BOOKED
    with pytest.raises(FailedPrecondition):
        restore_authorization(hold(), NOW, ALLOW)
    with pytest.raises(FailedPrecondition):
        flag_authorization(appointment_factory(status=S.HELD), NOW)

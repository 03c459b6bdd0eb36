from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from confide_chassis.errors import InvalidArgument
from confide_scheduling.domain.appointments import Appointment, AppointmentStatus
from confide_scheduling.domain.reminders import (
    ReminderContent,
    ReminderPolicy,
    due_reminders,
    reminder_dedupe_key,
)

AppointmentFactory = Callable[..., Appointment]
START = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)
POLICY = ReminderPolicy()  # 24 h and 1 h
H = timedelta(hours=1)


def run(appointments: list[Appointment], now: datetime, sent: set[str]) -> list[str]:
    """One scheduler tick: emit what is due and remember it (the outbox unique key in real life)."""
    emitted = [r.dedupe_key for r in due_reminders(appointments, now, POLICY, frozenset(sent))]
    sent.update(emitted)
    return emitted


def test_msg_03_each_reminder_is_emitted_once(appointment_factory: AppointmentFactory) -> None:
    appointment = appointment_factory(start=START)
    sent: set[str] = set()
    ticks = [
        START - 25 * H,
        START - 24 * H,
        START - 23 * H,
        START - H,
        START - H + timedelta(minutes=1),
        START,
    ]
    emitted = [run([appointment], t, sent) for t in ticks]
    key_24 = f"reminder:{appointment.id}:1440m:20260615T140000Z"
    key_1 = f"reminder:{appointment.id}:60m:20260615T140000Z"
    assert emitted == [[], [key_24], [], [key_1], [], []]


def test_due_boundaries(appointment_factory: AppointmentFactory) -> None:
    appointment = appointment_factory(start=START)
    assert due_reminders([appointment], START - 24 * H - timedelta(seconds=1), POLICY) == ()
    (due,) = due_reminders([appointment], START - 24 * H, POLICY)
    assert due.offset == 24 * H
    assert due.due_at == START - 24 * H


def test_only_the_most_recent_due_offset_when_late(appointment_factory: AppointmentFactory) -> None:
    # the scheduler was down from before T-24h until T-30min: the 24 h reminder is stale
    (due,) = due_reminders([appointment_factory(start=START)], START - timedelta(minutes=30), POLICY)
    assert due.offset == H


def test_no_reminder_that_was_due_before_booking(appointment_factory: AppointmentFactory) -> None:
    booked_late = appointment_factory(start=START, scheduled_at=START - 3 * H)
    assert due_reminders([booked_late], START - 2 * H, POLICY) == ()
    (due,) = due_reminders([booked_late], START - H, POLICY)
    assert due.offset == H


@pytest.mark.parametrize(
    "status",
    [s for s in AppointmentStatus if s is not AppointmentStatus.BOOKED],
)
def test_only_booked_appointments_get_reminders(
    appointment_factory: AppointmentFactory, status: AppointmentStatus
) -> None:
    assert due_reminders([appointment_factory(start=START, status=status)], START - H, POLICY) == ()


def test_rescheduled_appointment_gets_new_keys(appointment_factory: AppointmentFactory) -> None:
    appointment = appointment_factory(start=START)
    sent: set[str] = set()
    run([appointment], START - 24 * H, sent)
    moved = dataclasses.replace(
        appointment, start=START + 48 * H, end=START + 49 * H, scheduled_at=START - 23 * H
    )
    assert run([moved], START + 24 * H, sent) == [reminder_dedupe_key(moved.id, 24 * H, moved.start)]


def test_msg_03_reminder_content_has_no_phi(appointment_factory: AppointmentFactory) -> None:
    (due,) = due_reminders([appointment_factory(start=START)], START - H, POLICY)
    assert due.content == ReminderContent(UUID("01900000-0000-7000-8000-000000000004"), START)
    assert [f.name for f in dataclasses.fields(ReminderContent)] == ["appointment_id", "starts_at"]


def test_dedupe_key_is_stable_across_replicas(appointment_factory: AppointmentFactory) -> None:
    appointment = appointment_factory(start=START)
    replica_a = due_reminders([appointment], START - H, POLICY)
    replica_b = due_reminders([appointment], START - H + timedelta(seconds=30), POLICY)
    assert replica_a[0].dedupe_key == replica_b[0].dedupe_key


def test_configurable_offsets(appointment_factory: AppointmentFactory) -> None:
    policy = ReminderPolicy((48 * H, 2 * H, timedelta(minutes=15)))
    (due,) = due_reminders([appointment_factory(start=START)], START - timedelta(minutes=15), policy)
    assert due.offset == timedelta(minutes=15)
    with pytest.raises(InvalidArgument):
        ReminderPolicy(())
    with pytest.raises(InvalidArgument):
        ReminderPolicy((H, H))
    with pytest.raises(InvalidArgument):
        ReminderPolicy((timedelta(seconds=90),))

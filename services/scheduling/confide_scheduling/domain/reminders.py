"""Appointment reminders: which are due at ``now``, each with a stable dedupe key.

Rules:
- only ``booked`` appointments get reminders (not holds, flagged, cancelled or past ones);
- a reminder with offset ``o`` is due from ``start - o`` until the start;
- a reminder whose due time was before the appointment was (re)scheduled is not sent: the booking
  confirmation covered it (booked 3 h ahead → no 24 h reminder, but the 1 h one);
- when several are due at once (e.g. the scheduler was down), only the one with the smallest offset is
  emitted; larger ones are stale;
- the dedupe key is ``reminder:{appointment id}:{offset minutes}m:{start, UTC}``. It contains the start
  so that a rescheduled appointment is reminded again for its new time, and is otherwise stable: the app
  stores it under a unique constraint with the outbox row, so several replicas emit a reminder once.

MSG-03: the reminder content is the appointment id and the start time, nothing else — no client or
clinician name, no service type, no modality; the notification service renders a neutral text with a
link to the authenticated portal.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from confide_chassis.errors import InvalidArgument

from .appointments import Appointment, AppointmentStatus
from .timekit import require_utc

__all__ = ["DueReminder", "ReminderContent", "ReminderPolicy", "due_reminders", "reminder_dedupe_key"]


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))

    def __post_init__(self) -> None:
        if not self.offsets or len(set(self.offsets)) != len(self.offsets):
            raise InvalidArgument.field("reminder_policy.offsets", "needs distinct offsets")
        for offset in self.offsets:
            if offset % timedelta(minutes=1) or not timedelta(minutes=5) <= offset <= timedelta(days=7):
                raise InvalidArgument.field(
                    "reminder_policy.offsets", "each offset is whole minutes between 5 minutes and 7 days"
                )


@dataclass(frozen=True, slots=True)
class ReminderContent:
    """Everything a reminder may say (MSG-03): which appointment and when. No PHI beyond that."""

    appointment_id: UUID
    starts_at: datetime


@dataclass(frozen=True, slots=True)
class DueReminder:
    dedupe_key: str
    offset: timedelta
    due_at: datetime
    content: ReminderContent


def reminder_dedupe_key(appointment_id: UUID, offset: timedelta, start: datetime) -> str:
    minutes = offset // timedelta(minutes=1)
    return f"reminder:{appointment_id}:{minutes}m:{start.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def due_reminders(
    appointments: Iterable[Appointment],
    now: datetime,
    policy: ReminderPolicy,
    already_sent: Collection[str] = frozenset(),
) -> tuple[DueReminder, ...]:
    """Reminders to emit now, at most one per appointment, none whose key is in ``already_sent``."""
    now_utc = require_utc(now, "now")
    due: list[DueReminder] = []
    for appointment in appointments:
        if appointment.status is not AppointmentStatus.BOOKED or now_utc >= appointment.start:
            continue
        scheduled_at = appointment.scheduled_at or appointment.created_at
        candidates = [
            o
            for o in policy.offsets
            if appointment.start - o <= now_utc and appointment.start - o >= scheduled_at
        ]
        if not candidates:
            continue
        offset = min(candidates)
        key = reminder_dedupe_key(appointment.id, offset, appointment.start)
        if key in already_sent:
            continue
        due.append(
            DueReminder(
                dedupe_key=key,
                offset=offset,
                due_at=appointment.start - offset,
                content=ReminderContent(appointment.id, appointment.start),
            )
        )
    return tuple(sorted(due, key=lambda r: (r.due_at, r.dedupe_key)))

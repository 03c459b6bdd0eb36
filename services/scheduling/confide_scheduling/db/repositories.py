"""One repository per aggregate over PostgreSQL: rows <-> records and the few queries the use cases
need (the ports of ``confide_scheduling.app.ports``).

Every repository works on the unit of work's ``AsyncSession`` (``db.uow``), so a use case's reads and
writes share one transaction. Constraint violations that mean "a concurrent change won" become
``Conflict`` (ABORTED); the exclusion constraint is the last guard against double booking.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, delete, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide_chassis.errors import Conflict
from confide_scheduling.app.ports import (
    AppointmentFilter,
    AppointmentRecord,
    ClientProfile,
    ConsentRecord,
    ScheduleRecord,
    ScreeningRow,
    SeriesRecord,
    practice_uuid,
)
from confide_scheduling.db import tables as t
from confide_scheduling.domain.appointments import (
    Appointment,
    AppointmentStatus,
    CancelReason,
)
from confide_scheduling.domain.availability import (
    DateException,
    ExceptionKind,
    WeeklyAvailability,
    WeeklyRule,
)
from confide_scheduling.domain.catalog import Modality, SessionKind, SessionType, Weekday
from confide_scheduling.domain.location import CheckInRecord, ClientLocation
from confide_scheduling.domain.policy import CancellationPolicy, CancelledBy, Money, PayerType
from confide_scheduling.domain.recurrence import (
    MovedOccurrence,
    OccurrenceException,
    RecurrenceFrequency,
    RecurringSeries,
    SkippedOccurrence,
)
from confide_scheduling.domain.timekit import TimeRange
from confide_scheduling.domain.waitlist import (
    FreedSlot,
    OfferStatus,
    TimeOfDayWindow,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
)

EXCLUSION_VIOLATION = "23P01"
UNIQUE_VIOLATION = "23505"


def _sqlstate(error: IntegrityError) -> str | None:
    orig: Any = error.orig
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


def _raise_if_double_booking(error: IntegrityError) -> None:
    """The exclusion constraint refused an overlap: a concurrent booking won (ABORTED)."""
    if _sqlstate(error) == EXCLUSION_VIOLATION or t.EXCLUSION_CONSTRAINT in str(error.orig):
        raise Conflict(
            "the clinician is already booked at that time",
            metadata={"constraint": "no_double_booking"},
        ) from None


def _modalities(values: Iterable[str] | None) -> frozenset[Modality] | None:
    return None if values is None else frozenset(Modality(v) for v in values)


def _codes(values: Iterable[Modality]) -> list[str]:
    return sorted(m.value for m in values)


# ------------------------------------------------------------------------------------------ appointments
def _appointment_values(rec: AppointmentRecord) -> dict[str, Any]:
    a = rec.appointment
    ci = a.check_in
    return {
        "id": a.id,
        "practice_id": rec.practice_id,
        "clinician_id": a.clinician_id,
        "client_id": a.client_id,
        "session_type_code": a.session_type.code,
        "session_kind": a.session_type.kind.value,
        "duration_minutes": a.session_type.duration_minutes,
        "buffer_minutes": a.session_type.buffer // timedelta(minutes=1),
        "session_modalities": _codes(a.session_type.modalities),
        "modality": a.modality.value,
        "start_at": a.start,
        "end_at": a.end,
        "status": a.status.value,
        "hold_expires_at": a.hold_expires_at,
        "scheduled_at": a.scheduled_at,
        "series_id": a.series_id,
        "occurrence_date": a.occurrence_date,
        "authorization_decision_id": a.authorization_decision_id,
        "authorized_state": rec.authorized_state,
        "clinician_time_zone": rec.clinician_time_zone,
        "clinician_review_required": a.clinician_review_required,
        "checked_in_at": ci.at if ci else None,
        "check_in_state": ci.location.state if ci else None,
        "check_in_at_home": ci.location.at_home if ci else None,
        "emergency_address_ref": ci.location.emergency_address_ref if ci else None,
        "identity_confirmed": ci.identity_confirmed if ci else None,
        "check_in_decision_id": ci.authorization_decision_id if ci else None,
        "started_at": a.started_at,
        "ended_at": a.ended_at,
        "delivered_modality": a.delivered_modality.value if a.delivered_modality else None,
        "actual_minutes": rec.actual_minutes,
        "cancelled_at": a.cancelled_at,
        "cancel_reason": a.cancel_reason.value if a.cancel_reason else None,
        "cancelled_by": rec.cancelled_by.value if rec.cancelled_by else None,
        "video_room": rec.video_room,
        "booked_by": rec.booked_by,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "version": a.version,
    }


def appointment_from_row(row: Any) -> AppointmentRecord:
    m = row._mapping
    check_in = None
    if m["checked_in_at"] is not None:
        check_in = CheckInRecord(
            at=m["checked_in_at"],
            location=ClientLocation(
                state=m["check_in_state"],
                at_home=bool(m["check_in_at_home"]),
                emergency_address_ref=m["emergency_address_ref"],
            ),
            identity_confirmed=bool(m["identity_confirmed"]),
            authorization_decision_id=m["check_in_decision_id"],
        )
    session_type = SessionType(
        code=m["session_type_code"],
        kind=SessionKind(m["session_kind"]),
        duration=timedelta(minutes=m["duration_minutes"]),
        buffer=timedelta(minutes=m["buffer_minutes"]),
        modalities=frozenset(Modality(v) for v in m["session_modalities"]),
    )
    appointment = Appointment(
        id=m["id"],
        practice_id=practice_uuid(m["practice_id"]),
        clinician_id=m["clinician_id"],
        client_id=m["client_id"],
        session_type=session_type,
        modality=Modality(m["modality"]),
        start=m["start_at"],
        end=m["end_at"],
        status=AppointmentStatus(m["status"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        hold_expires_at=m["hold_expires_at"],
        scheduled_at=m["scheduled_at"],
        series_id=m["series_id"],
        occurrence_date=m["occurrence_date"],
        authorization_decision_id=m["authorization_decision_id"],
        clinician_review_required=m["clinician_review_required"],
        check_in=check_in,
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        delivered_modality=Modality(m["delivered_modality"]) if m["delivered_modality"] else None,
        cancelled_at=m["cancelled_at"],
        cancel_reason=CancelReason(m["cancel_reason"]) if m["cancel_reason"] else None,
        version=m["version"],
    )
    return AppointmentRecord(
        appointment=appointment,
        practice_id=m["practice_id"],
        authorized_state=m["authorized_state"],
        clinician_time_zone=m["clinician_time_zone"],
        video_room=m["video_room"],
        booked_by=m["booked_by"],
        cancelled_by=CancelledBy(m["cancelled_by"]) if m["cancelled_by"] else None,
        actual_minutes=m["actual_minutes"],
    )


def _occupying(window: TimeRange, now: datetime) -> tuple[Any, ...]:
    """Appointments that keep the time reserved (an unexpired hold counts) and overlap ``window``."""
    a = t.appointments
    return (
        a.c.status.in_(t.OCCUPYING_STATUSES),
        or_(a.c.status != AppointmentStatus.HELD.value, a.c.hold_expires_at > now),
        a.c.start_at < window.end,
        a.c.end_at > window.start,
    )


# ----------------------------------------------------------------------------------------------- schedules
def _rules_to_json(rules: Sequence[WeeklyRule]) -> list[dict[str, Any]]:
    return [
        {
            "weekday": int(r.weekday),
            "start": r.start.strftime("%H:%M"),
            "end": r.end.strftime("%H:%M"),
            "modalities": None if r.modalities is None else _codes(r.modalities),
        }
        for r in rules
    ]


def _rules_from_json(data: Sequence[dict[str, Any]]) -> tuple[WeeklyRule, ...]:
    return tuple(
        WeeklyRule(
            weekday=Weekday(item["weekday"]),
            start=time.fromisoformat(item["start"]),
            end=time.fromisoformat(item["end"]),
            modalities=_modalities(item.get("modalities")),
        )
        for item in data
    )


def _exception_from_row(r: Any) -> DateException:
    return DateException(
        day=r.day,
        kind=ExceptionKind(r.kind),
        start=r.start_time,
        end=r.end_time,
        modalities=_modalities(r.modalities),
    )


def _schedule_from_row(row: Any) -> ScheduleRecord:
    m = row._mapping
    return ScheduleRecord(
        clinician_id=m["clinician_id"],
        practice_id=m["practice_id"],
        availability=WeeklyAvailability(
            time_zone=m["time_zone"],
            rules=_rules_from_json(m["weekly_rules"]),
            modalities_offered=frozenset(Modality(v) for v in m["modalities"]),
        ),
        location_state=m["location_state"],
        session_type_codes=frozenset(m["session_type_codes"]),
        version=m["version"],
        updated_at=m["updated_at"],
    )


# ---------------------------------------------------------------------------------------------------- series
def _series_exceptions_to_json(exceptions: Sequence[OccurrenceException]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in exceptions:
        if isinstance(e, SkippedOccurrence):
            out.append({"date": e.original_date.isoformat(), "kind": "skip"})
        else:
            out.append(
                {
                    "date": e.original_date.isoformat(),
                    "kind": "move",
                    "new_start": e.new_start.isoformat(),
                    "new_duration_minutes": None
                    if e.new_duration is None
                    else e.new_duration // timedelta(minutes=1),
                }
            )
    return out


def _series_exceptions_from_json(data: Sequence[dict[str, Any]]) -> tuple[OccurrenceException, ...]:
    out: list[OccurrenceException] = []
    for item in data:
        day = date.fromisoformat(item["date"])
        if item["kind"] == "skip":
            out.append(SkippedOccurrence(day))
        else:
            minutes = item.get("new_duration_minutes")
            out.append(
                MovedOccurrence(
                    day,
                    datetime.fromisoformat(item["new_start"]).astimezone(UTC),
                    None if minutes is None else timedelta(minutes=minutes),
                )
            )
    return tuple(out)


# -------------------------------------------------------------------------------------------------- waitlist
def _windows_to_json(windows: Sequence[TimeOfDayWindow]) -> list[dict[str, Any]]:
    return [
        {
            "start": w.start.strftime("%H:%M"),
            "end": w.end.strftime("%H:%M"),
            "weekdays": sorted(int(d) for d in w.weekdays),
        }
        for w in windows
    ]


def _windows_from_json(data: Sequence[dict[str, Any]]) -> tuple[TimeOfDayWindow, ...]:
    return tuple(
        TimeOfDayWindow(
            start=time.fromisoformat(w["start"]),
            end=time.fromisoformat(w["end"]),
            weekdays=frozenset(Weekday(d) for d in w["weekdays"]),
        )
        for w in data
    )


def _entry_from_row(row: Any) -> WaitlistEntry:
    m = row._mapping
    return WaitlistEntry(
        id=m["id"],
        practice_id=practice_uuid(m["practice_id"]),
        client_id=m["client_id"],
        enqueued_at=m["enqueued_at"],
        client_time_zone=m["client_time_zone"],
        session_type_codes=frozenset(m["session_type_codes"]),
        modalities=frozenset(Modality(v) for v in m["modalities"]),
        clinician_ids=frozenset(UUID(v) for v in m["clinician_ids"]),
        time_windows=_windows_from_json(m["time_windows"]),
        status=WaitlistStatus(m["status"]),
        version=m["version"],
    )


def _offer_from_row(row: Any) -> WaitlistOffer:
    m = row._mapping
    return WaitlistOffer(
        id=m["id"],
        entry_id=m["entry_id"],
        slot=FreedSlot(
            practice_id=practice_uuid(m["practice_id"]),
            clinician_id=m["clinician_id"],
            start=m["start_at"],
            end=m["end_at"],
            session_type_code=m["session_type_code"],
            modalities=frozenset(Modality(v) for v in m["modalities"]),
        ),
        offered_at=m["offered_at"],
        expires_at=m["expires_at"],
        status=OfferStatus(m["status"]),
        resolved_at=m["resolved_at"],
    )


async def _claim_rows(
    session: AsyncSession, where: Any, order_by: Any, limit: int
) -> list[AppointmentRecord]:
    """Appointments matching ``where``, locked with SKIP LOCKED (each row goes to one replica)."""
    a = t.appointments
    query = select(a).where(where).order_by(order_by).limit(limit).with_for_update(skip_locked=True)
    return [appointment_from_row(r) for r in await session.execute(query)]


class SqlAppointmentRepository:
    """Appointments: reads, writes, the per-clinician booking lock, the calendar's busy time."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, appointment_id: UUID, *, for_update: bool = False) -> AppointmentRecord | None:
        query = select(t.appointments).where(t.appointments.c.id == appointment_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return appointment_from_row(row) if row else None

    async def add(self, rec: AppointmentRecord) -> None:
        values = _appointment_values(rec)
        try:
            async with self._session.begin_nested():
                await self._session.execute(insert(t.appointments).values(values))
        except IntegrityError as error:
            _raise_if_double_booking(error)
            raise

    async def save(self, rec: AppointmentRecord, expected_version: int) -> None:
        values = _appointment_values(rec)
        values.pop("id")
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    update(t.appointments)
                    .where(t.appointments.c.id == rec.id, t.appointments.c.version == expected_version)
                    .values(values)
                )
        except IntegrityError as error:
            _raise_if_double_booking(error)
            raise
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("the appointment changed meanwhile; read it again and retry")

    async def lock_clinician(self, clinician_id: UUID) -> None:
        """Serialize bookings of one clinician for the rest of the transaction, so the buffer check and the
        insert see the same calendar (the exclusion constraint still guards the overlap itself)."""
        await self._session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"scheduling:clinician:{clinician_id}"},
        )

    async def busy_ranges(
        self,
        clinician_id: UUID,
        window: TimeRange,
        now: datetime,
        *,
        exclude: UUID | None = None,
    ) -> list[TimeRange]:
        """Ranges of this clinician's appointments that occupy the calendar and overlap ``window``."""
        a = t.appointments
        query = select(a.c.start_at, a.c.end_at).where(
            a.c.clinician_id == clinician_id, *_occupying(window, now)
        )
        if exclude is not None:
            query = query.where(a.c.id != exclude)
        return [TimeRange(r.start_at, r.end_at) for r in await self._session.execute(query)]

    async def busy_ranges_by_clinician(
        self, clinician_ids: Collection[UUID], window: TimeRange, now: datetime
    ) -> dict[UUID, list[TimeRange]]:
        """``busy_ranges`` of several clinicians in one query (slot search)."""
        if not clinician_ids:
            return {}
        a = t.appointments
        query = select(a.c.clinician_id, a.c.start_at, a.c.end_at).where(
            a.c.clinician_id.in_(clinician_ids), *_occupying(window, now)
        )
        out: dict[UUID, list[TimeRange]] = {}
        for r in await self._session.execute(query):
            out.setdefault(r.clinician_id, []).append(TimeRange(r.start_at, r.end_at))
        return out

    async def has_completed_session(self, clinician_id: UUID, client_id: UUID) -> bool:
        a = t.appointments
        return bool(
            await self._session.scalar(
                select(
                    exists().where(
                        a.c.clinician_id == clinician_id,
                        a.c.client_id == client_id,
                        a.c.status == AppointmentStatus.COMPLETED.value,
                    )
                )
            )
        )

    async def find(
        self,
        filters: AppointmentFilter,
        *,
        limit: int,
        after: tuple[datetime, UUID] | None = None,
    ) -> list[AppointmentRecord]:
        a = t.appointments
        query = select(a).where(a.c.practice_id == filters.practice_id)
        if filters.client_id is not None:
            query = query.where(a.c.client_id == filters.client_id)
        if filters.clinician_id is not None:
            query = query.where(a.c.clinician_id == filters.clinician_id)
        if filters.series_id is not None:
            query = query.where(a.c.series_id == filters.series_id)
        if filters.statuses:
            query = query.where(a.c.status.in_([s.value for s in filters.statuses]))
        if filters.window is not None:
            query = query.where(a.c.start_at >= filters.window.start, a.c.start_at < filters.window.end)
        if after is not None:
            query = query.where(
                or_(a.c.start_at > after[0], and_(a.c.start_at == after[0], a.c.id > after[1]))
            )
        query = query.order_by(a.c.start_at, a.c.id).limit(limit)
        return [appointment_from_row(r) for r in await self._session.execute(query)]

    async def series_occurrence(
        self, series_id: UUID, occurrence_date: date, *, active_only: bool = True
    ) -> AppointmentRecord | None:
        a = t.appointments
        query = select(a).where(a.c.series_id == series_id, a.c.occurrence_date == occurrence_date)
        if active_only:
            query = query.where(a.c.status.in_(t.OCCUPYING_STATUSES))
        row = (await self._session.execute(query.order_by(a.c.created_at.desc()).limit(1))).first()
        return appointment_from_row(row) if row else None

    async def future_of_series(self, series_id: UUID, from_date: date) -> list[AppointmentRecord]:
        a = t.appointments
        query = (
            select(a)
            .where(
                a.c.series_id == series_id,
                a.c.occurrence_date >= from_date,
                a.c.status.in_(
                    (
                        AppointmentStatus.HELD.value,
                        AppointmentStatus.BOOKED.value,
                        AppointmentStatus.FLAGGED_AUTHORIZATION.value,
                    )
                ),
            )
            .order_by(a.c.start_at)
        )
        return [appointment_from_row(r) for r in await self._session.execute(query)]

    async def to_flag(
        self,
        clinician_id: UUID,
        states: Sequence[str],
        modalities: Sequence[Modality],
        from_instant: datetime,
    ) -> list[AppointmentRecord]:
        """Future booked/checked-in appointments of a clinician for the given client states (the booked
        state, or the state stated at check-in), optionally limited to modalities; locked for update."""
        a = t.appointments
        state_match = or_(
            and_(a.c.check_in_state.is_(None), a.c.authorized_state.in_(states)),
            a.c.check_in_state.in_(states),
        )
        query = select(a).where(
            a.c.clinician_id == clinician_id,
            a.c.status.in_((AppointmentStatus.BOOKED.value, AppointmentStatus.CHECKED_IN.value)),
            a.c.start_at >= from_instant,
            state_match,
        )
        if modalities:
            query = query.where(a.c.modality.in_([m.value for m in modalities]))
        query = query.order_by(a.c.start_at).with_for_update()
        return [appointment_from_row(r) for r in await self._session.execute(query)]

    async def claim_past_flagged(self, now: datetime, limit: int) -> list[AppointmentRecord]:
        """Flagged appointments that have ended, locked (SKIP LOCKED: one replica each)."""
        a = t.appointments
        return await _claim_rows(
            self._session,
            (a.c.status == AppointmentStatus.FLAGGED_AUTHORIZATION.value) & (a.c.end_at <= now),
            a.c.end_at,
            limit,
        )


class SqlHoldRepository:
    """Holds (appointments in status held) whose time is up."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def expire_stale(self, clinician_id: UUID, window: TimeRange, now: datetime) -> list[UUID]:
        """Holds of this clinician overlapping ``window`` whose time is up are cancelled (hold_expired) so
        that they stop occupying the calendar."""
        a = t.appointments
        result = await self._session.execute(
            update(a)
            .where(
                a.c.clinician_id == clinician_id,
                a.c.status == AppointmentStatus.HELD.value,
                a.c.hold_expires_at <= now,
                a.c.start_at < window.end,
                a.c.end_at > window.start,
            )
            .values(
                status=AppointmentStatus.CANCELLED.value,
                cancel_reason=CancelReason.HOLD_EXPIRED.value,
                cancelled_by=CancelledBy.SYSTEM.value,
                cancelled_at=now,
                hold_expires_at=None,
                updated_at=now,
                version=a.c.version + 1,
            )
            .returning(a.c.id)
        )
        return [row[0] for row in result]

    async def lock_client(self, client_id: UUID) -> None:
        """Serialize the hold placements of one client for the rest of the transaction (the open-hold
        count and the insert see the same holds)."""
        await self._session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"scheduling:client-holds:{client_id}"},
        )

    async def count_open(self, client_id: UUID, now: datetime) -> int:
        """The client's holds that still reserve time."""
        a = t.appointments
        return int(
            await self._session.scalar(
                select(func.count())
                .select_from(a)
                .where(
                    a.c.client_id == client_id,
                    a.c.status == AppointmentStatus.HELD.value,
                    a.c.hold_expires_at > now,
                )
            )
            or 0
        )

    async def claim_expired(self, now: datetime, limit: int) -> list[AppointmentRecord]:
        """Holds whose time is up, oldest expiry first, locked (SKIP LOCKED: one replica each)."""
        a = t.appointments
        return await _claim_rows(
            self._session,
            (a.c.status == AppointmentStatus.HELD.value) & (a.c.hold_expires_at <= now),
            a.c.hold_expires_at,
            limit,
        )


class SqlReminderRepository:
    """Reminder candidates and the dedupe rows of sent reminders (MSG-03)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def candidates(
        self, now: datetime, horizon: timedelta, limit: int = 500
    ) -> list[AppointmentRecord]:
        a = t.appointments
        query = (
            select(a)
            .where(
                a.c.status == AppointmentStatus.BOOKED.value,
                a.c.start_at > now,
                a.c.start_at <= now + horizon,
            )
            .order_by(a.c.start_at)
            .limit(limit)
        )
        return [appointment_from_row(r) for r in await self._session.execute(query)]

    async def sent_keys(self, appointment_ids: Sequence[UUID]) -> set[str]:
        if not appointment_ids:
            return set()
        r = t.reminders_sent
        rows = await self._session.execute(
            select(r.c.dedupe_key).where(r.c.appointment_id.in_(appointment_ids))
        )
        return {row[0] for row in rows}

    async def record(
        self,
        dedupe_key: str,
        appointment_id: UUID,
        offset_minutes: int,
        start: datetime,
        now: datetime,
    ) -> bool:
        """Insert the reminder's dedupe row if the appointment is still booked at that start; True when this
        caller inserted it (and so must emit the event in the same transaction)."""
        result = await self._session.execute(
            text(
                """
                INSERT INTO reminders_sent (dedupe_key, appointment_id, offset_minutes, sent_at)
                SELECT CAST(:key AS text), CAST(:appointment_id AS uuid), CAST(:offset AS integer),
                       CAST(:now AS timestamptz)
                WHERE EXISTS (
                    SELECT 1 FROM appointments
                    WHERE id = CAST(:appointment_id AS uuid) AND status = 'booked' AND start_at = :start
                )
                ON CONFLICT (dedupe_key) DO NOTHING
                RETURNING dedupe_key
                """
            ),
            {
                "key": dedupe_key,
                "appointment_id": appointment_id,
                "offset": offset_minutes,
                "now": now,
                "start": start,
            },
        )
        return result.first() is not None


class SqlScheduleRepository:
    """Clinician availability: weekly schedule, date exceptions, time off."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, clinician_id: UUID, *, for_update: bool = False) -> ScheduleRecord | None:
        query = select(t.clinician_schedules).where(t.clinician_schedules.c.clinician_id == clinician_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return _schedule_from_row(row) if row else None

    async def list_for_practice(self, practice_id: str) -> list[ScheduleRecord]:
        s = t.clinician_schedules
        rows = await self._session.execute(
            select(s).where(s.c.practice_id == practice_id).order_by(s.c.clinician_id)
        )
        return [_schedule_from_row(r) for r in rows]

    async def save(self, record: ScheduleRecord) -> None:
        s = t.clinician_schedules
        values = {
            "clinician_id": record.clinician_id,
            "practice_id": record.practice_id,
            "time_zone": record.availability.time_zone,
            "location_state": record.location_state,
            "modalities": _codes(record.availability.modalities_offered),
            "session_type_codes": sorted(record.session_type_codes),
            "weekly_rules": _rules_to_json(record.availability.rules),
            "version": record.version,
            "updated_at": record.updated_at,
        }
        statement = pg_insert(s).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[s.c.clinician_id],
            set_={k: statement.excluded[k] for k in values if k != "clinician_id"},
        )
        await self._session.execute(statement)

    async def exceptions(
        self, clinician_id: UUID, first_day: date | None = None, last_day: date | None = None
    ) -> list[tuple[UUID, DateException]]:
        e = t.availability_exceptions
        query = select(e).where(e.c.clinician_id == clinician_id)
        if first_day is not None:
            query = query.where(e.c.day >= first_day)
        if last_day is not None:
            query = query.where(e.c.day <= last_day)
        rows = await self._session.execute(query.order_by(e.c.day, e.c.start_time))
        return [(r.id, _exception_from_row(r)) for r in rows]

    async def exceptions_by_clinician(
        self, clinician_ids: Collection[UUID], first_day: date, last_day: date
    ) -> dict[UUID, list[DateException]]:
        """``list_exceptions`` of several clinicians in one query (slot search)."""
        if not clinician_ids:
            return {}
        e = t.availability_exceptions
        rows = await self._session.execute(
            select(e)
            .where(e.c.clinician_id.in_(clinician_ids), e.c.day >= first_day, e.c.day <= last_day)
            .order_by(e.c.clinician_id, e.c.day, e.c.start_time)
        )
        out: dict[UUID, list[DateException]] = {}
        for r in rows:
            out.setdefault(r.clinician_id, []).append(_exception_from_row(r))
        return out

    async def add_exception(
        self, exception_id: UUID, clinician_id: UUID, exc: DateException, now: datetime
    ) -> None:
        await self._session.execute(
            insert(t.availability_exceptions).values(
                id=exception_id,
                clinician_id=clinician_id,
                day=exc.day,
                kind=exc.kind.value,
                start_time=exc.start,
                end_time=exc.end,
                modalities=None if exc.modalities is None else _codes(exc.modalities),
                created_at=now,
            )
        )

    async def remove_exception(self, clinician_id: UUID, exception_id: UUID) -> bool:
        e = t.availability_exceptions
        result = await self._session.execute(
            delete(e).where(e.c.id == exception_id, e.c.clinician_id == clinician_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def time_off(
        self, clinician_id: UUID, window: TimeRange | None = None
    ) -> list[tuple[UUID, TimeRange]]:
        o = t.time_off
        query = select(o).where(o.c.clinician_id == clinician_id)
        if window is not None:
            query = query.where(o.c.start_at < window.end, o.c.end_at > window.start)
        rows = await self._session.execute(query.order_by(o.c.start_at))
        return [(r.id, TimeRange(r.start_at, r.end_at)) for r in rows]

    async def time_off_by_clinician(
        self, clinician_ids: Collection[UUID], window: TimeRange
    ) -> dict[UUID, list[TimeRange]]:
        """``list_time_off`` of several clinicians in one query (slot search)."""
        if not clinician_ids:
            return {}
        o = t.time_off
        rows = await self._session.execute(
            select(o)
            .where(o.c.clinician_id.in_(clinician_ids), o.c.start_at < window.end, o.c.end_at > window.start)
            .order_by(o.c.clinician_id, o.c.start_at)
        )
        out: dict[UUID, list[TimeRange]] = {}
        for r in rows:
            out.setdefault(r.clinician_id, []).append(TimeRange(r.start_at, r.end_at))
        return out

    async def add_time_off(
        self, time_off_id: UUID, clinician_id: UUID, span: TimeRange, now: datetime
    ) -> None:
        await self._session.execute(
            insert(t.time_off).values(
                id=time_off_id,
                clinician_id=clinician_id,
                start_at=span.start,
                end_at=span.end,
                created_at=now,
            )
        )

    async def remove_time_off(self, clinician_id: UUID, time_off_id: UUID) -> bool:
        o = t.time_off
        result = await self._session.execute(
            delete(o).where(o.c.id == time_off_id, o.c.clinician_id == clinician_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class SqlClientRepository:
    """Projections of identity facts: client profiles, consents, care-team links."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def profile(self, client_id: UUID) -> ClientProfile | None:
        p = t.client_profiles
        row = (await self._session.execute(select(p).where(p.c.client_id == client_id))).first()
        if row is None:
            return None
        return ClientProfile(
            client_id=row.client_id,
            practice_id=row.practice_id,
            home_state=row.home_state,
            time_zone=row.time_zone,
            payer_type=PayerType(row.payer_type),
            is_minor=row.is_minor,
            guardian_consent_required=row.guardian_consent_required,
            profile_version=row.profile_version,
        )

    async def save_profile(self, profile: ClientProfile, changed_at: datetime) -> None:
        """Keep the newest profile version (older or equal versions are ignored)."""
        p = t.client_profiles
        values = {
            "client_id": profile.client_id,
            "practice_id": profile.practice_id,
            "home_state": profile.home_state,
            "time_zone": profile.time_zone,
            "payer_type": profile.payer_type.value,
            "is_minor": profile.is_minor,
            "guardian_consent_required": profile.guardian_consent_required,
            "profile_version": profile.profile_version,
            "updated_at": changed_at,
        }
        statement = pg_insert(p).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[p.c.client_id],
            set_={k: statement.excluded[k] for k in values if k != "client_id"},
            where=p.c.profile_version < statement.excluded.profile_version,
        )
        await self._session.execute(statement)

    async def add_consent(self, consent: ConsentRecord) -> None:
        await self._session.execute(
            pg_insert(t.consents)
            .values(
                signature_id=consent.signature_id,
                client_id=consent.client_id,
                practice_id=consent.practice_id,
                document_id=consent.document_id,
                document_version=consent.document_version,
                jurisdiction=consent.jurisdiction,
                modalities=_codes(consent.modalities),
                signer_role=consent.signer_role,
                document_effective_at=consent.document_effective_at,
                signed_at=consent.signed_at,
            )
            .on_conflict_do_nothing(index_elements=[t.consents.c.signature_id])
        )

    async def consents(self, client_id: UUID) -> list[ConsentRecord]:
        c = t.consents
        rows = await self._session.execute(select(c).where(c.c.client_id == client_id))
        return [
            ConsentRecord(
                signature_id=r.signature_id,
                client_id=r.client_id,
                practice_id=r.practice_id,
                document_id=r.document_id,
                document_version=r.document_version,
                jurisdiction=r.jurisdiction,
                modalities=frozenset(Modality(m) for m in r.modalities),
                signer_role=r.signer_role,
                document_effective_at=r.document_effective_at,
                signed_at=r.signed_at,
            )
            for r in rows
        ]

    async def current_consent_version(self, practice_id: str, now: datetime) -> int | None:
        """The practice's current consent version as far as scheduling knows: the highest version any client
        of the practice signed whose document is in effect at ``now``."""
        c = t.consents
        value = await self._session.scalar(
            select(func.max(c.c.document_version)).where(
                c.c.practice_id == practice_id,
                or_(c.c.document_effective_at.is_(None), c.c.document_effective_at <= now),
            )
        )
        return int(value) if value is not None else None

    async def set_care_team_link(
        self,
        *,
        link_id: str,
        client_id: UUID,
        clinician_id: UUID,
        practice_id: str,
        active: bool,
        changed_at: datetime,
    ) -> None:
        """Apply an assignment or removal; a removal always wins over a (late) assignment of the same link."""
        c = t.care_team_links
        statement = pg_insert(c).values(
            link_id=link_id,
            client_id=client_id,
            clinician_id=clinician_id,
            practice_id=practice_id,
            active=active,
            changed_at=changed_at,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[c.c.link_id],
            set_={"active": statement.excluded.active, "changed_at": statement.excluded.changed_at},
            where=c.c.active,
        )
        await self._session.execute(statement)

    async def on_care_team(self, clinician_id: UUID, client_id: UUID, practice_id: str) -> bool:
        c = t.care_team_links
        return bool(
            await self._session.scalar(
                select(
                    exists().where(
                        c.c.clinician_id == clinician_id,
                        c.c.client_id == client_id,
                        c.c.practice_id == practice_id,
                        c.c.active,
                    )
                )
            )
        )

    async def care_team(self, client_id: UUID) -> list[UUID]:
        c = t.care_team_links
        rows = await self._session.execute(
            select(c.c.clinician_id).where(c.c.client_id == client_id, c.c.active).distinct()
        )
        return sorted(r[0] for r in rows)


class SqlSeriesRepository:
    """Recurring series."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, series_id: UUID) -> SeriesRecord | None:
        s = t.series
        row = (await self._session.execute(select(s).where(s.c.id == series_id))).first()
        if row is None:
            return None
        m = row._mapping
        return SeriesRecord(
            series=RecurringSeries(
                id=m["id"],
                time_zone=m["time_zone"],
                first_date=m["first_date"],
                local_start=m["local_start"],
                duration=timedelta(minutes=m["duration_minutes"]),
                frequency=RecurrenceFrequency(m["frequency"]),
                count=m["count"],
                until=m["until"],
                exceptions=_series_exceptions_from_json(m["exceptions"]),
            ),
            practice_id=m["practice_id"],
            clinician_id=m["clinician_id"],
            client_id=m["client_id"],
            session_type_code=m["session_type_code"],
            modality=Modality(m["modality"]),
            client_state=m["client_state"],
            cancelled=m["cancelled"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            version=m["version"],
        )

    async def save(self, rec: SeriesRecord, *, expected_version: int | None) -> None:
        s = t.series
        values = {
            "id": rec.series.id,
            "practice_id": rec.practice_id,
            "clinician_id": rec.clinician_id,
            "client_id": rec.client_id,
            "session_type_code": rec.session_type_code,
            "modality": rec.modality.value,
            "time_zone": rec.series.time_zone,
            "first_date": rec.series.first_date,
            "local_start": rec.series.local_start,
            "duration_minutes": rec.series.duration // timedelta(minutes=1),
            "frequency": rec.series.frequency.value,
            "count": rec.series.count,
            "until": rec.series.until,
            "exceptions": _series_exceptions_to_json(rec.series.exceptions),
            "client_state": rec.client_state,
            "cancelled": rec.cancelled,
            "created_at": rec.created_at,
            "updated_at": rec.updated_at,
            "version": rec.version,
        }
        if expected_version is None:
            await self._session.execute(insert(s).values(values))
            return
        values.pop("id")
        result = await self._session.execute(
            update(s).where(s.c.id == rec.series.id, s.c.version == expected_version).values(values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("the series changed meanwhile; read it again and retry")


class SqlWaitlistRepository:
    """Waitlist entries and the offers made to them."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_entry(self, entry: WaitlistEntry, practice_id: str) -> None:
        await self._session.execute(
            insert(t.waitlist_entries).values(
                id=entry.id,
                practice_id=practice_id,
                client_id=entry.client_id,
                enqueued_at=entry.enqueued_at,
                client_time_zone=entry.client_time_zone,
                session_type_codes=sorted(entry.session_type_codes),
                modalities=_codes(entry.modalities),
                clinician_ids=sorted(str(c) for c in entry.clinician_ids),
                time_windows=_windows_to_json(entry.time_windows),
                status=entry.status.value,
                version=entry.version,
            )
        )

    async def get_entry(self, entry_id: UUID, *, for_update: bool = False) -> WaitlistEntry | None:
        w = t.waitlist_entries
        query = select(w).where(w.c.id == entry_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return _entry_from_row(row) if row else None

    async def entry_practice(self, entry_id: UUID) -> str | None:
        w = t.waitlist_entries
        value = await self._session.scalar(select(w.c.practice_id).where(w.c.id == entry_id))
        return str(value) if value is not None else None

    async def save_entry_status(self, entry: WaitlistEntry) -> None:
        w = t.waitlist_entries
        result = await self._session.execute(
            update(w)
            .where(w.c.id == entry.id, w.c.version == entry.version - 1)
            .values(status=entry.status.value, version=entry.version)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("the waitlist entry changed meanwhile; read it again and retry")

    async def waiting_entries(self, practice_id: str, limit: int = 500) -> list[WaitlistEntry]:
        w = t.waitlist_entries
        rows = await self._session.execute(
            select(w)
            .where(w.c.practice_id == practice_id, w.c.status == WaitlistStatus.WAITING.value)
            .order_by(w.c.enqueued_at, w.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_entry_from_row(r) for r in rows]

    async def client_entries(self, client_id: UUID) -> list[WaitlistEntry]:
        w = t.waitlist_entries
        rows = await self._session.execute(
            select(w)
            .where(
                w.c.client_id == client_id,
                w.c.status.in_((WaitlistStatus.WAITING.value, WaitlistStatus.OFFERED.value)),
            )
            .order_by(w.c.enqueued_at)
        )
        return [_entry_from_row(r) for r in rows]

    async def lock_client(self, client_id: UUID) -> None:
        """Serialize the waitlist joins of one client for the rest of the transaction."""
        await self._session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"scheduling:client-waitlist:{client_id}"},
        )

    async def add_offer(self, offer: WaitlistOffer, practice_id: str) -> None:
        await self._session.execute(
            insert(t.waitlist_offers).values(
                id=offer.id,
                entry_id=offer.entry_id,
                practice_id=practice_id,
                clinician_id=offer.slot.clinician_id,
                start_at=offer.slot.start,
                end_at=offer.slot.end,
                session_type_code=offer.slot.session_type_code,
                modalities=_codes(offer.slot.modalities),
                offered_at=offer.offered_at,
                expires_at=offer.expires_at,
                status=offer.status.value,
                resolved_at=offer.resolved_at,
            )
        )

    async def get_offer(self, offer_id: UUID, *, for_update: bool = False) -> WaitlistOffer | None:
        o = t.waitlist_offers
        query = select(o).where(o.c.id == offer_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return _offer_from_row(row) if row else None

    async def resolve_offer(self, offer: WaitlistOffer, appointment_id: UUID | None = None) -> None:
        o = t.waitlist_offers
        result = await self._session.execute(
            update(o)
            .where(o.c.id == offer.id, o.c.status == OfferStatus.PENDING.value)
            .values(status=offer.status.value, resolved_at=offer.resolved_at, appointment_id=appointment_id)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("the offer changed meanwhile; read it again")

    async def pending_offers_of_entries(self, entry_ids: Sequence[UUID]) -> list[WaitlistOffer]:
        if not entry_ids:
            return []
        o = t.waitlist_offers
        rows = await self._session.execute(
            select(o).where(o.c.entry_id.in_(entry_ids), o.c.status == OfferStatus.PENDING.value)
        )
        return [_offer_from_row(r) for r in rows]

    async def entries_offered_slot(self, clinician_id: UUID, start: datetime) -> frozenset[UUID]:
        o = t.waitlist_offers
        rows = await self._session.execute(
            select(o.c.entry_id).where(o.c.clinician_id == clinician_id, o.c.start_at == start)
        )
        return frozenset(r[0] for r in rows)

    async def claim_expired_offers(self, now: datetime, limit: int = 100) -> list[WaitlistOffer]:
        o = t.waitlist_offers
        rows = await self._session.execute(
            select(o)
            .where(o.c.status == OfferStatus.PENDING.value, o.c.expires_at <= now)
            .order_by(o.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_offer_from_row(r) for r in rows]

    async def offer_practice(self, offer_id: UUID) -> str | None:
        o = t.waitlist_offers
        value = await self._session.scalar(select(o.c.practice_id).where(o.c.id == offer_id))
        return str(value) if value is not None else None


class SqlScreeningRepository:
    """Intake screenings."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        row: ScreeningRow,
        *,
        submitted_by: str,
        submitted_role: str,
        triage_level: str,
        self_booking: str,
        clinician_review_required: bool,
        risk_flag_id: UUID | None,
    ) -> None:
        await self._session.execute(
            insert(t.screenings).values(
                id=row.id,
                practice_id=row.practice_id,
                client_id=row.client_id,
                submitted_by=submitted_by,
                submitted_role=submitted_role,
                phq9_answers=list(row.phq9_answers) if row.phq9_answers is not None else None,
                gad7_answers=list(row.gad7_answers) if row.gad7_answers is not None else None,
                cssrs_answers=row.cssrs_answers,
                triage_level=triage_level,
                self_booking=self_booking,
                clinician_review_required=clinician_review_required,
                risk_flag_id=risk_flag_id,
                created_at=row.created_at,
            )
        )

    async def latest(self, client_id: UUID) -> ScreeningRow | None:
        s = t.screenings
        row = (
            await self._session.execute(
                select(s)
                .where(s.c.client_id == client_id)
                .order_by(s.c.created_at.desc(), s.c.id.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return ScreeningRow(
            id=row.id,
            practice_id=row.practice_id,
            client_id=row.client_id,
            phq9_answers=tuple(row.phq9_answers) if row.phq9_answers is not None else None,
            gad7_answers=tuple(row.gad7_answers) if row.gad7_answers is not None else None,
            cssrs_answers=row.cssrs_answers,
            risk_flag_id=row.risk_flag_id,
            created_at=row.created_at,
        )


class SqlPolicyRepository:
    """Practice cancellation policies."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, practice_id: str) -> CancellationPolicy | None:
        p = t.practice_policies
        row = (await self._session.execute(select(p).where(p.c.practice_id == practice_id))).first()
        if row is None:
            return None
        return CancellationPolicy(
            late_cancel_window=timedelta(minutes=row.late_cancel_window_minutes),
            no_show_grace=timedelta(minutes=row.no_show_grace_minutes),
            late_cancel_fee=Money(row.late_cancel_fee_minor, row.late_cancel_fee_currency)
            if row.late_cancel_fee_minor is not None
            else None,
            no_show_fee=Money(row.no_show_fee_minor, row.no_show_fee_currency)
            if row.no_show_fee_minor is not None
            else None,
        )

    async def save(self, practice_id: str, policy: CancellationPolicy, now: datetime) -> None:
        p = t.practice_policies
        values = {
            "practice_id": practice_id,
            "late_cancel_window_minutes": policy.late_cancel_window // timedelta(minutes=1),
            "no_show_grace_minutes": policy.no_show_grace // timedelta(minutes=1),
            "late_cancel_fee_minor": policy.late_cancel_fee.amount_minor if policy.late_cancel_fee else None,
            "late_cancel_fee_currency": policy.late_cancel_fee.currency if policy.late_cancel_fee else None,
            "no_show_fee_minor": policy.no_show_fee.amount_minor if policy.no_show_fee else None,
            "no_show_fee_currency": policy.no_show_fee.currency if policy.no_show_fee else None,
            "updated_at": now,
        }
        statement = pg_insert(p).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[p.c.practice_id],
            set_={k: statement.excluded[k] for k in values if k != "practice_id"},
        )
        await self._session.execute(statement)

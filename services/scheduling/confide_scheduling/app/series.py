"""Recurring series: create (book every occurrence that can be booked, report the others one by one),
skip or move one occurrence, reschedule or cancel this-and-following.

Occurrences keep their wall-clock time in the clinician's zone across DST (``domain.recurrence``). Each
occurrence is authorized on its own date (LIC-03); compliance not answering fails the whole request
closed (UNAVAILABLE), a deny only skips that occurrence (NOT_AUTHORIZED with the rule ids).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, time, timedelta
from uuid import UUID

from confide_chassis import audit
from confide_chassis.errors import FailedPrecondition, InvalidArgument, NotFound, RuleViolation
from confide_chassis.ids import new_id
from confide_scheduling import metrics
from confide_scheduling.app import booking, commands, common
from confide_scheduling.app.booking import CANCELLED_BY_ROLE, Prepared
from confide_scheduling.app.context import AppContext, Caller, audit_record
from confide_scheduling.app.event_messages import (
    booked_event,
    rescheduled_event,
)
from confide_scheduling.app.ports import (
    AppointmentFilter,
    AppointmentRecord,
    FollowingRescheduled,
    OccurrenceChange,
    OccurrenceConflict,
    OccurrenceProblem,
    SeriesBooking,
    SeriesRecord,
    UnitOfWork,
    practice_uuid,
)
from confide_scheduling.domain import appointments as appts
from confide_scheduling.domain import rules
from confide_scheduling.domain.appointments import AppointmentStatus, AuthorizationDecision
from confide_scheduling.domain.catalog import Modality, SessionType
from confide_scheduling.domain.policy import CancelledBy
from confide_scheduling.domain.recurrence import (
    Occurrence,
    RecurringSeries,
    expand_series,
    find_conflicts,
    move_occurrence,
    skip_occurrence,
    split_series,
    truncate_series,
)
from confide_scheduling.domain.timekit import Nonexistent, TimeRange, local_to_utc, wall_clock

MAX_SPAN = timedelta(days=366)
COMPLIANCE_CONCURRENCY = 8


def _conflict(
    occurrence: Occurrence, problem: OccurrenceProblem, rule_ids: tuple[str, ...] = ()
) -> OccurrenceConflict:
    return OccurrenceConflict(occurrence, problem, rule_ids)


def _horizon(series: RecurringSeries) -> tuple[datetime, datetime]:
    start = local_to_utc(wall_clock(series.first_date, time(0, 0)), series.tz, Nonexistent.CLAMP)
    return start - timedelta(days=1), start + MAX_SPAN + timedelta(days=1)


def _occurrences(series: RecurringSeries) -> tuple[Occurrence, ...]:
    low, high = _horizon(series)
    found = expand_series(series, low, high)
    if series.count is not None and len(found) < series.count:
        raise InvalidArgument.field("count", "a series spans at most 366 days; book fewer occurrences")
    if series.until is not None and series.until - series.first_date > MAX_SPAN:
        raise InvalidArgument.field("until", "a series spans at most 366 days")
    return found


async def _prepare(
    ctx: AppContext,
    caller: Caller,
    client_id: UUID,
    clinician_id: UUID,
    kind: SessionType,
    modality: Modality,
    client_state: str | None,
    now: datetime,
) -> Prepared:
    async with ctx.uow() as uow:
        role, profile = await common.acting_for_client(uow, caller, client_id)
        common.require_own_calendar(caller, role, clinician_id)
        schedule = await common.clinician_schedule(uow, caller, clinician_id)
        common.require_offered(schedule, kind, modality)
        state = client_state or profile.home_state
        assert state is not None
        await common.require_consent(uow, profile, modality, state, now)
        review = await common.screening_gate(uow, client_id, role)
    return Prepared(role, profile, schedule, state, review)


async def _plan(
    ctx: AppContext,
    caller: Caller,
    prepared: Prepared,
    client_id: UUID,
    clinician_id: UUID,
    kind: SessionType,
    modality: Modality,
    occurrences: tuple[Occurrence, ...],
    now: datetime,
) -> tuple[list[tuple[Occurrence, AuthorizationDecision]], list[OccurrenceConflict]]:
    """Per occurrence: notice, availability, authorization (concurrently, fail closed)."""
    conflicts: list[OccurrenceConflict] = []
    candidates: list[Occurrence] = []
    async with ctx.uow() as uow:
        for occurrence in occurrences:
            if occurrence.start < now + ctx.settings.min_notice:
                conflicts.append(_conflict(occurrence, OccurrenceProblem.TOO_SOON))
                continue
            try:
                await common.require_available(uow, ctx, prepared.schedule, kind, modality, occurrence.start)
            except FailedPrecondition as error:
                conflicts.append(_conflict(occurrence, OccurrenceProblem.UNAVAILABLE, error.rule_ids))
                continue
            candidates.append(occurrence)
        existing_client = await uow.appointments.has_completed_session(clinician_id, client_id)
    limit = asyncio.Semaphore(COMPLIANCE_CONCURRENCY)

    async def ask(occurrence: Occurrence) -> AuthorizationDecision:
        async with limit:
            return await booking.authorize(
                ctx,
                caller,
                prepared,
                clinician_id=clinician_id,
                client_id=client_id,
                start=occurrence.start,
                modality=modality,
                appointment_id=None,
                existing_client=existing_client,
            )

    decisions = await asyncio.gather(*(ask(o) for o in candidates))
    planned: list[tuple[Occurrence, AuthorizationDecision]] = []
    for occurrence, decision in zip(candidates, decisions, strict=True):
        if decision.allowed:
            planned.append((occurrence, decision))
        else:
            conflicts.append(
                _conflict(occurrence, OccurrenceProblem.NOT_AUTHORIZED, decision.rule_ids or ("LIC-03",))
            )
    return planned, conflicts


async def _book_planned(
    uow: UnitOfWork,
    caller: Caller,
    prepared: Prepared,
    client_id: UUID,
    clinician_id: UUID,
    kind: SessionType,
    modality: Modality,
    series_id: UUID,
    planned: list[tuple[Occurrence, AuthorizationDecision]],
    now: datetime,
    min_notice: timedelta,
) -> tuple[list[AppointmentRecord], list[OccurrenceConflict]]:
    """Inside the transaction, under the clinician lock: book each planned occurrence that is still free."""
    booked: list[AppointmentRecord] = []
    conflicts: list[OccurrenceConflict] = []
    if not planned:
        return booked, conflicts
    await uow.appointments.lock_clinician(clinician_id)
    span = TimeRange(planned[0][0].start - kind.buffer, max(o.end for o, _ in planned) + kind.buffer)
    await uow.holds.expire_stale(clinician_id, span, now)
    busy = await uow.appointments.busy_ranges(clinician_id, span, now)
    for occurrence, decision in planned:
        if find_conflicts([occurrence], busy, buffer=kind.buffer):
            conflicts.append(_conflict(occurrence, OccurrenceProblem.CONFLICT))
            continue
        appointment = appts.book(
            appointment_id=new_id(),
            practice_id=practice_uuid(caller.practice_id),
            clinician_id=clinician_id,
            client_id=client_id,
            session_type=kind,
            modality=modality,
            start=occurrence.start,
            now=now,
            authorization=decision,
            min_notice=min_notice,
            clinician_review_required=prepared.clinician_review_required,
            series_id=series_id,
            occurrence_date=occurrence.original_date,
        )
        rec = booking.new_record(appointment, prepared, caller)
        await uow.appointments.add(rec)
        busy.append(appointment.range)
        booked.append(rec)
        uow.publish(booked_event(rec, now))
        audit_record(
            uow,
            action=audit.CREATE,
            resource_type="appointment",
            resource_id=str(rec.id),
            subject=client_id,
            now=now,
        )
    return booked, conflicts


async def _load(ctx: AppContext, caller: Caller, series_id: UUID) -> tuple[SeriesRecord, str]:
    async with ctx.uow() as uow:
        record = await uow.series.get(series_id)
    if record is None:
        raise NotFound("no such series")
    role = caller.role_for_appointment(
        record.practice_id, record.client_id, record.clinician_id, resource="series"
    )
    if record.cancelled:
        raise FailedPrecondition(RuleViolation(rules.SCHED_TRANSITION, "the series was cancelled"))
    return record, role


def _bumped(
    record: SeriesRecord, series: RecurringSeries | None, now: datetime, **changes: object
) -> SeriesRecord:
    return dataclasses.replace(
        record,
        series=series or record.series,
        updated_at=now,
        version=record.version + 1,
        **changes,  # type: ignore[arg-type]
    )


async def _drop(uow: UnitOfWork, ctx: AppContext, rec: AppointmentRecord, now: datetime) -> None:
    if rec.appointment.status is AppointmentStatus.HELD:
        released = rec.with_appointment(
            appts.release_hold(rec.appointment, now), cancelled_by=CancelledBy.SYSTEM
        )
        await uow.appointments.save(released, rec.appointment.version)
        return
    await booking.cancel_in(uow, ctx, rec, CancelledBy.SYSTEM, now, offer_to_waitlist=False)


def _sorted_conflicts(conflicts: list[OccurrenceConflict]) -> tuple[OccurrenceConflict, ...]:
    return tuple(sorted(conflicts, key=lambda c: (c.occurrence.start, c.problem.value)))


class SeriesUseCases:
    """Create (book every occurrence that can be booked, report the others), read, skip or move one
    occurrence, reschedule or cancel this-and-following."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    @common.counts_booking_denials
    async def create(self, caller: Caller, request: commands.CreateSeries) -> SeriesBooking:
        ctx = self._ctx
        if request.count is None and request.until is None:
            raise InvalidArgument.field("count", "set count (1-260) or until")
        if request.count is not None and request.until is not None:
            raise InvalidArgument.field("until", "set either count or until, not both")

        now = ctx.now()
        kind, modality = request.session_type, request.modality
        prepared = await _prepare(
            ctx, caller, request.client_id, request.clinician_id, kind, modality, request.client_state, now
        )
        tz = prepared.schedule.availability.tz
        local = request.first_start.astimezone(tz)
        if local.second or local.microsecond:
            raise InvalidArgument.field("first_start_time", "must be a whole minute")
        series = RecurringSeries(
            id=new_id(),
            time_zone=prepared.schedule.availability.time_zone,
            first_date=local.date(),
            local_start=local.time().replace(tzinfo=None),
            duration=kind.duration,
            frequency=request.frequency,
            count=request.count,
            until=request.until,
        )
        occurrences = _occurrences(series)
        planned, conflicts = await _plan(
            ctx, caller, prepared, request.client_id, request.clinician_id, kind, modality, occurrences, now
        )
        record = SeriesRecord(
            series=series,
            practice_id=caller.practice_id,
            clinician_id=request.clinician_id,
            client_id=request.client_id,
            session_type_code=kind.code,
            modality=modality,
            client_state=prepared.client_state,
            cancelled=False,
            created_at=now,
            updated_at=now,
            version=1,
        )
        async with ctx.uow() as uow:
            await uow.series.save(record, expected_version=None)
            booked, busy_conflicts = await _book_planned(
                uow,
                caller,
                prepared,
                request.client_id,
                request.clinician_id,
                kind,
                modality,
                series.id,
                planned,
                now,
                ctx.settings.min_notice,
            )
            audit_record(
                uow,
                action=audit.CREATE,
                resource_type="series",
                resource_id=str(series.id),
                subject=request.client_id,
                now=now,
            )
            await uow.commit()
        metrics.booked("series", len(booked))
        return SeriesBooking(record, tuple(booked), _sorted_conflicts([*conflicts, *busy_conflicts]))

    async def get(self, caller: Caller, series_id: UUID) -> SeriesBooking:
        ctx = self._ctx
        async with ctx.uow() as uow:
            record = await uow.series.get(series_id)
            if record is None:
                raise NotFound("no such series")
            caller.role_for_appointment(
                record.practice_id, record.client_id, record.clinician_id, resource="series"
            )
            rows = await uow.appointments.find(
                AppointmentFilter(practice_id=record.practice_id, series_id=series_id),
                limit=1000,
            )
            audit_record(
                uow,
                action=audit.READ,
                resource_type="series",
                resource_id=str(series_id),
                subject=record.client_id,
                now=ctx.now(),
            )
            await uow.commit()
        return SeriesBooking(record, tuple(rows), ())

    async def skip_occurrence(self, caller: Caller, command: commands.SkipOccurrence) -> OccurrenceChange:
        ctx = self._ctx
        series_id, day = command.series_id, command.occurrence_date
        now = ctx.now()
        record, role = await _load(ctx, caller, series_id)
        updated = _bumped(record, skip_occurrence(record.series, day), now)
        async with ctx.uow() as uow:
            await uow.series.save(updated, expected_version=record.version)
            result = OccurrenceChange(updated, None, None)
            rec = await uow.appointments.series_occurrence(series_id, day)
            if rec is not None:
                if rec.appointment.status is AppointmentStatus.HELD:
                    released = rec.with_appointment(
                        appts.release_hold(rec.appointment, now), cancelled_by=CANCELLED_BY_ROLE[role]
                    )
                    await uow.appointments.save(released, rec.appointment.version)
                    result = OccurrenceChange(updated, released, None)
                else:
                    cancelled, outcome = await booking.cancel_in(uow, ctx, rec, CANCELLED_BY_ROLE[role], now)
                    result = OccurrenceChange(updated, cancelled, outcome)
            await uow.commit()
        return result

    async def move_occurrence(self, caller: Caller, command: commands.MoveOccurrence) -> OccurrenceChange:
        ctx = self._ctx
        series_id, day, new_start = command.series_id, command.occurrence_date, command.new_start
        now = ctx.now()
        record, role = await _load(ctx, caller, series_id)
        updated_series = _bumped(record, move_occurrence(record.series, day, new_start), now)
        async with ctx.uow() as uow:
            rec = await uow.appointments.series_occurrence(series_id, day)
        if rec is None:
            raise NotFound("the occurrence has no booked appointment")
        moved, previous = await booking.reschedule_checked(ctx, caller, rec, role, new_start, now)
        async with ctx.uow() as uow:
            await uow.series.save(updated_series, expected_version=record.version)
            await booking.reserve(uow, moved, now, expected_version=rec.appointment.version)
            uow.publish(rescheduled_event(moved, previous, role, now))
            audit_record(
                uow,
                action=audit.UPDATE,
                resource_type="appointment",
                resource_id=str(moved.id),
                subject=record.client_id,
                rule_ids=(rules.LIC_03,),  # re-authorized for the new time, as a reschedule is
                now=now,
            )
            await uow.commit()
        return OccurrenceChange(updated_series, moved, None)

    async def reschedule_following(
        self, caller: Caller, change: commands.RescheduleFollowing
    ) -> FollowingRescheduled:
        ctx = self._ctx
        series_id = change.series_id
        now = ctx.now()
        record, _role = await _load(ctx, caller, series_id)
        split = split_series(
            record.series,
            change.from_date,
            new_series_id=new_id(),
            new_first_date=change.new_first_date,
            new_local_start=change.new_local_start,
            new_frequency=change.new_frequency,
        )
        kind = common.session_type(ctx, record.session_type_code)
        prepared = await _prepare(
            ctx,
            caller,
            record.client_id,
            record.clinician_id,
            kind,
            record.modality,
            record.client_state,
            now,
        )
        occurrences = _occurrences(split.following)
        planned, conflicts = await _plan(
            ctx,
            caller,
            prepared,
            record.client_id,
            record.clinician_id,
            kind,
            record.modality,
            occurrences,
            now,
        )
        original = (
            _bumped(record, split.original, now)
            if split.original is not None
            else _bumped(record, None, now, cancelled=True)
        )
        following = SeriesRecord(
            series=split.following,
            practice_id=record.practice_id,
            clinician_id=record.clinician_id,
            client_id=record.client_id,
            session_type_code=record.session_type_code,
            modality=record.modality,
            client_state=record.client_state,
            cancelled=False,
            created_at=now,
            updated_at=now,
            version=1,
        )
        async with ctx.uow() as uow:
            await uow.series.save(original, expected_version=record.version)
            await uow.series.save(following, expected_version=None)
            # The replaced occurrences are cancelled by the platform (a reschedule, never a late
            # cancellation), then the new ones are booked against the freed calendar.
            for old in await uow.appointments.future_of_series(series_id, change.from_date):
                await _drop(uow, ctx, old, now)
            booked, busy_conflicts = await _book_planned(
                uow,
                caller,
                prepared,
                record.client_id,
                record.clinician_id,
                kind,
                record.modality,
                split.following.id,
                planned,
                now,
                ctx.settings.min_notice,
            )
            result = FollowingRescheduled(
                original if split.original is not None else None,
                SeriesBooking(following, tuple(booked), _sorted_conflicts([*conflicts, *busy_conflicts])),
            )
            await uow.commit()
        return result

    async def cancel_following(
        self, caller: Caller, command: commands.CancelFollowing
    ) -> tuple[SeriesRecord, int]:
        ctx = self._ctx
        series_id, from_date = command.series_id, command.from_date
        now = ctx.now()
        record, role = await _load(ctx, caller, series_id)
        truncated = truncate_series(record.series, from_date)
        updated = (
            _bumped(record, truncated, now)
            if truncated is not None
            else _bumped(record, None, now, cancelled=True)
        )
        async with ctx.uow() as uow:
            await uow.series.save(updated, expected_version=record.version)
            count = 0
            for rec in await uow.appointments.future_of_series(series_id, from_date):
                if rec.appointment.status is AppointmentStatus.HELD:
                    released = rec.with_appointment(
                        appts.release_hold(rec.appointment, now), cancelled_by=CANCELLED_BY_ROLE[role]
                    )
                    await uow.appointments.save(released, rec.appointment.version)
                else:
                    await booking.cancel_in(uow, ctx, rec, CANCELLED_BY_ROLE[role], now)
                count += 1
            await uow.commit()
        return updated, count

"""Availability management and slot search.

Slot search asks compliance ``FindAuthorizedClinicians`` for the client's state (LIC-01/LIC-03), once per
modality wanted, and fails closed (UNAVAILABLE) when compliance does not answer; the booking itself is
authorized again with ``CheckAuthorization``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from uuid import UUID

from confide_chassis.errors import FailedPrecondition, InvalidArgument, NotFound, RuleViolation
from confide_chassis.ids import new_id
from confide_chassis.roles import CLINICIAN
from confide_scheduling.app import commands, common
from confide_scheduling.app.context import AppContext, Caller
from confide_scheduling.app.ports import (
    AvailabilityExceptionRecord,
    ClinicianSchedule,
    ClinicianSlot,
    Repositories,
    ScheduleRecord,
    SlotSearchResult,
    TimeOffRecord,
    UnitOfWork,
)
from confide_scheduling.domain import rules
from confide_scheduling.domain.availability import DateException, WeeklyAvailability, generate_slots
from confide_scheduling.domain.catalog import SYNCHRONOUS_MODALITIES, Modality, SessionType
from confide_scheduling.domain.location import US_JURISDICTIONS
from confide_scheduling.domain.timekit import TimeRange

MAX_TIME_OFF = timedelta(days=366)
DEFAULT_RESULTS = 200
MAX_RESULTS = 1000


class AvailabilityUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    def session_types(self) -> tuple[SessionType, ...]:
        return tuple(self._ctx.catalogue.session_types)

    async def schedule(self, actor: Caller, clinician_id: UUID) -> ClinicianSchedule:
        async with self._ctx.uow() as uow:
            record = await uow.schedules.get(clinician_id)
            if record is None or record.practice_id != actor.practice_id:
                raise NotFound("no such clinician schedule")
            actor.role_for_clinician(clinician_id)
            return await _with_details(uow, record)

    async def set_weekly_schedule(
        self, actor: Caller, command: commands.SetWeeklySchedule
    ) -> ClinicianSchedule:
        if command.location_state not in US_JURISDICTIONS:
            raise InvalidArgument.field("location", "must be a US state or territory")
        unknown = sorted(command.session_type_codes - {t.code for t in self._ctx.catalogue.session_types})
        if unknown:
            raise InvalidArgument.field("session_type_codes", f"unknown codes: {', '.join(unknown)}")
        availability = WeeklyAvailability(command.time_zone, command.rules, command.modalities)
        now = self._ctx.now()
        async with self._ctx.uow() as uow:
            existing = await uow.schedules.get(command.clinician_id, for_update=True)
            role = actor.role_for_clinician(
                command.clinician_id, practice_id=existing.practice_id if existing else None
            )
            if existing is None and role != CLINICIAN:
                # Scheduling cannot tell which practice a clinician without a schedule belongs to, and
                # a schedule belongs to the practice that created it: an admin creating one could claim
                # another practice's clinician (or a client's id) and lock its real practice out.
                raise FailedPrecondition(
                    RuleViolation(
                        rules.SCHED_SCHEDULE_OWNER,
                        "the clinician sets up their own schedule first; admins manage it afterwards",
                    )
                )
            record = ScheduleRecord(
                clinician_id=command.clinician_id,
                practice_id=actor.practice_id,
                availability=availability,
                location_state=command.location_state,
                session_type_codes=command.session_type_codes,
                version=(existing.version + 1) if existing else 1,
                updated_at=now,
            )
            await uow.schedules.save(record)
            result = await _with_details(uow, record)
            await uow.commit()
        return result

    async def add_exception(
        self, actor: Caller, command: commands.AddAvailabilityException
    ) -> AvailabilityExceptionRecord:
        async with self._ctx.uow() as uow:
            await _owned_schedule(uow, actor, command.clinician_id)
            added = AvailabilityExceptionRecord(new_id(), command.exception)
            await uow.schedules.add_exception(
                added.id, command.clinician_id, added.exception, self._ctx.now()
            )
            await uow.commit()
        return added

    async def remove_exception(self, actor: Caller, command: commands.RemoveAvailabilityException) -> None:
        async with self._ctx.uow() as uow:
            await _owned_schedule(uow, actor, command.clinician_id)
            if not await uow.schedules.remove_exception(command.clinician_id, command.exception_id):
                raise NotFound("no such availability exception")
            await uow.commit()

    async def add_time_off(self, actor: Caller, command: commands.AddTimeOff) -> TimeOffRecord:
        if command.span.duration > MAX_TIME_OFF:
            raise InvalidArgument.field("range.end", "time off spans at most 366 days")
        async with self._ctx.uow() as uow:
            await _owned_schedule(uow, actor, command.clinician_id)
            added = TimeOffRecord(new_id(), command.span)
            await uow.schedules.add_time_off(added.id, command.clinician_id, added.span, self._ctx.now())
            await uow.commit()
        return added

    async def remove_time_off(self, actor: Caller, command: commands.RemoveTimeOff) -> None:
        async with self._ctx.uow() as uow:
            await _owned_schedule(uow, actor, command.clinician_id)
            if not await uow.schedules.remove_time_off(command.clinician_id, command.time_off_id):
                raise NotFound("no such time off")
            await uow.commit()

    async def search_slots(self, actor: Caller, query: commands.SearchSlots) -> SlotSearchResult:
        ctx = self._ctx
        kind = common.session_type(ctx, query.session_type_code)
        if query.modality is not None and query.modality not in kind.modalities:
            raise InvalidArgument.field("modality", f"is not offered for session type {kind.code}")
        if query.max_results < 0:
            raise InvalidArgument.field("max_results", "must not be negative")
        limit = min(query.max_results or DEFAULT_RESULTS, MAX_RESULTS)
        now = ctx.now()
        async with ctx.uow() as uow:
            _, profile = await common.acting_for_client(uow, actor, query.client_id)
            state = query.client_state or profile.home_state
            assert state is not None
            assert profile.time_zone is not None
            schedules = [
                s
                for s in await uow.schedules.list_for_practice(actor.practice_id)
                if s.offers(kind.code) and (not query.clinician_ids or s.clinician_id in query.clinician_ids)
            ]
        wanted = [
            m
            for m in sorted(kind.modalities & SYNCHRONOUS_MODALITIES)
            if query.modality is None or m is query.modality
        ]
        candidates = {s.clinician_id for s in schedules}
        answers = await asyncio.gather(
            *(
                ctx.authorization.find_authorized(
                    client_state=state,
                    session_start=max(query.window.start, now),
                    client_time_zone=profile.time_zone,
                    modality=m,
                    clinician_ids=candidates,
                    bearer_token=actor.token,
                )
                for m in wanted
            )
        )
        authorized: dict[UUID, set[Modality]] = {}
        for modality, clinicians in zip(wanted, answers, strict=True):
            for clinician in clinicians:
                authorized.setdefault(clinician, set()).add(modality)
        eligible = [s for s in schedules if authorized.get(s.clinician_id)]
        ids = [s.clinician_id for s in eligible]
        days = {s.clinician_id: _local_days(query.window, s.availability.tz) for s in eligible}
        padded = query.window.padded(kind.duration + timedelta(hours=4), kind.duration + timedelta(hours=4))
        async with ctx.uow() as uow:  # one query each for all clinicians, not per clinician
            exceptions = await uow.schedules.exceptions_by_clinician(
                ids,
                min((first for first, _ in days.values()), default=query.window.start.date()),
                max((last for _, last in days.values()), default=query.window.end.date()),
            )
            off = await uow.schedules.time_off_by_clinician(ids, padded)
            busy = await uow.appointments.busy_ranges_by_clinician(ids, padded, now)
        slots: list[ClinicianSlot] = []
        for schedule in eligible:
            cid = schedule.clinician_id
            first, last = days[cid]
            slots.extend(
                _clinician_slots(
                    ctx,
                    schedule,
                    kind,
                    query,
                    authorized[cid],
                    profile.time_zone,
                    now,
                    exceptions=[e for e in exceptions.get(cid, ()) if first <= e.day <= last],
                    off=off.get(cid, []),
                    busy=busy.get(cid, []),
                )
            )
        slots.sort(key=lambda s: (s.slot.start, str(s.clinician_id)))
        return SlotSearchResult(tuple(slots[:limit]), profile.time_zone, state)


async def _with_details(uow: Repositories, record: ScheduleRecord) -> ClinicianSchedule:
    exceptions = await uow.schedules.exceptions(record.clinician_id)
    time_off = await uow.schedules.time_off(record.clinician_id)
    return ClinicianSchedule(
        record,
        tuple(AvailabilityExceptionRecord(i, e) for i, e in exceptions),
        tuple(TimeOffRecord(i, r) for i, r in time_off),
    )


async def _owned_schedule(uow: UnitOfWork, caller: Caller, clinician_id: UUID) -> ScheduleRecord:
    record = await uow.schedules.get(clinician_id, for_update=True)
    if record is None or record.practice_id != caller.practice_id:
        raise NotFound("no such clinician schedule")
    caller.role_for_clinician(clinician_id)
    return record


def _local_days(window: TimeRange, tz: tzinfo) -> tuple[date, date]:
    """The clinician's local days whose exceptions can touch ``window`` (one day of margin each side)."""
    return (
        window.start.astimezone(tz).date() - timedelta(days=1),
        window.end.astimezone(tz).date() + timedelta(days=1),
    )


def _clinician_slots(
    ctx: AppContext,
    schedule: ScheduleRecord,
    kind: SessionType,
    query: commands.SearchSlots,
    allowed: set[Modality],
    client_zone: str,
    now: datetime,
    *,
    exceptions: Sequence[DateException],
    off: Sequence[TimeRange],
    busy: Sequence[TimeRange],
) -> list[ClinicianSlot]:
    window = query.window
    generated = generate_slots(
        schedule.availability,
        exceptions,
        off,
        busy,
        kind,
        window.start,
        window.end,
        ctx.settings.granularity,
        ctx.settings.min_notice,
        now,
        client_zone=client_zone,
    )
    out: list[ClinicianSlot] = []
    for slot in generated:
        modalities = slot.modalities & allowed
        if not modalities:
            continue
        if query.time_windows and not any(
            w.fits(slot.client_local_start, slot.client_local_end) for w in query.time_windows
        ):
            continue
        out.append(
            ClinicianSlot(
                schedule.clinician_id,
                schedule.availability.time_zone,
                dataclasses.replace(slot, modalities=modalities),
            )
        )
    return out

"""Availability management and slot search.

Slot search asks compliance ``FindAuthorizedClinicians`` for the client's state (LIC-01/LIC-03), once per
modality wanted, and fails closed (UNAVAILABLE) when compliance does not answer; the booking itself is
authorized again with ``CheckAuthorization``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from uuid import UUID

from confide.scheduling.v1 import scheduling_pb2
from confide_chassis.errors import FailedPrecondition, InvalidArgument, NotFound, RuleViolation
from confide_chassis.ids import new_id
from confide_scheduling.app import common
from confide_scheduling.app.context import CLINICIAN, AppContext, Caller
from confide_scheduling.app.ports import ScheduleRecord, UnitOfWork
from confide_scheduling.app.views import exception_pb, schedule_pb, session_type_pb, time_off_pb
from confide_scheduling.domain import rules
from confide_scheduling.domain.availability import (
    DateException,
    WeeklyAvailability,
    WeeklyRule,
    generate_slots,
)
from confide_scheduling.domain.catalog import SYNCHRONOUS_MODALITIES, Modality, SessionType
from confide_scheduling.domain.location import US_JURISDICTIONS
from confide_scheduling.domain.timekit import TimeRange
from confide_scheduling.domain.waitlist import TimeOfDayWindow
from confide_scheduling.mapping import MODALITY_TO_PB, local_iso, state_to_pb, time_range_to_pb

pb = scheduling_pb2

MAX_TIME_OFF = timedelta(days=366)
DEFAULT_RESULTS = 200
MAX_RESULTS = 1000


def list_session_types(deps: AppContext) -> pb.ListSessionTypesResponse:
    return pb.ListSessionTypesResponse(
        session_types=[session_type_pb(t) for t in deps.catalogue.session_types]
    )


async def get_schedule(deps: AppContext, caller: Caller, clinician_id: UUID) -> pb.GetScheduleResponse:
    async with deps.uow() as uow:
        record = await uow.schedules.get(clinician_id)
        if record is None or record.practice_id != caller.practice_id:
            raise NotFound("no such clinician schedule")
        caller.role_for_clinician(clinician_id)
        exceptions = await uow.schedules.exceptions(clinician_id)
        time_off = await uow.schedules.time_off(clinician_id)
    return pb.GetScheduleResponse(schedule=schedule_pb(record, exceptions, time_off))


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    clinician_id: UUID
    time_zone: str
    location_state: str
    modalities: frozenset[Modality]
    session_type_codes: frozenset[str]
    rules: tuple[WeeklyRule, ...]


async def set_weekly_schedule(
    deps: AppContext, caller: Caller, data: WeeklySchedule
) -> pb.SetWeeklyScheduleResponse:
    if data.location_state not in US_JURISDICTIONS:
        raise InvalidArgument.field("location", "must be a US state or territory")
    unknown = sorted(data.session_type_codes - {t.code for t in deps.catalogue.session_types})
    if unknown:
        raise InvalidArgument.field("session_type_codes", f"unknown codes: {', '.join(unknown)}")
    availability = WeeklyAvailability(data.time_zone, data.rules, data.modalities)

    now = deps.now()
    async with deps.uow() as uow:
        existing = await uow.schedules.get(data.clinician_id, for_update=True)
        role = caller.role_for_clinician(
            data.clinician_id, practice_id=existing.practice_id if existing else None
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
            clinician_id=data.clinician_id,
            practice_id=caller.practice_id,
            availability=availability,
            location_state=data.location_state,
            session_type_codes=data.session_type_codes,
            version=(existing.version + 1) if existing else 1,
            updated_at=now,
        )
        await uow.schedules.save(record)
        exceptions = await uow.schedules.exceptions(data.clinician_id)
        time_off = await uow.schedules.time_off(data.clinician_id)
        response = pb.SetWeeklyScheduleResponse(schedule=schedule_pb(record, exceptions, time_off))
        await uow.commit()
    return response


async def _owned_schedule(uow: UnitOfWork, caller: Caller, clinician_id: UUID) -> ScheduleRecord:
    record = await uow.schedules.get(clinician_id, for_update=True)
    if record is None or record.practice_id != caller.practice_id:
        raise NotFound("no such clinician schedule")
    caller.role_for_clinician(clinician_id)
    return record


async def add_exception(
    deps: AppContext, caller: Caller, clinician_id: UUID, exc: DateException
) -> pb.AddAvailabilityExceptionResponse:
    async with deps.uow() as uow:
        await _owned_schedule(uow, caller, clinician_id)
        exception_id = new_id()
        await uow.schedules.add_exception(exception_id, clinician_id, exc, deps.now())
        response = pb.AddAvailabilityExceptionResponse(exception=exception_pb(exception_id, exc))
        await uow.commit()
    return response


async def remove_exception(
    deps: AppContext, caller: Caller, clinician_id: UUID, exception_id: UUID
) -> pb.RemoveAvailabilityExceptionResponse:
    async with deps.uow() as uow:
        await _owned_schedule(uow, caller, clinician_id)
        if not await uow.schedules.remove_exception(clinician_id, exception_id):
            raise NotFound("no such availability exception")
        response = pb.RemoveAvailabilityExceptionResponse()
        await uow.commit()
    return response


async def add_time_off(
    deps: AppContext, caller: Caller, clinician_id: UUID, span: TimeRange
) -> pb.AddTimeOffResponse:
    if span.duration > MAX_TIME_OFF:
        raise InvalidArgument.field("range.end", "time off spans at most 366 days")

    async with deps.uow() as uow:
        await _owned_schedule(uow, caller, clinician_id)
        time_off_id = new_id()
        await uow.schedules.add_time_off(time_off_id, clinician_id, span, deps.now())
        response = pb.AddTimeOffResponse(time_off=time_off_pb(time_off_id, span))
        await uow.commit()
    return response


async def remove_time_off(
    deps: AppContext, caller: Caller, clinician_id: UUID, time_off_id: UUID
) -> pb.RemoveTimeOffResponse:
    async with deps.uow() as uow:
        await _owned_schedule(uow, caller, clinician_id)
        if not await uow.schedules.remove_time_off(clinician_id, time_off_id):
            raise NotFound("no such time off")
        response = pb.RemoveTimeOffResponse()
        await uow.commit()
    return response


@dataclass(frozen=True, slots=True)
class SlotQuery:
    client_id: UUID
    session_type_code: str
    modality: Modality | None
    window: TimeRange
    client_state: str | None
    clinician_ids: frozenset[UUID]
    time_windows: tuple[TimeOfDayWindow, ...]
    max_results: int


async def search_slots(deps: AppContext, caller: Caller, query: SlotQuery) -> pb.SearchSlotsResponse:
    kind = common.session_type(deps, query.session_type_code)
    if query.modality is not None and query.modality not in kind.modalities:
        raise InvalidArgument.field("modality", f"is not offered for session type {kind.code}")
    if query.max_results < 0:
        raise InvalidArgument.field("max_results", "must not be negative")
    limit = min(query.max_results or DEFAULT_RESULTS, MAX_RESULTS)
    now = deps.now()
    async with deps.uow() as uow:
        _, profile = await common.acting_for_client(uow, caller, query.client_id)
        state = query.client_state or profile.home_state
        assert state is not None
        assert profile.time_zone is not None
        schedules = [
            s
            for s in await uow.schedules.list_for_practice(caller.practice_id)
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
            deps.authorization.find_authorized(
                client_state=state,
                session_start=max(query.window.start, now),
                client_time_zone=profile.time_zone,
                modality=m,
                clinician_ids=candidates,
                bearer_token=caller.token,
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
    async with deps.uow() as uow:  # one query each for all clinicians, not per clinician
        exceptions = await uow.schedules.exceptions_by_clinician(
            ids,
            min((first for first, _ in days.values()), default=query.window.start.date()),
            max((last for _, last in days.values()), default=query.window.end.date()),
        )
        off = await uow.schedules.time_off_by_clinician(ids, padded)
        busy = await uow.appointments.busy_ranges_by_clinician(ids, padded, now)
    slots: list[pb.Slot] = []
    for schedule in eligible:
        cid = schedule.clinician_id
        first, last = days[cid]
        slots.extend(
            _clinician_slots(
                deps,
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
    slots.sort(key=lambda s: (s.time.start.seconds, s.clinician_id))
    return pb.SearchSlotsResponse(
        slots=slots[:limit],
        client_time_zone=profile.time_zone,
        client_state=state_to_pb(state),
    )


def _local_days(window: TimeRange, tz: tzinfo) -> tuple[date, date]:
    """The clinician's local days whose exceptions can touch ``window`` (one day of margin each side)."""
    return (
        window.start.astimezone(tz).date() - timedelta(days=1),
        window.end.astimezone(tz).date() + timedelta(days=1),
    )


def _clinician_slots(
    deps: AppContext,
    schedule: ScheduleRecord,
    kind: SessionType,
    query: SlotQuery,
    allowed: set[Modality],
    client_zone: str,
    now: datetime,
    *,
    exceptions: Sequence[DateException],
    off: Sequence[TimeRange],
    busy: Sequence[TimeRange],
) -> Sequence[pb.Slot]:
    window = query.window
    generated = generate_slots(
        schedule.availability,
        exceptions,
        off,
        busy,
        kind,
        window.start,
        window.end,
        deps.settings.granularity,
        deps.settings.min_notice,
        now,
        client_zone=client_zone,
    )
    out: list[pb.Slot] = []
    for slot in generated:
        modalities = slot.modalities & allowed
        if not modalities:
            continue
        if query.time_windows and not any(
            w.fits(slot.client_local_start, slot.client_local_end) for w in query.time_windows
        ):
            continue
        message = pb.Slot(
            clinician_id=str(schedule.clinician_id),
            modalities=sorted(MODALITY_TO_PB[m] for m in modalities),
            client_local_start=slot.client_local_start.isoformat(),
            client_local_end=slot.client_local_end.isoformat(),
            clinician_local_start=local_iso(slot.start, schedule.availability.time_zone),
        )
        time_range_to_pb(message.time, slot.range)
        out.append(message)
    return out

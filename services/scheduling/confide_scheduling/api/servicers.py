# ruff: noqa: N802 - servicer methods carry the RPC names
"""gRPC servicers. Each method: read the caller (principal + bearer token to forward to compliance),
validate and convert the request (INVALID_ARGUMENT with field paths), call the use case."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any
from uuid import UUID

import grpc

from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_chassis.auth import current_principal
from confide_chassis.errors import InvalidArgument, Unauthenticated, ValidationCollector
from confide_chassis.grpc.interceptor import bearer_token
from confide_chassis.ids import parse_id
from confide_scheduling.app import availability, booking, screening, series, sessions, waitlist
from confide_scheduling.app.common import require_id, session_type
from confide_scheduling.app.context import AppContext, Caller
from confide_scheduling.domain.availability import DateException, ExceptionKind, WeeklyRule
from confide_scheduling.domain.catalog import Modality, Weekday
from confide_scheduling.domain.location import ClientLocation
from confide_scheduling.domain.policy import CancellationPolicy, Money
from confide_scheduling.domain.recurrence import RecurrenceFrequency
from confide_scheduling.domain.screening import CssrsAnswers
from confide_scheduling.domain.waitlist import TimeOfDayWindow
from confide_scheduling.mapping import (
    STATUS_FROM_PB,
    WEEKDAY_FROM_PB,
    date_from_pb,
    from_ts,
    modality_from_pb,
    optional_date_from_pb,
    optional_modality_from_pb,
    state_from_pb,
    time_of_day_from_pb,
    time_range_from_pb,
)

Context = grpc.aio.ServicerContext[Any, Any]


def caller_of(context: Context) -> Caller:
    """The verified principal (the interceptor checked the token) and the raw token, which is forwarded
    to compliance so that it authorizes and audits the real user."""
    principal = current_principal()
    token = bearer_token(context.invocation_metadata())
    if token is None:
        raise Unauthenticated("a valid access token is required")
    return Caller(principal, token)


def _optional_id(value: str, field_path: str) -> UUID | None:
    return require_id(value, field_path) if value else None


def _ids(values: Any, field_path: str) -> frozenset[UUID]:
    out: set[UUID] = set()
    for index, value in enumerate(values):
        parsed = parse_id(value)
        if parsed is None:
            raise InvalidArgument.field(f"{field_path}[{index}]", "must be a UUID")
        out.add(parsed)
    return frozenset(out)


def _modalities(values: Any, field_path: str) -> frozenset[Modality]:
    return frozenset(modality_from_pb(v, f"{field_path}[{i}]") for i, v in enumerate(values))


def _weekday(value: pb.Weekday.ValueType, field_path: str) -> Weekday:
    try:
        return WEEKDAY_FROM_PB[value]
    except KeyError:
        raise InvalidArgument.field(field_path, "must be a weekday") from None


def _time_windows(values: Any, field_path: str) -> tuple[TimeOfDayWindow, ...]:
    out = []
    for i, w in enumerate(values):
        path = f"{field_path}[{i}]"
        days = frozenset(_weekday(d, f"{path}.weekdays") for d in w.weekdays) or frozenset(Weekday)
        start = time_of_day_from_pb(w.start, f"{path}.start")
        end = time_of_day_from_pb(w.end, f"{path}.end")
        if not start < end:
            raise InvalidArgument.field(f"{path}.end", "must be after start")
        out.append(TimeOfDayWindow(start, end, days))
    return tuple(out)


def _end_time(value: pb.TimeOfDay, field_path: str) -> time:
    return time_of_day_from_pb(value, field_path)


def _booking_request(deps: AppContext, request: Any) -> booking.BookingRequest:
    errors = ValidationCollector()
    client_id = parse_id(request.client_id)
    clinician_id = parse_id(request.clinician_id)
    errors.require(client_id is not None, "client_id", "must be a UUID")
    errors.require(clinician_id is not None, "clinician_id", "must be a UUID")
    errors.require(request.HasField("start_time"), "start_time", "is required")
    errors.raise_if_any()
    assert client_id is not None
    assert clinician_id is not None
    return booking.BookingRequest(
        client_id=client_id,
        clinician_id=clinician_id,
        session_type=session_type(deps, request.session_type_code),
        modality=modality_from_pb(request.modality, "modality"),
        start=from_ts(request.start_time, "start_time"),
        client_state=state_from_pb(request.client_state, "client_state", required=False),
    )


class AvailabilityServicer(pb_grpc.AvailabilityServiceServicer):
    def __init__(self, deps: AppContext) -> None:
        self._deps = deps

    async def ListSessionTypes(
        self, request: pb.ListSessionTypesRequest, context: Context
    ) -> pb.ListSessionTypesResponse:
        return availability.list_session_types(self._deps)

    async def GetSchedule(self, request: pb.GetScheduleRequest, context: Context) -> pb.GetScheduleResponse:
        return await availability.get_schedule(
            self._deps, caller_of(context), require_id(request.clinician_id, "clinician_id")
        )

    async def SetWeeklySchedule(
        self, request: pb.SetWeeklyScheduleRequest, context: Context
    ) -> pb.SetWeeklyScheduleResponse:
        caller = caller_of(context)
        rules = []
        for i, r in enumerate(request.weekly_rules):
            path = f"weekly_rules[{i}]"
            rules.append(
                WeeklyRule(
                    weekday=_weekday(r.weekday, f"{path}.weekday"),
                    start=time_of_day_from_pb(r.start, f"{path}.start"),
                    end=_end_time(r.end, f"{path}.end"),
                    modalities=_modalities(r.modalities, f"{path}.modalities") or None,
                )
            )
        if not request.modalities:
            raise InvalidArgument.field("modalities", "offer at least one modality")
        data = availability.WeeklySchedule(
            clinician_id=require_id(request.clinician_id, "clinician_id"),
            time_zone=request.time_zone,
            location_state=state_from_pb(request.location, "location") or "",
            modalities=_modalities(request.modalities, "modalities"),
            session_type_codes=frozenset(request.session_type_codes),
            rules=tuple(rules),
        )
        return await availability.set_weekly_schedule(self._deps, caller, data)

    async def AddAvailabilityException(
        self, request: pb.AddAvailabilityExceptionRequest, context: Context
    ) -> pb.AddAvailabilityExceptionResponse:
        caller = caller_of(context)
        e = request.exception
        kinds = {
            pb.EXCEPTION_KIND_EXTRA: ExceptionKind.EXTRA,
            pb.EXCEPTION_KIND_BLOCKED: ExceptionKind.BLOCKED,
        }
        if e.kind not in kinds:
            raise InvalidArgument.field("exception.kind", "must be EXTRA or BLOCKED")
        has_times = e.HasField("start") or e.HasField("end")
        exc = DateException(
            day=date_from_pb(e.date, "exception.date"),
            kind=kinds[e.kind],
            start=time_of_day_from_pb(e.start, "exception.start") if has_times else None,
            end=time_of_day_from_pb(e.end, "exception.end") if has_times else None,
            modalities=_modalities(e.modalities, "exception.modalities") or None,
        )
        return await availability.add_exception(
            self._deps, caller, require_id(request.clinician_id, "clinician_id"), exc
        )

    async def RemoveAvailabilityException(
        self, request: pb.RemoveAvailabilityExceptionRequest, context: Context
    ) -> pb.RemoveAvailabilityExceptionResponse:
        return await availability.remove_exception(
            self._deps,
            caller_of(context),
            require_id(request.clinician_id, "clinician_id"),
            require_id(request.exception_id, "exception_id"),
        )

    async def AddTimeOff(self, request: pb.AddTimeOffRequest, context: Context) -> pb.AddTimeOffResponse:
        return await availability.add_time_off(
            self._deps,
            caller_of(context),
            require_id(request.clinician_id, "clinician_id"),
            time_range_from_pb(request.range, "range"),
        )

    async def RemoveTimeOff(
        self, request: pb.RemoveTimeOffRequest, context: Context
    ) -> pb.RemoveTimeOffResponse:
        return await availability.remove_time_off(
            self._deps,
            caller_of(context),
            require_id(request.clinician_id, "clinician_id"),
            require_id(request.time_off_id, "time_off_id"),
        )

    async def SearchSlots(self, request: pb.SearchSlotsRequest, context: Context) -> pb.SearchSlotsResponse:
        caller = caller_of(context)
        query = availability.SlotQuery(
            client_id=require_id(request.client_id, "client_id"),
            session_type_code=request.session_type_code,
            modality=optional_modality_from_pb(request.modality, "modality"),
            window=time_range_from_pb(request.window, "window"),
            client_state=state_from_pb(request.client_state, "client_state", required=False),
            clinician_ids=_ids(request.clinician_ids, "clinician_ids"),
            time_windows=_time_windows(request.time_windows, "time_windows"),
            max_results=request.max_results,
        )
        return await availability.search_slots(self._deps, caller, query)


class AppointmentServicer(pb_grpc.AppointmentServiceServicer):
    def __init__(self, deps: AppContext) -> None:
        self._deps = deps

    async def HoldSlot(self, request: pb.HoldSlotRequest, context: Context) -> pb.HoldSlotResponse:
        caller = caller_of(context)
        data = _booking_request(self._deps, request)
        return await booking.hold_slot(self._deps, caller, data)

    async def BookAppointment(
        self, request: pb.BookAppointmentRequest, context: Context
    ) -> pb.BookAppointmentResponse:
        caller = caller_of(context)
        data = _booking_request(self._deps, request)
        return await booking.book_appointment(self._deps, caller, data)

    async def ConfirmHold(self, request: pb.ConfirmHoldRequest, context: Context) -> pb.ConfirmHoldResponse:
        return await booking.confirm_hold(
            self._deps, caller_of(context), require_id(request.appointment_id, "appointment_id")
        )

    async def ReleaseHold(self, request: pb.ReleaseHoldRequest, context: Context) -> pb.ReleaseHoldResponse:
        return await booking.release_hold(
            self._deps, caller_of(context), require_id(request.appointment_id, "appointment_id")
        )

    async def RescheduleAppointment(
        self, request: pb.RescheduleAppointmentRequest, context: Context
    ) -> pb.RescheduleAppointmentResponse:
        return await booking.reschedule_appointment(
            self._deps,
            caller_of(context),
            require_id(request.appointment_id, "appointment_id"),
            from_ts(request.new_start_time, "new_start_time"),
        )

    async def CancelAppointment(
        self, request: pb.CancelAppointmentRequest, context: Context
    ) -> pb.CancelAppointmentResponse:
        return await booking.cancel(
            self._deps, caller_of(context), require_id(request.appointment_id, "appointment_id")
        )

    async def MarkNoShow(self, request: pb.MarkNoShowRequest, context: Context) -> pb.MarkNoShowResponse:
        return await booking.no_show(
            self._deps, caller_of(context), require_id(request.appointment_id, "appointment_id")
        )

    async def RecheckAuthorization(
        self, request: pb.RecheckAuthorizationRequest, context: Context
    ) -> pb.RecheckAuthorizationResponse:
        return await booking.recheck(
            self._deps, caller_of(context), require_id(request.appointment_id, "appointment_id")
        )

    async def GetAppointment(
        self, request: pb.GetAppointmentRequest, context: Context
    ) -> pb.GetAppointmentResponse:
        return await booking.get(
            self._deps, caller_of(context), require_id(request.appointment_id, "appointment_id")
        )

    async def ListAppointments(
        self, request: pb.ListAppointmentsRequest, context: Context
    ) -> pb.ListAppointmentsResponse:
        statuses = []
        for i, value in enumerate(request.statuses):
            if value not in STATUS_FROM_PB:
                raise InvalidArgument.field(f"statuses[{i}]", "is not an appointment status")
            statuses.append(STATUS_FROM_PB[value])
        return await booking.list_appointments(
            self._deps,
            caller_of(context),
            client_id=_optional_id(request.client_id, "client_id"),
            clinician_id=_optional_id(request.clinician_id, "clinician_id"),
            statuses=tuple(dict.fromkeys(statuses)),
            window=time_range_from_pb(request.range, "range") if request.HasField("range") else None,
            page_size=request.page.page_size,
            page_token=request.page.page_token,
        )

    async def GetCancellationPolicy(
        self, request: pb.GetCancellationPolicyRequest, context: Context
    ) -> pb.GetCancellationPolicyResponse:
        return await booking.get_policy(self._deps, caller_of(context))

    async def SetCancellationPolicy(
        self, request: pb.SetCancellationPolicyRequest, context: Context
    ) -> pb.SetCancellationPolicyResponse:
        p = request.policy

        def money(field: str) -> Money | None:
            if not p.HasField(field):  # type: ignore[arg-type]
                return None
            value = getattr(p, field)
            if value.amount_minor < 0:
                raise InvalidArgument.field(f"policy.{field}.amount_minor", "must not be negative")
            try:
                return Money(value.amount_minor, value.currency)
            except InvalidArgument:
                raise InvalidArgument.field(f"policy.{field}.currency", "must be an ISO 4217 code") from None

        policy = CancellationPolicy(
            late_cancel_window=timedelta(minutes=p.late_cancel_window_minutes),
            no_show_grace=timedelta(minutes=p.no_show_grace_minutes),
            late_cancel_fee=money("late_cancel_fee"),
            no_show_fee=money("no_show_fee"),
        )
        return await booking.set_policy(self._deps, caller_of(context), policy)


class SeriesServicer(pb_grpc.SeriesServiceServicer):
    def __init__(self, deps: AppContext) -> None:
        self._deps = deps

    async def CreateSeries(
        self, request: pb.CreateSeriesRequest, context: Context
    ) -> pb.CreateSeriesResponse:
        caller = caller_of(context)
        frequencies = {
            pb.RECURRENCE_FREQUENCY_WEEKLY: RecurrenceFrequency.WEEKLY,
            pb.RECURRENCE_FREQUENCY_BIWEEKLY: RecurrenceFrequency.BIWEEKLY,
        }
        if request.frequency not in frequencies:
            raise InvalidArgument.field("frequency", "must be WEEKLY or BIWEEKLY")
        if request.count < 0:
            raise InvalidArgument.field("count", "must not be negative")
        data = series.SeriesRequest(
            client_id=require_id(request.client_id, "client_id"),
            clinician_id=require_id(request.clinician_id, "clinician_id"),
            session_type=session_type(self._deps, request.session_type_code),
            modality=modality_from_pb(request.modality, "modality"),
            first_start=from_ts(request.first_start_time, "first_start_time"),
            frequency=frequencies[request.frequency],
            count=request.count or None,
            until=optional_date_from_pb(request.until, "until"),
            client_state=state_from_pb(request.client_state, "client_state", required=False),
        )
        return await series.create(self._deps, caller, data)

    async def GetSeries(self, request: pb.GetSeriesRequest, context: Context) -> pb.GetSeriesResponse:
        return await series.get(self._deps, caller_of(context), require_id(request.series_id, "series_id"))

    async def SkipOccurrence(
        self, request: pb.SkipOccurrenceRequest, context: Context
    ) -> pb.SkipOccurrenceResponse:
        return await series.skip(
            self._deps,
            caller_of(context),
            require_id(request.series_id, "series_id"),
            date_from_pb(request.occurrence_date, "occurrence_date"),
        )

    async def MoveOccurrence(
        self, request: pb.MoveOccurrenceRequest, context: Context
    ) -> pb.MoveOccurrenceResponse:
        return await series.move(
            self._deps,
            caller_of(context),
            require_id(request.series_id, "series_id"),
            date_from_pb(request.occurrence_date, "occurrence_date"),
            from_ts(request.new_start_time, "new_start_time"),
        )

    async def RescheduleFollowing(
        self, request: pb.RescheduleFollowingRequest, context: Context
    ) -> pb.RescheduleFollowingResponse:
        frequencies = {
            pb.RECURRENCE_FREQUENCY_UNSPECIFIED: None,
            pb.RECURRENCE_FREQUENCY_WEEKLY: RecurrenceFrequency.WEEKLY,
            pb.RECURRENCE_FREQUENCY_BIWEEKLY: RecurrenceFrequency.BIWEEKLY,
        }
        if request.new_frequency not in frequencies:
            raise InvalidArgument.field("new_frequency", "must be WEEKLY or BIWEEKLY")
        change = series.FollowingChange(
            from_date=date_from_pb(request.from_date, "from_date"),
            new_first_date=optional_date_from_pb(request.new_first_date, "new_first_date"),
            new_local_start=time_of_day_from_pb(request.new_local_start, "new_local_start")
            if request.HasField("new_local_start")
            else None,
            new_frequency=frequencies[request.new_frequency],
        )
        return await series.reschedule_following(
            self._deps, caller_of(context), require_id(request.series_id, "series_id"), change
        )

    async def CancelFollowing(
        self, request: pb.CancelFollowingRequest, context: Context
    ) -> pb.CancelFollowingResponse:
        return await series.cancel_following(
            self._deps,
            caller_of(context),
            require_id(request.series_id, "series_id"),
            date_from_pb(request.from_date, "from_date"),
        )


class WaitlistServicer(pb_grpc.WaitlistServiceServicer):
    def __init__(self, deps: AppContext) -> None:
        self._deps = deps

    async def JoinWaitlist(
        self, request: pb.JoinWaitlistRequest, context: Context
    ) -> pb.JoinWaitlistResponse:
        caller = caller_of(context)
        data = waitlist.JoinRequest(
            client_id=require_id(request.client_id, "client_id"),
            session_type_codes=frozenset(request.session_type_codes),
            modalities=_modalities(request.modalities, "modalities"),
            clinician_ids=_ids(request.clinician_ids, "clinician_ids"),
            time_windows=_time_windows(request.time_windows, "time_windows"),
        )
        return await waitlist.join(self._deps, caller, data)

    async def LeaveWaitlist(
        self, request: pb.LeaveWaitlistRequest, context: Context
    ) -> pb.LeaveWaitlistResponse:
        return await waitlist.leave(self._deps, caller_of(context), require_id(request.entry_id, "entry_id"))

    async def ListWaitlist(
        self, request: pb.ListWaitlistRequest, context: Context
    ) -> pb.ListWaitlistResponse:
        return await waitlist.list_for_client(
            self._deps, caller_of(context), require_id(request.client_id, "client_id")
        )

    async def AcceptWaitlistOffer(
        self, request: pb.AcceptWaitlistOfferRequest, context: Context
    ) -> pb.AcceptWaitlistOfferResponse:
        return await waitlist.accept(
            self._deps,
            caller_of(context),
            require_id(request.offer_id, "offer_id"),
            modality_from_pb(request.modality, "modality"),
            state_from_pb(request.client_state, "client_state", required=False),
        )

    async def DeclineWaitlistOffer(
        self, request: pb.DeclineWaitlistOfferRequest, context: Context
    ) -> pb.DeclineWaitlistOfferResponse:
        return await waitlist.decline(
            self._deps, caller_of(context), require_id(request.offer_id, "offer_id")
        )


class ScreeningServicer(pb_grpc.ScreeningServiceServicer):
    def __init__(self, deps: AppContext) -> None:
        self._deps = deps

    async def SubmitScreening(
        self, request: pb.SubmitScreeningRequest, context: Context
    ) -> pb.SubmitScreeningResponse:
        caller = caller_of(context)
        cssrs = None
        if request.HasField("cssrs"):
            c = request.cssrs
            cssrs = CssrsAnswers(
                wish_to_be_dead=c.wish_to_be_dead,
                suicidal_thoughts=c.suicidal_thoughts,
                thoughts_with_method=c.thoughts_with_method if c.HasField("thoughts_with_method") else None,
                intent_without_plan=c.intent_without_plan if c.HasField("intent_without_plan") else None,
                intent_with_plan=c.intent_with_plan if c.HasField("intent_with_plan") else None,
                suicidal_behaviour_lifetime=c.suicidal_behaviour_lifetime,
                suicidal_behaviour_past_3_months=c.suicidal_behaviour_past_3_months
                if c.HasField("suicidal_behaviour_past_3_months")
                else None,
            )
        data = screening.ScreeningInput(
            client_id=require_id(request.client_id, "client_id"),
            phq9=tuple(request.phq9.answers) if request.HasField("phq9") else None,
            gad7=tuple(request.gad7.answers) if request.HasField("gad7") else None,
            cssrs=cssrs,
        )
        return await screening.submit(self._deps, caller, data)

    async def GetLatestScreening(
        self, request: pb.GetLatestScreeningRequest, context: Context
    ) -> pb.GetLatestScreeningResponse:
        return await screening.latest(
            self._deps, caller_of(context), require_id(request.client_id, "client_id")
        )


class SessionServicer(pb_grpc.SessionServiceServicer):
    def __init__(self, deps: AppContext) -> None:
        self._deps = deps

    async def CheckIn(self, request: pb.CheckInRequest, context: Context) -> pb.CheckInResponse:
        caller = caller_of(context)
        if not request.HasField("location"):
            raise InvalidArgument.field("location", "is required: where the client physically is now")
        loc = request.location
        location = ClientLocation(
            state=state_from_pb(loc.state, "location.state") or "",
            at_home=loc.at_home,
            emergency_address_ref=loc.emergency_address_ref or None,
        )
        return await sessions.check_in(
            self._deps,
            caller,
            require_id(request.appointment_id, "appointment_id"),
            location,
            request.identity_confirmed,
        )

    async def GetJoinLink(self, request: pb.GetJoinLinkRequest, context: Context) -> pb.GetJoinLinkResponse:
        return await sessions.join_link(
            self._deps, caller_of(context), require_id(request.appointment_id, "appointment_id")
        )

    async def StartSession(
        self, request: pb.StartSessionRequest, context: Context
    ) -> pb.StartSessionResponse:
        return await sessions.start(
            self._deps, caller_of(context), require_id(request.appointment_id, "appointment_id")
        )

    async def CompleteSession(
        self, request: pb.CompleteSessionRequest, context: Context
    ) -> pb.CompleteSessionResponse:
        return await sessions.complete(
            self._deps,
            caller_of(context),
            require_id(request.appointment_id, "appointment_id"),
            request.actual_minutes,
            optional_modality_from_pb(request.delivered_modality, "delivered_modality"),
        )

# ruff: noqa: N802 - servicer methods carry the RPC names
"""gRPC servicers. Each method: read the caller (principal + bearer token to forward to compliance),
validate and convert the request (INVALID_ARGUMENT with field paths), call the use case."""

from __future__ import annotations

from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_chassis.errors import InvalidArgument
from confide_scheduling.api import mapping
from confide_scheduling.api.caller import Context, caller_of
from confide_scheduling.app import screening, series, sessions, waitlist
from confide_scheduling.app.common import require_id, session_type
from confide_scheduling.app.context import AppContext
from confide_scheduling.domain.location import ClientLocation
from confide_scheduling.domain.recurrence import RecurrenceFrequency
from confide_scheduling.domain.screening import CssrsAnswers
from confide_scheduling.mapping import (
    date_from_pb,
    from_ts,
    modality_from_pb,
    optional_date_from_pb,
    optional_modality_from_pb,
    state_from_pb,
    time_of_day_from_pb,
)


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
            modalities=mapping.modalities(request.modalities, "modalities"),
            clinician_ids=mapping.ids(request.clinician_ids, "clinician_ids"),
            time_windows=mapping.time_windows(request.time_windows, "time_windows"),
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

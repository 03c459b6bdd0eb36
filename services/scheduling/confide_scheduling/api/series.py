# ruff: noqa: N802 - servicer methods carry the RPC names
"""SeriesService: map the request, call one use case, map the records back."""

from __future__ import annotations

from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_scheduling.api import mapping
from confide_scheduling.api.caller import Context, caller_of
from confide_scheduling.api.mapping import appointment_pb, series_pb
from confide_scheduling.app.series import SeriesUseCases
from confide_scheduling.reference_data import SessionTypeCatalogue


class SeriesServicer(pb_grpc.SeriesServiceServicer):
    def __init__(self, series: SeriesUseCases, catalogue: SessionTypeCatalogue) -> None:
        self._series = series
        self._catalogue = catalogue

    async def CreateSeries(
        self, request: pb.CreateSeriesRequest, context: Context
    ) -> pb.CreateSeriesResponse:
        created = await self._series.create(
            caller_of(context), mapping.create_series(request, self._catalogue)
        )
        response = pb.CreateSeriesResponse(series=series_pb(created.series))
        mapping.series_booking_fields(created, response)
        return response

    async def GetSeries(self, request: pb.GetSeriesRequest, context: Context) -> pb.GetSeriesResponse:
        found = await self._series.get(caller_of(context), mapping.require_id(request.series_id, "series_id"))
        return pb.GetSeriesResponse(
            series=series_pb(found.series), appointments=[appointment_pb(r) for r in found.appointments]
        )

    async def SkipOccurrence(
        self, request: pb.SkipOccurrenceRequest, context: Context
    ) -> pb.SkipOccurrenceResponse:
        change = await self._series.skip_occurrence(caller_of(context), mapping.skip_occurrence(request))
        return mapping.skip_occurrence_response(change)

    async def MoveOccurrence(
        self, request: pb.MoveOccurrenceRequest, context: Context
    ) -> pb.MoveOccurrenceResponse:
        change = await self._series.move_occurrence(caller_of(context), mapping.move_occurrence(request))
        response = pb.MoveOccurrenceResponse()
        mapping.occurrence_change_fields(change, response)
        return response

    async def RescheduleFollowing(
        self, request: pb.RescheduleFollowingRequest, context: Context
    ) -> pb.RescheduleFollowingResponse:
        result = await self._series.reschedule_following(
            caller_of(context), mapping.reschedule_following(request)
        )
        response = pb.RescheduleFollowingResponse(following=series_pb(result.following.series))
        mapping.series_booking_fields(result.following, response)
        if result.original is not None:
            response.original.CopyFrom(series_pb(result.original))
        return response

    async def CancelFollowing(
        self, request: pb.CancelFollowingRequest, context: Context
    ) -> pb.CancelFollowingResponse:
        updated, count = await self._series.cancel_following(
            caller_of(context), mapping.cancel_following(request)
        )
        return pb.CancelFollowingResponse(series=series_pb(updated), cancelled_count=count)

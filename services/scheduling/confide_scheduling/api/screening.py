# ruff: noqa: N802 - servicer methods carry the RPC names
"""ScreeningService: map the request, call one use case, map the record back."""

from __future__ import annotations

from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_scheduling.api import mapping
from confide_scheduling.api.caller import Context, caller_of
from confide_scheduling.app.screening import ScreeningUseCases


class ScreeningServicer(pb_grpc.ScreeningServiceServicer):
    def __init__(self, screening: ScreeningUseCases) -> None:
        self._screening = screening

    async def SubmitScreening(
        self, request: pb.SubmitScreeningRequest, context: Context
    ) -> pb.SubmitScreeningResponse:
        submitted = await self._screening.submit(caller_of(context), mapping.submit_screening(request))
        return pb.SubmitScreeningResponse(screening=mapping.screening_pb(submitted))

    async def GetLatestScreening(
        self, request: pb.GetLatestScreeningRequest, context: Context
    ) -> pb.GetLatestScreeningResponse:
        client_id = mapping.require_id(request.client_id, "client_id")
        latest = await self._screening.latest(caller_of(context), client_id)
        return pb.GetLatestScreeningResponse(screening=mapping.screening_pb(latest))

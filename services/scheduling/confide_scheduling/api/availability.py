# ruff: noqa: N802 - servicer methods carry the RPC names
"""AvailabilityService: map the request, call one use case, map the record back."""

from __future__ import annotations

from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_scheduling.api import mapping
from confide_scheduling.api.caller import Context, caller_of
from confide_scheduling.app.availability import AvailabilityUseCases


class AvailabilityServicer(pb_grpc.AvailabilityServiceServicer):
    def __init__(self, availability: AvailabilityUseCases) -> None:
        self._availability = availability

    async def ListSessionTypes(
        self, request: pb.ListSessionTypesRequest, context: Context
    ) -> pb.ListSessionTypesResponse:
        return pb.ListSessionTypesResponse(
            session_types=[mapping.session_type_pb(t) for t in self._availability.session_types()]
        )

    async def GetSchedule(self, request: pb.GetScheduleRequest, context: Context) -> pb.GetScheduleResponse:
        clinician_id = mapping.require_id(request.clinician_id, "clinician_id")
        schedule = await self._availability.schedule(caller_of(context), clinician_id)
        return pb.GetScheduleResponse(schedule=mapping.schedule_pb(schedule))

    async def SetWeeklySchedule(
        self, request: pb.SetWeeklyScheduleRequest, context: Context
    ) -> pb.SetWeeklyScheduleResponse:
        command = mapping.set_weekly_schedule(request)
        schedule = await self._availability.set_weekly_schedule(caller_of(context), command)
        return pb.SetWeeklyScheduleResponse(schedule=mapping.schedule_pb(schedule))

    async def AddAvailabilityException(
        self, request: pb.AddAvailabilityExceptionRequest, context: Context
    ) -> pb.AddAvailabilityExceptionResponse:
        command = mapping.add_availability_exception(request)
        added = await self._availability.add_exception(caller_of(context), command)
        return pb.AddAvailabilityExceptionResponse(exception=mapping.exception_pb(added))

    async def RemoveAvailabilityException(
        self, request: pb.RemoveAvailabilityExceptionRequest, context: Context
    ) -> pb.RemoveAvailabilityExceptionResponse:
        command = mapping.remove_availability_exception(request)
        await self._availability.remove_exception(caller_of(context), command)
        return pb.RemoveAvailabilityExceptionResponse()

    async def AddTimeOff(self, request: pb.AddTimeOffRequest, context: Context) -> pb.AddTimeOffResponse:
        added = await self._availability.add_time_off(caller_of(context), mapping.add_time_off(request))
        return pb.AddTimeOffResponse(time_off=mapping.time_off_pb(added))

    async def RemoveTimeOff(
        self, request: pb.RemoveTimeOffRequest, context: Context
    ) -> pb.RemoveTimeOffResponse:
        await self._availability.remove_time_off(caller_of(context), mapping.remove_time_off(request))
        return pb.RemoveTimeOffResponse()

    async def SearchSlots(self, request: pb.SearchSlotsRequest, context: Context) -> pb.SearchSlotsResponse:
        found = await self._availability.search_slots(caller_of(context), mapping.search_slots(request))
        return mapping.search_slots_response(found)

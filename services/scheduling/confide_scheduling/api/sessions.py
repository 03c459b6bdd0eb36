# ruff: noqa: N802 - servicer methods carry the RPC names
"""SessionService: map the request, call one use case, map the records back."""

from __future__ import annotations

from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_scheduling.api import mapping
from confide_scheduling.api.caller import Context, caller_of
from confide_scheduling.api.mapping import appointment_pb, completed_facts_pb
from confide_scheduling.app import commands
from confide_scheduling.app.sessions import SessionUseCases


class SessionServicer(pb_grpc.SessionServiceServicer):
    def __init__(self, sessions: SessionUseCases) -> None:
        self._sessions = sessions

    async def CheckIn(self, request: pb.CheckInRequest, context: Context) -> pb.CheckInResponse:
        checked_in = await self._sessions.check_in(caller_of(context), mapping.check_in(request))
        return pb.CheckInResponse(appointment=appointment_pb(checked_in))

    async def GetJoinLink(self, request: pb.GetJoinLinkRequest, context: Context) -> pb.GetJoinLinkResponse:
        appointment_id = mapping.require_id(request.appointment_id, "appointment_id")
        link = await self._sessions.join_link(caller_of(context), appointment_id)
        return mapping.join_link_pb(link)

    async def StartSession(
        self, request: pb.StartSessionRequest, context: Context
    ) -> pb.StartSessionResponse:
        command = commands.StartSession(mapping.require_id(request.appointment_id, "appointment_id"))
        started = await self._sessions.start(caller_of(context), command)
        return pb.StartSessionResponse(appointment=appointment_pb(started))

    async def CompleteSession(
        self, request: pb.CompleteSessionRequest, context: Context
    ) -> pb.CompleteSessionResponse:
        completed, facts = await self._sessions.complete(
            caller_of(context), mapping.complete_session(request)
        )
        return pb.CompleteSessionResponse(
            appointment=appointment_pb(completed), facts=completed_facts_pb(facts)
        )

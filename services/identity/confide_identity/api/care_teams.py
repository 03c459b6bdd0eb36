# ruff: noqa: N802 - servicer methods carry the RPC names of the generated base classes
"""CareTeamService: map the request, call one use case, map the result back."""

from __future__ import annotations

from typing import Any

from confide.identity.v1 import identity_pb2 as pb
from confide.identity.v1 import identity_pb2_grpc
from confide_chassis.auth import current_principal
from confide_identity.api import mapping
from confide_identity.app.care_teams import CareTeamUseCases


class CareTeamServicer(identity_pb2_grpc.CareTeamServiceServicer):
    def __init__(self, care_teams: CareTeamUseCases) -> None:
        self._care_teams = care_teams

    async def AssignClinician(
        self, request: pb.AssignClinicianRequest, context: Any
    ) -> pb.AssignClinicianResponse:
        entry = await self._care_teams.assign(current_principal(), mapping.assign_clinician(request))
        return pb.AssignClinicianResponse(member=mapping.member_pb(entry))

    async def RemoveClinician(
        self, request: pb.RemoveClinicianRequest, context: Any
    ) -> pb.RemoveClinicianResponse:
        await self._care_teams.remove(current_principal(), mapping.remove_clinician(request))
        return pb.RemoveClinicianResponse()

    async def ListCareTeam(self, request: pb.ListCareTeamRequest, context: Any) -> pb.ListCareTeamResponse:
        client_id = mapping.only_id(request.client_id, "client_id")
        entries = await self._care_teams.list_team(current_principal(), client_id)
        return pb.ListCareTeamResponse(members=[mapping.member_pb(entry) for entry in entries])

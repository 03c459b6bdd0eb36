# ruff: noqa: N802 - servicer methods carry the RPC names of the generated base classes
"""ClientProfileService: map the request, call one use case, map the result back."""

from __future__ import annotations

from typing import Any

from confide.identity.v1 import identity_pb2 as pb
from confide.identity.v1 import identity_pb2_grpc
from confide_chassis.auth import current_principal
from confide_identity.api import mapping
from confide_identity.app.profiles import ProfileUseCases


class ClientProfileServicer(identity_pb2_grpc.ClientProfileServiceServicer):
    def __init__(self, profiles: ProfileUseCases) -> None:
        self._profiles = profiles

    async def GetClientProfile(
        self, request: pb.GetClientProfileRequest, context: Any
    ) -> pb.GetClientProfileResponse:
        client_id = mapping.only_id(request.client_id, "client_id")
        view = await self._profiles.get(current_principal(), client_id)
        return pb.GetClientProfileResponse(profile=mapping.profile_pb(view))

    async def UpdateClientProfile(
        self, request: pb.UpdateClientProfileRequest, context: Any
    ) -> pb.UpdateClientProfileResponse:
        view = await self._profiles.update(current_principal(), mapping.update_client_profile(request))
        return pb.UpdateClientProfileResponse(profile=mapping.profile_pb(view))

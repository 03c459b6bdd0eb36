# ruff: noqa: N802 - servicer methods carry the RPC names of the generated base classes
"""PracticeService and UserService: map the request, call one use case, map the result back."""

from __future__ import annotations

from typing import Any

from confide.identity.v1 import identity_pb2 as pb
from confide.identity.v1 import identity_pb2_grpc
from confide_chassis.auth import current_principal
from confide_identity.api import mapping
from confide_identity.app.users import PracticeUseCases, UserUseCases


class PracticeServicer(identity_pb2_grpc.PracticeServiceServicer):
    def __init__(self, practices: PracticeUseCases) -> None:
        self._practices = practices

    async def CreatePractice(
        self, request: pb.CreatePracticeRequest, context: Any
    ) -> pb.CreatePracticeResponse:
        command = mapping.create_practice(request)
        practice, created = await self._practices.create_practice(current_principal(), command)
        return mapping.create_practice_response(practice, created)

    async def GetPractice(self, request: pb.GetPracticeRequest, context: Any) -> pb.GetPracticeResponse:
        practice = await self._practices.get_practice(current_principal())
        return pb.GetPracticeResponse(practice=mapping.practice_pb(practice))

    async def UpdatePracticeSettings(
        self, request: pb.UpdatePracticeSettingsRequest, context: Any
    ) -> pb.UpdatePracticeSettingsResponse:
        command = mapping.update_practice_settings(request)
        practice = await self._practices.update_settings(current_principal(), command)
        return pb.UpdatePracticeSettingsResponse(practice=mapping.practice_pb(practice))


class UserServicer(identity_pb2_grpc.UserServiceServicer):
    def __init__(self, users: UserUseCases) -> None:
        self._users = users

    async def CreateUser(self, request: pb.CreateUserRequest, context: Any) -> pb.CreateUserResponse:
        view = await self._users.create_user(current_principal(), mapping.create_user(request))
        return pb.CreateUserResponse(user=mapping.user_pb(view))

    async def GetUser(self, request: pb.GetUserRequest, context: Any) -> pb.GetUserResponse:
        user_id = mapping.only_id(request.user_id, "user_id")
        return pb.GetUserResponse(
            user=mapping.user_pb(await self._users.get_user(current_principal(), user_id))
        )

    async def ListUsers(self, request: pb.ListUsersRequest, context: Any) -> pb.ListUsersResponse:
        page = await self._users.list_users(current_principal(), mapping.list_users(request))
        return mapping.user_page_response(page)

    async def DeactivateUser(
        self, request: pb.DeactivateUserRequest, context: Any
    ) -> pb.DeactivateUserResponse:
        view = await self._users.deactivate_user(current_principal(), mapping.deactivate_user(request))
        return pb.DeactivateUserResponse(user=mapping.user_pb(view))

    async def ChangeUserRoles(
        self, request: pb.ChangeUserRolesRequest, context: Any
    ) -> pb.ChangeUserRolesResponse:
        view = await self._users.change_roles(current_principal(), mapping.change_user_roles(request))
        return pb.ChangeUserRolesResponse(user=mapping.user_pb(view))

    async def ResetUserMfa(self, request: pb.ResetUserMfaRequest, context: Any) -> pb.ResetUserMfaResponse:
        view = await self._users.reset_mfa(current_principal(), mapping.reset_user_mfa(request))
        return pb.ResetUserMfaResponse(user=mapping.user_pb(view))

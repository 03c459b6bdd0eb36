"""DirectoryService and ProfileService: map, call one use case, map back."""

# ruff: noqa: N802 - servicer methods carry the RPC names

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from confide.directory.v1 import directory_pb2 as pb
from confide.directory.v1 import directory_pb2_grpc as pb_grpc
from confide_chassis.auth import current_principal
from confide_chassis.errors import Unauthenticated
from confide_chassis.grpc.interceptor import bearer_token
from confide_directory.api import mapping
from confide_directory.app.profiles import ProfileUseCases
from confide_directory.app.search import SearchUseCases
from confide_directory.domain.vocabulary import Vocabulary

DIRECTORY_SERVICE = pb.DESCRIPTOR.services_by_name["DirectoryService"]
PROFILE_SERVICE = pb.DESCRIPTOR.services_by_name["ProfileService"]


class DirectoryServicer(pb_grpc.DirectoryServiceServicer):
    def __init__(
        self,
        search: SearchUseCases,
        profiles: ProfileUseCases,
        vocabulary: Vocabulary,
        clock: Callable[[], datetime],
    ) -> None:
        self._search = search
        self._profiles = profiles
        self._vocabulary = vocabulary
        self._clock = clock

    async def SearchClinicians(
        self, request: pb.SearchCliniciansRequest, context: Any
    ) -> pb.SearchCliniciansResponse:
        actor = current_principal()
        token = bearer_token(context.invocation_metadata())
        if token is None:  # the access rule requires a signed-in caller; compliance needs their token
            raise Unauthenticated("sign in to search the directory")
        criteria = mapping.search_criteria(request, practice_id=actor.practice_id, now=self._clock())
        page = await self._search.search(
            actor, criteria, page_token=request.page.page_token, bearer_token=token
        )
        return mapping.search_response(page)

    async def GetClinicianProfile(
        self, request: pb.GetClinicianProfileRequest, context: Any
    ) -> pb.GetClinicianProfileResponse:
        listed = await self._profiles.listed(current_principal(), mapping.clinician_id(request))
        return pb.GetClinicianProfileResponse(profile=mapping.listed_pb(listed))

    async def ListVocabulary(
        self, request: pb.ListVocabularyRequest, context: Any
    ) -> pb.ListVocabularyResponse:
        return mapping.vocabulary_pb(self._vocabulary)


class ProfileServicer(pb_grpc.ProfileServiceServicer):
    def __init__(self, profiles: ProfileUseCases) -> None:
        self._profiles = profiles

    async def GetMyProfile(self, request: pb.GetMyProfileRequest, context: Any) -> pb.GetMyProfileResponse:
        profile, listed = await self._profiles.mine(current_principal())
        return pb.GetMyProfileResponse(profile=mapping.my_profile_pb(profile, listed))

    async def UpdateMyProfile(
        self, request: pb.UpdateMyProfileRequest, context: Any
    ) -> pb.UpdateMyProfileResponse:
        profile, listed = await self._profiles.update(current_principal(), mapping.update_profile(request))
        return pb.UpdateMyProfileResponse(profile=mapping.my_profile_pb(profile, listed))

    async def ListPendingProfiles(
        self, request: pb.ListPendingProfilesRequest, context: Any
    ) -> pb.ListPendingProfilesResponse:
        pending = await self._profiles.pending(current_principal())
        return pb.ListPendingProfilesResponse(profiles=[mapping.my_profile_pb(p, None) for p in pending])

    async def ApproveProfile(
        self, request: pb.ApproveProfileRequest, context: Any
    ) -> pb.ApproveProfileResponse:
        profile, listed = await self._profiles.approve(current_principal(), mapping.approve_profile(request))
        return pb.ApproveProfileResponse(profile=mapping.my_profile_pb(profile, listed))

"""AuthorizationService: CheckAuthorization, FindAuthorizedClinicians, GetDecision."""

# ruff: noqa: N802 - servicer methods carry the RPC names

from __future__ import annotations

from typing import Any

from confide.compliance.v1 import authorization_pb2, authorization_pb2_grpc
from confide_chassis.auth import current_principal
from confide_compliance.api import mapping
from confide_compliance.app.authorization import Authorizations

SERVICE = authorization_pb2.DESCRIPTOR.services_by_name["AuthorizationService"]


class AuthorizationServicer(authorization_pb2_grpc.AuthorizationServiceServicer):
    def __init__(self, authorizations: Authorizations) -> None:
        self._authorizations = authorizations

    async def CheckAuthorization(
        self, request: authorization_pb2.CheckAuthorizationRequest, context: Any
    ) -> authorization_pb2.CheckAuthorizationResponse:
        question = mapping.authorization_question(request)
        stored = await self._authorizations.check(current_principal(), question)
        return authorization_pb2.CheckAuthorizationResponse(decision=mapping.decision(stored))

    async def FindAuthorizedClinicians(
        self, request: authorization_pb2.FindAuthorizedCliniciansRequest, context: Any
    ) -> authorization_pb2.FindAuthorizedCliniciansResponse:
        result = await self._authorizations.find(current_principal(), mapping.find_authorized(request))
        return authorization_pb2.FindAuthorizedCliniciansResponse(
            clinicians=[mapping.authorized_clinician(c) for c in result.clinicians],
            reference_data_version=result.reference_data_version,
        )

    async def GetDecision(
        self, request: authorization_pb2.GetDecisionRequest, context: Any
    ) -> authorization_pb2.GetDecisionResponse:
        stored = await self._authorizations.get(current_principal(), request.decision_id)
        return authorization_pb2.GetDecisionResponse(decision=mapping.decision(stored))

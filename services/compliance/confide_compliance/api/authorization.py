"""AuthorizationService: CheckAuthorization, FindAuthorizedClinicians, GetDecision."""

# ruff: noqa: N802 - servicer methods carry the RPC names

from __future__ import annotations

from typing import Any

from confide.compliance.v1 import authorization_pb2, authorization_pb2_grpc
from confide_chassis.auth import Access, allow, current_principal
from confide_compliance.api import convert
from confide_compliance.app.authorization import Authorizations
from confide_compliance.app.common import COMPLIANCE_OFFICER, PRACTICE_ADMIN

SERVICE = authorization_pb2.DESCRIPTOR.services_by_name["AuthorizationService"].full_name

# Scheduling forwards the end user's token: any authenticated person of the practice may ask; the
# clinician is looked up in the caller's practice only (another practice's clinician is denied).
ACCESS: dict[str, Access] = {
    "CheckAuthorization": allow(),
    "FindAuthorizedClinicians": allow(),
    "GetDecision": allow(PRACTICE_ADMIN, COMPLIANCE_OFFICER, mfa=True),
}


class AuthorizationServicer(authorization_pb2_grpc.AuthorizationServiceServicer):
    def __init__(self, authorizations: Authorizations) -> None:
        self._authorizations = authorizations

    async def CheckAuthorization(
        self, request: authorization_pb2.CheckAuthorizationRequest, context: Any
    ) -> authorization_pb2.CheckAuthorizationResponse:
        command = convert.check_command(request)
        stored = await self._authorizations.check(current_principal(), command)
        return authorization_pb2.CheckAuthorizationResponse(decision=convert.decision(stored))

    async def FindAuthorizedClinicians(
        self, request: authorization_pb2.FindAuthorizedCliniciansRequest, context: Any
    ) -> authorization_pb2.FindAuthorizedCliniciansResponse:
        result = await self._authorizations.find(current_principal(), convert.find_query(request))
        return authorization_pb2.FindAuthorizedCliniciansResponse(
            clinicians=[convert.authorized_clinician(c) for c in result.clinicians],
            reference_data_version=result.reference_data_version,
        )

    async def GetDecision(
        self, request: authorization_pb2.GetDecisionRequest, context: Any
    ) -> authorization_pb2.GetDecisionResponse:
        stored = await self._authorizations.get(current_principal(), request.decision_id)
        return authorization_pb2.GetDecisionResponse(decision=convert.decision(stored))

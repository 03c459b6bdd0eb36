# ruff: noqa: N802 - servicer methods carry the RPC names of the generated base classes
"""ConsentService: map the request, call one use case, map the result back."""

from __future__ import annotations

from typing import Any

from confide.identity.v1 import identity_pb2 as pb
from confide.identity.v1 import identity_pb2_grpc
from confide_chassis.auth import current_principal
from confide_identity.api import mapping
from confide_identity.app.consents import ConsentUseCases


class ConsentServicer(identity_pb2_grpc.ConsentServiceServicer):
    def __init__(self, consents: ConsentUseCases) -> None:
        self._consents = consents

    async def PublishConsentDocument(
        self, request: pb.PublishConsentDocumentRequest, context: Any
    ) -> pb.PublishConsentDocumentResponse:
        command = mapping.publish_consent_document(request)
        stored = await self._consents.publish(current_principal(), command)
        return pb.PublishConsentDocumentResponse(document=mapping.document_pb(stored))

    async def GetCurrentConsentDocument(
        self, request: pb.GetCurrentConsentDocumentRequest, context: Any
    ) -> pb.GetCurrentConsentDocumentResponse:
        stored = await self._consents.current(current_principal())
        return pb.GetCurrentConsentDocumentResponse(document=mapping.document_pb(stored))

    async def SignConsent(self, request: pb.SignConsentRequest, context: Any) -> pb.SignConsentResponse:
        signature = await self._consents.sign(current_principal(), mapping.sign_consent(request))
        return pb.SignConsentResponse(signature=mapping.signature_pb(signature))

    async def GetConsentStatus(
        self, request: pb.GetConsentStatusRequest, context: Any
    ) -> pb.GetConsentStatusResponse:
        client_id = mapping.only_id(request.client_id, "client_id")
        return mapping.consent_status_response(await self._consents.status(current_principal(), client_id))

"""CredentialRegistryService: the clinician registry, versioned, verified and audited."""

# ruff: noqa: N802 - servicer methods carry the RPC names

from __future__ import annotations

from typing import Any

from confide.compliance.v1 import registry_pb2, registry_pb2_grpc
from confide_chassis.auth import current_principal
from confide_compliance.api import mapping, paging
from confide_compliance.app.commands import PutCredential
from confide_compliance.app.registry import ClinicianChange, Registry

SERVICE = registry_pb2.DESCRIPTOR.services_by_name["CredentialRegistryService"]


class RegistryServicer(registry_pb2_grpc.CredentialRegistryServiceServicer):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def _put(self, command: PutCredential) -> dict[str, Any]:
        """Store the credential; the fields every Put*Response carries."""
        change = await self._registry.put_credential(current_principal(), command)
        return {
            "credential": mapping.credential(change.record),
            "changed": change.changed,
            "authorization_changed": change.authorization_changed,
        }

    async def UpsertClinician(
        self, request: registry_pb2.UpsertClinicianRequest, context: Any
    ) -> registry_pb2.UpsertClinicianResponse:
        change = await self._registry.upsert_clinician(current_principal(), mapping.upsert_clinician(request))
        return registry_pb2.UpsertClinicianResponse(
            clinician=mapping.clinician(change.record),
            changed=change.changed,
            authorization_changed=change.authorization_changed,
        )

    async def PutStateLicense(
        self, request: registry_pb2.PutStateLicenseRequest, context: Any
    ) -> registry_pb2.PutStateLicenseResponse:
        return registry_pb2.PutStateLicenseResponse(**await self._put(mapping.put_state_license(request)))

    async def PutCompactAuthority(
        self, request: registry_pb2.PutCompactAuthorityRequest, context: Any
    ) -> registry_pb2.PutCompactAuthorityResponse:
        return registry_pb2.PutCompactAuthorityResponse(
            **await self._put(mapping.put_compact_authority(request))
        )

    async def PutStateException(
        self, request: registry_pb2.PutStateExceptionRequest, context: Any
    ) -> registry_pb2.PutStateExceptionResponse:
        return registry_pb2.PutStateExceptionResponse(**await self._put(mapping.put_state_exception(request)))

    async def PutBcTmh(
        self, request: registry_pb2.PutBcTmhRequest, context: Any
    ) -> registry_pb2.PutBcTmhResponse:
        return registry_pb2.PutBcTmhResponse(**await self._put(mapping.put_bc_tmh(request)))

    async def SetNpi(self, request: registry_pb2.SetNpiRequest, context: Any) -> registry_pb2.SetNpiResponse:
        change = await self._registry.set_npi(current_principal(), mapping.set_npi(request))
        return registry_pb2.SetNpiResponse(clinician=mapping.clinician(change.record), changed=change.changed)

    async def RecordVerification(
        self, request: registry_pb2.RecordVerificationRequest, context: Any
    ) -> registry_pb2.RecordVerificationResponse:
        change = await self._registry.record_verification(
            current_principal(), mapping.record_verification(request)
        )
        response = registry_pb2.RecordVerificationResponse(authorization_changed=change.authorization_changed)
        if change.verification is not None:
            response.verification.CopyFrom(mapping.verification_record(change.verification))
        if isinstance(change, ClinicianChange):
            response.clinician.CopyFrom(mapping.clinician(change.record))
        else:
            response.credential.CopyFrom(mapping.credential(change.record))
        return response

    async def ListClinicianCredentials(
        self, request: registry_pb2.ListClinicianCredentialsRequest, context: Any
    ) -> registry_pb2.ListClinicianCredentialsResponse:
        clinician, items = await self._registry.clinician(current_principal(), request.clinician_id)
        return registry_pb2.ListClinicianCredentialsResponse(
            clinician=mapping.clinician(clinician), credentials=[mapping.credential(r) for r in items]
        )

    async def ListCredentialHistory(
        self, request: registry_pb2.ListCredentialHistoryRequest, context: Any
    ) -> registry_pb2.ListCredentialHistoryResponse:
        key = (request.clinician_id, request.record_id)
        result = await self._registry.history(
            current_principal(),
            request.clinician_id,
            request.record_id or None,
            paging.page_of(request.page, *key),
        )
        return registry_pb2.ListCredentialHistoryResponse(
            entries=[mapping.history_entry(e) for e in result.items],
            page=paging.next_page(result.next_after, *key),
        )

    async def ListVerifications(
        self, request: registry_pb2.ListVerificationsRequest, context: Any
    ) -> registry_pb2.ListVerificationsResponse:
        records = await self._registry.verifications(current_principal(), request.clinician_id)
        return registry_pb2.ListVerificationsResponse(
            verifications=[mapping.verification_record(r) for r in records]
        )

    async def GetCoverage(
        self, request: registry_pb2.GetCoverageRequest, context: Any
    ) -> registry_pb2.GetCoverageResponse:
        coverage = await self._registry.coverage(
            current_principal(), request.clinician_id, mapping.coverage_day(request)
        )
        return registry_pb2.GetCoverageResponse(
            coverage=mapping.coverage_entries(coverage.coverage),
            reference_data_version=coverage.reference_data_version,
        )

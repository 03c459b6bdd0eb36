"""CredentialRegistryService: the clinician registry, versioned, verified and audited."""

# ruff: noqa: N802 - servicer methods carry the RPC names

from __future__ import annotations

from typing import Any

from confide.compliance.v1 import registry_pb2, registry_pb2_grpc
from confide_chassis.auth import Access, allow, current_principal
from confide_chassis.errors import InvalidArgument, ValidationCollector
from confide_chassis.ids import new_id_str
from confide_compliance.api import convert, paging
from confide_compliance.app import protomap
from confide_compliance.app.common import CLINICIAN, COMPLIANCE_OFFICER, PRACTICE_ADMIN, require_id
from confide_compliance.app.ports import NPI_RECORD_ID
from confide_compliance.app.registry import ClinicianChange, Registry, VerificationInput
from confide_compliance.domain.credentials import Credential, Npi

SERVICE = registry_pb2.DESCRIPTOR.services_by_name["CredentialRegistryService"].full_name

_WRITE = allow(PRACTICE_ADMIN, COMPLIANCE_OFFICER, mfa=True)
_READ = allow(PRACTICE_ADMIN, COMPLIANCE_OFFICER, CLINICIAN, mfa=True)
ACCESS: dict[str, Access] = {
    "UpsertClinician": _WRITE,
    "PutStateLicense": _WRITE,
    "PutCompactAuthority": _WRITE,
    "PutStateException": _WRITE,
    "PutBcTmh": _WRITE,
    "SetNpi": _WRITE,
    "RecordVerification": _WRITE,
    "ListClinicianCredentials": _READ,
    "ListCredentialHistory": _READ,
    "ListVerifications": _READ,
    "GetCoverage": _READ,
}


def _ids(clinician_id: str, credential_id: str) -> tuple[str, str]:
    clinician = require_id(clinician_id, "clinician_id")
    credential = require_id(credential_id, "credential_id") if credential_id else new_id_str()
    return clinician, credential


def _verification(request: Any) -> VerificationInput | None:
    return convert.verification_input(request.verification) if request.HasField("verification") else None


class RegistryServicer(registry_pb2_grpc.CredentialRegistryServiceServicer):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def _put(self, request: Any, credential: Credential) -> dict[str, Any]:
        """Store the credential; the fields every Put*Response carries."""
        change = await self._registry.put_credential(
            current_principal(),
            credential,
            verification=_verification(request),
            expected_version=request.expected_version,
            reason=request.change_reason,
        )
        return {
            "credential": convert.credential(change.record),
            "changed": change.changed,
            "authorization_changed": change.authorization_changed,
        }

    async def UpsertClinician(
        self, request: registry_pb2.UpsertClinicianRequest, context: Any
    ) -> registry_pb2.UpsertClinicianResponse:
        v = ValidationCollector()
        where = convert.jurisdiction(
            v, request.practice_jurisdiction, "practice_jurisdiction", required=False
        )
        profession = protomap.profession_from_proto(request.primary_profession)
        if request.primary_profession and profession is None:
            v.add("primary_profession", "unknown profession")
        v.raise_if_any()
        change = await self._registry.upsert_clinician(
            current_principal(),
            request.clinician_id,
            practice_jurisdiction=where,
            is_supervisee=request.is_supervisee,
            primary_profession=profession,
            expected_version=request.expected_version,
            reason=request.change_reason,
        )
        return registry_pb2.UpsertClinicianResponse(
            clinician=convert.clinician(change.record),
            changed=change.changed,
            authorization_changed=change.authorization_changed,
        )

    async def PutStateLicense(
        self, request: registry_pb2.PutStateLicenseRequest, context: Any
    ) -> registry_pb2.PutStateLicenseResponse:
        clinician_id, credential_id = _ids(request.clinician_id, request.credential_id)
        credential = convert.state_license(request.license, credential_id, clinician_id)
        return registry_pb2.PutStateLicenseResponse(**await self._put(request, credential))

    async def PutCompactAuthority(
        self, request: registry_pb2.PutCompactAuthorityRequest, context: Any
    ) -> registry_pb2.PutCompactAuthorityResponse:
        clinician_id, credential_id = _ids(request.clinician_id, request.credential_id)
        credential = convert.compact_authority(request.authority, credential_id, clinician_id)
        return registry_pb2.PutCompactAuthorityResponse(**await self._put(request, credential))

    async def PutStateException(
        self, request: registry_pb2.PutStateExceptionRequest, context: Any
    ) -> registry_pb2.PutStateExceptionResponse:
        clinician_id, credential_id = _ids(request.clinician_id, request.credential_id)
        credential = convert.state_exception(request.exception, credential_id, clinician_id)
        return registry_pb2.PutStateExceptionResponse(**await self._put(request, credential))

    async def PutBcTmh(
        self, request: registry_pb2.PutBcTmhRequest, context: Any
    ) -> registry_pb2.PutBcTmhResponse:
        clinician_id, credential_id = _ids(request.clinician_id, request.credential_id)
        credential = convert.bc_tmh(request.bc_tmh, credential_id, clinician_id)
        return registry_pb2.PutBcTmhResponse(**await self._put(request, credential))

    async def SetNpi(self, request: registry_pb2.SetNpiRequest, context: Any) -> registry_pb2.SetNpiResponse:
        npi = Npi(request.npi) if request.npi.strip() else None  # InvalidArgument on `npi` (LIC-73)
        change = await self._registry.set_npi(
            current_principal(),
            request.clinician_id,
            npi,
            verification=_verification(request),
            expected_version=request.expected_version,
            reason=request.change_reason,
        )
        return registry_pb2.SetNpiResponse(clinician=convert.clinician(change.record), changed=change.changed)

    async def RecordVerification(
        self, request: registry_pb2.RecordVerificationRequest, context: Any
    ) -> registry_pb2.RecordVerificationResponse:
        target = request.WhichOneof("target")
        if target is None or (target == "npi" and not request.npi):
            raise InvalidArgument.field("credential_id", "name a credential_id, or set npi")
        if not request.HasField("verification"):
            raise InvalidArgument.field("verification", "required")
        change = await self._registry.record_verification(
            current_principal(),
            request.clinician_id,
            NPI_RECORD_ID if target == "npi" else request.credential_id,
            convert.verification_input(request.verification),
            reason=request.change_reason,
        )
        response = registry_pb2.RecordVerificationResponse(authorization_changed=change.authorization_changed)
        if change.verification is not None:
            response.verification.CopyFrom(convert.verification_record(change.verification))
        if isinstance(change, ClinicianChange):
            response.clinician.CopyFrom(convert.clinician(change.record))
        else:
            response.credential.CopyFrom(convert.credential(change.record))
        return response

    async def ListClinicianCredentials(
        self, request: registry_pb2.ListClinicianCredentialsRequest, context: Any
    ) -> registry_pb2.ListClinicianCredentialsResponse:
        clinician, items = await self._registry.clinician(current_principal(), request.clinician_id)
        return registry_pb2.ListClinicianCredentialsResponse(
            clinician=convert.clinician(clinician), credentials=[convert.credential(r) for r in items]
        )

    async def ListCredentialHistory(
        self, request: registry_pb2.ListCredentialHistoryRequest, context: Any
    ) -> registry_pb2.ListCredentialHistoryResponse:
        filters = (request.clinician_id, request.record_id)
        page = paging.page_of(request.page, *filters)
        result = await self._registry.history(
            current_principal(), request.clinician_id, request.record_id or None, page
        )
        return registry_pb2.ListCredentialHistoryResponse(
            entries=[convert.history_entry(e) for e in result.items],
            page=paging.next_page(result.next_after, *filters),
        )

    async def ListVerifications(
        self, request: registry_pb2.ListVerificationsRequest, context: Any
    ) -> registry_pb2.ListVerificationsResponse:
        records = await self._registry.verifications(current_principal(), request.clinician_id)
        return registry_pb2.ListVerificationsResponse(
            verifications=[convert.verification_record(r) for r in records]
        )

    async def GetCoverage(
        self, request: registry_pb2.GetCoverageRequest, context: Any
    ) -> registry_pb2.GetCoverageResponse:
        v = ValidationCollector()
        on = convert.optional_date(v, request, "on", "on")
        v.raise_if_any()
        covered = await self._registry.coverage(current_principal(), request.clinician_id, on)
        return registry_pb2.GetCoverageResponse(
            coverage=convert.coverage_entries(covered),
            reference_data_version=self._registry.reference_version,
        )

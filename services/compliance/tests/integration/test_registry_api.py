"""CredentialRegistryService over real gRPC, PostgreSQL and Kafka: versions, verification records,
events on Kafka (key, CloudEvents headers, no PHI), validation and practice scoping."""

from __future__ import annotations

from datetime import date

import grpc
import pytest

from confide.common.v1 import jurisdiction_pb2 as j
from confide.common.v1.paging_pb2 import PageRequest
from confide.compliance.v1 import authorization_pb2 as az
from confide.compliance.v1 import events_pb2
from confide.compliance.v1 import registry_pb2 as rg

from .conftest import Compliance, Practice, headers_of, local, new_id, read_topic, violations

pytestmark = pytest.mark.integration

AUTHORIZATIONS = "confide.compliance.authorizations.v1"
LICENSES = "confide.compliance.licenses.v1"
ALLOWED_HEADERS = {
    *("ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time"),
    *("content-type", "traceparent", "tracestate"),
}
LICENSE_NUMBER = "PSY-0042917"
BOARD_REFERENCE = "board-lookup-5531"


def co_license(status: int = rg.CREDENTIAL_STATUS_ACTIVE) -> rg.StateLicense:
    return rg.StateLicense(
        jurisdiction=j.JURISDICTION_CO,
        profession=az.PROFESSION_PSYCHOLOGIST,
        license_type="Psychologist",
        number=LICENSE_NUMBER,
        status=status,  # type: ignore[arg-type]
        issued_on=local(date(2024, 1, 1)),
        expires_on=local(date(2098, 12, 31)),
    )


async def register(
    compliance: Compliance, practice: Practice, clinician_id: str, where: int = j.JURISDICTION_CO
) -> None:
    await compliance.registry.UpsertClinician(
        rg.UpsertClinicianRequest(
            clinician_id=clinician_id,
            practice_jurisdiction=where,  # type: ignore[arg-type]
            primary_profession=az.PROFESSION_PSYCHOLOGIST,
            change_reason="onboarding",
        ),
        metadata=practice.officer,
    )


async def test_lic_03_new_license_publishes_authorization_changed_without_phi(compliance: Compliance) -> None:
    practice, clinician = Practice.new(), new_id()
    await register(compliance, practice, clinician)
    reply = await compliance.registry.PutStateLicense(
        rg.PutStateLicenseRequest(
            clinician_id=clinician,
            license=co_license(),
            verification=rg.Verification(
                source=rg.VERIFICATION_SOURCE_STATE_BOARD, reference=BOARD_REFERENCE
            ),
            change_reason="license verified at onboarding",
        ),
        metadata=practice.officer,
    )
    assert reply.changed
    assert reply.authorization_changed
    assert reply.credential.version == 1
    assert reply.credential.verification.verified_by == practice.officer_id

    records = await read_topic(
        compliance.bootstrap, AUTHORIZATIONS, key=clinician, until=lambda r: len(r) >= 1
    )
    assert len(records) == 1
    record = records[0]
    event = events_pb2.AuthorizationChanged.FromString(record.value)
    assert event.clinician_id == clinician
    assert list(event.gained_jurisdictions) == [j.JURISDICTION_CO]
    assert not event.lost_jurisdictions
    assert {"LIC-03", "LIC-70"} <= set(event.rule_ids)
    assert az.MODALITY_VIDEO in event.modalities
    assert event.reference_data_version

    headers = headers_of(record)
    assert set(headers) <= ALLOWED_HEADERS
    assert headers["ce_type"] == "confide.compliance.v1.AuthorizationChanged"
    assert headers["ce_source"] == "//confide/compliance"
    assert headers["ce_specversion"] == "1.0"
    assert headers["content-type"] == "application/protobuf"
    # Ids and codes only: neither the license number nor the board reference leaves the registry.
    blob = record.value + b"".join(v for _, v in record.headers)
    assert LICENSE_NUMBER.encode() not in blob
    assert BOARD_REFERENCE.encode() not in blob


async def test_suspension_publishes_license_suspended_and_lost_coverage(compliance: Compliance) -> None:
    practice, clinician = Practice.new(), new_id()
    await register(compliance, practice, clinician)
    added = await compliance.registry.PutStateLicense(
        rg.PutStateLicenseRequest(
            clinician_id=clinician,
            license=co_license(),
            verification=rg.Verification(source=rg.VERIFICATION_SOURCE_STATE_BOARD),
            change_reason="initial",
        ),
        metadata=practice.admin,
    )
    suspended = await compliance.registry.PutStateLicense(
        rg.PutStateLicenseRequest(
            clinician_id=clinician,
            credential_id=added.credential.credential_id,
            license=co_license(rg.CREDENTIAL_STATUS_SUSPENDED),
            expected_version=1,
            change_reason="board order 2026-11",
        ),
        metadata=practice.officer,
    )
    assert suspended.changed
    assert suspended.authorization_changed
    assert suspended.credential.version == 2
    assert suspended.credential.state_license.HasField("status_since")
    assert not suspended.credential.HasField("verification"), "changed content must be re-verified (LIC-70)"

    notices = await read_topic(compliance.bootstrap, LICENSES, key=clinician, until=lambda r: len(r) >= 1)
    assert [headers_of(r)["ce_type"] for r in notices] == ["confide.compliance.v1.LicenseSuspended"]
    notice = events_pb2.LicenseSuspended.FromString(notices[0].value)
    assert notice.credential_id == added.credential.credential_id
    assert notice.status == "suspended"
    assert notice.jurisdiction == j.JURISDICTION_CO

    changes = await read_topic(
        compliance.bootstrap, AUTHORIZATIONS, key=clinician, until=lambda r: len(r) >= 2
    )
    lost = events_pb2.AuthorizationChanged.FromString(changes[-1].value)
    assert list(lost.lost_jurisdictions) == [j.JURISDICTION_CO]
    assert not lost.gained_jurisdictions

    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await compliance.registry.PutStateLicense(
            rg.PutStateLicenseRequest(
                clinician_id=clinician,
                credential_id=added.credential.credential_id,
                license=co_license(),
                expected_version=1,
                change_reason="stale write",
            ),
            metadata=practice.officer,
        )
    assert stale.value.code() is grpc.StatusCode.ABORTED


async def test_every_change_is_a_version_with_who_when_why_and_verifications(compliance: Compliance) -> None:
    practice, clinician = Practice.new(), new_id()
    await register(compliance, practice, clinician)
    request = rg.PutStateLicenseRequest(
        clinician_id=clinician,
        license=co_license(),
        verification=rg.Verification(source=rg.VERIFICATION_SOURCE_STATE_BOARD, reference="r-1"),
        change_reason="initial",
    )
    first = await compliance.registry.PutStateLicense(request, metadata=practice.officer)
    credential_id = first.credential.credential_id
    # The same content again is a no-op (no version, no event): retries and seeds are safe.
    again = await compliance.registry.PutStateLicense(
        rg.PutStateLicenseRequest(
            clinician_id=clinician, credential_id=credential_id, license=co_license(), change_reason="retry"
        ),
        metadata=practice.officer,
    )
    assert not again.changed
    assert again.credential.version == 1
    assert again.credential.HasField("verification")

    renewed_license = co_license()
    renewed_license.expires_on.CopyFrom(local(date(2099, 12, 31)))
    renewed = await compliance.registry.PutStateLicense(
        rg.PutStateLicenseRequest(
            clinician_id=clinician,
            credential_id=credential_id,
            license=renewed_license,
            change_reason="renewal",
        ),
        metadata=practice.admin,
    )
    assert renewed.credential.version == 2
    assert not renewed.credential.HasField("verification")
    verified = await compliance.registry.RecordVerification(
        rg.RecordVerificationRequest(
            clinician_id=clinician,
            credential_id=credential_id,
            verification=rg.Verification(source=rg.VERIFICATION_SOURCE_STATE_BOARD, reference="r-2"),
            change_reason="renewal checked on the board site",
        ),
        metadata=practice.officer,
    )
    assert verified.credential.version == 3
    assert verified.verification.record_version == 3

    history = await compliance.registry.ListCredentialHistory(
        rg.ListCredentialHistoryRequest(clinician_id=clinician, record_id=credential_id),
        metadata=practice.officer,
    )
    assert [(e.version, e.change, e.change_reason) for e in history.entries] == [
        (1, "created", "initial"),
        (2, "updated", "renewal"),
        (3, "verified", "renewal checked on the board site"),
    ]
    assert [e.changed_by for e in history.entries] == [
        practice.officer_id,
        practice.admin_id,
        practice.officer_id,
    ]
    assert history.entries[0].credential.state_license.expires_on.year == 2098
    assert history.entries[1].credential.state_license.expires_on.year == 2099

    paged = await compliance.registry.ListCredentialHistory(
        rg.ListCredentialHistoryRequest(clinician_id=clinician, page=PageRequest(page_size=2)),
        metadata=practice.officer,
    )
    assert len(paged.entries) == 2
    assert paged.page.next_page_token
    rest = await compliance.registry.ListCredentialHistory(
        rg.ListCredentialHistoryRequest(
            clinician_id=clinician, page=PageRequest(page_size=2, page_token=paged.page.next_page_token)
        ),
        metadata=practice.officer,
    )
    assert [e.version for e in rest.entries] == [2, 3]  # the profile's version 1 came first
    assert not rest.page.next_page_token

    checks = await compliance.registry.ListVerifications(
        rg.ListVerificationsRequest(clinician_id=clinician), metadata=practice.officer
    )
    assert [(v.record_version, v.verification.reference) for v in checks.verifications] == [
        (1, "r-1"),
        (3, "r-2"),
    ]
    assert all(v.verification.verified_by == practice.officer_id for v in checks.verifications)

    listed = await compliance.registry.ListClinicianCredentials(
        rg.ListClinicianCredentialsRequest(clinician_id=clinician),
        metadata=practice.as_user(clinician, "clinician"),
    )
    assert [c.credential_id for c in listed.credentials] == [credential_id]

    coverage = await compliance.registry.GetCoverage(
        rg.GetCoverageRequest(clinician_id=clinician), metadata=practice.officer
    )
    assert {c.jurisdiction for c in coverage.coverage} == {j.JURISDICTION_CO}


async def test_lic_73_npi_check_digit_and_bad_input_are_invalid_argument(compliance: Compliance) -> None:
    practice, clinician = Practice.new(), new_id()
    await register(compliance, practice, clinician)
    with pytest.raises(grpc.aio.AioRpcError) as npi:
        await compliance.registry.SetNpi(
            rg.SetNpiRequest(clinician_id=clinician, npi="1234567890", change_reason="npi"),
            metadata=practice.officer,
        )
    assert npi.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations(npi.value) == ["npi"]
    ok = await compliance.registry.SetNpi(
        rg.SetNpiRequest(
            clinician_id=clinician,
            npi="1234567893",
            verification=rg.Verification(source=rg.VERIFICATION_SOURCE_NPPES),
            change_reason="npi from NPPES",
        ),
        metadata=practice.officer,
    )
    assert ok.clinician.npi == "1234567893"
    assert ok.clinician.npi_verification.source == rg.VERIFICATION_SOURCE_NPPES

    with pytest.raises(grpc.aio.AioRpcError) as incomplete:
        await compliance.registry.PutStateLicense(
            rg.PutStateLicenseRequest(
                clinician_id=clinician,
                license=rg.StateLicense(
                    license_type="LPC",
                    number="1",
                    status=rg.CREDENTIAL_STATUS_ACTIVE,
                    restrictions=[rg.Encumbrance()],
                ),
                change_reason="x",
            ),
            metadata=practice.officer,
        )
    assert incomplete.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(incomplete.value)) == {
        "license.jurisdiction",
        "license.profession",
        "license.issued_on",
        "license.expires_on",
        "license.restrictions[0].kind",
        "license.restrictions[0].effective_on",
    }

    backwards = co_license()
    backwards.expires_on.CopyFrom(local(date(2023, 1, 1)))
    for request, field in (
        (
            rg.PutStateLicenseRequest(clinician_id=clinician, license=backwards, change_reason="x"),
            "license.expires_on",
        ),
        (rg.PutStateLicenseRequest(clinician_id=clinician, license=co_license()), "change_reason"),
        (
            rg.PutStateLicenseRequest(clinician_id="not-a-uuid", license=co_license(), change_reason="x"),
            "clinician_id",
        ),
        (
            rg.PutStateLicenseRequest(
                clinician_id=clinician,
                license=co_license(),
                verification=rg.Verification(source=rg.VERIFICATION_SOURCE_NPPES),
                change_reason="x",
            ),
            "verification.source",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await compliance.registry.PutStateLicense(request, metadata=practice.officer)
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT, field
        assert violations(bad.value) == [field]

    with pytest.raises(grpc.aio.AioRpcError) as dangling:
        await compliance.registry.PutCompactAuthority(
            rg.PutCompactAuthorityRequest(
                clinician_id=clinician,
                authority=rg.CompactAuthority(
                    kind=rg.COMPACT_AUTHORITY_KIND_PSYPACT_APIT,
                    status=rg.CREDENTIAL_STATUS_ACTIVE,
                    issued_on=local(date(2026, 6, 1)),
                    expires_on=local(date(2027, 5, 31)),
                    prerequisite_id=new_id(),
                ),
                change_reason="apit",
            ),
            metadata=practice.officer,
        )
    assert violations(dangling.value) == ["authority.prerequisite_id"]

    with pytest.raises(grpc.aio.AioRpcError) as unknown_rule:
        await compliance.registry.PutStateException(
            rg.PutStateExceptionRequest(
                clinician_id=clinician,
                exception=rg.StateException(
                    jurisdiction=j.JURISDICTION_FL,
                    rule_id="FL-NOT-A-RULE",
                    status=rg.CREDENTIAL_STATUS_ACTIVE,
                    valid_from=local(date(2026, 3, 1)),
                    home_license_id=new_id(),
                ),
                change_reason="exception",
            ),
            metadata=practice.officer,
        )
    assert set(violations(unknown_rule.value)) == {"exception.home_license_id", "exception.rule_id"}


async def test_registry_access_is_by_role_mfa_and_practice(compliance: Compliance) -> None:
    practice, other, clinician = Practice.new(), Practice.new(), new_id()
    await register(compliance, practice, clinician)
    put = rg.PutStateLicenseRequest(clinician_id=clinician, license=co_license(), change_reason="x")
    for metadata, code in (
        (practice.client, grpc.StatusCode.PERMISSION_DENIED),
        (
            practice.as_user(practice.officer_id, "compliance_officer", mfa=False),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        (practice.as_user(clinician, "clinician"), grpc.StatusCode.PERMISSION_DENIED),
        (other.officer, grpc.StatusCode.NOT_FOUND),  # another practice's clinician does not exist for them
        ((), grpc.StatusCode.UNAUTHENTICATED),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await compliance.registry.PutStateLicense(put, metadata=metadata)
        assert denied.value.code() is code

    for metadata, code in (
        (other.officer, grpc.StatusCode.NOT_FOUND),
        (practice.as_user(new_id(), "clinician"), grpc.StatusCode.PERMISSION_DENIED),  # not themself
    ):
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await compliance.registry.ListClinicianCredentials(
                rg.ListClinicianCredentialsRequest(clinician_id=clinician), metadata=metadata
            )
        assert hidden.value.code() is code

    # Registering the same clinician id from another practice cannot take it over.
    with pytest.raises(grpc.aio.AioRpcError) as takeover:
        await register(compliance, other, clinician)
    assert takeover.value.code() is grpc.StatusCode.NOT_FOUND

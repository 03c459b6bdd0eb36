"""AuthorizationService over real gRPC and PostgreSQL: allow and deny with rule ids, stored decisions,
fail closed on unknown clinicians, practice scoping, validation, matching; decisions count no days."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import grpc
import pytest

from confide.common.v1 import jurisdiction_pb2 as j
from confide.compliance.v1 import authorization_pb2 as az
from confide_compliance import testing as t
from confide_compliance.domain.credentials import Profession

from .conftest import Compliance, Practice, new_id, ts, violations

pytestmark = pytest.mark.integration

SESSION = datetime(2027, 3, 10, 17, 0, tzinfo=UTC)  # 10:00 in Denver


def check(clinician_id: str, client: int, clinician_at: int, **extra: object) -> az.CheckAuthorizationRequest:
    fields: dict[str, object] = {
        "clinician_id": clinician_id,
        "client_jurisdiction": client,
        "clinician_jurisdiction": clinician_at,
        "session_start": ts(SESSION),
        "client_time_zone": "America/Denver",
        "modality": az.MODALITY_VIDEO,
        "purpose": "booking",
    }
    fields.update(extra)
    return az.CheckAuthorizationRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def psychologist(compliance: Compliance) -> tuple[Practice, str]:
    """A CO psychologist with E.Passport + APIT and an IPC + TAP (through the app layer's seed helper)."""
    practice, clinician = Practice.new(), new_id()
    await t.seed_clinician(
        compliance.running,
        practice_id=practice.practice_id,
        clinician_id=clinician,
        credentials=[
            t.license_("co", "CO", expires_on=date(2028, 12, 31)),
            t.e_passport(expires_on=date(2027, 12, 31)),
            t.apit(expires_on=date(2027, 12, 31)),
            t.ipc(expires_on=date(2027, 12, 31)),
            t.tap(expires_on=date(2027, 12, 31)),
        ],
        practice_jurisdiction="CO",
        primary_profession=Profession.PSYCHOLOGIST,
    )
    return practice, clinician


async def test_lic_03_allowed_by_license_in_client_state_and_stored(
    compliance: Compliance, psychologist: tuple[Practice, str]
) -> None:
    practice, clinician = psychologist
    appointment = new_id()
    reply = await compliance.authorization.CheckAuthorization(
        check(clinician, j.JURISDICTION_CO, j.JURISDICTION_CO, appointment_id=appointment),
        metadata=practice.client,  # scheduling forwards the booking client's token
    )
    decision = reply.decision
    assert decision.allowed
    assert decision.authority.kind == az.AUTHORITY_KIND_STATE_LICENSE
    assert "LIC-03" in [r.rule_id for r in decision.reasons]
    assert not decision.denied_rule_ids
    assert decision.reference_data_version
    assert decision.explanation.startswith("ALLOWED")

    stored = await compliance.authorization.GetDecision(
        az.GetDecisionRequest(decision_id=decision.decision_id), metadata=practice.officer
    )
    assert stored.decision == decision
    assert stored.decision.request.appointment_id == appointment


async def test_lic_11_apit_covers_a_client_in_another_psypact_state(
    compliance: Compliance, psychologist: tuple[Practice, str]
) -> None:
    practice, clinician = psychologist
    allowed = await compliance.authorization.CheckAuthorization(
        check(clinician, j.JURISDICTION_TX, j.JURISDICTION_CO, client_time_zone="America/Chicago"),
        metadata=practice.client,
    )
    assert allowed.decision.allowed
    assert allowed.decision.authority.kind == az.AUTHORITY_KIND_PSYPACT_APIT
    assert "LIC-11" in [r.rule_id for r in allowed.decision.reasons]

    # LIC-11: the psychologist travelling to Texas (not licensed there) is no longer in a home state.
    travelling = await compliance.authorization.CheckAuthorization(
        check(clinician, j.JURISDICTION_AZ, j.JURISDICTION_TX, client_time_zone="America/Phoenix"),
        metadata=practice.client,
    )
    assert not travelling.decision.allowed
    assert "LIC-11" in travelling.decision.denied_rule_ids


async def test_lic_03_denied_in_a_state_without_authority_is_a_normal_answer(
    compliance: Compliance, psychologist: tuple[Practice, str]
) -> None:
    practice, clinician = psychologist
    reply = await compliance.authorization.CheckAuthorization(
        check(clinician, j.JURISDICTION_CA, j.JURISDICTION_CO, client_time_zone="America/Los_Angeles"),
        metadata=practice.client,
    )
    decision = reply.decision
    assert not decision.allowed
    assert not decision.HasField("authority")
    assert "LIC-03" in decision.denied_rule_ids
    assert all(r.rule_id.startswith("LIC-") for r in decision.reasons)
    assert decision.explanation.startswith("DENIED")
    stored = await compliance.authorization.GetDecision(
        az.GetDecisionRequest(decision_id=decision.decision_id), metadata=practice.admin
    )
    assert stored.decision.denied_rule_ids == decision.denied_rule_ids


async def test_unknown_or_other_practice_clinician_is_denied_not_found(
    compliance: Compliance, psychologist: tuple[Practice, str]
) -> None:
    practice, clinician = psychologist
    other = Practice.new()
    for caller, who in ((practice.client, new_id()), (other.client, clinician)):
        reply = await compliance.authorization.CheckAuthorization(
            check(who, j.JURISDICTION_CO, j.JURISDICTION_CO), metadata=caller
        )
        assert not reply.decision.allowed
        assert reply.decision.reasons[0].rule_id == "LIC-03"
        assert "no record in this practice" in reply.decision.reasons[0].message

    mine = await compliance.authorization.CheckAuthorization(
        check(clinician, j.JURISDICTION_CO, j.JURISDICTION_CO), metadata=practice.client
    )
    for metadata, code in (
        (other.officer, grpc.StatusCode.NOT_FOUND),
        (practice.client, grpc.StatusCode.PERMISSION_DENIED),
        (
            practice.as_user(practice.officer_id, "compliance_officer", mfa=False),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await compliance.authorization.GetDecision(
                az.GetDecisionRequest(decision_id=mine.decision.decision_id), metadata=metadata
            )
        assert denied.value.code() is code


async def test_bad_input_is_invalid_argument_with_every_field(compliance: Compliance) -> None:
    practice = Practice.new()
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await compliance.authorization.CheckAuthorization(
            az.CheckAuthorizationRequest(
                # No zone at all: a malformed one would be the chassis' to refuse, before this
                # service could name the other fields.
                clinician_id="x",
                client_time_zone="",
                appointment_id="y",
            ),
            metadata=practice.client,
        )
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(bad.value)) == {
        "clinician_id",
        "client_jurisdiction",
        "clinician_jurisdiction",
        "session_start",
        "client_time_zone",
        "modality",
        "appointment_id",
    }
    with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
        await compliance.authorization.CheckAuthorization(
            check(new_id(), j.JURISDICTION_CO, j.JURISDICTION_CO)
        )
    assert unauthenticated.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as bad_id:
        await compliance.authorization.GetDecision(
            az.GetDecisionRequest(decision_id="nope"), metadata=practice.officer
        )
    assert violations(bad_id.value) == ["decision_id"]


async def test_find_authorized_clinicians_names_the_authority(
    compliance: Compliance, psychologist: tuple[Practice, str]
) -> None:
    practice, clinician = psychologist
    counselor = new_id()
    await t.seed_clinician(
        compliance.running,
        practice_id=practice.practice_id,
        clinician_id=counselor,
        credentials=[
            t.license_("az", "AZ", Profession.PROFESSIONAL_COUNSELOR),
            t.privilege("mn", "MN", "az"),
        ],
        practice_jurisdiction="AZ",
    )
    reply = await compliance.authorization.FindAuthorizedClinicians(
        az.FindAuthorizedCliniciansRequest(
            client_jurisdiction=j.JURISDICTION_MN,
            session_start=ts(SESSION),
            client_time_zone="America/Chicago",
            modality=az.MODALITY_VIDEO,
        ),
        metadata=practice.client,
    )
    kinds = {c.clinician_id: c.authority.kind for c in reply.clinicians}
    assert kinds == {
        clinician: az.AUTHORITY_KIND_PSYPACT_APIT,
        counselor: az.AUTHORITY_KIND_COUNSELING_COMPACT_PRIVILEGE,
    }
    only = await compliance.authorization.FindAuthorizedClinicians(
        az.FindAuthorizedCliniciansRequest(
            client_jurisdiction=j.JURISDICTION_MN,
            session_start=ts(SESSION),
            client_time_zone="America/Chicago",
            modality=az.MODALITY_VIDEO,
            profession=az.PROFESSION_PROFESSIONAL_COUNSELOR,
        ),
        metadata=Practice.new().client,  # another practice sees none of them
    )
    assert not only.clinicians


async def test_lic_13_tap_decisions_of_any_purpose_count_no_days(
    compliance: Compliance, psychologist: tuple[Practice, str]
) -> None:
    """Days are counted when a real session starts (test_authority_days), never by a decision."""
    practice, clinician = psychologist

    async def in_person_in_texas(day: int, purpose: str) -> az.Decision:
        start = datetime(2027, 2, day, 16, 0, tzinfo=UTC)
        reply = await compliance.authorization.CheckAuthorization(
            check(
                clinician,
                j.JURISDICTION_TX,
                j.JURISDICTION_TX,
                modality=az.MODALITY_IN_PERSON,
                session_start=ts(start),
                client_time_zone="America/Chicago",
                purpose=purpose,
            ),
            metadata=practice.client,
        )
        return reply.decision

    first = await in_person_in_texas(1, "check_in")
    assert first.allowed
    assert first.authority.kind == az.AUTHORITY_KIND_PSYPACT_TAP
    await asyncio.gather(in_person_in_texas(2, "check_in"), in_person_in_texas(2, "check_in"))
    await in_person_in_texas(3, "booking")
    days = await compliance.scalar(
        "SELECT count(*) FROM authority_day_usage WHERE clinician_id = :c", c=clinician
    )
    assert days == 0
    booking = await in_person_in_texas(3, "booking")
    assert any("day 1 of 30" in r.message for r in booking.reasons if r.rule_id == "LIC-13")

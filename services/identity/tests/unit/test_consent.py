"""Telehealth informed consent (SAFE-10, SAFE-11, SAFE-12; minors: IDN-MINOR-01 / docs/rules.md §2.5)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from confide_chassis.errors import FailedPrecondition, InvalidArgument
from confide_identity.domain.age_of_consent import AgeOfConsentTable, MinorConsentAssessment
from confide_identity.domain.consent import (
    ConsentDocument,
    ConsentSignature,
    Modality,
    SignatureMethod,
    SignerRole,
    check_booking_consent,
    consent_violations,
    current_consent_document,
    publish_consent_document,
    revoke_consent,
    sign_consent,
)

DIGEST = hashlib.sha256(b"consent text v1").hexdigest()
ADULT_DOB = date(1990, 1, 1)


def publish(
    practice_id: UUID,
    version: int,
    effective_at: datetime,
    now: datetime,
    *,
    modalities: tuple[str, ...] = ("video", "audio_only", "async_messaging"),
    states: tuple[str, ...] = ("CA", "TX", "IN", "IL"),
    existing: tuple[ConsentDocument, ...] = (),
) -> ConsentDocument:
    return publish_consent_document(
        document_id=uuid4(),
        practice_id=practice_id,
        version=version,
        effective_at=effective_at,
        modalities=modalities,
        jurisdictions=states,
        content_sha256=DIGEST,
        existing=existing,
        now=now,
    )


def sign(
    document: ConsentDocument,
    client_id: UUID,
    now: datetime,
    *,
    state: str = "CA",
    role: SignerRole = SignerRole.CLIENT,
    method: SignatureMethod = SignatureMethod.CLICK,
    name: str | None = None,
    documented_by: UUID | None = None,
) -> ConsentSignature:
    return sign_consent(
        document,
        signature_id=uuid4(),
        client_id=client_id,
        client_practice_id=document.practice_id,
        jurisdiction=state,
        signer_role=role,
        signed_by=client_id,
        method=method,
        now=now,
        signer_name=name,
        documented_by=documented_by,
    )


@pytest.fixture
def v1(practice_id: UUID, now: datetime) -> ConsentDocument:
    return publish(practice_id, 1, now - timedelta(days=30), now - timedelta(days=30))


def assess(table: AgeOfConsentTable, dob: date, state: str, now: datetime) -> MinorConsentAssessment:
    return table.assess(dob, state, now.date())


@dataclass(frozen=True)
class Case:
    """One client of one practice at `now`, to ask what blocks a booking."""

    table: AgeOfConsentTable
    client_id: UUID
    practice_id: UUID
    now: datetime

    def violations(
        self,
        documents: list[ConsentDocument],
        signatures: list[ConsentSignature],
        *,
        state: str = "CA",
        modality: Modality = Modality.VIDEO,
        dob: date = ADULT_DOB,
    ) -> list[str]:
        found = consent_violations(
            client_id=self.client_id,
            practice_id=self.practice_id,
            jurisdiction=state,
            modality=modality,
            documents=documents,
            signatures=signatures,
            minor=assess(self.table, dob, state, self.now),
            now=self.now,
        )
        return [v.rule_id for v in found]


@pytest.fixture
def case(consent_table: AgeOfConsentTable, practice_id: UUID, now: datetime) -> Case:
    return Case(consent_table, uuid4(), practice_id, now)


def test_safe_10_signed_current_version_allows_booking(
    case: Case, v1: ConsentDocument, now: datetime
) -> None:
    signature = sign(v1, case.client_id, now - timedelta(days=1))
    check_booking_consent(
        client_id=case.client_id,
        practice_id=case.practice_id,
        jurisdiction="CA",
        modality=Modality.VIDEO,
        documents=[v1],
        signatures=[signature],
        minor=assess(case.table, ADULT_DOB, "CA", now),
        now=now,
    )


def test_safe_10_no_document_or_no_signature_blocks_booking(
    case: Case, v1: ConsentDocument, now: datetime
) -> None:
    assert case.violations([], []) == ["SAFE-10"]
    assert case.violations([v1], []) == ["SAFE-10"]
    with pytest.raises(FailedPrecondition) as raised:
        check_booking_consent(
            client_id=case.client_id,
            practice_id=case.practice_id,
            jurisdiction="CA",
            modality=Modality.VIDEO,
            documents=[v1],
            signatures=[],
            minor=assess(case.table, ADULT_DOB, "CA", now),
            now=now,
        )
    assert raised.value.rule_ids == ("SAFE-10",)


def test_safe_10_a_new_current_version_needs_a_new_signature(
    case: Case, v1: ConsentDocument, practice_id: UUID, now: datetime
) -> None:
    old_signature = sign(v1, case.client_id, now - timedelta(days=1))
    v2 = publish(practice_id, 2, now - timedelta(hours=1), now - timedelta(days=2), existing=(v1,))
    assert current_consent_document([v1, v2], practice_id=practice_id, now=now) == v2
    assert case.violations([v1, v2], [old_signature]) == ["SAFE-10"]
    new_signature = sign(v2, case.client_id, now)
    assert case.violations([v1, v2], [old_signature, new_signature]) == []


def test_a_future_version_is_not_yet_current(v1: ConsentDocument, practice_id: UUID, now: datetime) -> None:
    v2 = publish(practice_id, 2, now + timedelta(days=7), now, existing=(v1,))
    assert current_consent_document([v1, v2], practice_id=practice_id, now=now) == v1
    with pytest.raises(FailedPrecondition) as raised:
        sign(v2, uuid4(), now)
    assert raised.value.rule_ids == ("SAFE-10",)


def test_safe_12_current_version_must_cover_the_modality(
    case: Case, v1: ConsentDocument, now: datetime
) -> None:
    signature = sign(v1, case.client_id, now)
    assert case.violations([v1], [signature], modality=Modality.LIVE_CHAT) == ["SAFE-12"]
    assert case.violations([v1], [signature], modality=Modality.AUDIO_ONLY) == []


def test_safe_10_current_version_must_cover_the_clients_state(
    case: Case, v1: ConsentDocument, now: datetime
) -> None:
    with pytest.raises(FailedPrecondition) as raised:
        sign(v1, case.client_id, now, state="WA")
    assert raised.value.rule_ids == ("SAFE-10",)
    signed_in_ca = sign(v1, case.client_id, now, state="CA")
    # WA is not covered, and no signature was given for WA
    assert case.violations([v1], [signed_in_ca], state="WA") == ["SAFE-10", "SAFE-10"]


def test_safe_10_moving_state_needs_a_new_signature(case: Case, v1: ConsentDocument, now: datetime) -> None:
    signed_in_ca = sign(v1, case.client_id, now - timedelta(days=3), state="CA")
    assert case.violations([v1], [signed_in_ca], state="TX") == ["SAFE-10"]
    signed_in_tx = sign(v1, case.client_id, now, state="TX")
    assert case.violations([v1], [signed_in_ca, signed_in_tx], state="TX") == []


def test_safe_10_revoked_consent_blocks_booking(case: Case, v1: ConsentDocument, now: datetime) -> None:
    revoked = revoke_consent(sign(v1, case.client_id, now - timedelta(days=1)), now=now - timedelta(hours=1))
    assert revoke_consent(revoked, now=now) == revoked
    assert case.violations([v1], [revoked]) == ["SAFE-10"]


def test_signatures_of_other_clients_or_practices_do_not_count(
    case: Case, v1: ConsentDocument, other_practice_id: UUID, now: datetime
) -> None:
    someone_else = sign(v1, uuid4(), now)
    assert case.violations([v1], [someone_else]) == ["SAFE-10"]
    other_doc = publish(other_practice_id, 1, now - timedelta(days=1), now - timedelta(days=1))
    with pytest.raises(FailedPrecondition):
        sign_consent(
            other_doc,
            signature_id=uuid4(),
            client_id=case.client_id,
            client_practice_id=case.practice_id,
            jurisdiction="CA",
            signer_role=SignerRole.CLIENT,
            signed_by=case.client_id,
            method=SignatureMethod.CLICK,
            now=now,
        )
    assert case.violations([other_doc], [sign(other_doc, case.client_id, now)]) == ["SAFE-10"]


def test_signature_methods(v1: ConsentDocument, now: datetime) -> None:
    client, clinician = uuid4(), uuid4()
    typed = sign(v1, client, now, method=SignatureMethod.TYPED, name="  Jordan  Lee ")
    assert typed.signer_name == "Jordan Lee"
    verbal = sign(
        v1, client, now, method=SignatureMethod.VERBAL_DOCUMENTED_BY_CLINICIAN, documented_by=clinician
    )
    assert verbal.documented_by == clinician
    with pytest.raises(InvalidArgument) as raised:
        sign(v1, client, now, method=SignatureMethod.TYPED)
    assert [v.field for v in raised.value.violations] == ["signer_name"]
    with pytest.raises(InvalidArgument) as raised:
        sign(v1, client, now, method=SignatureMethod.VERBAL_DOCUMENTED_BY_CLINICIAN)
    assert [v.field for v in raised.value.violations] == ["documented_by"]
    with pytest.raises(InvalidArgument):
        sign(v1, client, now, method=SignatureMethod.CLICK, documented_by=clinician)


def test_safe_11_indiana_requires_written_consent(v1: ConsentDocument, now: datetime) -> None:
    client = uuid4()
    with pytest.raises(FailedPrecondition) as raised:
        sign(
            v1,
            client,
            now,
            state="IN",
            method=SignatureMethod.VERBAL_DOCUMENTED_BY_CLINICIAN,
            documented_by=uuid4(),
        )
    assert raised.value.rule_ids == ("SAFE-11",)
    sign(v1, client, now, state="IN", method=SignatureMethod.TYPED, name="Jordan Lee")


def test_idn_minor_01_minor_below_consent_age_needs_guardian_signature(
    case: Case, v1: ConsentDocument, now: datetime
) -> None:
    fifteen = date(now.year - 15, 1, 1)  # Texas: 18 to consent alone
    own = sign(v1, case.client_id, now, state="TX")
    assert case.violations([v1], [own], state="TX", dob=fifteen) == ["IDN-MINOR-01"]
    with pytest.raises(InvalidArgument):
        sign(v1, case.client_id, now, state="TX", role=SignerRole.GUARDIAN)  # the guardian's name is required
    guardian = sign(v1, case.client_id, now, state="TX", role=SignerRole.GUARDIAN, name="Robin Lee")
    assert case.violations([v1], [own, guardian], state="TX", dob=fifteen) == []
    with pytest.raises(FailedPrecondition) as raised:
        check_booking_consent(
            client_id=case.client_id,
            practice_id=case.practice_id,
            jurisdiction="TX",
            modality=Modality.VIDEO,
            documents=[v1],
            signatures=[own],
            minor=assess(case.table, fifteen, "TX", now),
            now=now,
        )
    assert raised.value.rule_ids == ("IDN-MINOR-01",)


def test_idn_minor_01_minor_old_enough_in_their_state_signs_alone(
    case: Case, v1: ConsentDocument, now: datetime
) -> None:
    thirteen = date(now.year - 13, 1, 1)  # California: 12 to consent alone
    assert case.violations([v1], [sign(v1, case.client_id, now)], dob=thirteen) == []
    # a parent may still consent for a minor under 18 instead
    guardian = sign(v1, case.client_id, now, role=SignerRole.GUARDIAN, name="Robin Lee")
    assert case.violations([v1], [guardian], dob=thirteen) == []


def test_idn_minor_01_a_guardian_signature_does_not_stand_in_for_an_adult(
    case: Case, v1: ConsentDocument, now: datetime
) -> None:
    guardian = sign(v1, case.client_id, now, role=SignerRole.GUARDIAN, name="Robin Lee")
    assert case.violations([v1], [guardian]) == ["SAFE-10"]


def test_assessment_must_be_for_the_booking_state(case: Case, v1: ConsentDocument, now: datetime) -> None:
    with pytest.raises(ValueError, match="jurisdiction"):
        consent_violations(
            client_id=case.client_id,
            practice_id=case.practice_id,
            jurisdiction="TX",
            modality=Modality.VIDEO,
            documents=[v1],
            signatures=[],
            minor=assess(case.table, ADULT_DOB, "CA", now),
            now=now,
        )


def test_publishing_rules(v1: ConsentDocument, practice_id: UUID, now: datetime) -> None:
    with pytest.raises(InvalidArgument) as raised:
        publish_consent_document(
            document_id=uuid4(),
            practice_id=practice_id,
            version=1,
            effective_at=now - timedelta(days=1),
            modalities=["video", "telepathy"],
            jurisdictions=["CA", "Cal"],
            content_sha256="abc",
            existing=[v1],
            now=now,
        )
    assert {v.field for v in raised.value.violations} == {
        "document.version",
        "document.effective_at",
        "document.modalities[1]",
        "document.jurisdictions[1]",
        "document.content_sha256",
    }
    with pytest.raises(InvalidArgument) as raised:
        publish(practice_id, 2, now, now, modalities=(), states=(), existing=(v1,))
    assert {v.field for v in raised.value.violations} == {"document.modalities", "document.jurisdictions"}

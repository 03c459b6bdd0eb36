"""Builders for credentials and requests with sensible defaults, for tests and demo data.

Pure and deterministic. Defaults: clinician ``clin-1``, verified on 2026-01-05 by ``verifier-1``,
licenses issued 2024-01-01 and expiring 2027-12-31, PSYPACT certificates valid
2025-06-01..2026-12-31, session on 2026-03-10 at 17:00 UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from confide_compliance.domain.authorization import AuthorizationRequest
from confide_compliance.domain.credentials import (
    BcTmhCredential,
    ClinicianCredentials,
    CompactAuthority,
    CompactAuthorityKind,
    Credential,
    CredentialStatus,
    Encumbrance,
    LicenseLevel,
    Profession,
    SocialWorkCategory,
    StateException,
    StateLicense,
    Verification,
    VerificationSource,
)
from confide_compliance.domain.modality import Modality

CLINICIAN = "clin-1"
SESSION_DAY = date(2026, 3, 10)
VERIFIED_AT = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)

_LICENSE_TYPES: dict[Profession, str] = {
    Profession.PSYCHOLOGIST: "Psychologist",
    Profession.PROFESSIONAL_COUNSELOR: "LPC",
    Profession.CLINICAL_SOCIAL_WORKER: "LCSW",
    Profession.MARRIAGE_AND_FAMILY_THERAPIST: "LMFT",
    Profession.PSYCHIATRIST: "MD",
    Profession.PSYCHIATRIC_NURSE_PRACTITIONER: "APRN-PMHNP",
    Profession.REGISTERED_NURSE: "RN",
    Profession.LICENSED_PRACTICAL_NURSE: "LPN",
}


def verified(source: VerificationSource = VerificationSource.STATE_BOARD) -> Verification:
    return Verification(
        source=source, verified_at=VERIFIED_AT, verified_by="verifier-1", reference="lookup-1"
    )


def license_(
    id: str,
    jurisdiction: str,
    profession: Profession = Profession.PSYCHOLOGIST,
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2024, 1, 1),
    expires_on: date = date(2027, 12, 31),
    level: LicenseLevel = LicenseLevel.INDEPENDENT,
    restrictions: Iterable[Encumbrance] = (),
    is_verified: bool = True,
    clinician_id: str = CLINICIAN,
    status_since: date | None = None,
) -> StateLicense:
    return StateLicense(
        id=id,
        clinician_id=clinician_id,
        jurisdiction=jurisdiction,
        profession=profession,
        license_type=_LICENSE_TYPES[profession],
        number=f"{jurisdiction}-{id}",
        status=status,
        issued_on=issued_on,
        expires_on=expires_on,
        level=level,
        restrictions=tuple(restrictions),
        verification=verified() if is_verified else None,
        status_since=status_since,
    )


def authority(
    id: str,
    kind: CompactAuthorityKind,
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 6, 1),
    expires_on: date | None = date(2026, 12, 31),
    jurisdiction: str | None = None,
    home_license_id: str | None = None,
    prerequisite_id: str | None = None,
    category: SocialWorkCategory | None = None,
    is_verified: bool = True,
    clinician_id: str = CLINICIAN,
    status_since: date | None = None,
) -> CompactAuthority:
    source = {
        CompactAuthorityKind.PSYPACT_E_PASSPORT: VerificationSource.ASPPB,
        CompactAuthorityKind.PSYPACT_IPC: VerificationSource.ASPPB,
        CompactAuthorityKind.PSYPACT_APIT: VerificationSource.PSYPACT_COMMISSION,
        CompactAuthorityKind.PSYPACT_TAP: VerificationSource.PSYPACT_COMMISSION,
        CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE: VerificationSource.COMPACT_CONNECT,
        CompactAuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE: VerificationSource.STATE_BOARD,
        CompactAuthorityKind.NLC_MULTISTATE_LICENSE: VerificationSource.NURSYS,
    }[kind]
    return CompactAuthority(
        id=id,
        clinician_id=clinician_id,
        kind=kind,
        status=status,
        issued_on=issued_on,
        expires_on=expires_on,
        jurisdiction=jurisdiction,
        home_license_id=home_license_id,
        prerequisite_id=prerequisite_id,
        category=category,
        number=f"N-{id}",
        verification=verified(source) if is_verified else None,
        status_since=status_since,
    )


def e_passport(
    id: str = "ep-1",
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 6, 1),
    expires_on: date = date(2026, 12, 31),
) -> CompactAuthority:
    return authority(
        id, CompactAuthorityKind.PSYPACT_E_PASSPORT, status=status, issued_on=issued_on, expires_on=expires_on
    )


def apit(
    id: str = "apit-1",
    prerequisite_id: str = "ep-1",
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 6, 1),
    expires_on: date = date(2026, 12, 31),
    is_verified: bool = True,
) -> CompactAuthority:
    return authority(
        id,
        CompactAuthorityKind.PSYPACT_APIT,
        prerequisite_id=prerequisite_id,
        status=status,
        issued_on=issued_on,
        expires_on=expires_on,
        is_verified=is_verified,
    )


def ipc(
    id: str = "ipc-1",
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 6, 1),
    expires_on: date = date(2026, 12, 31),
) -> CompactAuthority:
    return authority(
        id, CompactAuthorityKind.PSYPACT_IPC, status=status, issued_on=issued_on, expires_on=expires_on
    )


def tap(
    id: str = "tap-1",
    prerequisite_id: str = "ipc-1",
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 6, 1),
    expires_on: date = date(2026, 12, 31),
) -> CompactAuthority:
    return authority(
        id,
        CompactAuthorityKind.PSYPACT_TAP,
        prerequisite_id=prerequisite_id,
        status=status,
        issued_on=issued_on,
        expires_on=expires_on,
    )


def privilege(
    id: str,
    jurisdiction: str,
    home_license_id: str,
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 9, 30),
    expires_on: date | None = None,
    is_verified: bool = True,
) -> CompactAuthority:
    return authority(
        id,
        CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
        jurisdiction=jurisdiction,
        home_license_id=home_license_id,
        status=status,
        issued_on=issued_on,
        expires_on=expires_on,
        is_verified=is_verified,
    )


def exception_(
    id: str,
    jurisdiction: str,
    rule_id: str,
    home_license_id: str,
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    valid_from: date = date(2026, 1, 1),
    valid_until: date | None = None,
    approved_on: date | None = None,
    notice_filed_on: date | None = None,
    is_verified: bool = True,
    clinician_id: str = CLINICIAN,
) -> StateException:
    return StateException(
        id=id,
        clinician_id=clinician_id,
        jurisdiction=jurisdiction,
        rule_id=rule_id,
        status=status,
        valid_from=valid_from,
        valid_until=valid_until,
        home_license_id=home_license_id,
        approval_reference=f"APPROVAL-{id}" if approved_on else None,
        approved_on=approved_on,
        notice_reference=f"NOTICE-{id}" if notice_filed_on else None,
        notice_filed_on=notice_filed_on,
        verification=verified() if is_verified else None,
    )


def bc_tmh(id: str = "bctmh-1", *, clinician_id: str = CLINICIAN) -> BcTmhCredential:
    return BcTmhCredential(
        id=id,
        clinician_id=clinician_id,
        certificate_number="BCTMH-0001",
        status=CredentialStatus.ACTIVE,
        issued_on=date(2023, 5, 1),
        expires_on=date(2028, 4, 30),
        verification=verified(VerificationSource.CCE),
    )


def credentials(
    *items: Credential,
    clinician_id: str = CLINICIAN,
    is_supervisee: bool = False,
    practice_jurisdiction: str | None = None,
) -> ClinicianCredentials:
    return ClinicianCredentials.of(
        clinician_id, items, is_supervisee=is_supervisee, practice_jurisdiction=practice_jurisdiction
    )


def request(
    client: str,
    clinician_at: str | None = None,
    *,
    profession: Profession | str = Profession.PSYCHOLOGIST,
    modality: Modality | str = Modality.VIDEO,
    on: date = SESSION_DAY,
    existing_client: bool = False,
    is_supervisee: bool = False,
    clinician_id: str = CLINICIAN,
) -> AuthorizationRequest:
    """A session request; the clinician is where the client is unless `clinician_at` says otherwise."""
    return AuthorizationRequest(
        clinician_id=clinician_id,
        profession=profession,
        client_jurisdiction=client,
        clinician_jurisdiction=clinician_at if clinician_at is not None else client,
        session_start=datetime.combine(on, time(17, 0), tzinfo=UTC),
        session_date=on,
        modality=modality,
        existing_client=existing_client,
        is_supervisee=is_supervisee,
    )

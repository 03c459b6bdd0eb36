"""Expiry watch, pure part: which notices are due today, and what a clinician's coverage is.

The scheduled job (not here) reads the registry, calls `due_notices` for each clinician and emits each
notice whose `dedupe_key` it has not emitted before. For "authorization changed" it compares
`coverage(...)` before and after a registry change (or from one day to the next) with
`coverage_diff`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum

from confide_compliance.domain.authorization import AuthorizationRequest, Usage, decide
from confide_compliance.domain.credentials import (
    BcTmhCredential,
    ClinicianCredentials,
    CompactAuthority,
    CompactAuthorityKind,
    CredentialStatus,
    Profession,
    StateException,
    StateLicense,
)
from confide_compliance.domain.jurisdictions import ALL_JURISDICTIONS
from confide_compliance.domain.modality import ModalityClass
from confide_compliance.domain.reference import ReferenceData


class Milestone(StrEnum):
    EXPIRING_90 = "expiring_90"
    EXPIRING_60 = "expiring_60"
    EXPIRING_30 = "expiring_30"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


# Reminder windows, widest first: a credential with N days left is in the narrowest window >= N.
EXPIRY_WINDOWS: tuple[tuple[int, Milestone], ...] = (
    (30, Milestone.EXPIRING_30),
    (60, Milestone.EXPIRING_60),
    (90, Milestone.EXPIRING_90),
)


class CredentialKind(StrEnum):
    STATE_LICENSE = "state_license"
    PSYPACT_E_PASSPORT = "psypact_e_passport"
    PSYPACT_APIT = "psypact_apit"
    PSYPACT_IPC = "psypact_ipc"
    PSYPACT_TAP = "psypact_tap"
    COUNSELING_COMPACT_PRIVILEGE = "counseling_compact_privilege"
    SOCIAL_WORK_MULTISTATE_LICENSE = "social_work_multistate_license"
    NLC_MULTISTATE_LICENSE = "nlc_multistate_license"
    STATE_EXCEPTION = "state_exception"
    BC_TMH = "bc_tmh"


_RULE_OF_KIND: dict[CredentialKind, str] = {
    CredentialKind.STATE_LICENSE: "LIC-70",
    CredentialKind.PSYPACT_E_PASSPORT: "LIC-16",
    CredentialKind.PSYPACT_APIT: "LIC-16",
    CredentialKind.PSYPACT_IPC: "LIC-16",
    CredentialKind.PSYPACT_TAP: "LIC-16",
    CredentialKind.COUNSELING_COMPACT_PRIVILEGE: "LIC-22",
    CredentialKind.SOCIAL_WORK_MULTISTATE_LICENSE: "LIC-30",
    CredentialKind.NLC_MULTISTATE_LICENSE: "LIC-50",
    CredentialKind.STATE_EXCEPTION: "LIC-60",
    CredentialKind.BC_TMH: "LIC-80",
}


@dataclass(frozen=True, slots=True, order=True)
class ExpiryNotice:
    """One notice to send. `dedupe_key` is stable: the same credential, milestone and term (or status
    date) always give the same key, so an emitter sends each notice once; a renewal (new expiry date)
    re-arms the reminders."""

    dedupe_key: str
    clinician_id: str
    credential_id: str
    credential_kind: CredentialKind
    milestone: Milestone
    jurisdiction: str | None
    expires_on: date | None
    days_left: int | None  # negative once expired
    rule_id: str


def _kind_of(
    credential: StateLicense | CompactAuthority | StateException | BcTmhCredential,
) -> CredentialKind:
    if isinstance(credential, StateLicense):
        return CredentialKind.STATE_LICENSE
    if isinstance(credential, StateException):
        return CredentialKind.STATE_EXCEPTION
    if isinstance(credential, BcTmhCredential):
        return CredentialKind.BC_TMH
    return CredentialKind(credential.kind.value)


def _expiry_of(credential: StateLicense | CompactAuthority | StateException | BcTmhCredential) -> date | None:
    if isinstance(credential, StateException):
        return credential.valid_until
    return credential.expires_on


def _jurisdiction_of(
    credential: StateLicense | CompactAuthority | StateException | BcTmhCredential,
) -> str | None:
    if isinstance(credential, BcTmhCredential):
        return None
    return credential.jurisdiction


def due_notices(credentials: ClinicianCredentials, today: date) -> tuple[ExpiryNotice, ...]:
    """Notices due on `today` for one clinician, sorted by dedupe key.

    - SUSPENDED / REVOKED while the credential has that status;
    - EXPIRED once the expiry date has passed (or the status says expired);
    - EXPIRING_90/60/30 while the credential is active and 90/60/30 days or fewer remain (only the
      narrowest window applies: a credential recorded with 45 days left gets the 60-day notice, not a
      late 90-day one). The expiry date itself is the last valid day, so 0 days left is still
      "expiring", and the day after is "expired".
    Inactive credentials get no reminders.
    """
    notices: list[ExpiryNotice] = []
    for credential in credentials.all():
        kind = _kind_of(credential)
        expires_on = _expiry_of(credential)
        days_left = (expires_on - today).days if expires_on is not None else None
        status = credential.status
        milestone: Milestone | None = None
        anchor: date | None = expires_on
        if status is CredentialStatus.SUSPENDED:
            milestone, anchor = Milestone.SUSPENDED, credential.status_since
        elif status is CredentialStatus.REVOKED:
            milestone, anchor = Milestone.REVOKED, credential.status_since
        elif status is CredentialStatus.EXPIRED or (days_left is not None and days_left < 0):
            milestone = Milestone.EXPIRED
        elif status in (CredentialStatus.ACTIVE, CredentialStatus.PROBATION) and days_left is not None:
            milestone = next((m for window, m in EXPIRY_WINDOWS if days_left <= window), None)
        if milestone is None:
            continue
        anchor_text = anchor.isoformat() if anchor is not None else "-"
        notices.append(
            ExpiryNotice(
                dedupe_key=f"{credential.id}:{milestone.value}:{anchor_text}",
                clinician_id=credentials.clinician_id,
                credential_id=credential.id,
                credential_kind=kind,
                milestone=milestone,
                jurisdiction=_jurisdiction_of(credential),
                expires_on=expires_on,
                days_left=days_left,
                rule_id=_RULE_OF_KIND[kind],
            )
        )
    return tuple(sorted(notices))


# --------------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Coverage:
    jurisdiction: str
    modality_class: ModalityClass


@dataclass(frozen=True, slots=True)
class CoverageDiff:
    gained: frozenset[Coverage]
    lost: frozenset[Coverage]

    @property
    def changed(self) -> bool:
        return bool(self.gained or self.lost)


def _professions(credentials: ClinicianCredentials) -> tuple[Profession, ...]:
    held = set(credentials.professions())
    kinds = {a.kind for a in credentials.authorities}
    if kinds & {CompactAuthorityKind.PSYPACT_APIT, CompactAuthorityKind.PSYPACT_TAP}:
        held.add(Profession.PSYCHOLOGIST)
    if CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE in kinds:
        held.add(Profession.PROFESSIONAL_COUNSELOR)
    if CompactAuthorityKind.NLC_MULTISTATE_LICENSE in kinds:
        held.add(Profession.REGISTERED_NURSE)
    return tuple(p for p in Profession if p in held)


def coverage(
    credentials: ClinicianCredentials,
    reference_data: ReferenceData,
    on: date,
    *,
    clinician_jurisdiction: str | None = None,
    existing_client: bool = False,
    usage: Usage | None = None,
    jurisdictions: Iterable[str] = ALL_JURISDICTIONS,
) -> frozenset[Coverage]:
    """Every (client jurisdiction, modality class) in which the clinician may see a client on `on`.

    A class is covered only if every modality in it is authorized. Telehealth is evaluated with the
    clinician at `clinician_jurisdiction` (default: their `practice_jurisdiction`; unknown → no
    telehealth coverage, fail closed); in-person with the clinician in the client's jurisdiction.
    Day-limited authorities count `usage` (default: none used). By default clients are new
    (`existing_client=False`), so existing-client-only exceptions do not count as coverage.
    """
    at = datetime.combine(on, time(12), tzinfo=UTC)
    location = clinician_jurisdiction or credentials.practice_jurisdiction
    professions = _professions(credentials)
    covered: set[Coverage] = set()
    for jurisdiction in sorted(set(jurisdictions)):
        for modality_class in ModalityClass:
            clinician_at = jurisdiction if modality_class is ModalityClass.IN_PERSON else location
            if clinician_at is None:
                continue
            for profession in professions:
                if all(
                    decide(
                        AuthorizationRequest(
                            clinician_id=credentials.clinician_id,
                            profession=profession,
                            client_jurisdiction=jurisdiction,
                            clinician_jurisdiction=clinician_at,
                            session_start=at,
                            session_date=on,
                            modality=modality,
                            existing_client=existing_client,
                            is_supervisee=credentials.is_supervisee,
                        ),
                        credentials,
                        reference_data,
                        usage,
                    ).allowed
                    for modality in modality_class.modalities
                ):
                    covered.add(Coverage(jurisdiction, modality_class))
                    break
    return frozenset(covered)


def coverage_diff(before: frozenset[Coverage], after: frozenset[Coverage]) -> CoverageDiff:
    return CoverageDiff(gained=after - before, lost=before - after)

"""The compliance service's records: what the registry, the decision store and the audit trail hold,
as immutable values around the domain types. Use cases return these; `api.mapping` turns them into
API messages and `db.repositories` into rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from confide_compliance.domain.audit import ChainedRecord
from confide_compliance.domain.authorization import AuthorityRef, Outcome, Reason, UsageKey
from confide_compliance.domain.credentials import (
    BcTmhCredential,
    Credential,
    Npi,
    Profession,
    StateException,
    StateLicense,
    Verification,
)
from confide_compliance.domain.modality import Modality
from confide_compliance.domain.watch import Coverage, CredentialKind

CLINICIAN_RECORD = "clinician"
CREDENTIAL_RECORD = "credential"
NPI_RECORD_ID = "npi"


@dataclass(frozen=True, slots=True)
class ClinicianRecord:
    """A clinician's registry profile (one practice), its version and the coverage last announced."""

    clinician_id: str
    practice_id: str
    version: int
    updated_at: datetime
    updated_by: str
    practice_jurisdiction: str | None = None
    is_supervisee: bool = False
    primary_profession: Profession | None = None
    npi: Npi | None = None
    # The coverage consumers were last told about (AuthorizationChanged), and the day it was for.
    coverage: frozenset[Coverage] | None = None
    coverage_on: date | None = None

    def same_profile(self, other: ClinicianRecord) -> bool:
        return (
            self.practice_jurisdiction == other.practice_jurisdiction
            and self.is_supervisee == other.is_supervisee
            and self.primary_profession == other.primary_profession
            and self.npi == other.npi
        )


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    credential: Credential
    practice_id: str
    version: int
    updated_at: datetime
    updated_by: str

    @property
    def credential_id(self) -> str:
        return self.credential.id

    @property
    def clinician_id(self) -> str:
        return self.credential.clinician_id


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One version of a registry record, as it was after the change."""

    practice_id: str
    clinician_id: str
    record_type: str  # CLINICIAN_RECORD | CREDENTIAL_RECORD
    record_id: str
    version: int
    change: str  # created | updated | verified
    changed_at: datetime
    changed_by: str
    reason: str
    snapshot: CredentialRecord | ClinicianRecord


@dataclass(frozen=True, slots=True)
class VerificationRecord:
    verification_id: str
    practice_id: str
    clinician_id: str
    record_id: str  # credential id or NPI_RECORD_ID
    record_version: int
    verification: Verification
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class AuthorizationQuestion:
    """One CheckAuthorization question, validated; stored with the decision so it can be explained."""

    clinician_id: str
    client_jurisdiction: str
    clinician_jurisdiction: str
    session_start: datetime
    client_time_zone: str
    modality: Modality
    existing_client: bool = False
    profession: Profession | None = None  # None: the clinician's primary profession on file
    purpose: str = ""
    appointment_id: str = ""


@dataclass(frozen=True, slots=True)
class StoredDecision:
    decision_id: str
    practice_id: str
    decided_at: datetime
    question: AuthorizationQuestion
    profession: str  # the profession actually decided ("" when none was known)
    session_date: date
    allowed: bool
    authority: AuthorityRef | None
    reasons: tuple[Reason, ...]
    reference_data_version: str
    explanation: str
    requested_by: str
    usage_key: UsageKey | None = None

    @property
    def denied_rule_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.rule_id for r in self.reasons if r.outcome is Outcome.FAILED))


@dataclass(frozen=True, slots=True)
class StoredAuditRecord:
    record: ChainedRecord
    recorded_at: datetime


def credential_kind(credential: Credential) -> str:
    """The registry's kind code of a credential: `state_license`, a compact authority kind (e.g.
    `psypact_apit`), `state_exception` or `bc_tmh` (the values of `domain.watch.CredentialKind`)."""
    if isinstance(credential, StateLicense):
        return CredentialKind.STATE_LICENSE.value
    if isinstance(credential, StateException):
        return CredentialKind.STATE_EXCEPTION.value
    if isinstance(credential, BcTmhCredential):
        return CredentialKind.BC_TMH.value
    return CredentialKind(credential.kind.value).value

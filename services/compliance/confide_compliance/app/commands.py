"""Commands: one frozen dataclass per state-changing use case, holding domain values (built by
`api.mapping` from requests, or by `events.consumers` from events). Queries of the read-only use
cases are at the end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from confide_compliance.domain.audit import ChainAnchor
from confide_compliance.domain.credentials import Credential, Npi, Profession, VerificationSource
from confide_compliance.domain.modality import Modality


@dataclass(frozen=True, slots=True)
class VerificationInput:
    """A primary-source verification as the caller states it; the use case checks the source."""

    source: VerificationSource | None
    verified_at: datetime | None = None  # None: now
    reference: str = ""


@dataclass(frozen=True, slots=True)
class UpsertClinician:
    clinician_id: str
    practice_jurisdiction: str | None
    is_supervisee: bool
    primary_profession: Profession | None
    reason: str
    expected_version: int = 0


@dataclass(frozen=True, slots=True)
class PutCredential:
    """Add (new id) or replace a credential of a clinician of the caller's practice."""

    credential: Credential
    reason: str
    verification: VerificationInput | None = None
    expected_version: int = 0


@dataclass(frozen=True, slots=True)
class SetNpi:
    clinician_id: str
    npi: Npi | None  # None removes it
    reason: str
    verification: VerificationInput | None = None
    expected_version: int = 0


@dataclass(frozen=True, slots=True)
class RecordVerification:
    clinician_id: str
    target: str  # a credential id, or NPI_RECORD_ID
    verification: VerificationInput
    reason: str


@dataclass(frozen=True, slots=True)
class RecordPracticeUser:
    """Identity says `user_id` belongs to `practice_id` (UserRegistered, RoleChanged at `occurred_at`)."""

    user_id: str
    practice_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class RecordSessionDay:
    """A session of a real appointment started (scheduling's SessionStarted): count its day against
    the day-limited authority its check-in decision relied on (LIC-13, LIC-60)."""

    appointment_id: str
    practice_id: str
    clinician_id: str
    client_jurisdiction: str
    authorization_decision_id: str
    started_at: datetime


# -- queries (read-only use cases) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FindAuthorized:
    client_jurisdiction: str
    session_start: datetime
    client_time_zone: str
    modality: Modality
    clinician_ids: tuple[str, ...] = ()
    profession: Profession | None = None


@dataclass(frozen=True, slots=True)
class AccessReportQuery:
    subject_id: str  # "" = the caller
    start: datetime | None = None
    end: datetime | None = None
    include_own_actions: bool = False


@dataclass(frozen=True, slots=True)
class VerifyChain:
    anchors: tuple[ChainAnchor, ...] = ()

"""What the use cases need from the outside world: records, repositories and the unit of work.

The use cases (`confide_compliance.app.*`) talk only to these protocols; `confide_compliance.db`
implements them over PostgreSQL. Records are plain immutable values around the domain types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from google.protobuf.message import Message

from confide_chassis.events import OutgoingEvent
from confide_compliance.domain.audit import ChainedRecord
from confide_compliance.domain.authorization import AuthorityRef, Reason, Usage, UsageKey
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

Clock = Callable[[], datetime]
T = TypeVar("T")

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
class CheckCommand:
    """One CheckAuthorization call, validated; stored with the decision so it can be explained."""

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
    command: CheckCommand
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
        return tuple(dict.fromkeys(r.rule_id for r in self.reasons if r.outcome.value == "failed"))


@dataclass(frozen=True, slots=True)
class StoredAuditRecord:
    record: ChainedRecord
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class AuditFilter:
    subject_id: str = ""
    actor_id: str = ""
    resource_type: str = ""
    resource_id: str = ""
    start: datetime | None = None
    end: datetime | None = None
    practice_id: str | None = None  # None: every practice
    exclude_actor_id: str = ""

    def is_empty(self) -> bool:
        return not (
            self.subject_id
            or self.actor_id
            or self.resource_type
            or self.resource_id
            or self.start
            or self.end
        )


@dataclass(frozen=True, slots=True)
class Page:
    size: int
    after: int = 0  # keyset position (exclusive)


@dataclass(slots=True)
class Paged(Generic[T]):
    items: list[T] = field(default_factory=list)
    next_after: int | None = None


class RegistryRepository(Protocol):
    async def clinician_practice(self, clinician_id: str) -> str | None: ...

    async def get_clinician(
        self, clinician_id: str, *, practice_id: str | None, for_update: bool = False
    ) -> ClinicianRecord | None:
        """The clinician, only if of `practice_id` (None: any practice, for jobs)."""
        ...

    async def add_clinician(self, record: ClinicianRecord) -> bool:
        """False when the id is taken (a concurrent registration won)."""
        ...

    async def update_clinician(self, record: ClinicianRecord) -> None: ...

    async def set_coverage(
        self, clinician_id: str, coverage: frozenset[Coverage], on: date, reference_version: str
    ) -> None: ...

    async def credentials_of(self, clinician_id: str) -> list[CredentialRecord]: ...

    async def credentials_of_many(
        self, clinician_ids: Sequence[str]
    ) -> dict[str, list[CredentialRecord]]: ...

    async def credential_owner(self, credential_id: str) -> str | None:
        """The clinician id a credential id belongs to, whatever the practice."""
        ...

    async def add_credential(self, record: CredentialRecord) -> bool:
        """False when the id is taken (a concurrent write won)."""
        ...

    async def update_credential(self, record: CredentialRecord) -> None: ...

    async def add_history(self, entry: HistoryEntry) -> None: ...

    async def history(
        self, practice_id: str, clinician_id: str, record_id: str | None, page: Page
    ) -> Paged[HistoryEntry]: ...

    async def add_verification(self, record: VerificationRecord) -> None: ...

    async def verifications(self, practice_id: str, clinician_id: str) -> list[VerificationRecord]: ...

    async def clinicians_of_practice(
        self, practice_id: str, clinician_ids: Sequence[str] | None = None
    ) -> list[ClinicianRecord]: ...

    async def clinician_ids_after(self, after: str | None, limit: int) -> list[str]:
        """Every clinician id of every practice, in id order, for jobs."""
        ...


class DecisionRepository(Protocol):
    async def add(self, decision: StoredDecision) -> None: ...

    async def get(self, practice_id: str, decision_id: str) -> StoredDecision | None: ...

    async def usage(self, clinician_id: str, year: int) -> Usage: ...

    async def usage_of_many(self, clinician_ids: Sequence[str], year: int) -> Usage: ...

    async def record_usage(
        self, key: UsageKey, day: date, *, practice_id: str, clinician_id: str, decision_id: str
    ) -> bool:
        """Count `day` under `key`; False when it was counted before."""
        ...


class NoticeRepository(Protocol):
    async def claim(
        self,
        dedupe_key: str,
        *,
        practice_id: str,
        clinician_id: str,
        credential_id: str | None,
        milestone: str,
        event_id: str,
        sent_at: datetime,
    ) -> bool:
        """Record that a notice is sent; False if it was sent before (exactly once per key)."""
        ...


class AuditRepository(Protocol):
    async def lock_chain(self) -> None:
        """Serialize appenders until the end of the transaction."""
        ...

    async def last(self) -> ChainedRecord | None: ...

    async def has_event(self, event_id: str) -> bool: ...

    async def append(self, record: ChainedRecord, recorded_at: datetime) -> None: ...

    async def query(self, audit_filter: AuditFilter, page: Page) -> Paged[StoredAuditRecord]: ...

    def chain(self, batch_size: int) -> AsyncIterator[list[ChainedRecord]]:
        """The whole chain in stored order (by sequence), in batches."""
        ...


class UnitOfWork(Protocol):
    registry: RegistryRepository
    decisions: DecisionRepository
    notices: NoticeRepository
    audit: AuditRepository

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def publish(self, *events: Message | OutgoingEvent) -> None: ...

    async def commit(self) -> None: ...

    async def lock(self, key: str) -> None:
        """A transaction-level lock on `key` (released at commit/rollback)."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class SingleRunner(Protocol):
    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Enter with True when this process holds the cluster-wide lock `name`, else False."""
        ...


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

"""What the use cases need from the outside world: the unit of work with one repository per
aggregate, and the single-runner lock. `confide_compliance.db` implements them over PostgreSQL."""

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
from confide_compliance.domain.authorization import Usage, UsageKey
from confide_compliance.domain.records import (
    ClinicianRecord,
    CredentialRecord,
    HistoryEntry,
    StoredAuditRecord,
    StoredDecision,
    VerificationRecord,
)
from confide_compliance.domain.watch import Coverage

Clock = Callable[[], datetime]
T = TypeVar("T")


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


class ClinicianRepository(Protocol):
    async def get(
        self, clinician_id: str, *, practice_id: str | None, for_update: bool = False
    ) -> ClinicianRecord | None:
        """The clinician, only if of `practice_id` (None: any practice, for jobs)."""
        ...

    async def add(self, record: ClinicianRecord) -> bool:
        """False when the id is taken (a concurrent registration won)."""
        ...

    async def update(self, record: ClinicianRecord) -> None: ...

    async def set_coverage(
        self, clinician_id: str, coverage: frozenset[Coverage], on: date, reference_version: str
    ) -> None: ...

    async def of_practice(
        self, practice_id: str, clinician_ids: Sequence[str] | None = None
    ) -> list[ClinicianRecord]: ...

    async def ids_after(self, after: str | None, limit: int) -> list[str]:
        """Every clinician id of every practice, in id order, for jobs."""
        ...


class PracticeUserRepository(Protocol):
    """Which practice identity says a user belongs to."""

    async def practice_of(self, user_id: str) -> str | None: ...

    async def record(self, user_id: str, practice_id: str, as_of: datetime) -> None:
        """Keep the newest fact per user (`as_of`): events may arrive out of order."""
        ...


class CredentialRepository(Protocol):
    async def of_clinician(self, clinician_id: str) -> list[CredentialRecord]: ...

    async def of_clinicians(self, clinician_ids: Sequence[str]) -> dict[str, list[CredentialRecord]]: ...

    async def owner(self, credential_id: str) -> str | None:
        """The clinician id a credential id belongs to, whatever the practice."""
        ...

    async def add(self, record: CredentialRecord) -> bool:
        """False when the id is taken (a concurrent write won)."""
        ...

    async def update(self, record: CredentialRecord) -> None: ...


class RegistryHistoryRepository(Protocol):
    """Append-only: one entry per version of a clinician or credential record."""

    async def add(self, entry: HistoryEntry) -> None: ...

    async def page(
        self, practice_id: str, clinician_id: str, record_id: str | None, page: Page
    ) -> Paged[HistoryEntry]: ...


class VerificationRepository(Protocol):
    """Append-only primary-source verifications (LIC-70)."""

    async def add(self, record: VerificationRecord) -> None: ...

    async def of_clinician(self, practice_id: str, clinician_id: str) -> list[VerificationRecord]: ...


class DecisionRepository(Protocol):
    async def add(self, decision: StoredDecision) -> None: ...

    async def get(self, practice_id: str, decision_id: str) -> StoredDecision | None: ...


class AuthorityDayRepository(Protocol):
    """Days used under day-limited authorities (LIC-13, LIC-60): one per authority, state and day."""

    async def usage(self, clinician_id: str, year: int) -> Usage: ...

    async def usage_of_many(self, clinician_ids: Sequence[str], year: int) -> Usage: ...

    async def record(
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
    clinicians: ClinicianRepository
    practice_users: PracticeUserRepository
    credentials: CredentialRepository
    history: RegistryHistoryRepository
    verifications: VerificationRepository
    decisions: DecisionRepository
    authority_days: AuthorityDayRepository
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

"""What the use cases need from the outside: the unit of work with one repository per aggregate,
and outbound ports. Adapters implement these (db/, adapters/)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol
from uuid import UUID

from google.protobuf.message import Message as ProtoMessage

from confide_messaging.domain.threads import CareTeam, Message, ReadReceipt, Thread


@dataclass(frozen=True, slots=True)
class ClientProfile:
    client_id: UUID
    practice_id: str
    time_zone: str | None
    home_state: str | None
    profile_version: int


@dataclass(frozen=True, slots=True)
class RiskFlag:
    id: UUID
    thread_id: UUID
    message_id: UUID
    crisis_message_id: UUID
    client_id: UUID
    practice_id: str
    rule_codes: tuple[str, ...]
    signals: tuple[str, ...]
    created_at: datetime


class ThreadRepository(Protocol):
    async def add(self, thread: Thread, *, created_by: UUID) -> None: ...
    async def get(self, thread_id: UUID) -> Thread:
        """NotFound when absent."""
        ...

    async def next_sequence(self, thread_id: UUID, now: datetime) -> int:
        """Take the thread's next sequence under its row lock (held to commit)."""
        ...

    async def of_client(self, client_id: UUID, limit: int) -> list[Thread]: ...
    async def of_clinician(self, clinician_id: UUID, practice_id: str, limit: int) -> list[Thread]: ...


class MessageRepository(Protocol):
    async def add(self, message: Message) -> None:
        """Store sealed (the body never reaches the database in clear)."""
        ...

    async def get(self, message_id: UUID) -> Message:
        """NotFound when absent."""
        ...

    async def after(self, thread_id: UUID, after_sequence: int, limit: int) -> list[Message]: ...
    async def count_from_others_after(self, thread_id: UUID, reader: UUID, after_sequence: int) -> int: ...


class ReadRepository(Protocol):
    async def receipts(self, thread_id: UUID) -> list[ReadReceipt]: ...
    async def last_read(self, thread_id: UUID, participant_id: UUID) -> int: ...
    async def mark(self, thread_id: UUID, participant_id: UUID, sequence: int, now: datetime) -> ReadReceipt:
        """Never moves a receipt back."""
        ...


class CareTeamRepository(Protocol):
    async def team(self, client_id: UUID) -> CareTeam: ...
    async def is_deactivated(self, user_id: UUID) -> bool: ...
    async def profile(self, client_id: UUID) -> ClientProfile | None: ...
    async def set_link(
        self,
        *,
        link_id: str,
        client_id: UUID,
        clinician_id: UUID,
        practice_id: str,
        active: bool,
        changed_at: datetime,
    ) -> None: ...
    async def deactivate(self, user_id: UUID, practice_id: str, at: datetime) -> None: ...
    async def upsert_profile(self, profile: ClientProfile) -> None: ...


class RiskFlagRepository(Protocol):
    async def add(self, flag: RiskFlag) -> None: ...
    async def for_message(self, message_id: UUID) -> RiskFlag | None: ...


class UnitOfWork(Protocol):
    @property
    def threads(self) -> ThreadRepository: ...
    @property
    def messages(self) -> MessageRepository: ...
    @property
    def reads(self) -> ReadRepository: ...
    @property
    def care_teams(self) -> CareTeamRepository: ...
    @property
    def risk_flags(self) -> RiskFlagRepository: ...

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def publish(self, *events: ProtoMessage) -> None: ...
    async def commit(self) -> None: ...


class ThreadWakeups(Protocol):
    """Wakes live streams when a thread gets a new message (on any replica)."""

    def subscribe(self, thread_id: UUID) -> WakeupSubscription: ...


class WakeupSubscription(Protocol):
    async def wait(self, seconds: float) -> None:
        """Return when the thread may have new messages, or after `seconds`."""
        ...

    def close(self) -> None: ...

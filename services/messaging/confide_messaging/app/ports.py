"""What the use cases need from the outside: the unit of work with one repository per aggregate,
and outbound ports. Adapters implement these (db/, adapters/)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol
from uuid import UUID

from google.protobuf.message import Message as ProtoMessage

from confide_messaging.domain.notifications import Channel, Preferences, Purpose
from confide_messaging.domain.reply_times import ReplyPolicy
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


@dataclass(frozen=True, slots=True)
class ContactPreferences:
    """A user's preferences with their contact addresses (opened from their sealed form)."""

    user_id: UUID
    practice_id: str
    preferences: Preferences
    email_address: str | None
    phone_number: str | None


@dataclass(frozen=True, slots=True)
class Notification:
    id: UUID
    recipient_id: UUID
    practice_id: str
    purpose: Purpose
    channels: tuple[Channel, ...]
    deliver_after: datetime
    created_at: datetime
    thread_id: UUID | None = None
    appointment_id: str | None = None
    attempts: int = 0


class PreferencesRepository(Protocol):
    async def get(self, user_id: UUID) -> ContactPreferences | None: ...
    async def save(self, contact: ContactPreferences, now: datetime) -> None:
        """Store, sealing the addresses."""
        ...


class NotificationRepository(Protocol):
    async def add(self, notification: Notification) -> bool:
        """Queue it; False when an equivalent one is already pending (coalesced)."""
        ...

    async def claim_due(self, now: datetime, limit: int) -> list[Notification]:
        """Pending notifications whose time has come, locked for this transaction."""
        ...

    async def mark(self, notification_id: UUID, *, sent: bool, now: datetime, give_up: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class ReplyObligation:
    message_id: UUID
    thread_id: UUID
    practice_id: str
    client_id: UUID
    sent_at: datetime
    due_at: datetime


class ReplyRepository(Protocol):
    async def policy(self, practice_id: str) -> ReplyPolicy | None: ...
    async def save_policy(self, practice_id: str, policy: ReplyPolicy, now: datetime) -> None: ...
    async def owe(self, obligation: ReplyObligation) -> None: ...
    async def answer(self, thread_id: UUID, now: datetime) -> int:
        """Every reply owed in the thread is answered now; returns how many."""
        ...

    async def claim_overdue(self, now: datetime, limit: int) -> list[ReplyObligation]:
        """Unanswered, not yet reported, past due; locked for this transaction and marked reported."""
        ...

    async def open_overdue(self) -> int: ...


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
    @property
    def preferences(self) -> PreferencesRepository: ...
    @property
    def notifications(self) -> NotificationRepository: ...
    @property
    def replies(self) -> ReplyRepository: ...

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


class EmailSender(Protocol):
    """Sends one e-mail (MSG-03: the caller passes fixed, PHI-free text)."""

    async def send(self, to: str, subject: str, text: str) -> None: ...


class SmsSender(Protocol):
    """Sends one SMS of at most 160 characters to an E.164 number. Raises `SmsRejected` for a number
    or text the provider will never accept (no retry), anything else for a transient failure."""

    async def send(self, to: str, text: str) -> None: ...


class SmsRejected(Exception):
    """The provider refused the message for good (bad number, text too long)."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What object storage knows about an uploaded file."""

    sha256: str
    size_bytes: int
    media_type: str


class AttachmentStore(Protocol):
    """Object storage holding attachment bytes (never this service's database)."""

    async def stat(self, object_key: str) -> StoredObject | None:
        """The object's hash, size and type, or None when there is no such object."""
        ...

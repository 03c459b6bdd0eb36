"""Threads, messages and who may take part (pure: no I/O, time is a parameter).

A thread is between one client and the clinicians on the client's care team *now*: the care team
comes from identity's events, so a clinician removed from the team loses access at once and a new
one gains the thread's history (it is the client's record, MSG-06).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from uuid import UUID

from confide_chassis.errors import FailedPrecondition, NotFound, PermissionDenied, RuleViolation

CLIENT_ROLE = "client"
CLINICIAN_ROLE = "clinician"

MAX_BODY_CHARS = 20_000
MAX_REASON_CHARS = 500
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class MessageKind(Enum):
    LIVE_CHAT = "live_chat"
    TEXT_THERAPY = "text_therapy"
    EMAIL = "email"
    SYSTEM = "system"


class AuthorRole(Enum):
    CLIENT = "client"
    CLINICIAN = "clinician"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata of a file in object storage; the bytes never enter this service."""

    object_key: str
    sha256: str
    size_bytes: int
    media_type: str


@dataclass(frozen=True, slots=True)
class Thread:
    id: UUID
    practice_id: str
    client_id: UUID
    created_at: datetime
    last_sequence: int = 0
    last_message_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CareTeam:
    """The client's clinicians now (active care-team links of active users)."""

    client_id: UUID
    clinician_ids: frozenset[UUID]


@dataclass(frozen=True, slots=True)
class ReadReceipt:
    participant_id: UUID
    last_read_sequence: int
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message. Never changed after it is written (MSG-05)."""

    id: UUID
    thread_id: UUID
    sequence: int
    kind: MessageKind
    author_id: UUID | None
    author_role: AuthorRole
    body: str
    sent_at: datetime
    attachments: tuple[Attachment, ...] = ()
    amends_message_id: UUID | None = None
    amendment_reason: str | None = None
    amended_by: tuple[UUID, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller as the messaging rules see them."""

    user_id: UUID
    practice_id: str
    roles: frozenset[str]


def participant_role(actor: Actor, thread: Thread, team: CareTeam, *, deactivated: bool) -> AuthorRole:
    """The actor's role in the thread, or why they may not see it.

    Another practice's thread is NOT_FOUND (its existence is not revealed across tenants); a
    same-practice user who is not the client nor on the care team is PERMISSION_DENIED (SEC-12,
    minimum necessary: practice admins do not read clinical messages through this API).
    """
    if actor.practice_id != thread.practice_id:
        raise NotFound("thread not found")
    if deactivated:
        raise PermissionDenied("the account is deactivated")
    if actor.user_id == thread.client_id and CLIENT_ROLE in actor.roles:
        return AuthorRole.CLIENT
    if actor.user_id in team.clinician_ids and CLINICIAN_ROLE in actor.roles:
        return AuthorRole.CLINICIAN
    raise PermissionDenied("only the client and their care team may use this thread")


# Also the answer about another practice's client, so that nothing tells the caller the client exists.
MAY_NOT_OPEN_THREAD = "only the client or a clinician of their care team may open a thread"


def may_open_thread(actor: Actor, client_id: UUID, team: CareTeam, *, deactivated: bool) -> AuthorRole:
    """A client opens their own thread; a clinician of the client's care team may open one for them.
    Either way the client must have a care team to talk to."""
    if deactivated:
        raise PermissionDenied("the account is deactivated")
    if actor.user_id == client_id and CLIENT_ROLE in actor.roles:
        role = AuthorRole.CLIENT
    elif actor.user_id in team.clinician_ids and CLINICIAN_ROLE in actor.roles:
        role = AuthorRole.CLINICIAN
    else:
        raise PermissionDenied(MAY_NOT_OPEN_THREAD)
    if not team.clinician_ids:
        raise FailedPrecondition(
            RuleViolation("MSG-01", "the client has no care team to message yet", "client_id")
        )
    return role


def check_sendable(kind: MessageKind) -> None:
    if kind is MessageKind.SYSTEM:
        raise PermissionDenied("system messages are written by the service only")


def check_amendable(original: Message, actor_id: UUID) -> None:
    """MSG-05: only the author corrects, by a new linked entry; the original stays as it was."""
    if original.author_role is AuthorRole.SYSTEM or original.author_id != actor_id:
        raise PermissionDenied("only the author may amend a message")
    if original.amends_message_id is not None:
        raise FailedPrecondition(
            RuleViolation("MSG-05", "amend the original message, not an amendment", "message_id")
        )


def attachment_mismatches(
    claimed: Attachment, stored_sha256: str | None, stored_size: int | None
) -> list[str]:
    """Which claimed facts object storage contradicts (the hash is what the record keeps, so it must
    be the stored object's): 'object_key' when there is no such object, else 'sha256' / 'size_bytes'."""
    if stored_sha256 is None:
        return ["object_key"]
    wrong: list[str] = []
    if stored_sha256 != claimed.sha256:
        wrong.append("sha256")
    if stored_size != claimed.size_bytes:
        wrong.append("size_bytes")
    return wrong

"""One frozen command per state-changing use case, holding domain values (built by api/mapping.py)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from confide_messaging.domain.threads import Attachment, MessageKind


@dataclass(frozen=True, slots=True)
class CreateThread:
    client_id: UUID
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class SendMessage:
    thread_id: UUID
    kind: MessageKind
    body: str
    attachments: tuple[Attachment, ...]
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class AmendMessage:
    message_id: UUID
    body: str
    reason: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class MarkRead:
    thread_id: UUID
    up_to_sequence: int

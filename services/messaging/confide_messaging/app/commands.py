"""One frozen command per state-changing use case, holding domain values (built by api/mapping.py).
Idempotency keys stay at the gRPC layer (the chassis replays retries); use cases never see them."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from confide_messaging.domain.threads import Attachment, MessageKind


@dataclass(frozen=True, slots=True)
class CreateThread:
    client_id: UUID


@dataclass(frozen=True, slots=True)
class SendMessage:
    thread_id: UUID
    kind: MessageKind
    body: str
    attachments: tuple[Attachment, ...]


@dataclass(frozen=True, slots=True)
class AmendMessage:
    message_id: UUID
    body: str
    reason: str


@dataclass(frozen=True, slots=True)
class MarkRead:
    thread_id: UUID
    up_to_sequence: int

"""Event envelope: CloudEvents (Kafka protocol binding, binary content mode) around a protobuf message.

A record's key is the aggregate id (ordering per aggregate), its value the serialized message, and
its headers carry the CloudEvents attributes plus W3C trace context. Headers never carry PHI: only
ids, the event type and times. Each event message declares its topic and aggregate-id field with the
`(confide.common.v1.event)` option, so a producer cannot send it to the wrong stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from confide.common.v1 import event_pb2
from confide_chassis.ids import new_id_str

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/protobuf"

H_ID = "ce_id"
H_TYPE = "ce_type"
H_SOURCE = "ce_source"
H_TIME = "ce_time"
H_SPECVERSION = "ce_specversion"
H_SUBJECT = "ce_subject"
H_CONTENT_TYPE = "content-type"
H_TRACEPARENT = "traceparent"
H_TRACESTATE = "tracestate"

Headers = list[tuple[str, bytes]]
M = TypeVar("M", bound=Message)


class EnvelopeError(ValueError):
    """A record is not a valid Confide event (missing or malformed CloudEvents headers)."""


@dataclass(frozen=True, slots=True)
class EventSpec:
    topic: str
    aggregate_field: str


def event_spec(message: Message | type[Message]) -> EventSpec:
    """Topic and aggregate field declared on the event message type."""
    options = message.DESCRIPTOR.GetOptions()
    if not options.HasExtension(event_pb2.event):
        raise TypeError(f"{message.DESCRIPTOR.full_name} is not an event: it lacks (confide.common.v1.event)")
    spec = options.Extensions[event_pb2.event]
    if not spec.topic or not spec.aggregate_field:
        raise TypeError(f"{message.DESCRIPTOR.full_name} must declare both topic and aggregate_field")
    return EventSpec(topic=spec.topic, aggregate_field=spec.aggregate_field)


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """An event ready for the outbox: every field derived from the message and its declaration."""

    event_id: str
    event_type: str
    topic: str
    key: str
    payload: bytes
    occurred_at: datetime

    @classmethod
    def from_message(
        cls, message: Message, *, event_id: str | None = None, occurred_at: datetime | None = None
    ) -> OutgoingEvent:
        spec = event_spec(message)
        key = getattr(message, spec.aggregate_field, None)
        if not isinstance(key, str) or not key:
            raise ValueError(
                f"{message.DESCRIPTOR.full_name}.{spec.aggregate_field} (the aggregate id) must be set"
            )
        # An event message that carries its own id (e.g. AuditEvent.event_id) keeps it as ce_id, so
        # consumers de-duplicate on one id whichever they read.
        own_id = (
            getattr(message, "event_id", None) if "event_id" in message.DESCRIPTOR.fields_by_name else None
        )
        return cls(
            event_id=event_id or (own_id if isinstance(own_id, str) and own_id else new_id_str()),
            event_type=message.DESCRIPTOR.full_name,
            topic=spec.topic,
            key=key,
            payload=message.SerializeToString(deterministic=True),
            occurred_at=occurred_at or datetime.now(UTC),
        )


def build_headers(
    *,
    event_id: str,
    event_type: str,
    source: str,
    occurred_at: datetime,
    traceparent: str | None = None,
    tracestate: str | None = None,
    extra: Iterable[tuple[str, bytes]] = (),
) -> Headers:
    headers: Headers = [
        (H_SPECVERSION, SPEC_VERSION.encode()),
        (H_ID, event_id.encode()),
        (H_TYPE, event_type.encode()),
        (H_SOURCE, source.encode()),
        (H_TIME, occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z").encode()),
        (H_CONTENT_TYPE, CONTENT_TYPE.encode()),
    ]
    if traceparent:
        headers.append((H_TRACEPARENT, traceparent.encode()))
    if tracestate:
        headers.append((H_TRACESTATE, tracestate.encode()))
    headers.extend(extra)
    return headers


def header_value(headers: Sequence[tuple[str, bytes | None]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name and value is not None:
            return value.decode("utf-8", errors="replace")
    return None


def _parse_time(raw: str) -> datetime:
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ConsumedEvent:
    """A record read from Kafka with its envelope checked."""

    event_id: str
    event_type: str
    source: str
    occurred_at: datetime
    topic: str
    partition: int
    offset: int
    key: str | None
    payload: bytes
    headers: Headers = field(default_factory=list)

    @classmethod
    def from_record(
        cls,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]] | None,
    ) -> ConsumedEvent:
        missing = [h for h in (H_ID, H_TYPE, H_SOURCE, H_SPECVERSION) if not header_value(headers, h)]
        if missing:
            raise EnvelopeError(f"missing CloudEvents headers: {', '.join(missing)}")
        if header_value(headers, H_SPECVERSION) != SPEC_VERSION:
            raise EnvelopeError("unsupported ce_specversion")
        content_type = header_value(headers, H_CONTENT_TYPE)
        if content_type not in (None, CONTENT_TYPE):
            raise EnvelopeError(f"unsupported content-type {content_type!r}")
        raw_time = header_value(headers, H_TIME)
        try:
            occurred_at = _parse_time(raw_time) if raw_time else datetime.fromtimestamp(0, UTC)
        except ValueError as exc:
            raise EnvelopeError("malformed ce_time") from exc
        return cls(
            event_id=header_value(headers, H_ID) or "",
            event_type=header_value(headers, H_TYPE) or "",
            source=header_value(headers, H_SOURCE) or "",
            occurred_at=occurred_at,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key.decode("utf-8", errors="replace") if key is not None else None,
            payload=value or b"",
            headers=[(k, v) for k, v in headers or () if v is not None],
        )

    def is_a(self, message_type: type[Message]) -> bool:
        return self.event_type == message_type.DESCRIPTOR.full_name

    def unpack(self, message_type: type[M]) -> M:
        """Decode the payload as `message_type`; unknown fields are kept and ignored (schema evolution)."""
        if not self.is_a(message_type):
            raise EnvelopeError(
                f"event type {self.event_type!r} is not {message_type.DESCRIPTOR.full_name!r}"
            )
        message = message_type()
        try:
            message.ParseFromString(self.payload)
        except DecodeError as exc:
            raise EnvelopeError(f"payload is not a valid {self.event_type}") from exc
        return message

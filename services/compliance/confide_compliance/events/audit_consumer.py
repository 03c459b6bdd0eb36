"""Consumer of `confide.audit.events.v1`: every service's AuditEvent into the hash-chained trail.

Idempotent twice over: the chassis inbox skips a redelivered envelope (`ce_id`), and the store
skips an `event_id` it already holds (the same event re-published under a new envelope). An event
that can never be stored (missing required fields, NUL bytes) is poison: straight to the DLQ.
"""

from __future__ import annotations

from datetime import UTC

from google.protobuf.descriptor import EnumDescriptor
from sqlalchemy.ext.asyncio import AsyncSession

from confide.audit.v1 import events_pb2 as audit_pb2
from confide_chassis.consumer import Handler, PoisonEvent
from confide_chassis.errors import InvalidArgument
from confide_chassis.events import ConsumedEvent
from confide_chassis.logging import get_logger
from confide_compliance import metrics
from confide_compliance.app.audit_trail import append_entry
from confide_compliance.app.ports import Clock
from confide_compliance.db.repositories import SqlAuditRepository
from confide_compliance.domain.audit import AuditEntry

log = get_logger(__name__)

TOPIC = "confide.audit.events.v1"
CONSUMER = "audit-trail"


def enum_code(enum: EnumDescriptor, number: int, prefix: str) -> str:
    """`AUDIT_ACTION_READ` → "read"; a number this build does not know is kept as its digits."""
    value = enum.values_by_number.get(number)
    return value.name.removeprefix(prefix).lower() if value is not None else str(number)


def to_entry(event: audit_pb2.AuditEvent, *, source: str) -> AuditEntry:
    """The stored form of an AuditEvent. Raises InvalidArgument when a required field is missing."""
    if not event.HasField("occurred_at"):
        raise InvalidArgument.field("audit.occurred_at", "must be set")
    attributes: list[tuple[str, str]] = [
        ("actor_kind", enum_code(audit_pb2.ActorKind.DESCRIPTOR, event.actor.kind, "ACTOR_KIND_"))
    ]
    if event.request_id:
        attributes.append(("request_id", event.request_id))
    if event.trace_id:
        attributes.append(("trace_id", event.trace_id))
    if event.rule_ids:
        attributes.append(("rule_ids", ",".join(event.rule_ids)))
    if source:
        attributes.append(("ce_source", source))
    entry = AuditEntry(
        event_id=event.event_id,
        occurred_at=event.occurred_at.ToDatetime(tzinfo=UTC),
        source_service=event.service,
        actor_id=event.actor.subject_id,
        action=enum_code(audit_pb2.AuditAction.DESCRIPTOR, event.action, "AUDIT_ACTION_")
        if event.action
        else "",
        resource_type=event.resource.type,
        resource_id=event.resource.id,
        outcome=enum_code(audit_pb2.AuditOutcome.DESCRIPTOR, event.outcome, "AUDIT_OUTCOME_")
        if event.outcome
        else "",
        purpose=enum_code(audit_pb2.AccessPurpose.DESCRIPTOR, event.purpose, "ACCESS_PURPOSE_")
        if event.purpose
        else "",
        actor_role=",".join(sorted(event.actor.roles)),
        subject_id=event.subject_person_id,
        practice_id=event.actor.practice_id,
        attributes=tuple(attributes),
    )
    texts = [
        entry.event_id,
        entry.source_service,
        entry.actor_id,
        entry.resource_type,
        entry.resource_id,
        entry.subject_id,
        entry.practice_id,
        entry.actor_role,
        *(v for _, v in entry.attributes),
    ]
    if any("\x00" in t for t in texts):
        raise InvalidArgument.field("audit", "NUL characters cannot be stored")
    return entry


def make_handler(clock: Clock) -> Handler:
    async def handle(session: AsyncSession, event: ConsumedEvent) -> None:
        if not event.is_a(audit_pb2.AuditEvent):
            log.warning("unexpected event type on the audit topic; skipped", event_type=event.event_type)
            return
        message = event.unpack(audit_pb2.AuditEvent)
        try:
            entry = to_entry(message, source=event.source)
        except InvalidArgument as exc:
            raise PoisonEvent(f"audit event cannot be stored: {exc.violations[0].field}") from exc
        stored = await append_entry(SqlAuditRepository(session), entry, clock().astimezone(UTC))
        if stored:
            metrics.audit_records_appended_total.inc()
        else:
            log.info("audit event already in the trail", event_id=entry.event_id)

    return handle

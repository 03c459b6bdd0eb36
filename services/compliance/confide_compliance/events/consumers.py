"""Event handlers for the chassis IdempotentConsumer: decode, call a use case.

- ``audit-trail`` (confide.audit.events.v1): every service's AuditEvent into the hash-chained trail.
  Idempotent twice over: the inbox skips a redelivered envelope (`ce_id`), and the store skips an
  `event_id` it already holds (the same event re-published under a new envelope). An event that can
  never be stored (missing required fields, NUL bytes) is poison: straight to the DLQ.
- ``identity-users`` (confide.identity.users.v1): UserRegistered and RoleChanged say which practice
  a user belongs to; the registry registers only a practice's own users.
- ``authority-days`` (confide.scheduling.sessions.v1): SessionStarted counts the session's day
  against the day-limited authority its check-in decision relied on (LIC-13, LIC-60). This, not a
  CheckAuthorization call, is what uses a day: only a real appointment's start does.

Each handler runs in the consumer's transaction with its inbox row, so an event has its effect
exactly once; the day rows are unique per authority, state and day, so a republished event (new
envelope id) counts nothing twice either. Events of types a handler does not know are ignored
(schema evolution); malformed ids are poison (DLQ).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from google.protobuf.descriptor import EnumDescriptor
from sqlalchemy.ext.asyncio import AsyncSession

from confide.audit.v1 import events_pb2 as audit_pb2
from confide.identity.v1 import events_pb2 as identity_events
from confide.scheduling.v1 import events_pb2 as scheduling_events
from confide_chassis.consumer import Handler, PoisonEvent
from confide_chassis.errors import InvalidArgument
from confide_chassis.events import ConsumedEvent
from confide_chassis.ids import parse_id
from confide_chassis.logging import get_logger
from confide_chassis.wire import datetime_of, jurisdiction_code
from confide_compliance import metrics
from confide_compliance.app.audit_trail import AuditTrail
from confide_compliance.app.authorization import Authorizations, SessionDayOutcome
from confide_compliance.app.commands import RecordPracticeUser, RecordSessionDay
from confide_compliance.app.registry import Registry
from confide_compliance.domain.audit import AuditEntry
from confide_compliance.domain.jurisdictions import normalize_jurisdiction

log = get_logger(__name__)

AUDIT_TOPIC = "confide.audit.events.v1"
AUDIT_CONSUMER = "audit-trail"
USERS_TOPIC = "confide.identity.users.v1"
IDENTITY_USERS_CONSUMER = "identity-users"
SESSIONS_TOPIC = "confide.scheduling.sessions.v1"
AUTHORITY_DAYS_CONSUMER = "authority-days"


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


def audit_event_handler(trail_in: Callable[[AsyncSession], AuditTrail]) -> Handler:
    """`trail_in(session)`: the audit trail's use cases on the consumer's transaction."""

    async def handle(session: AsyncSession, event: ConsumedEvent) -> None:
        if not event.is_a(audit_pb2.AuditEvent):
            log.warning("unexpected event type on the audit topic; skipped", event_type=event.event_type)
            return
        message = event.unpack(audit_pb2.AuditEvent)
        try:
            entry = to_entry(message, source=event.source)
        except InvalidArgument as exc:
            raise PoisonEvent(f"audit event cannot be stored: {exc.violations[0].field}") from exc
        if await trail_in(session).append(entry):
            metrics.audit_records_appended_total.inc()
        else:
            log.info("audit event already in the trail", event_id=entry.event_id)

    return handle


def _id(value: str, what: str) -> str:
    parsed = parse_id(value)
    if parsed is None:
        raise PoisonEvent(f"{what} is not a UUID")
    return str(parsed)


def record_session_day_command(event: scheduling_events.SessionStarted) -> RecordSessionDay:
    code = normalize_jurisdiction(jurisdiction_code(event.client_state))
    if code is None:
        raise PoisonEvent("client_state is not a jurisdiction")
    if not event.HasField("started_at"):
        raise PoisonEvent("started_at is missing")
    return RecordSessionDay(
        appointment_id=_id(event.appointment_id, "appointment_id"),
        practice_id=_id(event.practice_id, "practice_id"),
        clinician_id=_id(event.clinician_id, "clinician_id"),
        client_jurisdiction=code,
        authorization_decision_id=_id(event.authorization_decision_id, "authorization_decision_id")
        if event.authorization_decision_id
        else "",
        started_at=datetime_of(event.started_at),
    )


def session_started_handler(authorizations_in: Callable[[AsyncSession], Authorizations]) -> Handler:
    """`authorizations_in(session)`: the use cases on the consumer's transaction."""

    async def handle(session: AsyncSession, event: ConsumedEvent) -> None:
        if not event.is_a(scheduling_events.SessionStarted):
            return  # SessionCompleted, SessionNoShow: nothing to count
        command = record_session_day_command(event.unpack(scheduling_events.SessionStarted))
        result = await authorizations_in(session).record_session_day(command)
        metrics.session_days_total.labels(metrics.SERVICE, result.outcome.value).inc()
        if result.over_limit:
            metrics.day_limit_overruns_total.labels(metrics.SERVICE).inc()
        if result.outcome is SessionDayOutcome.RECORDED:
            log.info("session day counted", appointment_id=command.appointment_id)

    return handle


def practice_user_command(
    event: identity_events.UserRegistered | identity_events.RoleChanged,
) -> RecordPracticeUser:
    if not event.HasField("occurred_at"):
        raise PoisonEvent("occurred_at is missing")
    return RecordPracticeUser(
        user_id=_id(event.user_id, "user_id"),
        practice_id=_id(event.practice_id, "practice_id"),
        occurred_at=datetime_of(event.occurred_at),
    )


def identity_user_handler(registry_in: Callable[[AsyncSession], Registry]) -> Handler:
    """`registry_in(session)`: the registry's use cases on the consumer's transaction."""

    async def handle(session: AsyncSession, event: ConsumedEvent) -> None:
        message: identity_events.UserRegistered | identity_events.RoleChanged
        if event.is_a(identity_events.UserRegistered):
            message = event.unpack(identity_events.UserRegistered)
        elif event.is_a(identity_events.RoleChanged):
            message = event.unpack(identity_events.RoleChanged)
        else:
            return  # UserDeactivated: the practice does not change
        await registry_in(session).record_practice_user(practice_user_command(message))

    return handle

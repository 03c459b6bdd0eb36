"""Audit trail: every read or change of PHI becomes an `AuditEvent` on `confide.audit.events.v1`.

Publish them through the caller's unit of work (`uow.publish(audit_event(...))`), so a change
and its audit record commit together, and a read's record is durable before the data is
returned. compliance stores them in a hash-chained, append-only trail. Events carry ids and
codes only: never names, bodies or free text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace

from confide.audit.v1 import events_pb2 as audit_pb2
from confide_chassis.auth import Principal, optional_principal
from confide_chassis.ids import new_id_str

Action = audit_pb2.AuditAction
Purpose = audit_pb2.AccessPurpose
Outcome = audit_pb2.AuditOutcome

READ = audit_pb2.AUDIT_ACTION_READ
CREATE = audit_pb2.AUDIT_ACTION_CREATE
UPDATE = audit_pb2.AUDIT_ACTION_UPDATE
DELETE = audit_pb2.AUDIT_ACTION_DELETE
EXPORT = audit_pb2.AUDIT_ACTION_EXPORT
LOGIN = audit_pb2.AUDIT_ACTION_LOGIN
LOGOUT = audit_pb2.AUDIT_ACTION_LOGOUT
SEARCH = audit_pb2.AUDIT_ACTION_SEARCH

TREATMENT = audit_pb2.ACCESS_PURPOSE_TREATMENT
PAYMENT = audit_pb2.ACCESS_PURPOSE_PAYMENT
OPERATIONS = audit_pb2.ACCESS_PURPOSE_OPERATIONS
INDIVIDUAL_ACCESS = audit_pb2.ACCESS_PURPOSE_INDIVIDUAL_ACCESS

SUCCESS = audit_pb2.AUDIT_OUTCOME_SUCCESS
DENIED = audit_pb2.AUDIT_OUTCOME_DENIED
FAILED = audit_pb2.AUDIT_OUTCOME_FAILED


def audit_event(
    *,
    service: str,
    action: audit_pb2.AuditAction.ValueType,
    resource_type: str,
    resource_id: str,
    subject_person_id: str,
    purpose: audit_pb2.AccessPurpose.ValueType,
    outcome: audit_pb2.AuditOutcome.ValueType = SUCCESS,
    actor: Principal | None = None,
    service_actor: str | None = None,
    rule_ids: Iterable[str] = (),
    occurred_at: datetime | None = None,
) -> audit_pb2.AuditEvent:
    """Build an audit event; the actor is the current caller unless a service acts on its own."""
    principal = actor if actor is not None else optional_principal()
    occurred = Timestamp()
    occurred.FromDatetime(occurred_at or datetime.now(UTC))
    span_context = trace.get_current_span().get_span_context()
    event = audit_pb2.AuditEvent(
        event_id=new_id_str(),
        occurred_at=occurred,
        action=action,
        resource=audit_pb2.Resource(type=resource_type, id=resource_id),
        # The chain key: events about nobody in particular chain under the resource.
        subject_person_id=subject_person_id or f"{resource_type}:{resource_id}",
        purpose=purpose,
        outcome=outcome,
        service=service,
        trace_id=format(span_context.trace_id, "032x") if span_context.is_valid else "",
        rule_ids=list(rule_ids),
    )
    if principal is not None:
        event.actor.CopyFrom(
            audit_pb2.Actor(
                kind=audit_pb2.ACTOR_KIND_USER,
                subject_id=principal.subject,
                practice_id=principal.practice_id,
                roles=sorted(principal.roles),
            )
        )
    else:
        event.actor.CopyFrom(
            audit_pb2.Actor(kind=audit_pb2.ACTOR_KIND_SERVICE, subject_id=service_actor or service)
        )
    return event

"""AppContext: what every use case gets (unit-of-work factory, clock, ports), built in wiring.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from confide.audit.v1 import events_pb2 as audit_pb2
from confide_chassis import audit
from confide_chassis.auth import Principal
from confide_chassis.errors import PermissionDenied
from confide_chassis.ids import parse_id
from confide_messaging.app.ports import ThreadWakeups, UnitOfWork
from confide_messaging.domain.threads import Actor

SERVICE = "messaging"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    uow: Callable[[], UnitOfWork]
    wakeups: ThreadWakeups
    clock: Callable[[], datetime] = utc_now
    stream_poll_seconds: float = 5.0

    def now(self) -> datetime:
        return self.clock()


def actor_of(principal: Principal) -> Actor:
    user_id = parse_id(principal.subject)
    if user_id is None:
        raise PermissionDenied("this caller cannot take part in messaging")
    return Actor(user_id=user_id, practice_id=principal.practice_id, roles=principal.roles)


def record_access(
    uow: UnitOfWork,
    *,
    action: audit_pb2.AuditAction.ValueType,
    resource_type: str,
    resource_id: UUID | str,
    subject: UUID,
    now: datetime,
    outcome: audit_pb2.AuditOutcome.ValueType = audit.SUCCESS,
    rule_ids: tuple[str, ...] = (),
    system: bool = False,
) -> None:
    """Every read or change of a thread leaves an audit event, committed with it (MSG-01)."""
    uow.publish(
        audit.audit_event(
            service=SERVICE,
            action=action,
            resource_type=resource_type,
            resource_id=str(resource_id),
            subject_person_id=str(subject),
            purpose=audit.TREATMENT,
            outcome=outcome,
            service_actor=SERVICE if system else None,
            rule_ids=rule_ids,
            occurred_at=now,
        )
    )

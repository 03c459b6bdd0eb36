"""Reactions to other services' events, inside the consumer's transaction: the changes go through the
repository and the consumer stages the returned events in the same transaction (inbox row + changes +
outbox events commit together, so a redelivered event has no second effect)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from google.protobuf.message import Message

from confide.scheduling.v1 import events_pb2
from confide_chassis import audit
from confide_scheduling.app.context import SERVICE
from confide_scheduling.app.event_messages import flagged_event
from confide_scheduling.app.ports import Repositories
from confide_scheduling.domain.appointments import flag_authorization
from confide_scheduling.domain.catalog import Modality


async def flag_lost_authorization(
    uow: Repositories,
    *,
    clinician_id: UUID,
    lost_states: Sequence[str],
    modalities: Sequence[Modality],
    effective_at: datetime,
    rule_ids: Sequence[str],
    now: datetime,
) -> tuple[list[UUID], list[Message]]:
    """Compliance says the clinician lost coverage in ``lost_states`` (for ``modalities``; empty = all)
    from ``effective_at``: every future booked or checked-in appointment there is flagged
    (``flagged_authorization``) and announced with AppointmentFlagged — never silently kept (LIC-03).
    Returns the flagged appointment ids and the events to stage with the changes."""
    if not lost_states:
        return [], []
    affected = await uow.appointments.to_flag(clinician_id, lost_states, modalities, max(effective_at, now))
    events: list[Message] = []
    flagged: list[UUID] = []
    for rec in affected:
        a = rec.appointment
        updated = rec.with_appointment(flag_authorization(a, now))
        await uow.appointments.save(updated, a.version)
        state = a.check_in.location.state if a.check_in else rec.authorized_state
        events.append(
            flagged_event(
                updated,
                events_pb2.FLAG_REASON_AUTHORIZATION_LAPSED,
                list(rule_ids) or ["LIC-03"],
                None,
                state,
                now,
            )
        )
        events.append(
            audit.audit_event(
                service=SERVICE,
                action=audit.UPDATE,
                resource_type="appointment",
                resource_id=str(a.id),
                subject_person_id=str(a.client_id),
                purpose=audit.OPERATIONS,
                service_actor=SERVICE,
                rule_ids=list(rule_ids),
                occurred_at=now,
            )
        )
        flagged.append(a.id)
    return flagged, events

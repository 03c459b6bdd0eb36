"""Billing's Kafka consumers: identity's client profiles (payer type) and care teams (who may read an
account), and scheduling's appointments
and sessions. Handlers run in the chassis' idempotent consumer: one transaction with the inbox row,
which the use cases' units of work join. Unknown event types are ignored (schema evolution);
malformed ids and unchargeable events (no price list) go to the DLQ for an operator to replay."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from confide.identity.v1 import events_pb2 as identity_events
from confide.identity.v1 import identity_pb2
from confide.scheduling.v1 import events_pb2 as scheduling_events
from confide.scheduling.v1 import scheduling_pb2
from confide_billing import metrics
from confide_billing.app import commands
from confide_billing.app.reactions import Reactions
from confide_billing.domain.coding import Modality, SessionKind
from confide_billing.domain.estimates import PayerType
from confide_billing.domain.money import Money
from confide_chassis.consumer import PoisonEvent
from confide_chassis.errors import DomainError
from confide_chassis.events import ConsumedEvent
from confide_chassis.ids import parse_id
from confide_chassis.wire import datetime_of

IDENTITY_TOPICS = ("confide.identity.client-profiles.v1", "confide.identity.care-teams.v1")
SCHEDULING_TOPICS = ("confide.scheduling.appointments.v1", "confide.scheduling.sessions.v1")

_PAYER = {
    identity_pb2.PAYER_TYPE_SELF_PAY: PayerType.SELF_PAY,
    identity_pb2.PAYER_TYPE_INSURANCE: PayerType.INSURANCE,
    identity_pb2.PAYER_TYPE_FEDERAL_PROGRAM: PayerType.FEDERAL_PROGRAM,
}
_KIND = {
    scheduling_pb2.SESSION_KIND_INTAKE: SessionKind.INTAKE,
    scheduling_pb2.SESSION_KIND_PSYCHOTHERAPY: SessionKind.PSYCHOTHERAPY,
    scheduling_pb2.SESSION_KIND_FAMILY: SessionKind.FAMILY,
    scheduling_pb2.SESSION_KIND_CRISIS: SessionKind.CRISIS,
    scheduling_pb2.SESSION_KIND_FAMILY_WITHOUT_CLIENT: SessionKind.FAMILY_WITHOUT_CLIENT,
}
_MODALITY = {
    scheduling_pb2.MODALITY_VIDEO: Modality.VIDEO,
    scheduling_pb2.MODALITY_AUDIO_ONLY: Modality.AUDIO_ONLY,
    scheduling_pb2.MODALITY_LIVE_CHAT: Modality.LIVE_CHAT,
}

Handler = Callable[[AsyncSession, ConsumedEvent], Awaitable[None]]


def _ids(*values: str) -> None:
    if any(parse_id(v) is None for v in values):
        raise PoisonEvent("an id in the event is not a UUID")


def _kind(value: scheduling_pb2.SessionKind.ValueType) -> SessionKind:
    kind: SessionKind | None = _KIND.get(value)
    if kind is None:
        raise PoisonEvent("the event has no known session kind")
    return kind


def identity_handler(reactions: Reactions) -> Handler:
    async def handle(session: AsyncSession, event: ConsumedEvent) -> None:
        if event.event_type == identity_events.CareTeamAssigned.DESCRIPTOR.full_name:
            assigned = identity_events.CareTeamAssigned.FromString(event.payload)
            _ids(assigned.client_id, assigned.clinician_id, assigned.practice_id)
            await reactions.care_team_assigned(
                assigned.client_id, assigned.clinician_id, assigned.practice_id
            )
            return
        if event.event_type == identity_events.CareTeamRemoved.DESCRIPTOR.full_name:
            removed = identity_events.CareTeamRemoved.FromString(event.payload)
            _ids(removed.client_id, removed.clinician_id)
            await reactions.care_team_removed(removed.client_id, removed.clinician_id)
            return
        if event.event_type != identity_events.ClientProfileChanged.DESCRIPTOR.full_name:
            return
        fact = identity_events.ClientProfileChanged.FromString(event.payload)
        _ids(fact.client_id, fact.practice_id)
        await reactions.client_profile_changed(
            commands.ClientProfileChanged(
                client_id=fact.client_id,
                practice_id=fact.practice_id,
                payer_type=_PAYER.get(fact.payer_type, PayerType.UNKNOWN),
            )
        )

    return handle


def scheduling_handler(reactions: Reactions) -> Handler:
    async def handle(session: AsyncSession, event: ConsumedEvent) -> None:
        try:
            flow = await _dispatch(reactions, event)
        except DomainError as exc:  # e.g. no price list: keep the event for replay, do not lose it
            raise PoisonEvent(f"billing refused the event: {type(exc).__name__}") from exc
        if flow is not None:
            _observe_freshness_on_commit(session, flow, event.occurred_at)

    return handle


def _observe_freshness_on_commit(session: AsyncSession, flow: str, occurred_at: datetime) -> None:
    """Event freshness (booking → estimate, session → charge) once the consumer's transaction has
    committed. after_commit also fires for savepoints (later handlers of the batch): those leave
    the outer transaction active and are skipped. A rolled-back batch observes nothing."""
    observed = False

    def observe(committed: Session) -> None:
        nonlocal observed
        outer = committed.get_transaction()
        if observed or (outer is not None and outer.is_active):
            return
        observed = True
        age = max(time.time() - occurred_at.timestamp(), 0.0)
        metrics.event_freshness_seconds.labels(metrics.SERVICE, flow).observe(age)

    sa_event.listen(session.sync_session, "after_commit", observe)


async def _dispatch(reactions: Reactions, event: ConsumedEvent) -> str | None:
    """Apply a scheduling fact; returns the freshness flow it completed, if it made an estimate or a
    charge."""
    kind = event.event_type
    if kind == scheduling_events.AppointmentBooked.DESCRIPTOR.full_name:
        booked = scheduling_events.AppointmentBooked.FromString(event.payload)
        _ids(booked.appointment_id, booked.practice_id, booked.client_id, booked.clinician_id)
        start, end = datetime_of(booked.start_time), datetime_of(booked.end_time)
        estimate = await reactions.appointment_booked(
            commands.AppointmentBooked(
                appointment_id=booked.appointment_id,
                practice_id=booked.practice_id,
                client_id=booked.client_id,
                clinician_id=booked.clinician_id,
                kind=_kind(booked.session_kind),
                scheduled_minutes=max(int((end - start).total_seconds() // 60), 0),
                start_time=start,
                booked_at=datetime_of(booked.occurred_at),
            )
        )
        return "booking_to_gfe" if estimate is not None else None
    elif kind == scheduling_events.AppointmentRescheduled.DESCRIPTOR.full_name:
        moved = scheduling_events.AppointmentRescheduled.FromString(event.payload)
        _ids(moved.appointment_id)
        await reactions.appointment_rescheduled(
            moved.appointment_id, datetime_of(moved.start_time), datetime_of(moved.end_time)
        )
    elif kind == scheduling_events.AppointmentCancelled.DESCRIPTOR.full_name:
        cancelled = scheduling_events.AppointmentCancelled.FromString(event.payload)
        _ids(cancelled.appointment_id, cancelled.practice_id, cancelled.client_id, cancelled.clinician_id)
        await reactions.appointment_cancelled(cancelled.appointment_id)
        if cancelled.late:
            await reactions.missed_appointment(
                commands.MissedAppointment(
                    appointment_id=cancelled.appointment_id,
                    practice_id=cancelled.practice_id,
                    client_id=cancelled.client_id,
                    clinician_id=cancelled.clinician_id,
                    no_show=False,
                    fee_applies=cancelled.fee_applies,
                    scheduling_fee=_fee(cancelled.fee.amount_minor, cancelled.fee.currency),
                    occurred_at=datetime_of(cancelled.occurred_at),
                )
            )
    elif kind == scheduling_events.SessionCompleted.DESCRIPTOR.full_name:
        done = scheduling_events.SessionCompleted.FromString(event.payload)
        _ids(done.appointment_id, done.practice_id, done.client_id, done.clinician_id)
        modality = _MODALITY.get(done.modality)
        if modality is None:
            raise PoisonEvent("the session has no known modality")
        charge = await reactions.session_completed(
            commands.SessionCompleted(
                appointment_id=done.appointment_id,
                practice_id=done.practice_id,
                client_id=done.client_id,
                clinician_id=done.clinician_id,
                kind=_kind(done.session_kind),
                minutes=done.duration_minutes,
                modality=modality,
                at_home=done.at_home,
                completed_at=datetime_of(done.completed_at),
            )
        )
        return "session_to_charge" if charge is not None else None
    elif kind == scheduling_events.SessionNoShow.DESCRIPTOR.full_name:
        missed = scheduling_events.SessionNoShow.FromString(event.payload)
        _ids(missed.appointment_id, missed.practice_id, missed.client_id, missed.clinician_id)
        await reactions.missed_appointment(
            commands.MissedAppointment(
                appointment_id=missed.appointment_id,
                practice_id=missed.practice_id,
                client_id=missed.client_id,
                clinician_id=missed.clinician_id,
                no_show=True,
                fee_applies=missed.fee_applies,
                scheduling_fee=_fee(missed.fee.amount_minor, missed.fee.currency),
                occurred_at=datetime_of(missed.occurred_at),
            )
        )
    return None


def _fee(amount_minor: int, currency: str) -> Money | None:
    if amount_minor <= 0 or len(currency) != 3:
        return None
    return Money(amount_minor, currency)

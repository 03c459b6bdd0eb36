"""Event handlers for the chassis IdempotentConsumer: decode, call a use case.

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

from sqlalchemy.ext.asyncio import AsyncSession

from confide.scheduling.v1 import events_pb2 as scheduling_events
from confide_chassis.consumer import Handler, PoisonEvent
from confide_chassis.events import ConsumedEvent
from confide_chassis.ids import parse_id
from confide_chassis.logging import get_logger
from confide_chassis.wire import datetime_of, jurisdiction_code
from confide_compliance import metrics
from confide_compliance.app.authorization import Authorizations, SessionDayOutcome
from confide_compliance.app.commands import RecordSessionDay
from confide_compliance.domain.jurisdictions import normalize_jurisdiction

log = get_logger(__name__)

SESSIONS_TOPIC = "confide.scheduling.sessions.v1"
AUTHORITY_DAYS_CONSUMER = "authority-days"


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

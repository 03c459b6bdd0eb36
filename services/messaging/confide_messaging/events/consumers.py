"""identity's facts as a local projection (care teams, deactivated users, client profiles), consumed
with the chassis IdempotentConsumer: one transaction with the inbox row, so each event counts once.

A clinician's access to a thread follows the care team: CareTeamRemoved (also sent for every link
of a deactivated user) ends it at once; UserDeactivated additionally locks the user out of
messaging even if a removal were still in flight. Unknown event types are ignored (schema
evolution); malformed ids are poison (DLQ).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from confide.identity.v1 import events_pb2 as identity_events
from confide.scheduling.v1 import events_pb2 as scheduling_events
from confide_chassis.consumer import PoisonEvent
from confide_chassis.events import ConsumedEvent
from confide_chassis.ids import parse_id
from confide_chassis.wire import jurisdiction_code
from confide_messaging.app.ports import CareTeamRepository, ClientProfile, UnitOfWork

IDENTITY_TOPICS = (
    "confide.identity.users.v1",
    "confide.identity.client-profiles.v1",
    "confide.identity.care-teams.v1",
)


def _id(value: str, what: str) -> UUID:
    parsed = parse_id(value)
    if parsed is None:
        raise PoisonEvent(f"{what} is not a UUID")
    return parsed


def _time(value: Timestamp, fallback: datetime) -> datetime:
    if value.seconds == 0 and value.nanos == 0:
        return fallback
    return value.ToDatetime(tzinfo=UTC)


Handler = Callable[[AsyncSession, ConsumedEvent], Awaitable[None]]


def identity_handler(care_teams_on: Callable[[AsyncSession], CareTeamRepository]) -> Handler:
    """The handler, with the projection repository on the consumer's transaction (built in wiring)."""

    async def handle(session: AsyncSession, event: ConsumedEvent) -> None:
        await project_identity_fact(care_teams_on(session), event)

    return handle


async def project_identity_fact(care_teams: CareTeamRepository, event: ConsumedEvent) -> None:
    if event.is_a(identity_events.CareTeamAssigned):
        assigned = event.unpack(identity_events.CareTeamAssigned)
        await care_teams.set_link(
            link_id=assigned.link_id or event.event_id,
            client_id=_id(assigned.client_id, "client_id"),
            clinician_id=_id(assigned.clinician_id, "clinician_id"),
            practice_id=assigned.practice_id,
            active=True,
            changed_at=_time(assigned.occurred_at, event.occurred_at),
        )
    elif event.is_a(identity_events.CareTeamRemoved):
        removed = event.unpack(identity_events.CareTeamRemoved)
        await care_teams.set_link(
            link_id=removed.link_id or event.event_id,
            client_id=_id(removed.client_id, "client_id"),
            clinician_id=_id(removed.clinician_id, "clinician_id"),
            practice_id=removed.practice_id,
            active=False,
            changed_at=_time(removed.occurred_at, event.occurred_at),
        )
    elif event.is_a(identity_events.UserDeactivated):
        gone = event.unpack(identity_events.UserDeactivated)
        await care_teams.deactivate(
            _id(gone.user_id, "user_id"), gone.practice_id, _time(gone.occurred_at, event.occurred_at)
        )
    elif event.is_a(identity_events.ClientProfileChanged):
        profile = event.unpack(identity_events.ClientProfileChanged)
        await care_teams.upsert_profile(
            ClientProfile(
                client_id=_id(profile.client_id, "client_id"),
                practice_id=profile.practice_id,
                time_zone=profile.time_zone or None,
                home_state=jurisdiction_code(profile.home_state),
                profile_version=max(1, profile.profile_version),
            )
        )


SCHEDULING_TOPICS = ("confide.scheduling.reminders.v1", "confide.scheduling.risk-flags.v1")


class Reminders(Protocol):
    async def remind(
        self, uow: UnitOfWork, *, client_id: UUID, practice_id: str, appointment_id: str, now: datetime
    ) -> object: ...

    async def alert_care_team(
        self, uow: UnitOfWork, *, client_id: UUID, practice_id: str, clinician_ids: list[UUID], now: datetime
    ) -> object: ...


def reminder_handler(
    uow_on: Callable[[AsyncSession], UnitOfWork], reminders: Reminders, clock: Callable[[], datetime]
) -> Handler:
    """scheduling's ReminderDue → a PHI-free reminder to the client; scheduling's RiskFlagged (an
    intake screening needing the care team, SAFE-22..24) → an urgent alert to the care team. Queued
    in the consumer's transaction, so a redelivered event queues nothing twice."""

    async def handle(session: AsyncSession, event: ConsumedEvent) -> None:
        if event.is_a(scheduling_events.RiskFlagged):
            flagged = event.unpack(scheduling_events.RiskFlagged)
            uow = uow_on(session)
            await reminders.alert_care_team(
                uow,
                client_id=_id(flagged.client_id, "client_id"),
                practice_id=flagged.practice_id,
                clinician_ids=[_id(c, "care_team_clinician_ids") for c in flagged.care_team_clinician_ids],
                now=clock(),
            )
            await uow.commit()
            return
        if not event.is_a(scheduling_events.ReminderDue):
            return
        due = event.unpack(scheduling_events.ReminderDue)
        uow = uow_on(session)
        await reminders.remind(
            uow,
            client_id=_id(due.client_id, "client_id"),
            practice_id=due.practice_id,
            appointment_id=due.appointment_id,
            now=clock(),
        )
        await uow.commit()

    return handle

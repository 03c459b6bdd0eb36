"""Kafka consumers that keep the directory current.

- ``directory-compliance`` (confide.compliance.{authorizations,licenses}.v1): AuthorizationChanged
  updates the coverage shown on profiles; LicenseExpired / LicenseSuspended drop that state at once.
- ``directory-identity`` (confide.identity.{users,care-teams}.v1): UserDeactivated unlists the
  clinician; CareTeamAssigned / CareTeamRemoved give the continuity signal of the ranking.
- ``directory-risk-flags`` (confide.scheduling.risk-flags.v1): RiskFlagged — such a client is never
  offered coaching (SAFE-20, LIC-81).

Handlers run in the chassis' idempotent consumer (one transaction with the inbox row). Unknown event
types are ignored (schema evolution); malformed ids are poison (DLQ).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.compliance.v1 import events_pb2 as compliance_events
from confide.identity.v1 import events_pb2 as identity_events
from confide.scheduling.v1 import events_pb2 as scheduling_events
from confide_chassis.consumer import PoisonEvent
from confide_chassis.events import ConsumedEvent
from confide_chassis.ids import parse_id
from confide_chassis.wire import jurisdiction_code
from confide_directory.app.projections import Projections
from confide_directory.db.repositories import SqlProjectionRepository

COMPLIANCE_TOPICS = ("confide.compliance.authorizations.v1", "confide.compliance.licenses.v1")
IDENTITY_TOPICS = ("confide.identity.users.v1", "confide.identity.care-teams.v1")
RISK_TOPICS = ("confide.scheduling.risk-flags.v1",)

Handler = Callable[[AsyncSession, ConsumedEvent], Awaitable[None]]


def _id(value: str, what: str) -> str:
    parsed = parse_id(value)
    if parsed is None:
        raise PoisonEvent(f"{what} is not a UUID")
    return str(parsed)


def _states(values: object) -> list[str]:
    return [code for code in (jurisdiction_code(int(v)) for v in values) if code]  # type: ignore[attr-defined]


def _when(event: ConsumedEvent) -> datetime:
    return event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=UTC)


async def handle_compliance(session: AsyncSession, event: ConsumedEvent) -> None:
    projections = Projections(SqlProjectionRepository(session))
    try:
        if event.event_type == "confide.compliance.v1.AuthorizationChanged":
            changed = compliance_events.AuthorizationChanged.FromString(event.payload)
            await projections.authorization_changed(
                _id(changed.clinician_id, "clinician_id"),
                _states(changed.gained_jurisdictions),
                _states(changed.lost_jurisdictions),
            )
        elif event.event_type == "confide.compliance.v1.LicenseExpired":
            expired = compliance_events.LicenseExpired.FromString(event.payload)
            await projections.credential_lapsed(
                _id(expired.clinician_id, "clinician_id"), jurisdiction_code(expired.jurisdiction)
            )
        elif event.event_type == "confide.compliance.v1.LicenseSuspended":
            suspended = compliance_events.LicenseSuspended.FromString(event.payload)
            await projections.credential_lapsed(
                _id(suspended.clinician_id, "clinician_id"), jurisdiction_code(suspended.jurisdiction)
            )
    except DecodeError as error:
        raise PoisonEvent(f"undecodable {event.event_type}") from error


async def handle_identity(session: AsyncSession, event: ConsumedEvent) -> None:
    projections = Projections(SqlProjectionRepository(session))
    try:
        if event.event_type == "confide.identity.v1.UserDeactivated":
            deactivated = identity_events.UserDeactivated.FromString(event.payload)
            await projections.user_deactivated(_id(deactivated.user_id, "user_id"), _when(event))
        elif event.event_type == "confide.identity.v1.CareTeamAssigned":
            assigned = identity_events.CareTeamAssigned.FromString(event.payload)
            await projections.care_team_assigned(
                _id(assigned.link_id, "link_id"),
                _id(assigned.client_id, "client_id"),
                _id(assigned.clinician_id, "clinician_id"),
            )
        elif event.event_type == "confide.identity.v1.CareTeamRemoved":
            removed = identity_events.CareTeamRemoved.FromString(event.payload)
            await projections.care_team_removed(_id(removed.link_id, "link_id"))
    except DecodeError as error:
        raise PoisonEvent(f"undecodable {event.event_type}") from error


async def handle_risk_flags(session: AsyncSession, event: ConsumedEvent) -> None:
    if event.event_type != "confide.scheduling.v1.RiskFlagged":
        return
    try:
        flagged = scheduling_events.RiskFlagged.FromString(event.payload)
    except DecodeError as error:
        raise PoisonEvent("undecodable RiskFlagged") from error
    await Projections(SqlProjectionRepository(session)).risk_flagged(
        _id(flagged.client_id, "client_id"), _when(event)
    )

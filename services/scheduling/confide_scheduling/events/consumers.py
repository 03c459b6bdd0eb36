"""Kafka consumers: local projections of identity facts and reactions to compliance.

- ``identity-projections`` (confide.identity.{client-profiles,consents,care-teams}.v1): the client's
  profile facts (home state, time zone, payer type, minor status), telehealth consents (per version,
  modality and state) and care-team links — what booking needs without calling identity.
- ``compliance-authorizations`` (confide.compliance.authorizations.v1): AuthorizationChanged flags
  the affected future appointments.

Handlers run inside the chassis' idempotent consumer: one transaction with the inbox row. Events of
types a handler does not know are ignored (schema evolution); malformed ids are poison (DLQ).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from confide.compliance.v1 import authorization_pb2
from confide.compliance.v1 import events_pb2 as compliance_events
from confide.identity.v1 import events_pb2 as identity_events
from confide.identity.v1 import identity_pb2
from confide_chassis.consumer import PoisonEvent
from confide_chassis.db import add_events
from confide_chassis.events import ConsumedEvent
from confide_chassis.ids import parse_id
from confide_chassis.logging import get_logger
from confide_chassis.wire import jurisdiction_code
from confide_scheduling.app.ports import ClientProfile, ConsentRecord
from confide_scheduling.app.reactions import flag_lost_authorization
from confide_scheduling.db.uow import SqlRepositories
from confide_scheduling.domain.catalog import Modality
from confide_scheduling.domain.policy import PayerType
from confide_scheduling.domain.timekit import zone

log = get_logger(__name__)

IDENTITY_TOPICS = (
    "confide.identity.client-profiles.v1",
    "confide.identity.consents.v1",
    "confide.identity.care-teams.v1",
)
COMPLIANCE_TOPICS = ("confide.compliance.authorizations.v1",)

Clock = Callable[[], datetime]

_PAYER = {
    identity_pb2.PAYER_TYPE_SELF_PAY: PayerType.SELF_PAY,
    identity_pb2.PAYER_TYPE_INSURANCE: PayerType.COMMERCIAL,
    identity_pb2.PAYER_TYPE_FEDERAL_PROGRAM: PayerType.OTHER_FEDERAL,
}
_CONSENT_MODALITY = {
    identity_pb2.MODALITY_VIDEO: Modality.VIDEO,
    identity_pb2.MODALITY_AUDIO_ONLY: Modality.AUDIO,
    identity_pb2.MODALITY_LIVE_CHAT: Modality.LIVE_CHAT,
    identity_pb2.MODALITY_ASYNC_MESSAGING: Modality.MESSAGING,
}
_SIGNER = {identity_pb2.SIGNER_ROLE_CLIENT: "client", identity_pb2.SIGNER_ROLE_GUARDIAN: "guardian"}
_COMPLIANCE_MODALITY = {
    authorization_pb2.MODALITY_VIDEO: Modality.VIDEO,
    authorization_pb2.MODALITY_AUDIO: Modality.AUDIO,
    authorization_pb2.MODALITY_LIVE_CHAT: Modality.LIVE_CHAT,
    authorization_pb2.MODALITY_MESSAGING: Modality.MESSAGING,
}


def _id(value: str, what: str) -> UUID:
    parsed = parse_id(value)
    if parsed is None:
        raise PoisonEvent(f"{what} is not a UUID")
    return parsed


def _time(value: Timestamp, fallback: datetime) -> datetime:
    if value.seconds == 0 and value.nanos == 0:
        return fallback
    return value.ToDatetime(tzinfo=UTC)


def _zone_or_none(name: str) -> str | None:
    if not name:
        return None
    try:
        zone(name)
    except Exception:
        return None
    return name


async def handle_identity(session: AsyncSession, event: ConsumedEvent) -> None:
    projections = SqlRepositories(session).clients
    if event.is_a(identity_events.ClientProfileChanged):
        profile = event.unpack(identity_events.ClientProfileChanged)
        await projections.save_profile(
            ClientProfile(
                client_id=_id(profile.client_id, "client_id"),
                practice_id=profile.practice_id,
                home_state=jurisdiction_code(profile.home_state),
                time_zone=_zone_or_none(profile.time_zone),
                payer_type=_PAYER.get(profile.payer_type, PayerType.SELF_PAY),
                is_minor=profile.is_minor,
                guardian_consent_required=profile.guardian_consent_required,
                profile_version=profile.profile_version,
            ),
            _time(profile.occurred_at, event.occurred_at),
        )
    elif event.is_a(identity_events.ConsentSigned):
        consent = event.unpack(identity_events.ConsentSigned)
        await projections.add_consent(
            ConsentRecord(
                signature_id=consent.signature_id or event.event_id,
                client_id=_id(consent.client_id, "client_id"),
                practice_id=consent.practice_id,
                document_id=consent.document_id,
                document_version=consent.document_version,
                jurisdiction=jurisdiction_code(consent.jurisdiction),
                modalities=frozenset(
                    _CONSENT_MODALITY[m] for m in consent.modalities if m in _CONSENT_MODALITY
                ),
                signer_role=_SIGNER.get(consent.signer_role, "client"),
                document_effective_at=_time(consent.document_effective_at, event.occurred_at)
                if consent.HasField("document_effective_at")
                else None,
                signed_at=_time(consent.occurred_at, event.occurred_at),
            ),
        )
    elif event.is_a(identity_events.CareTeamAssigned) or event.is_a(identity_events.CareTeamRemoved):
        assigned = event.is_a(identity_events.CareTeamAssigned)
        link = (
            event.unpack(identity_events.CareTeamAssigned)
            if assigned
            else event.unpack(identity_events.CareTeamRemoved)
        )
        await projections.set_care_team_link(
            link_id=link.link_id or event.event_id,
            client_id=_id(link.client_id, "client_id"),
            clinician_id=_id(link.clinician_id, "clinician_id"),
            practice_id=link.practice_id,
            active=assigned,
            changed_at=_time(link.occurred_at, event.occurred_at),
        )


def compliance_handler(clock: Clock) -> Callable[[AsyncSession, ConsumedEvent], Awaitable[None]]:
    async def handle(session: AsyncSession, event: ConsumedEvent) -> None:
        if not event.is_a(compliance_events.AuthorizationChanged):
            return
        change = event.unpack(compliance_events.AuthorizationChanged)
        clinician = parse_id(change.clinician_id)
        if clinician is None:
            return  # not a clinician scheduling knows (ids are UUIDs here): nothing booked to flag
        now = clock()
        flagged, events = await flag_lost_authorization(
            SqlRepositories(session),
            clinician_id=clinician,
            lost_states=[s for s in (jurisdiction_code(j) for j in change.lost_jurisdictions) if s],
            modalities=[_COMPLIANCE_MODALITY[m] for m in change.modalities if m in _COMPLIANCE_MODALITY],
            effective_at=_time(change.effective_at, now),
            rule_ids=list(change.rule_ids),
            now=now,
        )
        await add_events(session, events)
        if flagged:
            log.info("appointments flagged after an authorization change", count=len(flagged))

    return handle

"""The events compliance publishes (confide.compliance.v1 events.proto) and its audit events, built
from domain records. (The API's response messages are built in `api.mapping`, not here.)

Ids, codes and dates only: no names, license numbers, board references or free text (ARCHITECTURE
"Events"). A license *number* is not PHI but it identifies a person outside the platform, so it
stays in the registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from confide.audit.v1 import events_pb2 as audit_pb2
from confide.common.v1 import jurisdiction_pb2
from confide.compliance.v1 import authorization_pb2, events_pb2
from confide_chassis.audit import audit_event
from confide_chassis.auth import Principal
from confide_chassis.events import OutgoingEvent
from confide_chassis.wire import jurisdiction_value, local_date, timestamp
from confide_compliance.domain.credentials import (
    CompactAuthority,
    Credential,
    StateException,
    StateLicense,
)
from confide_compliance.domain.modality import Modality
from confide_compliance.domain.records import credential_kind
from confide_compliance.domain.watch import CoverageDiff, CredentialKind, ExpiryNotice, Milestone

SERVICE = "compliance"

# AuthorizationChanged.modalities uses the API's Modality enum (its `LIVE_CHAT` is the domain's chat).
_MODALITY: dict[Modality, authorization_pb2.Modality.ValueType] = {
    Modality.VIDEO: authorization_pb2.MODALITY_VIDEO,
    Modality.AUDIO: authorization_pb2.MODALITY_AUDIO,
    Modality.CHAT: authorization_pb2.MODALITY_LIVE_CHAT,
    Modality.MESSAGING: authorization_pb2.MODALITY_MESSAGING,
    Modality.IN_PERSON: authorization_pb2.MODALITY_IN_PERSON,
}

# Why a credential of this kind matters to coverage, as rule ids (AuthorizationChanged.rule_ids).
_RULES_OF_KIND: dict[str, tuple[str, ...]] = {
    CredentialKind.STATE_LICENSE.value: ("LIC-03",),
    CredentialKind.PSYPACT_E_PASSPORT.value: ("LIC-11", "LIC-16"),
    CredentialKind.PSYPACT_APIT.value: ("LIC-11", "LIC-16"),
    CredentialKind.PSYPACT_IPC.value: ("LIC-13", "LIC-16"),
    CredentialKind.PSYPACT_TAP.value: ("LIC-13", "LIC-16"),
    CredentialKind.COUNSELING_COMPACT_PRIVILEGE.value: ("LIC-20", "LIC-22", "LIC-24"),
    CredentialKind.SOCIAL_WORK_MULTISTATE_LICENSE.value: ("LIC-30", "LIC-31"),
    CredentialKind.NLC_MULTISTATE_LICENSE.value: ("LIC-50",),
    CredentialKind.STATE_EXCEPTION.value: ("LIC-03", "LIC-60"),
    CredentialKind.BC_TMH.value: ("LIC-80",),
}


def rule_ids_for(credential: Credential) -> tuple[str, ...]:
    return _RULES_OF_KIND[credential_kind(credential)]


def day_after_start(day: date) -> datetime:
    """00:00 UTC of the day after `day`: when a credential whose last valid day is `day` lapses."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def _event_kind(kind: str) -> events_pb2.CredentialKind.ValueType:
    if kind == CredentialKind.STATE_LICENSE.value:
        return events_pb2.CREDENTIAL_KIND_STATE_LICENSE
    if kind == CredentialKind.STATE_EXCEPTION.value:
        return events_pb2.CREDENTIAL_KIND_STATE_EXCEPTION
    if kind == CredentialKind.BC_TMH.value:
        return events_pb2.CREDENTIAL_KIND_BC_TMH
    return events_pb2.CREDENTIAL_KIND_COMPACT_AUTHORITY


def _jurisdiction_field(code: str | None) -> jurisdiction_pb2.Jurisdiction.ValueType:
    return jurisdiction_value(code) if code else jurisdiction_pb2.JURISDICTION_UNSPECIFIED


def authorization_changed(
    clinician_id: str,
    diff: CoverageDiff,
    *,
    rule_ids: Iterable[str],
    reference_data_version: str,
    effective_at: datetime,
) -> events_pb2.AuthorizationChanged:
    changed = diff.gained | diff.lost
    modalities = sorted({_MODALITY[m] for c in changed for m in c.modality_class.modalities})
    return events_pb2.AuthorizationChanged(
        clinician_id=clinician_id,
        lost_jurisdictions=[jurisdiction_value(j) for j in sorted({c.jurisdiction for c in diff.lost})],
        gained_jurisdictions=[jurisdiction_value(j) for j in sorted({c.jurisdiction for c in diff.gained})],
        modalities=modalities,
        effective_at=timestamp(effective_at),
        rule_ids=sorted(set(rule_ids)),
        reference_data_version=reference_data_version,
    )


def notice_event(
    notice: ExpiryNotice,
    *,
    now: datetime,
    status_since: date | None = None,
) -> events_pb2.LicenseExpiring | events_pb2.LicenseExpired | events_pb2.LicenseSuspended:
    kind = _event_kind(notice.credential_kind.value)
    jurisdiction = _jurisdiction_field(notice.jurisdiction)
    if notice.milestone in (Milestone.SUSPENDED, Milestone.REVOKED):
        effective = datetime.combine(status_since, time(0), tzinfo=UTC) if status_since is not None else now
        return events_pb2.LicenseSuspended(
            clinician_id=notice.clinician_id,
            credential_id=notice.credential_id,
            credential_kind=kind,
            jurisdiction=jurisdiction,
            effective_at=timestamp(effective),
            status=notice.milestone.value,
        )
    if notice.milestone is Milestone.EXPIRED:
        event = events_pb2.LicenseExpired(
            clinician_id=notice.clinician_id,
            credential_id=notice.credential_id,
            credential_kind=kind,
            jurisdiction=jurisdiction,
        )
        if notice.expires_on is not None:
            event.expired_at.CopyFrom(timestamp(day_after_start(notice.expires_on)))
            event.last_valid_day.CopyFrom(local_date(notice.expires_on))
        return event
    milestone_days = {Milestone.EXPIRING_90: 90, Milestone.EXPIRING_60: 60, Milestone.EXPIRING_30: 30}
    expiring = events_pb2.LicenseExpiring(
        clinician_id=notice.clinician_id,
        credential_id=notice.credential_id,
        credential_kind=kind,
        jurisdiction=jurisdiction,
        days_left=notice.days_left or 0,
        milestone_days=milestone_days.get(notice.milestone, 0),
    )
    if notice.expires_on is not None:
        expiring.expires_at.CopyFrom(timestamp(day_after_start(notice.expires_on)))
        expiring.last_valid_day.CopyFrom(local_date(notice.expires_on))
    return expiring


def license_suspended(credential: Credential, status: str, effective_on: date) -> events_pb2.LicenseSuspended:
    """`status`: "suspended", "revoked" or "encumbered"."""
    jurisdiction = (
        credential.jurisdiction
        if isinstance(credential, StateLicense | CompactAuthority | StateException)
        else None
    )
    return events_pb2.LicenseSuspended(
        clinician_id=credential.clinician_id,
        credential_id=credential.id,
        credential_kind=_event_kind(credential_kind(credential)),
        jurisdiction=_jurisdiction_field(jurisdiction),
        effective_at=timestamp(datetime.combine(effective_on, time(0), tzinfo=UTC)),
        status=status,
    )


def audit(
    *,
    action: audit_pb2.AuditAction.ValueType,
    resource_type: str,
    resource_id: str,
    subject_person_id: str,
    purpose: audit_pb2.AccessPurpose.ValueType = audit_pb2.ACCESS_PURPOSE_OPERATIONS,
    actor: Principal | None = None,
    outcome: audit_pb2.AuditOutcome.ValueType = audit_pb2.AUDIT_OUTCOME_SUCCESS,
    occurred_at: datetime | None = None,
) -> OutgoingEvent:
    """An audit event for the outbox; its `ce_id` is the event's own `event_id`."""
    event = audit_event(
        service=SERVICE,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        subject_person_id=subject_person_id,
        purpose=purpose,
        outcome=outcome,
        actor=actor,
        occurred_at=occurred_at,
    )
    return OutgoingEvent.from_message(event, event_id=event.event_id, occurred_at=occurred_at)


def resource_type_of(credential: Credential) -> str:
    if isinstance(credential, StateLicense):
        return "compliance.state_license"
    if isinstance(credential, CompactAuthority):
        return "compliance.compact_authority"
    if isinstance(credential, StateException):
        return "compliance.state_exception"
    return "compliance.bc_tmh"

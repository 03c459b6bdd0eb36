"""Domain objects -> identity events (protobuf). Ids and coded fields only: no names, e-mail, DOB, phone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from confide.identity.v1 import events_pb2, identity_pb2
from confide_chassis.wire import jurisdiction_value, timestamp
from confide_identity.domain.care_team import CareTeamLink
from confide_identity.domain.consent import (
    ConsentDocument,
    ConsentSignature,
    Modality,
    SignatureMethod,
    SignerRole,
)
from confide_identity.domain.profile import ClientProfileFacts, PayerType
from confide_identity.domain.roles import Role

REMOVED = events_pb2.CARE_TEAM_REMOVAL_REASON_REMOVED
USER_DEACTIVATED = events_pb2.CARE_TEAM_REMOVAL_REASON_USER_DEACTIVATED


def role_pb(role: Role) -> identity_pb2.Role.ValueType:
    return identity_pb2.Role.Value(f"ROLE_{role.value.upper()}")


def roles_pb(roles: Iterable[Role]) -> list[identity_pb2.Role.ValueType]:
    return sorted(role_pb(role) for role in roles)


def payer_type_pb(payer: PayerType) -> identity_pb2.PayerType.ValueType:
    return identity_pb2.PayerType.Value(f"PAYER_TYPE_{payer.value.upper()}")


def modality_pb(modality: Modality) -> identity_pb2.Modality.ValueType:
    return identity_pb2.Modality.Value(f"MODALITY_{modality.value.upper()}")


def signer_role_pb(role: SignerRole) -> identity_pb2.SignerRole.ValueType:
    return identity_pb2.SignerRole.Value(f"SIGNER_ROLE_{role.value.upper()}")


def method_pb(method: SignatureMethod) -> identity_pb2.SignatureMethod.ValueType:
    return identity_pb2.SignatureMethod.Value(f"SIGNATURE_METHOD_{method.value.upper()}")


def user_registered(
    *,
    user_id: UUID,
    practice_id: UUID,
    roles: Iterable[Role],
    channel: events_pb2.RegistrationChannel.ValueType,
    at: datetime,
) -> events_pb2.UserRegistered:
    return events_pb2.UserRegistered(
        user_id=str(user_id),
        practice_id=str(practice_id),
        roles=roles_pb(roles),
        channel=channel,
        occurred_at=timestamp(at),
    )


def user_deactivated(
    *, user_id: UUID, practice_id: UUID, by: UUID, at: datetime
) -> events_pb2.UserDeactivated:
    return events_pb2.UserDeactivated(
        user_id=str(user_id), practice_id=str(practice_id), deactivated_by=str(by), occurred_at=timestamp(at)
    )


def role_changed(
    *,
    user_id: UUID,
    practice_id: UUID,
    roles: Iterable[Role],
    previous: Iterable[Role],
    by: UUID,
    at: datetime,
) -> events_pb2.RoleChanged:
    return events_pb2.RoleChanged(
        user_id=str(user_id),
        practice_id=str(practice_id),
        roles=roles_pb(roles),
        previous_roles=roles_pb(previous),
        changed_by=str(by),
        occurred_at=timestamp(at),
    )


def client_profile_changed(
    facts: ClientProfileFacts, *, version: int, at: datetime
) -> events_pb2.ClientProfileChanged:
    return events_pb2.ClientProfileChanged(
        client_id=str(facts.client_id),
        practice_id=str(facts.practice_id),
        profile_version=version,
        home_state=jurisdiction_value(facts.home_state),
        time_zone=facts.time_zone,
        payer_type=payer_type_pb(facts.payer_type),
        is_minor=facts.is_minor,
        guardian_consent_required=facts.guardian_consent_required,
        occurred_at=timestamp(at),
    )


def consent_signed(signature: ConsentSignature, document: ConsentDocument) -> events_pb2.ConsentSigned:
    return events_pb2.ConsentSigned(
        client_id=str(signature.client_id),
        practice_id=str(signature.practice_id),
        signature_id=str(signature.signature_id),
        document_id=str(signature.document_id),
        document_version=signature.document_version,
        jurisdiction=jurisdiction_value(signature.jurisdiction),
        modalities=sorted(modality_pb(m) for m in document.modalities),
        signer_role=signer_role_pb(signature.signer_role),
        method=method_pb(signature.method),
        document_effective_at=timestamp(document.effective_at),
        occurred_at=timestamp(signature.signed_at),
    )


def care_team_assigned(link: CareTeamLink) -> events_pb2.CareTeamAssigned:
    return events_pb2.CareTeamAssigned(
        client_id=str(link.client_id),
        practice_id=str(link.practice_id),
        link_id=str(link.link_id),
        clinician_id=str(link.clinician_id),
        assigned_by=str(link.assigned_by),
        occurred_at=timestamp(link.assigned_at),
    )


def care_team_removed(
    link: CareTeamLink, reason: events_pb2.CareTeamRemovalReason.ValueType
) -> events_pb2.CareTeamRemoved:
    assert link.removed_at is not None
    assert link.removed_by is not None
    return events_pb2.CareTeamRemoved(
        client_id=str(link.client_id),
        practice_id=str(link.practice_id),
        link_id=str(link.link_id),
        clinician_id=str(link.clinician_id),
        reason=reason,
        removed_by=str(link.removed_by),
        occurred_at=timestamp(link.removed_at),
    )

"""Protobuf <-> app values: request parsing with field paths, and response building."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confide.common.v1 import jurisdiction_pb2, time_pb2
from confide.identity.v1 import identity_pb2
from confide_chassis.errors import ValidationCollector
from confide_chassis.wire import jurisdiction_value
from confide_chassis.wire import optional_timestamp as ts
from confide_identity.app.care_teams import CareTeamEntry
from confide_identity.app.consents import ModalityStatus
from confide_identity.app.events import (
    method_pb,
    modality_pb,
    payer_type_pb,
    roles_pb,
    signer_role_pb,
)
from confide_identity.app.models import Practice, StoredConsentDocument, UserStatus
from confide_identity.app.profiles import ProfileView
from confide_identity.app.support import IssuedSession
from confide_identity.app.users import UserView
from confide_identity.domain.consent import ConsentSignature, SignatureMethod, SignerRole
from confide_identity.domain.roles import Role
from confide_identity.domain.tokens import KeyRecord, KeyState

_USER_STATUS = {
    UserStatus.INVITED: identity_pb2.USER_STATUS_INVITED,
    UserStatus.ACTIVE: identity_pb2.USER_STATUS_ACTIVE,
    UserStatus.DEACTIVATED: identity_pb2.USER_STATUS_DEACTIVATED,
}
_KEY_STATE = {
    KeyState.PENDING: identity_pb2.SIGNING_KEY_STATE_PENDING,
    KeyState.ACTIVE: identity_pb2.SIGNING_KEY_STATE_ACTIVE,
    KeyState.RETIRED: identity_pb2.SIGNING_KEY_STATE_RETIRED,
}


# --- enums from the wire ------------------------------------------------------------------------------


def _enum_name(enum: Any, value: int, prefix: str) -> str | None:
    """The lower-case member name without its prefix, or None for UNSPECIFIED / unknown numbers."""
    try:
        name: str = enum.Name(value)
    except ValueError:
        return None
    if not name.startswith(prefix) or name.endswith("_UNSPECIFIED"):
        return None
    return name[len(prefix) :].lower()


def parse_role(errors: ValidationCollector, value: int, path: str, *, required: bool = True) -> Role | None:
    name = _enum_name(identity_pb2.Role, value, "ROLE_")
    if name is None:
        if required or value != identity_pb2.ROLE_UNSPECIFIED:
            errors.add(path, "must be a known role")
        return None
    return Role(name)


def parse_roles(errors: ValidationCollector, values: Iterable[int], path: str) -> frozenset[Role]:
    roles: set[Role] = set()
    items = list(values)
    for index, value in enumerate(items):
        role = parse_role(errors, value, f"{path}[{index}]")
        if role is not None:
            roles.add(role)
    if not items:
        errors.add(path, "at least one role is required")
    return frozenset(roles)


def parse_jurisdiction(errors: ValidationCollector, value: int, path: str) -> str:
    name = _enum_name(jurisdiction_pb2.Jurisdiction, value, "JURISDICTION_")
    if name is None:
        errors.add(path, "must be a US state or territory")
        return ""
    return name.upper()


def jurisdiction_code(value: int) -> str:
    """The USPS code for the domain to validate ("" when unset, which the domain reports)."""
    name = _enum_name(jurisdiction_pb2.Jurisdiction, value, "JURISDICTION_")
    return name.upper() if name else ""


def payer_type_code(value: int) -> str:
    return _enum_name(identity_pb2.PayerType, value, "PAYER_TYPE_") or ""


def parse_modality_name(value: int) -> str:
    return _enum_name(identity_pb2.Modality, value, "MODALITY_") or f"unknown:{value}"


def parse_signer_role(errors: ValidationCollector, value: int, path: str) -> SignerRole | None:
    name = _enum_name(identity_pb2.SignerRole, value, "SIGNER_ROLE_")
    if name is None:
        errors.add(path, "is required")
        return None
    return SignerRole(name)


def parse_method(errors: ValidationCollector, value: int, path: str) -> SignatureMethod | None:
    name = _enum_name(identity_pb2.SignatureMethod, value, "SIGNATURE_METHOD_")
    if name is None:
        errors.add(path, "is required")
        return None
    return SignatureMethod(name)


def local_date_text(value: time_pb2.LocalDate) -> str:
    """ISO form for the domain parser; an impossible date stays impossible (and is reported there)."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


# --- responses ----------------------------------------------------------------------------------------


def session_pb(session: IssuedSession) -> identity_pb2.Session:
    return identity_pb2.Session(
        access_token=session.access_token,
        access_token_expire_time=ts(session.access_token_expires_at),
        refresh_token=session.refresh_token,
        refresh_token_expire_time=ts(session.refresh_token_expires_at),
        session_expire_time=ts(session.session_expires_at),
        user_id=str(session.user_id),
        practice_id=str(session.practice_id),
        roles=roles_pb(session.roles),
        mfa=session.mfa,
    )


def practice_pb(practice: Practice) -> identity_pb2.Practice:
    policy = practice.session_policy
    return identity_pb2.Practice(
        practice_id=str(practice.practice_id),
        display_name=practice.display_name,
        slug=practice.slug,
        settings=identity_pb2.PracticeSettings(
            idle_timeout_seconds=int(policy.idle_timeout.total_seconds()),
            absolute_session_lifetime_seconds=int(policy.absolute_lifetime.total_seconds()),
            client_sign_up_enabled=practice.client_sign_up_enabled,
        ),
        create_time=ts(practice.created_at),
    )


def user_pb(view: UserView) -> identity_pb2.User:
    user = view.user
    return identity_pb2.User(
        user_id=str(user.user_id),
        practice_id=str(user.practice_id),
        email=user.email,
        display_name=user.display_name or "",
        roles=roles_pb(user.roles),
        status=_USER_STATUS[user.status],
        email_verified=user.email_verified_at is not None,
        mfa_enrolled=view.mfa_enrolled,
        create_time=ts(user.created_at),
        deactivate_time=ts(user.deactivated_at),
    )


def profile_pb(view: ProfileView) -> identity_pb2.ClientProfile:
    profile = view.stored.profile
    dob = profile.date_of_birth
    return identity_pb2.ClientProfile(
        client_id=str(profile.client_id),
        legal_name=profile.legal_name,
        preferred_name=profile.preferred_name or "",
        date_of_birth=time_pb2.LocalDate(year=dob.year, month=dob.month, day=dob.day),
        home_state=jurisdiction_value(profile.home_state),
        time_zone=profile.time_zone,
        emergency_contact=identity_pb2.EmergencyContact(
            name=profile.emergency_contact.name, phone=profile.emergency_contact.phone
        ),
        payer_type=payer_type_pb(profile.payer_type),
        minor_status=identity_pb2.MinorStatus(
            is_minor=view.minor.is_minor,
            guardian_consent_required=view.minor.guardian_consent_required,
            consent_age=view.minor.effective_consent_age,
        ),
        update_time=ts(view.stored.updated_at),
    )


def document_pb(stored: StoredConsentDocument, *, with_content: bool = True) -> identity_pb2.ConsentDocument:
    doc = stored.document
    return identity_pb2.ConsentDocument(
        document_id=str(doc.document_id),
        version=doc.version,
        effective_time=ts(doc.effective_at),
        modalities=sorted(modality_pb(m) for m in doc.modalities),
        jurisdictions=sorted(jurisdiction_value(code) for code in doc.jurisdictions),
        title=stored.title,
        content=stored.content if with_content else "",
        content_sha256=doc.content_sha256,
        publish_time=ts(doc.published_at),
    )


def signature_pb(signature: ConsentSignature) -> identity_pb2.ConsentSignature:
    return identity_pb2.ConsentSignature(
        signature_id=str(signature.signature_id),
        client_id=str(signature.client_id),
        document_id=str(signature.document_id),
        document_version=signature.document_version,
        jurisdiction=jurisdiction_value(signature.jurisdiction),
        signer_role=signer_role_pb(signature.signer_role),
        method=method_pb(signature.method),
        signed_by=str(signature.signed_by),
        signer_name=signature.signer_name or "",
        sign_time=ts(signature.signed_at),
    )


def modality_status_pb(status: ModalityStatus) -> identity_pb2.ModalityConsent:
    return identity_pb2.ModalityConsent(
        modality=modality_pb(status.modality), satisfied=status.satisfied, rule_ids=list(status.rule_ids)
    )


def member_pb(entry: CareTeamEntry) -> identity_pb2.CareTeamMember:
    link = entry.link
    return identity_pb2.CareTeamMember(
        link_id=str(link.link_id),
        client_id=str(link.client_id),
        clinician_id=str(link.clinician_id),
        clinician_display_name=entry.clinician_display_name,
        assign_time=ts(link.assigned_at),
    )


def key_pb(record: KeyRecord) -> identity_pb2.SigningKey:
    return identity_pb2.SigningKey(
        kid=record.kid,
        state=_KEY_STATE[record.state],
        create_time=ts(record.created_at),
        activate_time=ts(record.activated_at),
        retire_time=ts(record.retired_at),
    )

"""Wire <-> domain for identity's API: requests become commands (every problem reported as a field
violation naming the request's field path), domain records become response messages. With the servicers,
the only code that touches identity's API messages."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from uuid import UUID

from confide.common.v1 import jurisdiction_pb2, time_pb2
from confide.identity.v1 import identity_pb2
from confide_chassis.errors import InvalidArgument, ValidationCollector
from confide_chassis.ids import parse_id
from confide_chassis.wire import datetime_of, jurisdiction_value
from confide_chassis.wire import optional_timestamp as ts
from confide_identity.app import commands
from confide_identity.app.auth import MfaEnrolment, SignInResult
from confide_identity.app.care_teams import CareTeamEntry
from confide_identity.app.consents import ConsentStatus, ModalityStatus
from confide_identity.app.events import (
    method_pb,
    modality_pb,
    payer_type_pb,
    roles_pb,
    signer_role_pb,
)
from confide_identity.app.models import Practice, StoredConsentDocument, UserStatus
from confide_identity.app.profiles import PROFILE_FIELDS, ProfileView
from confide_identity.app.support import IssuedSession
from confide_identity.app.users import NewUser, UserPage, UserView
from confide_identity.domain.consent import ConsentSignature, SignatureMethod, SignerRole
from confide_identity.domain.mfa import SignInStep
from confide_identity.domain.profile import ClientProfileInput
from confide_identity.domain.roles import Role
from confide_identity.domain.sessions import session_policy
from confide_identity.domain.tokens import KeyRecord, KeyState

MAX_SECRET_LENGTH = 1024
"""Upper bound on passwords and tokens as received (before any hashing)."""
MAX_TITLE_LENGTH = 200
MAX_CONTENT_LENGTH = 100_000
MAX_CODE_LENGTH = 16
MAX_RECOVERY_CODE_LENGTH = 64
NIL_ID = UUID(int=0)
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
EMERGENCY_CONTACT_PARTS = ("emergency_contact.name", "emergency_contact.phone")

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
_STEP = {
    SignInStep.COMPLETE: identity_pb2.SIGN_IN_STEP_COMPLETE,
    SignInStep.MFA_CHALLENGE: identity_pb2.SIGN_IN_STEP_MFA_REQUIRED,
    SignInStep.MFA_ENROLMENT_REQUIRED: identity_pb2.SIGN_IN_STEP_MFA_ENROLMENT_REQUIRED,
}


# --- field checks -------------------------------------------------------------------------------------

MAX_EMAIL_LENGTH = 254
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def check_email(errors: ValidationCollector, raw: str, path: str = "email") -> str:
    email = normalize_email(raw)
    if not email:
        errors.add(path, "is required")
    elif len(email) > MAX_EMAIL_LENGTH or not _EMAIL_RE.fullmatch(email):
        errors.add(path, "must be an e-mail address")
    elif has_control_characters(email):
        errors.add(path, "must not contain control characters")
    return email


def check_id(errors: ValidationCollector, raw: str, path: str, *, required: bool = True) -> UUID | None:
    value = raw.strip()
    if not value:
        if required:
            errors.add(path, "is required")
        return None
    parsed = parse_id(value)
    if parsed is None:
        errors.add(path, "must be a UUID")
    return parsed


def has_control_characters(value: str, *, allow_newlines: bool = False) -> bool:
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()
    return any(unicodedata.category(char) == "Cc" and char not in allowed for char in value)


def check_text(
    errors: ValidationCollector, raw: str, path: str, *, max_length: int, required: bool = True
) -> str:
    """A single-line text: whitespace collapsed, no control characters, bounded length."""
    value = " ".join(raw.split())
    if not value:
        if required:
            errors.add(path, "is required")
    elif len(value) > max_length:
        errors.add(path, f"must be at most {max_length} characters")
    elif has_control_characters(value):
        errors.add(path, "must not contain control characters")
    return value


def secret(errors: ValidationCollector, value: str, path: str) -> str:
    if not value:
        errors.add(path, "is required")
    elif len(value) > MAX_SECRET_LENGTH:
        errors.add(path, f"must be at most {MAX_SECRET_LENGTH} characters")
    elif "\x00" in value:
        errors.add(path, "must not contain NUL characters")
    return value


def required_id(errors: ValidationCollector, value: str, path: str) -> UUID:
    """The id, or the nil UUID when it is missing or malformed (then `errors` says so and the caller raises
    before using it)."""
    return check_id(errors, value, path) or NIL_ID


def only_id(value: str, path: str) -> UUID:
    """The id of a request that carries nothing else to check; InvalidArgument when missing or malformed."""
    errors = ValidationCollector()
    parsed = required_id(errors, value, path)
    errors.raise_if_any()
    return parsed


def only_secret(value: str, path: str) -> str:
    """The token of a request that carries nothing else to check; InvalidArgument when it is unusable."""
    errors = ValidationCollector()
    secret(errors, value, path)
    errors.raise_if_any()
    return value


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


def sign_in_response(result: SignInResult) -> identity_pb2.SignInResponse:
    response = identity_pb2.SignInResponse(next_step=_STEP[result.step])
    if result.session is not None:
        response.session.CopyFrom(session_pb(result.session))
    if result.challenge_token is not None and result.challenge_expires_at is not None:
        response.mfa_challenge_token = result.challenge_token
        response.mfa_challenge_expire_time.FromDatetime(result.challenge_expires_at)
    return response


def mfa_enrolment_response(enrolment: MfaEnrolment) -> identity_pb2.BeginMfaEnrolmentResponse:
    return identity_pb2.BeginMfaEnrolmentResponse(
        provisioning_uri=enrolment.provisioning_uri, secret=enrolment.secret
    )


def create_practice_response(practice: Practice, created: NewUser) -> identity_pb2.CreatePracticeResponse:
    # A new admin has no MFA factor yet.
    return identity_pb2.CreatePracticeResponse(
        practice=practice_pb(practice), admin=user_pb(UserView(created.user, mfa_enrolled=False))
    )


def user_page_response(page: UserPage) -> identity_pb2.ListUsersResponse:
    response = identity_pb2.ListUsersResponse(users=[user_pb(view) for view in page.users])
    response.page.next_page_token = page.next_page_token
    return response


def consent_status_response(status: ConsentStatus) -> identity_pb2.GetConsentStatusResponse:
    response = identity_pb2.GetConsentStatusResponse(
        signatures=[signature_pb(s) for s in status.signatures],
        modalities=[modality_status_pb(m) for m in status.modalities],
    )
    if status.current is not None:
        response.current_document.CopyFrom(document_pb(status.current, with_content=False))
    return response


# --- requests -> commands: AuthService -----------------------------------------------------------------


def sign_up(request: identity_pb2.SignUpRequest) -> commands.SignUp:
    errors = ValidationCollector()
    practice_id = required_id(errors, request.practice_id, "practice_id")
    email = check_email(errors, request.email)
    password = secret(errors, request.password, "password")
    errors.raise_if_any()
    return commands.SignUp(practice_id=practice_id, email=email, password=password)


def verify_email(request: identity_pb2.VerifyEmailRequest) -> commands.VerifyEmail:
    return commands.VerifyEmail(token=only_secret(request.token, "token"))


def resend_verification_email(
    request: identity_pb2.ResendVerificationEmailRequest,
) -> commands.ResendVerificationEmail:
    errors = ValidationCollector()
    practice_id = required_id(errors, request.practice_id, "practice_id")
    email = check_email(errors, request.email)
    errors.raise_if_any()
    return commands.ResendVerificationEmail(practice_id=practice_id, email=email)


def sign_in(request: identity_pb2.SignInRequest) -> commands.SignIn:
    errors = ValidationCollector()
    practice_id = required_id(errors, request.practice_id, "practice_id")
    email = check_email(errors, request.email)
    password = secret(errors, request.password, "password")
    errors.raise_if_any()
    return commands.SignIn(practice_id=practice_id, email=email, password=password)


def verify_mfa(request: identity_pb2.VerifyMfaRequest) -> commands.VerifyMfa:
    errors = ValidationCollector()
    challenge = secret(errors, request.mfa_challenge_token, "mfa_challenge_token")
    totp, recovery = request.totp_code.strip(), request.recovery_code.strip()
    if not totp and not recovery:
        errors.add("totp_code", "a code from the authenticator app (or recovery_code) is required")
    elif totp and recovery:
        errors.add("recovery_code", "set either totp_code or recovery_code, not both")
    elif len(totp) > MAX_CODE_LENGTH or len(recovery) > MAX_RECOVERY_CODE_LENGTH:
        errors.add("totp_code" if totp else "recovery_code", "is too long")
    errors.raise_if_any()
    return commands.VerifyMfa(challenge_token=challenge, totp_code=totp, recovery_code=recovery)


def refresh(request: identity_pb2.RefreshRequest) -> commands.Refresh:
    return commands.Refresh(refresh_token=only_secret(request.refresh_token, "refresh_token"))


def sign_out(request: identity_pb2.SignOutRequest) -> commands.SignOut:
    return commands.SignOut(refresh_token=only_secret(request.refresh_token, "refresh_token"))


def sign_out_everywhere(request: identity_pb2.SignOutEverywhereRequest) -> commands.SignOutEverywhere:
    errors = ValidationCollector()
    user_id = check_id(errors, request.user_id, "user_id", required=False)
    errors.raise_if_any()
    return commands.SignOutEverywhere(user_id=user_id)


def request_password_reset(
    request: identity_pb2.RequestPasswordResetRequest,
) -> commands.RequestPasswordReset:
    errors = ValidationCollector()
    practice_id = required_id(errors, request.practice_id, "practice_id")
    email = check_email(errors, request.email)
    errors.raise_if_any()
    return commands.RequestPasswordReset(practice_id=practice_id, email=email)


def reset_password(request: identity_pb2.ResetPasswordRequest) -> commands.ResetPassword:
    errors = ValidationCollector()
    token = secret(errors, request.token, "token")
    password = secret(errors, request.new_password, "new_password")
    errors.raise_if_any()
    return commands.ResetPassword(token=token, new_password=password)


def confirm_mfa_enrolment(
    request: identity_pb2.ConfirmMfaEnrolmentRequest,
) -> commands.ConfirmMfaEnrolment:
    errors = ValidationCollector()
    code = request.totp_code.strip()
    if not code:
        errors.add("totp_code", "is required")
    elif len(code) > MAX_CODE_LENGTH:
        errors.add("totp_code", "is too long")
    errors.raise_if_any()
    return commands.ConfirmMfaEnrolment(totp_code=code)


# --- requests -> commands: PracticeService, UserService ------------------------------------------------


def create_practice(request: identity_pb2.CreatePracticeRequest) -> commands.CreatePractice:
    errors = ValidationCollector()
    name = check_text(errors, request.display_name, "display_name", max_length=MAX_TITLE_LENGTH)
    slug = request.slug.strip()
    if not slug:
        errors.add("slug", "is required")
    elif not SLUG_RE.fullmatch(slug):
        errors.add(
            "slug", "must be 3-63 lower-case letters, digits or hyphens, not starting or ending with '-'"
        )
    email = check_email(errors, request.admin_email, "admin_email")
    admin_name = check_text(
        errors, request.admin_display_name, "admin_display_name", max_length=MAX_TITLE_LENGTH
    )
    errors.raise_if_any()
    return commands.CreatePractice(
        display_name=name, slug=slug, admin_email=email, admin_display_name=admin_name
    )


_SESSION_POLICY_PATHS = {
    "session_policy.idle_timeout": "settings.idle_timeout_seconds",
    "session_policy.absolute_lifetime": "settings.absolute_session_lifetime_seconds",
    "session_policy": "settings",
}


def update_practice_settings(
    request: identity_pb2.UpdatePracticeSettingsRequest,
) -> commands.UpdatePracticeSettings:
    errors = ValidationCollector()
    errors.require(request.HasField("settings"), "settings", "is required")
    errors.raise_if_any()
    settings = request.settings
    try:
        policy = session_policy(
            idle_timeout_seconds=settings.idle_timeout_seconds,
            absolute_lifetime_seconds=settings.absolute_session_lifetime_seconds,
        )
    except InvalidArgument as exc:
        raise InvalidArgument(
            [replace(v, field=_SESSION_POLICY_PATHS.get(v.field, v.field)) for v in exc.violations]
        ) from exc
    return commands.UpdatePracticeSettings(
        session_policy=policy, client_sign_up_enabled=settings.client_sign_up_enabled
    )


def create_user(request: identity_pb2.CreateUserRequest) -> commands.CreateUser:
    errors = ValidationCollector()
    email = check_email(errors, request.email)
    name = check_text(
        errors, request.display_name, "display_name", max_length=MAX_TITLE_LENGTH, required=False
    )
    roles = parse_roles(errors, request.roles, "roles")
    errors.raise_if_any()
    return commands.CreateUser(email=email, display_name=name, roles=roles)


def list_users(request: identity_pb2.ListUsersRequest) -> commands.ListUsers:
    errors = ValidationCollector()
    role = parse_role(errors, request.role, "role", required=False)
    errors.require(request.page.page_size >= 0, "page.page_size", "must not be negative")
    errors.require(len(request.page.page_token) <= MAX_SECRET_LENGTH, "page.page_token", "is too long")
    errors.raise_if_any()
    return commands.ListUsers(
        role=role,
        include_deactivated=request.include_deactivated,
        page_size=request.page.page_size,
        page_token=request.page.page_token,
    )


def deactivate_user(request: identity_pb2.DeactivateUserRequest) -> commands.DeactivateUser:
    return commands.DeactivateUser(user_id=only_id(request.user_id, "user_id"))


def change_user_roles(request: identity_pb2.ChangeUserRolesRequest) -> commands.ChangeUserRoles:
    errors = ValidationCollector()
    user_id = required_id(errors, request.user_id, "user_id")
    roles = parse_roles(errors, request.roles, "roles")
    errors.raise_if_any()
    return commands.ChangeUserRoles(user_id=user_id, roles=roles)


def reset_user_mfa(request: identity_pb2.ResetUserMfaRequest) -> commands.ResetUserMfa:
    return commands.ResetUserMfa(user_id=only_id(request.user_id, "user_id"))


# --- requests -> commands: ClientProfileService, ConsentService, CareTeamService ----------------------


def update_client_profile(
    request: identity_pb2.UpdateClientProfileRequest,
) -> commands.UpdateClientProfile:
    errors = ValidationCollector()
    client_id = required_id(errors, request.client_id, "client_id")
    errors.require(request.HasField("profile"), "profile", "is required")
    paths: set[str] = set()
    for index, path in enumerate(request.update_mask.paths):
        if path in PROFILE_FIELDS or path in EMERGENCY_CONTACT_PARTS:
            paths.add(path)
        else:
            errors.add(f"update_mask.paths[{index}]", f"must be one of: {', '.join(PROFILE_FIELDS)}")
    errors.raise_if_any()
    p = request.profile
    values = ClientProfileInput(
        legal_name=p.legal_name,
        preferred_name=p.preferred_name or None,
        date_of_birth=local_date_text(p.date_of_birth),
        home_state=jurisdiction_code(p.home_state),
        time_zone=p.time_zone,
        emergency_contact_name=p.emergency_contact.name,
        emergency_contact_phone=p.emergency_contact.phone,
        payer_type=payer_type_code(p.payer_type),
    )
    return commands.UpdateClientProfile(client_id=client_id, values=values, paths=frozenset(paths))


def publish_consent_document(
    request: identity_pb2.PublishConsentDocumentRequest,
) -> commands.PublishConsentDocument:
    errors = ValidationCollector()
    errors.require(request.HasField("document"), "document", "is required")
    doc = request.document
    errors.require(doc.version > 0, "document.version", "must be a positive number")
    title = check_text(errors, doc.title, "document.title", max_length=MAX_TITLE_LENGTH)
    if not doc.content.strip():
        errors.add("document.content", "is required")
    elif len(doc.content) > MAX_CONTENT_LENGTH:
        errors.add("document.content", f"must be at most {MAX_CONTENT_LENGTH} characters")
    elif has_control_characters(doc.content, allow_newlines=True):
        errors.add("document.content", "must not contain control characters other than line breaks and tabs")
    errors.raise_if_any()
    return commands.PublishConsentDocument(
        version=doc.version,
        effective_at=datetime_of(doc.effective_time) if doc.HasField("effective_time") else None,
        modalities=tuple(parse_modality_name(m) for m in doc.modalities),
        jurisdictions=tuple(jurisdiction_code(j) for j in doc.jurisdictions),
        title=title,
        content=doc.content,
    )


def sign_consent(request: identity_pb2.SignConsentRequest) -> commands.SignConsent:
    errors = ValidationCollector()
    client_id = required_id(errors, request.client_id, "client_id")
    document_id = required_id(errors, request.document_id, "document_id")
    errors.require(request.document_version > 0, "document_version", "must be a positive number")
    jurisdiction = parse_jurisdiction(errors, request.jurisdiction, "jurisdiction")
    signer_role = parse_signer_role(errors, request.signer_role, "signer_role")
    method = parse_method(errors, request.method, "method")
    signer_name = check_text(
        errors, request.signer_name, "signer_name", max_length=MAX_TITLE_LENGTH, required=False
    )
    errors.raise_if_any()
    assert signer_role is not None
    assert method is not None
    return commands.SignConsent(
        client_id=client_id,
        document_id=document_id,
        document_version=request.document_version,
        jurisdiction=jurisdiction,
        signer_role=signer_role,
        method=method,
        signer_name=signer_name,
    )


def assign_clinician(request: identity_pb2.AssignClinicianRequest) -> commands.AssignClinician:
    errors = ValidationCollector()
    client_id = required_id(errors, request.client_id, "client_id")
    clinician_id = required_id(errors, request.clinician_id, "clinician_id")
    errors.raise_if_any()
    return commands.AssignClinician(client_id=client_id, clinician_id=clinician_id)


def remove_clinician(request: identity_pb2.RemoveClinicianRequest) -> commands.RemoveClinician:
    return commands.RemoveClinician(link_id=only_id(request.link_id, "link_id"))

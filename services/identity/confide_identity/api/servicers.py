# ruff: noqa: N802 - servicer methods carry the RPC names of the generated base classes
"""gRPC servicers: validate the request (every problem as a field violation), call the use case, build the
response. Authentication and the role gate happen in the chassis interceptor (`api.access`); relationship
rules (self, care team, same practice, MFA for staff) in the use cases via the domain's `authorize`."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from confide.identity.v1 import identity_pb2, identity_pb2_grpc
from confide_chassis.auth import current_principal
from confide_chassis.errors import ValidationCollector
from confide_chassis.wire import datetime_of
from confide_identity.api import convert
from confide_identity.app.auth import AuthUseCases
from confide_identity.app.care_teams import CareTeamUseCases
from confide_identity.app.consents import ConsentUseCases
from confide_identity.app.profiles import PROFILE_FIELDS, ProfileUseCases
from confide_identity.app.support import check_email, check_id, check_text, has_control_characters
from confide_identity.app.users import PracticeUseCases, UserUseCases, UserView
from confide_identity.domain.mfa import SignInStep
from confide_identity.domain.profile import ClientProfileInput

MAX_SECRET_LENGTH = 1024
"""Upper bound on passwords and tokens as received (before any hashing)."""
MAX_TITLE_LENGTH = 200
MAX_CONTENT_LENGTH = 100_000
NIL_ID = UUID(int=0)
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")

_STEP = {
    SignInStep.COMPLETE: identity_pb2.SIGN_IN_STEP_COMPLETE,
    SignInStep.MFA_CHALLENGE: identity_pb2.SIGN_IN_STEP_MFA_REQUIRED,
    SignInStep.MFA_ENROLMENT_REQUIRED: identity_pb2.SIGN_IN_STEP_MFA_ENROLMENT_REQUIRED,
}


def _secret(errors: ValidationCollector, value: str, path: str) -> str:
    if not value:
        errors.add(path, "is required")
    elif len(value) > MAX_SECRET_LENGTH:
        errors.add(path, f"must be at most {MAX_SECRET_LENGTH} characters")
    elif "\x00" in value:
        errors.add(path, "must not contain NUL characters")
    return value


def _required_id(errors: ValidationCollector, value: str, path: str) -> UUID:
    """The id, or the nil UUID when it is missing or malformed (then `errors` says so and the caller raises
    before using it)."""
    return check_id(errors, value, path) or NIL_ID


def _only_id(value: str, path: str) -> UUID:
    """The id of a request that carries nothing else to check; InvalidArgument when missing or malformed."""
    errors = ValidationCollector()
    parsed = _required_id(errors, value, path)
    errors.raise_if_any()
    return parsed


def _only_secret(value: str, path: str) -> str:
    """The token of a request that carries nothing else to check; InvalidArgument when it is unusable."""
    errors = ValidationCollector()
    _secret(errors, value, path)
    errors.raise_if_any()
    return value


class AuthServicer(identity_pb2_grpc.AuthServiceServicer):
    def __init__(self, auth: AuthUseCases) -> None:
        self.auth = auth

    async def SignUp(self, request: identity_pb2.SignUpRequest, context: Any) -> identity_pb2.SignUpResponse:
        errors = ValidationCollector()
        practice_id = _required_id(errors, request.practice_id, "practice_id")
        email = check_email(errors, request.email)
        password = _secret(errors, request.password, "password")
        errors.raise_if_any()
        await self.auth.sign_up(practice_id, email, password)
        return identity_pb2.SignUpResponse()

    async def VerifyEmail(
        self, request: identity_pb2.VerifyEmailRequest, context: Any
    ) -> identity_pb2.VerifyEmailResponse:
        token = _only_secret(request.token, "token")
        await self.auth.verify_email(token)
        return identity_pb2.VerifyEmailResponse()

    async def ResendVerificationEmail(
        self, request: identity_pb2.ResendVerificationEmailRequest, context: Any
    ) -> identity_pb2.ResendVerificationEmailResponse:
        errors = ValidationCollector()
        practice_id = _required_id(errors, request.practice_id, "practice_id")
        email = check_email(errors, request.email)
        errors.raise_if_any()
        await self.auth.resend_verification(practice_id, email)
        return identity_pb2.ResendVerificationEmailResponse()

    async def SignIn(self, request: identity_pb2.SignInRequest, context: Any) -> identity_pb2.SignInResponse:
        errors = ValidationCollector()
        practice_id = _required_id(errors, request.practice_id, "practice_id")
        email = check_email(errors, request.email)
        password = _secret(errors, request.password, "password")
        errors.raise_if_any()
        result = await self.auth.sign_in(practice_id, email, password)
        response = identity_pb2.SignInResponse(next_step=_STEP[result.step])
        if result.session is not None:
            response.session.CopyFrom(convert.session_pb(result.session))
        if result.challenge_token is not None and result.challenge_expires_at is not None:
            response.mfa_challenge_token = result.challenge_token
            response.mfa_challenge_expire_time.FromDatetime(result.challenge_expires_at)
        return response

    async def VerifyMfa(
        self, request: identity_pb2.VerifyMfaRequest, context: Any
    ) -> identity_pb2.VerifyMfaResponse:
        errors = ValidationCollector()
        challenge = _secret(errors, request.mfa_challenge_token, "mfa_challenge_token")
        totp, recovery = request.totp_code.strip(), request.recovery_code.strip()
        if not totp and not recovery:
            errors.add("totp_code", "a code from the authenticator app (or recovery_code) is required")
        elif totp and recovery:
            errors.add("recovery_code", "set either totp_code or recovery_code, not both")
        elif len(totp) > 16 or len(recovery) > 64:
            errors.add("totp_code" if totp else "recovery_code", "is too long")
        errors.raise_if_any()
        session, remaining = await self.auth.verify_mfa(challenge, totp_code=totp, recovery_code=recovery)
        return identity_pb2.VerifyMfaResponse(
            session=convert.session_pb(session), recovery_codes_remaining=remaining
        )

    async def Refresh(
        self, request: identity_pb2.RefreshRequest, context: Any
    ) -> identity_pb2.RefreshResponse:
        token = _only_secret(request.refresh_token, "refresh_token")
        return identity_pb2.RefreshResponse(session=convert.session_pb(await self.auth.refresh(token)))

    async def SignOut(
        self, request: identity_pb2.SignOutRequest, context: Any
    ) -> identity_pb2.SignOutResponse:
        token = _only_secret(request.refresh_token, "refresh_token")
        await self.auth.sign_out(current_principal(), token)
        return identity_pb2.SignOutResponse()

    async def SignOutEverywhere(
        self, request: identity_pb2.SignOutEverywhereRequest, context: Any
    ) -> identity_pb2.SignOutEverywhereResponse:
        errors = ValidationCollector()
        user_id = check_id(errors, request.user_id, "user_id", required=False)
        errors.raise_if_any()
        ended = await self.auth.sign_out_everywhere(current_principal(), user_id)
        return identity_pb2.SignOutEverywhereResponse(sessions_ended=ended)

    async def RequestPasswordReset(
        self, request: identity_pb2.RequestPasswordResetRequest, context: Any
    ) -> identity_pb2.RequestPasswordResetResponse:
        errors = ValidationCollector()
        practice_id = _required_id(errors, request.practice_id, "practice_id")
        email = check_email(errors, request.email)
        errors.raise_if_any()
        await self.auth.request_password_reset(practice_id, email)
        return identity_pb2.RequestPasswordResetResponse()

    async def ResetPassword(
        self, request: identity_pb2.ResetPasswordRequest, context: Any
    ) -> identity_pb2.ResetPasswordResponse:
        errors = ValidationCollector()
        token = _secret(errors, request.token, "token")
        password = _secret(errors, request.new_password, "new_password")
        errors.raise_if_any()
        await self.auth.reset_password(token, password)
        return identity_pb2.ResetPasswordResponse()

    async def BeginMfaEnrolment(
        self, request: identity_pb2.BeginMfaEnrolmentRequest, context: Any
    ) -> identity_pb2.BeginMfaEnrolmentResponse:
        enrolment = await self.auth.begin_mfa_enrolment(current_principal())
        return identity_pb2.BeginMfaEnrolmentResponse(
            provisioning_uri=enrolment.provisioning_uri, secret=enrolment.secret
        )

    async def ConfirmMfaEnrolment(
        self, request: identity_pb2.ConfirmMfaEnrolmentRequest, context: Any
    ) -> identity_pb2.ConfirmMfaEnrolmentResponse:
        errors = ValidationCollector()
        code = request.totp_code.strip()
        if not code:
            errors.add("totp_code", "is required")
        elif len(code) > 16:
            errors.add("totp_code", "is too long")
        errors.raise_if_any()
        codes, session = await self.auth.confirm_mfa_enrolment(current_principal(), code)
        return identity_pb2.ConfirmMfaEnrolmentResponse(
            recovery_codes=list(codes), session=convert.session_pb(session)
        )

    async def RegenerateRecoveryCodes(
        self, request: identity_pb2.RegenerateRecoveryCodesRequest, context: Any
    ) -> identity_pb2.RegenerateRecoveryCodesResponse:
        codes = await self.auth.regenerate_recovery_codes(current_principal())
        return identity_pb2.RegenerateRecoveryCodesResponse(recovery_codes=list(codes))

    async def GetJwks(
        self, request: identity_pb2.GetJwksRequest, context: Any
    ) -> identity_pb2.GetJwksResponse:
        return identity_pb2.GetJwksResponse(jwks_json=self.auth.jwks_json())

    async def RotateSigningKey(
        self, request: identity_pb2.RotateSigningKeyRequest, context: Any
    ) -> identity_pb2.RotateSigningKeyResponse:
        keys = await self.auth.rotate_signing_key(current_principal())
        return identity_pb2.RotateSigningKeyResponse(keys=[convert.key_pb(key) for key in keys])


class PracticeServicer(identity_pb2_grpc.PracticeServiceServicer):
    def __init__(self, practices: PracticeUseCases) -> None:
        self.practices = practices

    async def CreatePractice(
        self, request: identity_pb2.CreatePracticeRequest, context: Any
    ) -> identity_pb2.CreatePracticeResponse:
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
        practice, created = await self.practices.create_practice(
            current_principal(),
            display_name=name,
            slug=slug,
            admin_email=email,
            admin_display_name=admin_name,
        )
        return identity_pb2.CreatePracticeResponse(
            practice=convert.practice_pb(practice), admin=convert.user_pb(UserView(created.user, False))
        )

    async def GetPractice(
        self, request: identity_pb2.GetPracticeRequest, context: Any
    ) -> identity_pb2.GetPracticeResponse:
        practice = await self.practices.get_practice(current_principal())
        return identity_pb2.GetPracticeResponse(practice=convert.practice_pb(practice))

    async def UpdatePracticeSettings(
        self, request: identity_pb2.UpdatePracticeSettingsRequest, context: Any
    ) -> identity_pb2.UpdatePracticeSettingsResponse:
        errors = ValidationCollector()
        errors.require(request.HasField("settings"), "settings", "is required")
        errors.raise_if_any()
        settings = request.settings
        practice = await self.practices.update_settings(
            current_principal(),
            idle_timeout_seconds=settings.idle_timeout_seconds,
            absolute_lifetime_seconds=settings.absolute_session_lifetime_seconds,
            client_sign_up_enabled=settings.client_sign_up_enabled,
        )
        return identity_pb2.UpdatePracticeSettingsResponse(practice=convert.practice_pb(practice))


class UserServicer(identity_pb2_grpc.UserServiceServicer):
    def __init__(self, users: UserUseCases) -> None:
        self.users = users

    async def CreateUser(
        self, request: identity_pb2.CreateUserRequest, context: Any
    ) -> identity_pb2.CreateUserResponse:
        errors = ValidationCollector()
        email = check_email(errors, request.email)
        name = check_text(
            errors, request.display_name, "display_name", max_length=MAX_TITLE_LENGTH, required=False
        )
        roles = convert.parse_roles(errors, request.roles, "roles")
        errors.raise_if_any()
        view = await self.users.create_user(current_principal(), email=email, display_name=name, roles=roles)
        return identity_pb2.CreateUserResponse(user=convert.user_pb(view))

    async def GetUser(
        self, request: identity_pb2.GetUserRequest, context: Any
    ) -> identity_pb2.GetUserResponse:
        user_id = _only_id(request.user_id, "user_id")
        return identity_pb2.GetUserResponse(
            user=convert.user_pb(await self.users.get_user(current_principal(), user_id))
        )

    async def ListUsers(
        self, request: identity_pb2.ListUsersRequest, context: Any
    ) -> identity_pb2.ListUsersResponse:
        errors = ValidationCollector()
        role = convert.parse_role(errors, request.role, "role", required=False)
        errors.require(request.page.page_size >= 0, "page.page_size", "must not be negative")
        errors.require(len(request.page.page_token) <= MAX_SECRET_LENGTH, "page.page_token", "is too long")
        errors.raise_if_any()
        page = await self.users.list_users(
            current_principal(),
            role=role,
            include_deactivated=request.include_deactivated,
            page_size=request.page.page_size,
            page_token=request.page.page_token,
        )
        response = identity_pb2.ListUsersResponse(users=[convert.user_pb(view) for view in page.users])
        response.page.next_page_token = page.next_page_token
        return response

    async def DeactivateUser(
        self, request: identity_pb2.DeactivateUserRequest, context: Any
    ) -> identity_pb2.DeactivateUserResponse:
        user_id = _only_id(request.user_id, "user_id")
        view = await self.users.deactivate_user(current_principal(), user_id)
        return identity_pb2.DeactivateUserResponse(user=convert.user_pb(view))

    async def ChangeUserRoles(
        self, request: identity_pb2.ChangeUserRolesRequest, context: Any
    ) -> identity_pb2.ChangeUserRolesResponse:
        errors = ValidationCollector()
        user_id = _required_id(errors, request.user_id, "user_id")
        roles = convert.parse_roles(errors, request.roles, "roles")
        errors.raise_if_any()
        view = await self.users.change_roles(current_principal(), user_id, roles)
        return identity_pb2.ChangeUserRolesResponse(user=convert.user_pb(view))

    async def ResetUserMfa(
        self, request: identity_pb2.ResetUserMfaRequest, context: Any
    ) -> identity_pb2.ResetUserMfaResponse:
        user_id = _only_id(request.user_id, "user_id")
        view = await self.users.reset_mfa(current_principal(), user_id)
        return identity_pb2.ResetUserMfaResponse(user=convert.user_pb(view))


class ClientProfileServicer(identity_pb2_grpc.ClientProfileServiceServicer):
    def __init__(self, profiles: ProfileUseCases) -> None:
        self.profiles = profiles

    async def GetClientProfile(
        self, request: identity_pb2.GetClientProfileRequest, context: Any
    ) -> identity_pb2.GetClientProfileResponse:
        client_id = _only_id(request.client_id, "client_id")
        view = await self.profiles.get(current_principal(), client_id)
        return identity_pb2.GetClientProfileResponse(profile=convert.profile_pb(view))

    async def UpdateClientProfile(
        self, request: identity_pb2.UpdateClientProfileRequest, context: Any
    ) -> identity_pb2.UpdateClientProfileResponse:
        errors = ValidationCollector()
        client_id = _required_id(errors, request.client_id, "client_id")
        errors.require(request.HasField("profile"), "profile", "is required")
        paths: set[str] = set()
        for index, path in enumerate(request.update_mask.paths):
            if path in PROFILE_FIELDS or path in ("emergency_contact.name", "emergency_contact.phone"):
                paths.add(path)
            else:
                errors.add(f"update_mask.paths[{index}]", f"must be one of: {', '.join(PROFILE_FIELDS)}")
        errors.raise_if_any()
        p = request.profile
        values = ClientProfileInput(
            legal_name=p.legal_name,
            preferred_name=p.preferred_name or None,
            date_of_birth=convert.local_date_text(p.date_of_birth),
            home_state=convert.jurisdiction_code(p.home_state),
            time_zone=p.time_zone,
            emergency_contact_name=p.emergency_contact.name,
            emergency_contact_phone=p.emergency_contact.phone,
            payer_type=convert.payer_type_code(p.payer_type),
        )
        view = await self.profiles.update(current_principal(), client_id, values, frozenset(paths))
        return identity_pb2.UpdateClientProfileResponse(profile=convert.profile_pb(view))


class ConsentServicer(identity_pb2_grpc.ConsentServiceServicer):
    def __init__(self, consents: ConsentUseCases) -> None:
        self.consents = consents

    async def PublishConsentDocument(
        self, request: identity_pb2.PublishConsentDocumentRequest, context: Any
    ) -> identity_pb2.PublishConsentDocumentResponse:
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
            errors.add(
                "document.content", "must not contain control characters other than line breaks and tabs"
            )
        errors.raise_if_any()
        stored = await self.consents.publish(
            current_principal(),
            version=doc.version,
            effective_at=datetime_of(doc.effective_time) if doc.HasField("effective_time") else None,
            modalities=[convert.parse_modality_name(m) for m in doc.modalities],
            jurisdictions=[convert.jurisdiction_code(j) for j in doc.jurisdictions],
            title=title,
            content=doc.content,
        )
        return identity_pb2.PublishConsentDocumentResponse(document=convert.document_pb(stored))

    async def GetCurrentConsentDocument(
        self, request: identity_pb2.GetCurrentConsentDocumentRequest, context: Any
    ) -> identity_pb2.GetCurrentConsentDocumentResponse:
        stored = await self.consents.current(current_principal())
        return identity_pb2.GetCurrentConsentDocumentResponse(document=convert.document_pb(stored))

    async def SignConsent(
        self, request: identity_pb2.SignConsentRequest, context: Any
    ) -> identity_pb2.SignConsentResponse:
        errors = ValidationCollector()
        client_id = _required_id(errors, request.client_id, "client_id")
        document_id = _required_id(errors, request.document_id, "document_id")
        errors.require(request.document_version > 0, "document_version", "must be a positive number")
        jurisdiction = convert.parse_jurisdiction(errors, request.jurisdiction, "jurisdiction")
        signer_role = convert.parse_signer_role(errors, request.signer_role, "signer_role")
        method = convert.parse_method(errors, request.method, "method")
        signer_name = check_text(
            errors, request.signer_name, "signer_name", max_length=MAX_TITLE_LENGTH, required=False
        )
        errors.raise_if_any()
        assert signer_role is not None
        assert method is not None
        signature = await self.consents.sign(
            current_principal(),
            client_id=client_id,
            document_id=document_id,
            document_version=request.document_version,
            jurisdiction=jurisdiction,
            signer_role=signer_role,
            method=method,
            signer_name=signer_name,
        )
        return identity_pb2.SignConsentResponse(signature=convert.signature_pb(signature))

    async def GetConsentStatus(
        self, request: identity_pb2.GetConsentStatusRequest, context: Any
    ) -> identity_pb2.GetConsentStatusResponse:
        client_id = _only_id(request.client_id, "client_id")
        status = await self.consents.status(current_principal(), client_id)
        response = identity_pb2.GetConsentStatusResponse(
            signatures=[convert.signature_pb(s) for s in status.signatures],
            modalities=[convert.modality_status_pb(m) for m in status.modalities],
        )
        if status.current is not None:
            response.current_document.CopyFrom(convert.document_pb(status.current, with_content=False))
        return response


class CareTeamServicer(identity_pb2_grpc.CareTeamServiceServicer):
    def __init__(self, care_teams: CareTeamUseCases) -> None:
        self.care_teams = care_teams

    async def AssignClinician(
        self, request: identity_pb2.AssignClinicianRequest, context: Any
    ) -> identity_pb2.AssignClinicianResponse:
        errors = ValidationCollector()
        client_id = _required_id(errors, request.client_id, "client_id")
        clinician_id = _required_id(errors, request.clinician_id, "clinician_id")
        errors.raise_if_any()
        entry = await self.care_teams.assign(current_principal(), client_id, clinician_id)
        return identity_pb2.AssignClinicianResponse(member=convert.member_pb(entry))

    async def RemoveClinician(
        self, request: identity_pb2.RemoveClinicianRequest, context: Any
    ) -> identity_pb2.RemoveClinicianResponse:
        link_id = _only_id(request.link_id, "link_id")
        await self.care_teams.remove(current_principal(), link_id)
        return identity_pb2.RemoveClinicianResponse()

    async def ListCareTeam(
        self, request: identity_pb2.ListCareTeamRequest, context: Any
    ) -> identity_pb2.ListCareTeamResponse:
        client_id = _only_id(request.client_id, "client_id")
        entries = await self.care_teams.list_team(current_principal(), client_id)
        return identity_pb2.ListCareTeamResponse(members=[convert.member_pb(entry) for entry in entries])

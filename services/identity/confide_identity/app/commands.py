"""What the use cases are asked to do: one frozen command per state-changing use case (and per query with
more than an id), holding domain values that `api.mapping` (or the operator CLI) already checked.

Rules that need the database or the practice's policy (password strength against the account's own
name, slugs taken, the current consent version) stay in the use cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from confide_identity.domain.consent import SignatureMethod, SignerRole
from confide_identity.domain.profile import ClientProfileInput
from confide_identity.domain.roles import Role
from confide_identity.domain.sessions import SessionPolicy

# --- sign-up, sign-in, sessions, passwords, MFA --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignUp:
    practice_id: UUID
    email: str
    """Normalised (lower case, trimmed)."""
    password: str


@dataclass(frozen=True, slots=True)
class VerifyEmail:
    token: str


@dataclass(frozen=True, slots=True)
class ResendVerificationEmail:
    practice_id: UUID
    email: str


@dataclass(frozen=True, slots=True)
class SignIn:
    practice_id: UUID
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class VerifyMfa:
    challenge_token: str
    totp_code: str
    """Exactly one of `totp_code` and `recovery_code` is set."""
    recovery_code: str


@dataclass(frozen=True, slots=True)
class Refresh:
    refresh_token: str


@dataclass(frozen=True, slots=True)
class SignOut:
    refresh_token: str


@dataclass(frozen=True, slots=True)
class SignOutEverywhere:
    user_id: UUID | None
    """Whose sessions to end; None for the caller's own."""


@dataclass(frozen=True, slots=True)
class RequestPasswordReset:
    practice_id: UUID
    email: str


@dataclass(frozen=True, slots=True)
class ResetPassword:
    token: str
    new_password: str


@dataclass(frozen=True, slots=True)
class ConfirmMfaEnrolment:
    totp_code: str


# --- practices and users -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatePractice:
    display_name: str
    slug: str
    admin_email: str
    admin_display_name: str
    # Only the operator CLI (no caller token) sets these: a password instead of an invitation, the
    # platform operator role, and fixed ids (the demo seed shares its ids with the other services' seeds).
    admin_password_hash: str | None = None
    admin_extra_roles: frozenset[Role] = frozenset()
    practice_id: UUID | None = None
    admin_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class UpdatePracticeSettings:
    session_policy: SessionPolicy
    client_sign_up_enabled: bool


@dataclass(frozen=True, slots=True)
class CreateUser:
    email: str
    display_name: str
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class ListUsers:
    role: Role | None
    include_deactivated: bool
    page_size: int
    """0 for the default page size."""
    page_token: str


@dataclass(frozen=True, slots=True)
class DeactivateUser:
    user_id: UUID


@dataclass(frozen=True, slots=True)
class ChangeUserRoles:
    user_id: UUID
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class ResetUserMfa:
    user_id: UUID


# --- client profiles, consent, care teams ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpdateClientProfile:
    client_id: UUID
    values: ClientProfileInput
    """Parsed by the domain once merged with the stored profile (a partial update is only whole then)."""
    paths: frozenset[str]
    """The fields to change; empty for all of them (and always all of them when creating)."""


@dataclass(frozen=True, slots=True)
class PublishConsentDocument:
    version: int
    effective_at: datetime | None
    """None for "effective immediately"."""
    modalities: tuple[str, ...]
    jurisdictions: tuple[str, ...]
    title: str
    content: str


@dataclass(frozen=True, slots=True)
class SignConsent:
    client_id: UUID
    document_id: UUID
    document_version: int
    jurisdiction: str
    signer_role: SignerRole
    method: SignatureMethod
    signer_name: str


@dataclass(frozen=True, slots=True)
class AssignClinician:
    client_id: UUID
    clinician_id: UUID


@dataclass(frozen=True, slots=True)
class RemoveClinician:
    link_id: UUID

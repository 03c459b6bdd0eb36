"""Sessions as refresh-token families.

A sign-in starts a family. Each refresh token is opaque (32 random bytes, base64url), stored only as its
SHA-256, and single use: presenting the newest token rotates it (the presented token is marked used and a
new token of the next generation joins the same family). Presenting a token that was already used means
it was copied (the legitimate holder or the thief rotated it already), so the whole family is revoked
(OAuth 2.0 Security BCP, refresh-token rotation with reuse detection).

Automatic logoff (45 CFR §164.312(a)(2)(iii); addressable, so implemented per SEC-01): a family dies after
`idle_timeout` without a refresh and after `absolute_lifetime` in any case; both are configured per
practice in `SessionPolicy`. Access tokens are stateless and live at most `access_token_ttl` (<= 15 min
and <= idle timeout), so the effective logoff bound is idle_timeout + access_token_ttl.

Rotation returns `Rotated` or `Rejected`; a rejection may carry a newly revoked family that the app layer
must persist before raising `Rejected.error()` (the revocation must survive the failed request).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from uuid import UUID

from confide_chassis.errors import InvalidArgument, Unauthenticated, ValidationCollector
from confide_identity.domain.common import b64url, require_random_bytes, require_utc, sha256_hex

REFRESH_TOKEN_BYTES: Final = 32
ACCESS_TOKEN_MAX_TTL: Final = timedelta(minutes=15)

MIN_IDLE_TIMEOUT: Final = timedelta(minutes=5)
MAX_IDLE_TIMEOUT: Final = timedelta(hours=24)
MAX_ABSOLUTE_LIFETIME: Final = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Per-practice automatic-logoff settings (SEC-01: HIPAA sets no number; the practice chooses and
    documents one). Defaults: 30 minutes idle, 12 hours absolute."""

    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_lifetime: timedelta = timedelta(hours=12)

    def __post_init__(self) -> None:
        errors = ValidationCollector()
        errors.require(
            MIN_IDLE_TIMEOUT <= self.idle_timeout <= MAX_IDLE_TIMEOUT,
            "session_policy.idle_timeout",
            f"must be between {MIN_IDLE_TIMEOUT} and {MAX_IDLE_TIMEOUT}",
        )
        errors.require(
            self.idle_timeout <= self.absolute_lifetime <= MAX_ABSOLUTE_LIFETIME,
            "session_policy.absolute_lifetime",
            f"must be between the idle timeout and {MAX_ABSOLUTE_LIFETIME}",
        )
        errors.raise_if_any()

    @property
    def access_token_ttl(self) -> timedelta:
        """Access tokens never outlive the idle timeout, and never exceed 15 minutes."""
        return min(ACCESS_TOKEN_MAX_TTL, self.idle_timeout)


def session_policy(*, idle_timeout_seconds: int, absolute_lifetime_seconds: int) -> SessionPolicy:
    """Build from wire values; bad values raise `InvalidArgument` with `session_policy.*` field paths."""
    try:
        return SessionPolicy(
            idle_timeout=timedelta(seconds=idle_timeout_seconds),
            absolute_lifetime=timedelta(seconds=absolute_lifetime_seconds),
        )
    except OverflowError as exc:
        raise InvalidArgument.field("session_policy", "value out of range") from exc


class RevocationReason(StrEnum):
    SIGN_OUT = "sign_out"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
    REUSE_DETECTED = "reuse_detected"
    IDLE_TIMEOUT = "idle_timeout"
    ABSOLUTE_TIMEOUT = "absolute_timeout"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason code, not a secret
    MFA_CHANGED = "mfa_changed"
    USER_DEACTIVATED = "user_deactivated"
    ADMIN = "admin"


class RejectReason(StrEnum):
    UNKNOWN_TOKEN = "unknown_token"  # noqa: S105 - a reason code, not a secret
    REUSE_DETECTED = "reuse_detected"
    REVOKED = "revoked"
    IDLE_TIMEOUT = "idle_timeout"
    ABSOLUTE_TIMEOUT = "absolute_timeout"


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token_hash: str
    generation: int
    issued_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RefreshTokenFamily:
    family_id: UUID
    user_id: UUID
    practice_id: UUID
    mfa: bool
    """Whether the sign-in that started the family passed MFA; carried into every access token."""
    created_at: datetime
    last_used_at: datetime
    tokens: tuple[RefreshToken, ...]
    revoked_at: datetime | None = None
    revoked_reason: RevocationReason | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def current(self) -> RefreshToken:
        return self.tokens[-1]

    def idle_expires_at(self, policy: SessionPolicy) -> datetime:
        return self.last_used_at + policy.idle_timeout

    def absolute_expires_at(self, policy: SessionPolicy) -> datetime:
        return self.created_at + policy.absolute_lifetime

    def expires_at(self, policy: SessionPolicy) -> datetime:
        """When the current refresh token stops working if not used (for cookie/response expiry)."""
        return min(self.idle_expires_at(policy), self.absolute_expires_at(policy))

    def is_active(self, *, now: datetime, policy: SessionPolicy) -> bool:
        require_utc(now)
        return not self.revoked and now < self.expires_at(policy)

    def find(self, token_hash: str) -> RefreshToken | None:
        return next((token for token in self.tokens if token.token_hash == token_hash), None)


@dataclass(frozen=True, slots=True)
class NewSession:
    family: RefreshTokenFamily
    refresh_token: str
    """Plaintext: return to the client once, never store or log."""


@dataclass(frozen=True, slots=True)
class Rotated:
    family: RefreshTokenFamily
    refresh_token: str


@dataclass(frozen=True, slots=True)
class Rejected:
    family: RefreshTokenFamily | None
    """The family after the attempt (possibly just revoked): persist it when `family_changed`."""
    reason: RejectReason
    family_changed: bool

    def error(self) -> Unauthenticated:
        return invalid_refresh_token_error()


RotationOutcome = Rotated | Rejected


def invalid_refresh_token_error() -> Unauthenticated:
    return Unauthenticated("the session has ended; sign in again")


def hash_refresh_token(token: str) -> str:
    return sha256_hex(token)


def _new_token(random_bytes: bytes, generation: int, now: datetime) -> tuple[str, RefreshToken]:
    require_random_bytes(random_bytes, REFRESH_TOKEN_BYTES)
    plaintext = b64url(random_bytes[:REFRESH_TOKEN_BYTES])
    return plaintext, RefreshToken(
        token_hash=hash_refresh_token(plaintext), generation=generation, issued_at=now
    )


def start_session(
    *, family_id: UUID, user_id: UUID, practice_id: UUID, mfa: bool, random_bytes: bytes, now: datetime
) -> NewSession:
    """A new family for a successful sign-in, with its first refresh token."""
    require_utc(now)
    plaintext, token = _new_token(random_bytes, 0, now)
    family = RefreshTokenFamily(
        family_id=family_id,
        user_id=user_id,
        practice_id=practice_id,
        mfa=mfa,
        created_at=now,
        last_used_at=now,
        tokens=(token,),
    )
    return NewSession(family=family, refresh_token=plaintext)


def revoke_family(
    family: RefreshTokenFamily, *, reason: RevocationReason, now: datetime
) -> RefreshTokenFamily:
    """Sign-out of one session (idempotent: an already revoked family keeps its first reason)."""
    require_utc(now)
    if family.revoked:
        return family
    return replace(family, revoked_at=now, revoked_reason=reason)


def revoke_all(
    families: Iterable[RefreshTokenFamily],
    *,
    reason: RevocationReason = RevocationReason.SIGN_OUT_EVERYWHERE,
    now: datetime,
) -> tuple[RefreshTokenFamily, ...]:
    """Sign out everywhere: revoke every family of the user (pass them all; returns the changed ones).

    Access tokens already issued stay valid until they expire (<= 15 min): they are verified offline.
    """
    return tuple(revoke_family(family, reason=reason, now=now) for family in families if not family.revoked)


def rotate_refresh_token(
    family: RefreshTokenFamily | None,
    presented: str,
    *,
    random_bytes: bytes,
    now: datetime,
    policy: SessionPolicy,
) -> RotationOutcome:
    """Exchange `presented` for a new refresh token of the same family.

    `family` is the family the app found by `hash_refresh_token(presented)` (None when nothing matched).
    """
    require_utc(now)
    if family is None:
        return Rejected(family=None, reason=RejectReason.UNKNOWN_TOKEN, family_changed=False)
    token = family.find(hash_refresh_token(presented))
    if token is None:
        return Rejected(family=family, reason=RejectReason.UNKNOWN_TOKEN, family_changed=False)
    if family.revoked:
        return Rejected(family=family, reason=RejectReason.REVOKED, family_changed=False)
    if token.used_at is not None or token.generation != family.current.generation:
        revoked = revoke_family(family, reason=RevocationReason.REUSE_DETECTED, now=now)
        return Rejected(family=revoked, reason=RejectReason.REUSE_DETECTED, family_changed=True)
    if now >= family.absolute_expires_at(policy):
        revoked = revoke_family(family, reason=RevocationReason.ABSOLUTE_TIMEOUT, now=now)
        return Rejected(family=revoked, reason=RejectReason.ABSOLUTE_TIMEOUT, family_changed=True)
    if now >= family.idle_expires_at(policy):
        revoked = revoke_family(family, reason=RevocationReason.IDLE_TIMEOUT, now=now)
        return Rejected(family=revoked, reason=RejectReason.IDLE_TIMEOUT, family_changed=True)

    plaintext, new_token = _new_token(random_bytes, token.generation + 1, now)
    tokens = (*family.tokens[:-1], replace(token, used_at=now), new_token)
    rotated = replace(family, tokens=tokens, last_used_at=now)
    return Rotated(family=rotated, refresh_token=plaintext)

"""Single-use, expiring tokens for e-mail verification and password reset.

The plaintext token (32 random bytes, base64url) is sent to the user once and never stored; the record keeps
only its SHA-256 (a high-entropy secret needs no slow hash). The app looks a record up by
`hash_token(presented)`, so a wrong token usually means "no record"; `check` treats every failure the same
way and raises one generic `Unauthenticated`, so callers learn nothing about why (or whether an account
exists). `token_status` gives the precise reason for logs and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from uuid import UUID

from confide_chassis.errors import Unauthenticated
from confide_identity.domain.common import (
    b64url,
    constant_time_equals,
    require_positive,
    require_random_bytes,
    require_utc,
    sha256_hex,
)

TOKEN_BYTES: Final = 32


class TokenPurpose(StrEnum):
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose name, not a secret


DEFAULT_TTL: Final[dict[TokenPurpose, timedelta]] = {
    TokenPurpose.EMAIL_VERIFICATION: timedelta(hours=24),
    TokenPurpose.PASSWORD_RESET: timedelta(minutes=30),
}


class TokenStatus(StrEnum):
    VALID = "valid"
    NOT_FOUND = "not_found"
    MISMATCH = "mismatch"
    WRONG_PURPOSE = "wrong_purpose"
    EXPIRED = "expired"
    USED = "used"


@dataclass(frozen=True, slots=True)
class OneTimeTokenRecord:
    user_id: UUID
    purpose: TokenPurpose
    token_hash: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    password_hash: str | None = None
    """IDN-AUTH-02: the password a self sign-up chose, set on the account when this verification token is
    used (None: the account keeps its password)."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    """Plaintext: deliver to the user, never store or log."""
    record: OneTimeTokenRecord


def hash_token(token: str) -> str:
    return sha256_hex(token)


def issue_one_time_token(
    *,
    user_id: UUID,
    purpose: TokenPurpose,
    random_bytes: bytes,
    now: datetime,
    ttl: timedelta | None = None,
    password_hash: str | None = None,
) -> IssuedToken:
    require_utc(now)
    require_random_bytes(random_bytes, TOKEN_BYTES)
    lifetime = DEFAULT_TTL[purpose] if ttl is None else ttl
    require_positive(lifetime, "ttl")
    token = b64url(random_bytes)
    record = OneTimeTokenRecord(
        user_id=user_id,
        purpose=purpose,
        token_hash=hash_token(token),
        issued_at=now,
        expires_at=now + lifetime,
        password_hash=password_hash,
    )
    return IssuedToken(token=token, record=record)


def token_status(
    record: OneTimeTokenRecord | None, presented: str, *, purpose: TokenPurpose, now: datetime
) -> TokenStatus:
    require_utc(now)
    if record is None:
        return TokenStatus.NOT_FOUND
    if not constant_time_equals(record.token_hash, hash_token(presented)):
        return TokenStatus.MISMATCH
    if record.purpose is not purpose:
        return TokenStatus.WRONG_PURPOSE
    if record.used_at is not None:
        return TokenStatus.USED
    if now >= record.expires_at:
        return TokenStatus.EXPIRED
    return TokenStatus.VALID


def invalid_token_error() -> Unauthenticated:
    return Unauthenticated("the link is invalid or has expired; request a new one")


def check_one_time_token(
    record: OneTimeTokenRecord | None, presented: str, *, purpose: TokenPurpose, now: datetime
) -> OneTimeTokenRecord:
    """Return the record when the token is valid now; otherwise raise a generic `Unauthenticated`."""
    if token_status(record, presented, purpose=purpose, now=now) is not TokenStatus.VALID or record is None:
        raise invalid_token_error()
    return record


def consume_one_time_token(
    record: OneTimeTokenRecord | None, presented: str, *, purpose: TokenPurpose, now: datetime
) -> OneTimeTokenRecord:
    """Check the token and return the record marked used (persist it in the same transaction)."""
    valid = check_one_time_token(record, presented, purpose=purpose, now=now)
    return replace(valid, used_at=now)

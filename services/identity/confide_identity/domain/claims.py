"""Access-token claims: what every service learns about the caller from a JWT.

Registered claims (RFC 7519): iss, sub, aud, iat, nbf, exp, jti; private claims: `practice` (tenant id),
`roles` (sorted role names), `mfa` (the session passed a second factor), `sid` (refresh-token family id,
so a service can correlate a session without a lookup). No PHI: no names, e-mail or date of birth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from confide_identity.domain.common import require_positive, require_utc
from confide_identity.domain.roles import Principal, Role, parse_roles
from confide_identity.domain.sessions import ACCESS_TOKEN_MAX_TTL

DEFAULT_ISSUER: Final = "confide-identity"
DEFAULT_AUDIENCE: Final = "confide"


class InvalidClaims(ValueError):
    """A JWT payload that does not have the shape of a Confide access token."""


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    subject_id: UUID
    practice_id: UUID
    roles: frozenset[Role]
    mfa: bool
    issued_at: datetime
    expires_at: datetime
    token_id: UUID
    issuer: str
    audience: str
    session_id: UUID | None = None

    def __post_init__(self) -> None:
        require_utc(self.issued_at, "issued_at")
        require_utc(self.expires_at, "expires_at")
        lifetime = self.expires_at - self.issued_at
        if not timedelta(0) < lifetime <= ACCESS_TOKEN_MAX_TTL:
            raise InvalidClaims("access tokens live more than 0 and at most 15 minutes")

    def principal(self) -> Principal:
        return Principal(
            subject_id=self.subject_id, practice_id=self.practice_id, roles=self.roles, mfa=self.mfa
        )

    def to_payload(self) -> dict[str, object]:
        """JSON payload for signing; NumericDate claims are whole seconds (RFC 7519 §2)."""
        payload: dict[str, object] = {
            "iss": self.issuer,
            "sub": str(self.subject_id),
            "aud": self.audience,
            "iat": int(self.issued_at.timestamp()),
            "nbf": int(self.issued_at.timestamp()),
            "exp": int(self.expires_at.timestamp()),
            "jti": str(self.token_id),
            "practice": str(self.practice_id),
            "roles": sorted(role.value for role in self.roles),
            "mfa": self.mfa,
        }
        if self.session_id is not None:
            payload["sid"] = str(self.session_id)
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, object]) -> AccessTokenClaims:
        """Parse a verified JWT payload; any missing or malformed claim raises `InvalidClaims`."""
        try:
            roles_raw = payload["roles"]
            if not isinstance(roles_raw, list) or not all(isinstance(role, str) for role in roles_raw):
                raise InvalidClaims("roles must be a list of strings")
            mfa = payload["mfa"]
            if not isinstance(mfa, bool):
                raise InvalidClaims("mfa must be a boolean")
            audience = payload["aud"]
            if isinstance(audience, list) and len(audience) == 1:
                audience = audience[0]
            if not isinstance(audience, str):
                raise InvalidClaims("aud must be a single string")
            sid = payload.get("sid")
            return cls(
                subject_id=UUID(str(payload["sub"])),
                practice_id=UUID(str(payload["practice"])),
                roles=parse_roles(roles_raw),
                mfa=mfa,
                issued_at=_numeric_date(payload["iat"]),
                expires_at=_numeric_date(payload["exp"]),
                token_id=UUID(str(payload["jti"])),
                issuer=str(payload["iss"]),
                audience=audience,
                session_id=None if sid is None else UUID(str(sid)),
            )
        except InvalidClaims:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidClaims(f"malformed access-token claims: {type(exc).__name__}") from exc


def _numeric_date(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidClaims("NumericDate claims must be numbers")
    return datetime.fromtimestamp(int(value), tz=UTC)


def build_access_claims(
    principal: Principal,
    *,
    now: datetime,
    token_id: UUID,
    ttl: timedelta = ACCESS_TOKEN_MAX_TTL,
    session_id: UUID | None = None,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
) -> AccessTokenClaims:
    """Claims for a new access token; `ttl` must be <= 15 minutes (pass `SessionPolicy.access_token_ttl`).

    `now` is truncated to whole seconds so that the signed token and these claims agree exactly.
    """
    require_utc(now)
    require_positive(ttl, "ttl")
    if ttl > ACCESS_TOKEN_MAX_TTL:
        raise ValueError("access-token ttl must be at most 15 minutes")
    issued_at = now.astimezone(UTC).replace(microsecond=0)
    lifetime = timedelta(seconds=max(1, int(ttl.total_seconds())))
    return AccessTokenClaims(
        subject_id=principal.subject_id,
        practice_id=principal.practice_id,
        roles=principal.roles,
        mfa=principal.mfa,
        issued_at=issued_at,
        expires_at=issued_at + lifetime,
        token_id=token_id,
        issuer=issuer,
        audience=audience,
        session_id=session_id,
    )

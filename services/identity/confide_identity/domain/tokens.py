"""Ed25519 JWT access tokens, JWKS documents and the signing-key rotation policy.

Pure-ish: keys are parameters, `now` is a parameter (PyJWT's own clock checks are switched off and
re-done here against `now`). Tokens carry `alg: EdDSA` (RFC 8037), `typ: at+jwt` (RFC 9068) and the `kid`
of the signing key; the kid is the key's RFC 7638 JWK thumbprint.

Rotation (IDN-KEY-01): a new key is added as *pending* and published in the JWKS at least `publish_lead`
before it becomes *active* (so every verifier's cached JWKS already knows it); when it activates, the
previous key is *retired* and stays published for `overlap` >= the access-token lifetime, so tokens it
signed keep verifying until they expire; then it is pruned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from confide_chassis.errors import AlreadyExists, FailedPrecondition, RuleViolation, Unauthenticated
from confide_identity.domain.claims import AccessTokenClaims, InvalidClaims
from confide_identity.domain.common import b64url, b64url_decode, require_positive, require_utc
from confide_identity.domain.rules import IDN_KEY_01
from confide_identity.domain.sessions import ACCESS_TOKEN_MAX_TTL

JWT_ALGORITHM: Final = "EdDSA"
JWT_TYPE: Final = "at+jwt"
DEFAULT_LEEWAY: Final = timedelta(seconds=30)
_REQUIRED_CLAIMS: Final = ["iss", "sub", "aud", "iat", "exp", "jti", "practice", "roles", "mfa"]


# --- keys and JWKS -----------------------------------------------------------------------------------


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def jwk_thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of the key's required JWK members: our `kid`."""
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw_public_key(public_key))},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private signing key and its kid. Hold it in the key store/KMS adapter; never log it."""

    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        return cls(kid=jwk_thumbprint(private_key.public_key()), private_key=private_key)

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """Deterministic key from 32 random bytes (the caller draws them)."""
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is exactly 32 bytes")
        return cls.from_private_key(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


def public_jwk(kid: str, public_key: Ed25519PublicKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(raw_public_key(public_key)),
        "kid": kid,
        "use": "sig",
        "alg": JWT_ALGORITHM,
    }


def build_jwks(keys: Iterable[tuple[str, Ed25519PublicKey]]) -> dict[str, list[dict[str, str]]]:
    """A JWKS document (RFC 7517 §5) from (kid, public key) pairs, sorted by kid for stable output."""
    return {"keys": [public_jwk(kid, key) for kid, key in sorted(keys, key=lambda pair: pair[0])]}


def parse_jwks(document: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Ed25519 signing keys of a JWKS document by kid; other key types are ignored.

    Raises `ValueError` for a malformed document or key (configuration error, not a caller error).
    """
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list):
        raise ValueError("a JWKS document has a 'keys' list")
    keys: dict[str, Ed25519PublicKey] = {}
    for raw in raw_keys:
        if not isinstance(raw, Mapping):
            raise ValueError("every JWKS entry is an object")
        if raw.get("kty") != "OKP" or raw.get("crv") != "Ed25519" or raw.get("use", "sig") != "sig":
            continue
        kid, x = raw.get("kid"), raw.get("x")
        if not isinstance(kid, str) or not kid or not isinstance(x, str):
            raise ValueError("an Ed25519 JWK needs a 'kid' and an 'x'")
        if kid in keys:
            raise ValueError("duplicate kid in JWKS")
        keys[kid] = Ed25519PublicKey.from_public_bytes(b64url_decode(x))
    return keys


# --- signing and verification ------------------------------------------------------------------------


def sign_access_token(claims: AccessTokenClaims, key: SigningKey) -> str:
    return jwt.encode(
        claims.to_payload(),
        key.private_key,
        algorithm=JWT_ALGORITHM,
        headers={"kid": key.kid, "typ": JWT_TYPE},
    )


def _invalid_token(reason: str = "TOKEN_INVALID") -> Unauthenticated:
    return Unauthenticated("the access token is not valid", metadata={"reason": reason})


def verify_access_token(
    token: str,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    now: datetime,
    issuer: str,
    audience: str,
    leeway: timedelta = DEFAULT_LEEWAY,
) -> AccessTokenClaims:
    """Verify signature, kid, alg, typ, iss, aud, iat/nbf/exp (against `now`) and the claim shapes.

    `keys` is the verifier's JWKS by kid (`parse_jwks`). Any failure raises `Unauthenticated`;
    `metadata["reason"]` is `TOKEN_EXPIRED` for an expired token (the client should refresh) and
    `TOKEN_INVALID` otherwise.
    """
    require_utc(now)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _invalid_token() from exc
    kid = header.get("kid")
    if header.get("alg") != JWT_ALGORITHM or header.get("typ") != JWT_TYPE or not isinstance(kid, str):
        raise _invalid_token()
    public_key = keys.get(kid)
    if public_key is None:
        raise _invalid_token()
    try:
        payload = jwt.decode(
            token,
            public_key,
            algorithms=[JWT_ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "strict_aud": True,
                "require": list(_REQUIRED_CLAIMS),
            },
        )
        claims = AccessTokenClaims.from_payload(payload)
    except (jwt.PyJWTError, InvalidClaims) as exc:
        raise _invalid_token() from exc
    if claims.issued_at > now + leeway:
        raise _invalid_token()
    if now >= claims.expires_at + leeway:
        raise _invalid_token("TOKEN_EXPIRED")
    return claims


# --- key rotation ------------------------------------------------------------------------------------


class KeyState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class KeyRotationPolicy:
    rotate_every: timedelta = timedelta(days=30)
    overlap: timedelta = timedelta(hours=24)
    """How long a retired key stays in the JWKS; >= access-token TTL + leeway."""
    publish_lead: timedelta = timedelta(hours=1)
    """How long a pending key is published before it may sign; >= the verifiers' JWKS cache TTL."""

    def __post_init__(self) -> None:
        require_positive(self.rotate_every, "rotate_every")
        require_positive(self.publish_lead, "publish_lead")
        if self.overlap < ACCESS_TOKEN_MAX_TTL + DEFAULT_LEEWAY:
            raise ValueError("key overlap must be at least the access-token lifetime plus leeway")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """Public metadata of a signing key (the private half lives in the key store)."""

    kid: str
    public_key: Ed25519PublicKey
    created_at: datetime
    activated_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def state(self) -> KeyState:
        if self.retired_at is not None:
            return KeyState.RETIRED
        if self.activated_at is not None:
            return KeyState.ACTIVE
        return KeyState.PENDING

    @classmethod
    def for_signing_key(cls, key: SigningKey, *, created_at: datetime) -> KeyRecord:
        return cls(kid=key.kid, public_key=key.public_key, created_at=require_utc(created_at, "created_at"))


def _key_rule(description: str) -> FailedPrecondition:
    return FailedPrecondition(RuleViolation(IDN_KEY_01, description))


@dataclass(frozen=True, slots=True)
class KeyRing:
    keys: tuple[KeyRecord, ...] = ()

    def get(self, kid: str) -> KeyRecord | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def active(self) -> KeyRecord | None:
        return next((key for key in self.keys if key.state is KeyState.ACTIVE), None)

    def add_pending(self, record: KeyRecord) -> KeyRing:
        if self.get(record.kid) is not None:
            raise AlreadyExists("a signing key with this kid exists")
        if record.state is not KeyState.PENDING:
            raise ValueError("new keys join the ring as pending")
        return replace(self, keys=(*self.keys, record))

    def activate(self, kid: str, *, now: datetime, policy: KeyRotationPolicy) -> KeyRing:
        """Make a pending key the signing key and retire the previous one.

        The very first key of an empty ring may activate at once (nothing to verify yet); later keys must
        have been published for `publish_lead` first.
        """
        require_utc(now)
        record = self.get(kid)
        if record is None or record.state is not KeyState.PENDING:
            raise _key_rule("only a pending key can be activated")
        current = self.active()
        if current is not None and now < record.created_at + policy.publish_lead:
            raise _key_rule("the key has not been published in the JWKS long enough to start signing")
        keys = tuple(
            replace(key, activated_at=now)
            if key.kid == kid
            else replace(key, retired_at=now)
            if current is not None and key.kid == current.kid
            else key
            for key in self.keys
        )
        return replace(self, keys=keys)

    def rotation_due(self, *, now: datetime, policy: KeyRotationPolicy) -> bool:
        require_utc(now)
        current = self.active()
        if current is None or current.activated_at is None:
            return True
        return now >= current.activated_at + policy.rotate_every

    def _published(self, key: KeyRecord, now: datetime, policy: KeyRotationPolicy) -> bool:
        return key.retired_at is None or now < key.retired_at + policy.overlap

    def published(self, *, now: datetime, policy: KeyRotationPolicy) -> tuple[KeyRecord, ...]:
        """Keys in the JWKS now: pending, active, and retired ones still inside the overlap."""
        require_utc(now)
        return tuple(key for key in self.keys if self._published(key, now, policy))

    def prune(self, *, now: datetime, policy: KeyRotationPolicy) -> KeyRing:
        """Drop retired keys whose overlap has passed (delete their private halves too)."""
        return replace(self, keys=self.published(now=now, policy=policy))

    def jwks(self, *, now: datetime, policy: KeyRotationPolicy) -> dict[str, list[dict[str, str]]]:
        return build_jwks((key.kid, key.public_key) for key in self.published(now=now, policy=policy))

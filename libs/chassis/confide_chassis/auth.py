"""Who is calling: access-token verification against a JWKS, and the principal of the current call.

identity signs short-lived Ed25519 (EdDSA) JWTs; every service verifies them locally. Keys come from
a JWKS file (dev stack, tests) or URL, reloaded when they change, so key rotation needs no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import jwt
from google.protobuf.descriptor import MethodDescriptor

from confide.common.v1 import access_pb2
from confide_chassis.errors import PermissionDenied, Unauthenticated
from confide_chassis.roles import role_name

if TYPE_CHECKING:
    from confide_chassis.revocation import Revocations


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    practice_id: str
    roles: frozenset[str]
    mfa: bool
    token_id: str = ""
    expires_at: datetime | None = None
    issued_at: datetime | None = None

    def has_any_role(self, roles: Iterable[str]) -> bool:
        return not self.roles.isdisjoint(roles)


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call an RPC. Every RPC declares one; an RPC without a declaration is denied."""

    public: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    require_mfa: bool = False
    # Served to browsers by the gateway (the proto option's `gateway`); no effect on the check.
    gateway: bool = False

    @classmethod
    def from_rule(cls, rule: access_pb2.AccessRule) -> Access:
        """The access rule a proto declares with `option (confide.common.v1.access)`."""
        return cls(
            public=rule.public,
            roles=frozenset(role_name(r) for r in rule.roles),
            require_mfa=rule.require_mfa,
            gateway=rule.gateway,
        )

    @classmethod
    def of_method(cls, method: MethodDescriptor) -> Access | None:
        """The declared access of an RPC, or None when it declares none (then nobody may call it)."""
        options = method.GetOptions()
        if not options.HasExtension(access_pb2.access):
            return None
        return cls.from_rule(options.Extensions[access_pb2.access])

    def check(self, principal: Principal | None) -> None:
        if self.public:
            return
        if principal is None:
            raise Unauthenticated("a valid access token is required")
        if self.roles and not principal.has_any_role(self.roles):
            raise PermissionDenied("the caller's role may not use this operation")
        if self.require_mfa and not principal.mfa:
            raise PermissionDenied("this operation requires multi-factor authentication")


PUBLIC = Access(public=True)


def allow(*roles: str, mfa: bool = False) -> Access:
    """Any authenticated caller when no role is named; else callers holding one of `roles`."""
    return Access(roles=frozenset(roles), require_mfa=mfa)


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("confide_principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("a valid access token is required")
    return principal


def optional_principal() -> Principal | None:
    return _current.get()


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)


class JwksSource(Protocol):
    def keys(self) -> Mapping[str, Any]:
        """kid → public key object."""
        ...


def _parse_jwks(document: Mapping[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for jwk in document.get("keys", []):
        kid = jwk.get("kid")
        if not kid:
            continue
        keys[str(kid)] = jwt.PyJWK.from_dict(dict(jwk)).key
    return keys


class FileJwks:
    """JWKS from a file, re-read when its modification time changes (rotation without restart)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        self._mtime: float | None = None
        self._keys: dict[str, Any] = {}

    def keys(self) -> Mapping[str, Any]:
        try:
            mtime = os.stat(self._path).st_mtime
        except OSError:
            return self._keys
        if mtime != self._mtime:
            with open(self._path, encoding="utf-8") as fh:
                self._keys = _parse_jwks(json.load(fh))
            self._mtime = mtime
        return self._keys


class UrlJwks:
    """JWKS over HTTP(S), refreshed in the background (`run`) every `ttl_seconds`.

    `keys()` never blocks the event loop: it returns the last good copy (a failed fetch keeps it).
    The fetch itself is blocking `urllib`, so it runs in a worker thread.
    """

    def __init__(self, url: str, ttl_seconds: float = 300.0, timeout_seconds: float = 3.0) -> None:
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("JWKS_URL must be https (or loopback http for development)")
        self._url = url
        self._ttl = ttl_seconds
        self._timeout = timeout_seconds
        self._keys: dict[str, Any] = {}
        self._document: bytes | None = None

    def keys(self) -> Mapping[str, Any]:
        return self._keys

    def _fetch(self) -> bytes:
        with urllib.request.urlopen(self._url, timeout=self._timeout) as resp:  # noqa: S310 - scheme checked
            body: bytes = resp.read()
        return body

    async def refresh(self) -> None:
        document = await asyncio.to_thread(self._fetch)
        if document != self._document:  # unchanged keys keep their identity: verdicts stay remembered
            self._keys = _parse_jwks(json.loads(document))
            self._document = document

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
                wait = self._ttl
            except Exception:  # server down or a bad document: keep the old keys, retry soon
                wait = 2.0 if not self._keys else min(self._ttl, 10.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)


GET_JWKS_METHOD = "/confide.identity.v1.AuthService/GetJwks"


class GrpcJwks:
    """JWKS from identity's `AuthService/GetJwks`, refreshed in the background (`run`).

    `keys()` never blocks the event loop: it returns the last good copy. GetJwksResponse has the
    JWKS JSON as field 1, the wire shape of `google.protobuf.StringValue`, so the chassis does not
    depend on identity's generated code.
    """

    def __init__(self, target: str, refresh_seconds: float = 60.0) -> None:
        self._target = target
        self._refresh = refresh_seconds
        self._keys: dict[str, Any] = {}
        self._document: str | None = None

    def keys(self) -> Mapping[str, Any]:
        return self._keys

    async def refresh(self) -> None:
        import grpc
        from google.protobuf.wrappers_pb2 import StringValue

        async with grpc.aio.insecure_channel(self._target) as channel:
            call: Any = channel.unary_unary(
                GET_JWKS_METHOD,
                request_serializer=lambda _: b"",
                response_deserializer=StringValue.FromString,
            )
            reply = await call(None, timeout=3)
        if reply.value != self._document:  # unchanged keys keep their identity: verdicts stay remembered
            self._keys = _parse_jwks(json.loads(reply.value))
            self._document = reply.value

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
                wait = self._refresh
            except Exception:  # identity restarting: keep the old keys, retry soon
                wait = 2.0 if not self._keys else min(self._refresh, 10.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)


class StaticJwks:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self._keys = _parse_jwks(document)

    def keys(self) -> Mapping[str, Any]:
        return self._keys


class NoJwks:
    def keys(self) -> Mapping[str, Any]:
        return {}


class TokenVerifier:
    """Verifies access tokens; remembers recent verdicts so a client's next call skips the signature check.

    The memory is keyed by the exact token text and forgotten at the token's expiry, as soon as the
    key set changes (rotation or revocation of a key), or when its subject is deactivated, so it never
    accepts what a fresh check refuses.

    Tokens may live at most `max_lifetime_seconds` (identity issues ≤ 15 min): revocation relies on it,
    since it remembers a deactivation only as long as a token issued before it can live.
    """

    CACHE_SIZE = 4096
    MAX_LIFETIME_SECONDS = 900

    def __init__(
        self,
        source: JwksSource,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
        max_lifetime_seconds: int = MAX_LIFETIME_SECONDS,
    ) -> None:
        self.source = source
        self._source = source
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._verified: dict[str, Principal] = {}
        self._keys_seen: Mapping[str, Any] | None = None
        self._revocations: Revocations | None = None

    @property
    def leeway(self) -> timedelta:
        return timedelta(seconds=self._leeway)

    @property
    def max_lifetime(self) -> timedelta:
        return timedelta(seconds=self._max_lifetime)

    def use_revocations(self, revocations: Revocations) -> None:
        """Refuse tokens of deactivated users (see `confide_chassis.revocation`)."""
        self._revocations = revocations
        revocations.on_revoke(self.forget_subject)

    def forget_subject(self, subject: str) -> None:
        for token in [t for t, p in self._verified.items() if p.subject == subject]:
            del self._verified[token]

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; Unauthenticated (with no detail that helps forgery) otherwise."""
        principal = self._verify(token)
        revocations = self._revocations
        if revocations is not None and revocations.refuses(principal.subject, principal.issued_at):
            raise Unauthenticated("the account is not active")
        return principal

    def _verify(self, token: str) -> Principal:
        keys = self._source.keys()
        if keys is not self._keys_seen:
            self._verified.clear()
            self._keys_seen = keys
        cached = self._verified.get(token)
        if cached is not None and cached.expires_at is not None:
            if cached.expires_at.timestamp() + self._leeway > time.time():
                return cached
            del self._verified[token]
        principal = self._verify_signature(token, keys)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # oldest first: dicts keep insertion order
        self._verified[token] = principal
        return principal

    def _verify_signature(self, token: str, keys: Mapping[str, Any]) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid access token") from exc
        key = keys.get(str(header.get("kid", "")))
        if key is None or header.get("alg") != "EdDSA":
            raise Unauthenticated("invalid access token")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["EdDSA"],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("access token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid access token") from exc
        roles = claims.get("roles", [])
        practice = claims.get("practice")
        if not isinstance(roles, list) or not isinstance(practice, str) or not practice:
            raise Unauthenticated("invalid access token")
        issued_at, expires_at = int(claims["iat"]), int(claims["exp"])
        if expires_at - issued_at > self._max_lifetime:
            raise Unauthenticated("invalid access token")
        return Principal(
            subject=str(claims["sub"]),
            practice_id=practice,
            roles=frozenset(str(r) for r in roles),
            mfa=bool(claims.get("mfa", False)),
            token_id=str(claims.get("jti", "")),
            expires_at=datetime.fromtimestamp(expires_at, UTC),
            issued_at=datetime.fromtimestamp(issued_at, UTC),
        )


def verifier_from_settings(
    jwks_file: str | None,
    jwks_url: str | None,
    issuer: str,
    audience: str,
    jwks_grpc_target: str | None = None,
    max_lifetime_seconds: int = TokenVerifier.MAX_LIFETIME_SECONDS,
) -> TokenVerifier:
    source: JwksSource
    if jwks_grpc_target:
        source = GrpcJwks(jwks_grpc_target)
    elif jwks_file:
        source = FileJwks(jwks_file)
    elif jwks_url:
        source = UrlJwks(jwks_url)
    else:
        source = NoJwks()
    return TokenVerifier(source, issuer=issuer, audience=audience, max_lifetime_seconds=max_lifetime_seconds)

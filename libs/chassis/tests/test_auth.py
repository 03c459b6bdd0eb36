"""Access tokens are verified locally against the JWKS; RPC access is denied by default."""

import asyncio
import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confide_chassis import errors
from confide_chassis.auth import PUBLIC, FileJwks, StaticJwks, TokenVerifier, UrlJwks, allow
from confide_chassis.revocation import Revocations


def _jwk(key: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    document.update(kid=kid, use="sig", alg="EdDSA")
    return document


def _token(key: Ed25519PrivateKey, kid: str, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "user-1",
        "practice": "practice-1",
        "roles": ["clinician"],
        "mfa": True,
        "iat": now,
        "exp": now + 600,
        "iss": "confide-identity",
        "aud": "confide",
        "jti": "t-1",
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def verifier(key: Ed25519PrivateKey) -> TokenVerifier:
    return TokenVerifier(
        StaticJwks({"keys": [_jwk(key, "k1")]}), issuer="confide-identity", audience="confide"
    )


def test_valid_token_yields_principal(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    principal = verifier.verify(_token(key, "k1"))
    assert principal.subject == "user-1"
    assert principal.practice_id == "practice-1"
    assert principal.roles == frozenset({"clinician"})
    assert principal.mfa is True


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 3600},
        {"aud": "someone-else"},
        {"iss": "attacker"},
        {"practice": ""},
        {"roles": "admin"},
    ],
)
def test_bad_claims_are_rejected(
    key: Ed25519PrivateKey, verifier: TokenVerifier, overrides: dict[str, Any]
) -> None:
    with pytest.raises(errors.Unauthenticated):
        verifier.verify(_token(key, "k1", **overrides))


def test_token_signed_by_unknown_key_is_rejected(verifier: TokenVerifier) -> None:
    other = Ed25519PrivateKey.generate()
    with pytest.raises(errors.Unauthenticated):
        verifier.verify(_token(other, "k1"))
    with pytest.raises(errors.Unauthenticated):
        verifier.verify(_token(other, "unknown-kid"))


def test_non_eddsa_token_is_rejected(verifier: TokenVerifier) -> None:
    forged = jwt.encode(
        {"sub": "x"}, "an-hmac-secret-that-is-long-enough-32b", algorithm="HS256", headers={"kid": "k1"}
    )
    with pytest.raises(errors.Unauthenticated):
        verifier.verify(forged)
    with pytest.raises(errors.Unauthenticated):
        verifier.verify("not-a-jwt")


def test_file_jwks_picks_up_rotated_keys(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(key, "k1")]}))
    verifier = TokenVerifier(FileJwks(path), issuer="confide-identity", audience="confide")
    assert verifier.verify(_token(key, "k1")).subject == "user-1"

    new_key = Ed25519PrivateKey.generate()
    path.write_text(json.dumps({"keys": [_jwk(key, "k1"), _jwk(new_key, "k2")]}))
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert verifier.verify(_token(new_key, "k2")).subject == "user-1"
    assert verifier.verify(_token(key, "k1")).subject == "user-1"  # overlap: old key still valid


def test_access_rules(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    clinician = verifier.verify(_token(key, "k1"))
    no_mfa = verifier.verify(_token(key, "k1", mfa=False))
    PUBLIC.check(None)
    allow().check(clinician)
    allow("clinician", mfa=True).check(clinician)
    with pytest.raises(errors.Unauthenticated):
        allow().check(None)
    with pytest.raises(errors.PermissionDenied):
        allow("practice_admin").check(clinician)
    with pytest.raises(errors.PermissionDenied):
        allow("clinician", mfa=True).check(no_mfa)


async def test_grpc_jwks_fetches_keys_from_identity(key: Ed25519PrivateKey) -> None:
    """Services verify tokens with the keys identity publishes over AuthService/GetJwks."""
    import grpc
    from google.protobuf.wrappers_pb2 import StringValue

    from confide_chassis.auth import GET_JWKS_METHOD, GrpcJwks

    document = json.dumps({"keys": [_jwk(key, "k1")]})

    async def get_jwks(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return StringValue(value=document).SerializeToString()

    service, method = GET_JWKS_METHOD.strip("/").split("/")
    handler = grpc.method_handlers_generic_handler(
        service, {method: grpc.unary_unary_rpc_method_handler(get_jwks)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        source = GrpcJwks(f"127.0.0.1:{port}")
        verifier = TokenVerifier(source, issuer="confide-identity", audience="confide")
        with pytest.raises(errors.Unauthenticated):
            verifier.verify(_token(key, "k1"))  # nothing fetched yet: fail closed
        await source.refresh()
        assert verifier.verify(_token(key, "k1")).subject == "user-1"
        keys = source.keys()
        await source.refresh()  # same document: same key set, remembered verdicts survive
        assert source.keys() is keys
    finally:
        await server.stop(0)


def test_a_remembered_token_is_refused_once_its_key_is_withdrawn(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(key, "k1")]}))
    verifier = TokenVerifier(FileJwks(path), issuer="confide-identity", audience="confide")
    token = _token(key, "k1")
    assert verifier.verify(token).subject == "user-1"
    assert verifier.verify(token).subject == "user-1"  # second time from memory

    path.write_text(json.dumps({"keys": []}))  # the key is revoked
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    with pytest.raises(errors.Unauthenticated):
        verifier.verify(token)


def test_a_remembered_token_still_expires(key: Ed25519PrivateKey) -> None:
    strict = TokenVerifier(
        StaticJwks({"keys": [_jwk(key, "k1")]}),
        issuer="confide-identity",
        audience="confide",
        leeway_seconds=0,
    )
    token = _token(key, "k1", exp=int(time.time()) + 1)
    assert strict.verify(token).subject == "user-1"
    time.sleep(1.5)
    with pytest.raises(errors.Unauthenticated):
        strict.verify(token)


def test_a_token_living_longer_than_the_maximum_lifetime_is_refused(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    """Revocation remembers a deactivation only as long as a token can live, so none may live longer."""
    now = int(time.time())
    assert verifier.verify(_token(key, "k1", iat=now, exp=now + 900)).subject == "user-1"
    with pytest.raises(errors.Unauthenticated):
        verifier.verify(_token(key, "k1", iat=now, exp=now + 901))


def _revocations(verifier: TokenVerifier) -> Revocations:
    revocations = Revocations(max_token_lifetime=verifier.max_lifetime, leeway=verifier.leeway)
    verifier.use_revocations(revocations)
    return revocations


def test_a_deactivated_users_earlier_tokens_are_refused_even_when_remembered(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    revocations = _revocations(verifier)
    token = _token(key, "k1", iat=int(time.time()) - 60)
    other = _token(key, "k1", sub="user-2", iat=int(time.time()) - 60)
    assert verifier.verify(token).subject == "user-1"  # remembered from now on
    revocations.revoke("user-1", datetime.now(UTC))
    with pytest.raises(errors.Unauthenticated, match="not active"):
        verifier.verify(token)
    assert verifier.verify(other).subject == "user-2"


def test_a_token_issued_after_the_deactivation_is_accepted(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    """A reactivated user signs in again: the new token (issued after the deactivation plus the clock
    margin) is valid; the old ones stay refused."""
    revocations = _revocations(verifier)
    now = int(time.time())
    deactivated_at = datetime.fromtimestamp(now - 120, UTC)
    revocations.revoke("user-1", deactivated_at)
    before = _token(key, "k1", iat=now - 121, exp=now + 600)
    within_margin = _token(key, "k1", iat=now - 120 + 30, exp=now + 600)
    after = _token(key, "k1", iat=now, exp=now + 600)
    for refused in (before, within_margin):
        with pytest.raises(errors.Unauthenticated):
            verifier.verify(refused)
    assert verifier.verify(after).subject == "user-1"


def test_deactivations_are_forgotten_once_every_earlier_token_has_expired() -> None:
    revocations = Revocations(max_token_lifetime=timedelta(minutes=15), leeway=timedelta(seconds=30))
    now = datetime.now(UTC)
    revocations.revoke("old", now - timedelta(minutes=16, seconds=1))
    revocations.revoke("recent", now - timedelta(minutes=15))
    revocations.prune(now)
    assert not revocations.refuses("old", None)
    assert revocations.refuses("recent", now - timedelta(minutes=16))


class _SlowJwksHandler(http.server.BaseHTTPRequestHandler):
    document = b""
    delay = 0.0
    status = 200

    def do_GET(self) -> None:
        time.sleep(type(self).delay)
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).document)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, type[_SlowJwksHandler]]]:
    handler = type("Handler", (_SlowJwksHandler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_url_jwks_fetches_in_the_background_without_blocking_the_event_loop(
    key: Ed25519PrivateKey, jwks_server: tuple[str, type[_SlowJwksHandler]]
) -> None:
    url, handler = jwks_server
    handler.document = json.dumps({"keys": [_jwk(key, "k1")]}).encode()
    handler.delay = 1.0
    source = UrlJwks(url, ttl_seconds=0.1)
    verifier = TokenVerifier(source, issuer="confide-identity", audience="confide")
    stop = asyncio.Event()
    refresher = asyncio.create_task(source.run(stop))

    # While the server takes a second to answer, the loop keeps ticking and verification answers at
    # once from the (still empty) copy: fail closed, never stall.
    largest_gap = 0.0
    last = time.monotonic()
    deadline = last + 10
    while not source.keys() and last < deadline:
        await asyncio.sleep(0.01)
        now = time.monotonic()
        largest_gap, last = max(largest_gap, now - last), now
        if not source.keys():
            with pytest.raises(errors.Unauthenticated):
                verifier.verify(_token(key, "k1"))
    assert largest_gap < 0.3
    assert verifier.verify(_token(key, "k1")).subject == "user-1"

    # The server fails from now on: the last good copy stays in use.
    handler.status, handler.document, handler.delay = 500, b"oops", 0.0
    await asyncio.sleep(0.5)
    assert verifier.verify(_token(key, "k1")).subject == "user-1"
    stop.set()
    await asyncio.wait_for(refresher, 5)

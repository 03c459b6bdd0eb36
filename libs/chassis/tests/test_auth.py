"""Access tokens are verified locally against the JWKS; RPC access is denied by default."""

import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confide_chassis import errors
from confide_chassis.auth import PUBLIC, FileJwks, StaticJwks, TokenVerifier, allow


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

"""Dev signing keys: created once, a JWKS that the chassis (PyJWT) accepts, tokens verify."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt

from confide_devstack.devkeys import DevKeys, ensure_dev_keys


def test_keys_are_created_once_and_reused(tmp_path: Path) -> None:
    first = ensure_dev_keys(tmp_path / "keys")
    pem = first.private_key_path.read_bytes()
    second = ensure_dev_keys(tmp_path / "keys")
    assert second == first
    assert second.private_key_path.read_bytes() == pem
    assert stat.S_IMODE(first.private_key_path.stat().st_mode) == 0o600
    private, jwks = first  # a plain (private_key_path, jwks_path) pair
    assert private.name.endswith(".pem")
    assert jwks.name == "jwks.json"


def test_missing_jwks_is_rebuilt_from_the_private_key(tmp_path: Path) -> None:
    keys = ensure_dev_keys(tmp_path)
    original = keys.jwks_path.read_text(encoding="utf-8")
    keys.jwks_path.unlink()
    assert ensure_dev_keys(tmp_path).jwks_path.read_text(encoding="utf-8") == original


def test_jwks_verifies_tokens_signed_with_the_private_key(tmp_path: Path) -> None:
    keys = ensure_dev_keys(tmp_path)
    document = json.loads(keys.jwks_path.read_text(encoding="utf-8"))
    (jwk,) = document["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert jwk["kid"] == keys.kid
    token = jwt.encode(
        {"sub": "u1", "aud": "confide", "iss": "confide-identity"},
        keys.private_key_pem(),
        algorithm="EdDSA",
        headers={"kid": keys.kid},
    )
    public = jwt.PyJWK.from_dict(jwk).key
    claims = jwt.decode(token, public, algorithms=["EdDSA"], audience="confide", issuer="confide-identity")
    assert claims["sub"] == "u1"
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]


def test_session_fixture_gives_usable_keys(dev_keys: DevKeys) -> None:
    assert dev_keys.private_key_path.is_file()
    assert dev_keys.jwks_path.is_file()
    assert ".run" in dev_keys.jwks_path.parts

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from confide_chassis.errors import FailedPrecondition, Unauthenticated
from confide_identity.domain.claims import AccessTokenClaims, InvalidClaims, build_access_claims
from confide_identity.domain.roles import Principal, Role
from confide_identity.domain.sessions import ACCESS_TOKEN_MAX_TTL
from confide_identity.domain.tokens import (
    KeyRecord,
    KeyRing,
    KeyRotationPolicy,
    KeyState,
    SigningKey,
    build_jwks,
    jwk_thumbprint,
    parse_jwks,
    sign_access_token,
    verify_access_token,
)

ISS, AUD = "confide-identity", "confide"
ROTATION = KeyRotationPolicy(
    rotate_every=timedelta(days=30), overlap=timedelta(hours=1), publish_lead=timedelta(hours=1)
)


@pytest.fixture
def principal() -> Principal:
    return Principal(subject_id=uuid4(), practice_id=uuid4(), roles=frozenset({Role.CLINICIAN}), mfa=True)


@pytest.fixture
def key(random_bytes: Callable[[int], bytes]) -> SigningKey:
    return SigningKey.from_seed(random_bytes(32))


def claims_for(
    principal: Principal, now: datetime, ttl: timedelta = ACCESS_TOKEN_MAX_TTL
) -> AccessTokenClaims:
    return build_access_claims(principal, now=now, token_id=uuid4(), ttl=ttl, session_id=uuid4())


def verify(token: str, keys: Mapping[str, Ed25519PublicKey], now: datetime) -> AccessTokenClaims:
    return verify_access_token(token, keys=keys, now=now, issuer=ISS, audience=AUD)


def test_claims_carry_subject_practice_roles_mfa_and_expire_within_15_minutes(
    principal: Principal, now: datetime
) -> None:
    claims = claims_for(principal, now)
    payload = claims.to_payload()
    assert payload["sub"] == str(principal.subject_id)
    assert payload["practice"] == str(principal.practice_id)
    assert payload["roles"] == ["clinician"]
    assert payload["mfa"] is True
    assert payload["iss"] == ISS
    assert payload["aud"] == AUD
    assert isinstance(payload["jti"], str)
    assert isinstance(payload["exp"], int)
    assert isinstance(payload["iat"], int)
    assert payload["exp"] - payload["iat"] <= 15 * 60
    assert claims.principal() == principal


@given(st.integers(min_value=1, max_value=15 * 60))
def test_any_allowed_ttl_gives_exp_at_most_15_minutes(seconds: int) -> None:
    now = datetime(2026, 3, 2, 12, 0, 0, 654321, tzinfo=UTC)
    principal = Principal(subject_id=uuid4(), practice_id=uuid4(), roles=frozenset({Role.CLIENT}), mfa=False)
    claims = build_access_claims(principal, now=now, token_id=uuid4(), ttl=timedelta(seconds=seconds))
    assert timedelta(0) < claims.expires_at - claims.issued_at <= timedelta(minutes=15)


def test_ttl_over_15_minutes_is_refused(principal: Principal, now: datetime) -> None:
    with pytest.raises(ValueError, match="15 minutes"):
        claims_for(principal, now, ttl=timedelta(minutes=16))
    with pytest.raises(InvalidClaims):
        AccessTokenClaims(
            subject_id=uuid4(),
            practice_id=uuid4(),
            roles=frozenset(),
            mfa=False,
            issued_at=now,
            expires_at=now + timedelta(hours=1),
            token_id=uuid4(),
            issuer=ISS,
            audience=AUD,
        )


def test_claims_contain_no_phi(principal: Principal, now: datetime) -> None:
    assert set(claims_for(principal, now).to_payload()) == {
        "iss", "sub", "aud", "iat", "nbf", "exp", "jti", "practice", "roles", "mfa", "sid",
    }  # fmt: skip


def test_ed25519_sign_verify_round_trip(principal: Principal, key: SigningKey, now: datetime) -> None:
    claims = claims_for(principal, now)
    token = sign_access_token(claims, key)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": key.kid, "typ": "at+jwt"}
    keys = parse_jwks(build_jwks([(key.kid, key.public_key)]))
    assert verify(token, keys, now + timedelta(minutes=5)) == claims


def test_expired_token_is_rejected_with_an_expiry_reason(
    principal: Principal, key: SigningKey, now: datetime
) -> None:
    token = sign_access_token(claims_for(principal, now), key)
    keys = {key.kid: key.public_key}
    verify(token, keys, now + timedelta(minutes=15, seconds=29))  # within the 30 s leeway
    with pytest.raises(Unauthenticated) as raised:
        verify(token, keys, now + timedelta(minutes=15, seconds=30))
    assert raised.value.metadata["reason"] == "TOKEN_EXPIRED"


def test_token_from_the_future_is_rejected(principal: Principal, key: SigningKey, now: datetime) -> None:
    token = sign_access_token(claims_for(principal, now + timedelta(minutes=5)), key)
    with pytest.raises(Unauthenticated):
        verify(token, {key.kid: key.public_key}, now)


def test_wrong_key_issuer_audience_and_tampering_are_rejected(
    principal: Principal, key: SigningKey, random_bytes: Callable[[int], bytes], now: datetime
) -> None:
    token = sign_access_token(claims_for(principal, now), key)
    other = SigningKey.from_seed(random_bytes(32))
    with pytest.raises(Unauthenticated):
        verify(token, {other.kid: other.public_key}, now)  # unknown kid
    with pytest.raises(Unauthenticated):
        verify(token, {key.kid: other.public_key}, now)  # right kid, wrong key
    with pytest.raises(Unauthenticated):
        verify_access_token(token, keys={key.kid: key.public_key}, now=now, issuer="evil", audience=AUD)
    with pytest.raises(Unauthenticated):
        verify_access_token(token, keys={key.kid: key.public_key}, now=now, issuer=ISS, audience="billing")

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["practice_admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated):
        verify(f"{header}.{forged}.{signature}", {key.kid: key.public_key}, now)
    with pytest.raises(Unauthenticated):
        verify("not.a.jwt", {key.kid: key.public_key}, now)


def test_other_algorithms_are_refused(principal: Principal, key: SigningKey, now: datetime) -> None:
    payload = claims_for(principal, now).to_payload()
    hs = jwt.encode(payload, "k" * 32, algorithm="HS256", headers={"kid": key.kid, "typ": "at+jwt"})
    with pytest.raises(Unauthenticated):
        verify(hs, {key.kid: key.public_key}, now)
    untyped = jwt.encode(payload, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})
    with pytest.raises(Unauthenticated):
        verify(untyped, {key.kid: key.public_key}, now)


def test_jwks_document_shape_and_kid_is_rfc_7638_thumbprint(key: SigningKey) -> None:
    document = build_jwks([(key.kid, key.public_key)])
    (jwk,) = document["keys"]
    assert jwk["kty"] == "OKP"
    assert jwk["crv"] == "Ed25519"
    assert jwk["alg"] == "EdDSA"
    assert jwk["use"] == "sig"
    assert jwk["kid"] == key.kid == jwk_thumbprint(key.public_key)
    assert "d" not in jwk  # never the private part
    assert jwt.PyJWK(jwk).key_id == key.kid  # a standard JWK library reads it


def test_rfc_8037_thumbprint_example() -> None:
    # RFC 8037 Appendix A.1/A.3: the Ed25519 test key and its JWK thumbprint
    seed = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    key = SigningKey.from_private_key(Ed25519PrivateKey.from_private_bytes(seed))
    assert key.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_jwks_parser_ignores_other_key_types_and_rejects_garbage(key: SigningKey) -> None:
    document = build_jwks([(key.kid, key.public_key)])
    document["keys"].append({"kty": "RSA", "kid": "rsa-1", "n": "x", "e": "AQAB"})
    assert list(parse_jwks(document)) == [key.kid]
    with pytest.raises(ValueError, match="keys"):
        parse_jwks({})
    with pytest.raises(ValueError, match="duplicate"):
        parse_jwks({"keys": [document["keys"][0], document["keys"][0]]})


def ring_with(key: SigningKey, at: datetime) -> KeyRing:
    ring = KeyRing().add_pending(KeyRecord.for_signing_key(key, created_at=at))
    return ring.activate(key.kid, now=at, policy=ROTATION)


def test_idn_key_01_rotated_key_still_verifies_within_overlap(
    principal: Principal, random_bytes: Callable[[int], bytes], now: datetime
) -> None:
    old = SigningKey.from_seed(random_bytes(32))
    new = SigningKey.from_seed(random_bytes(32))
    ring = ring_with(old, now - timedelta(days=31))
    assert ring.rotation_due(now=now, policy=ROTATION)

    token = sign_access_token(claims_for(principal, now), old)

    ring = ring.add_pending(KeyRecord.for_signing_key(new, created_at=now))
    assert {k["kid"] for k in ring.jwks(now=now, policy=ROTATION)["keys"]} == {
        old.kid,
        new.kid,
    }  # published early
    activation = now + timedelta(hours=1)
    ring = ring.activate(new.kid, now=activation, policy=ROTATION)
    active = ring.active()
    assert active is not None
    assert active.kid == new.kid
    retired = ring.get(old.kid)
    assert retired is not None
    assert retired.state is KeyState.RETIRED
    assert not ring.rotation_due(now=activation, policy=ROTATION)

    # old token, signed before the rotation, verifies against the JWKS published within the overlap
    within = activation + timedelta(minutes=59)
    keys = parse_jwks(ring.jwks(now=within, policy=ROTATION))
    verify(token, keys, now + timedelta(minutes=10))
    assert {old.kid, new.kid} <= set(keys)

    # after the overlap the retired key is gone from the JWKS and is pruned
    after = activation + timedelta(hours=1)
    assert [k["kid"] for k in ring.jwks(now=after, policy=ROTATION)["keys"]] == [new.kid]
    assert ring.prune(now=after, policy=ROTATION).get(old.kid) is None
    with pytest.raises(Unauthenticated):
        verify(token, parse_jwks(ring.jwks(now=after, policy=ROTATION)), now + timedelta(minutes=10))


def test_idn_key_01_kid_selects_the_verification_key(
    principal: Principal, random_bytes: Callable[[int], bytes], now: datetime
) -> None:
    first = SigningKey.from_seed(random_bytes(32))
    second = SigningKey.from_seed(random_bytes(32))
    keys = parse_jwks(build_jwks([(first.kid, first.public_key), (second.kid, second.public_key)]))
    for signer in (first, second):
        token = sign_access_token(claims_for(principal, now), signer)
        assert verify(token, keys, now).subject_id == principal.subject_id


def test_idn_key_01_pending_key_cannot_sign_before_publish_lead(
    random_bytes: Callable[[int], bytes], now: datetime
) -> None:
    old = SigningKey.from_seed(random_bytes(32))
    new = SigningKey.from_seed(random_bytes(32))
    ring = ring_with(old, now - timedelta(days=1)).add_pending(KeyRecord.for_signing_key(new, created_at=now))
    with pytest.raises(FailedPrecondition) as raised:
        ring.activate(new.kid, now=now + timedelta(minutes=59), policy=ROTATION)
    assert raised.value.rule_ids == ("IDN-KEY-01",)
    with pytest.raises(FailedPrecondition):
        ring.activate(old.kid, now=now, policy=ROTATION)  # not pending


def test_idn_key_01_overlap_must_cover_the_access_token_lifetime() -> None:
    with pytest.raises(ValueError, match="overlap"):
        KeyRotationPolicy(overlap=timedelta(minutes=15))
    KeyRotationPolicy(overlap=timedelta(minutes=15, seconds=30))

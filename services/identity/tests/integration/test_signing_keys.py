"""Signing keys: the configured dev key is imported as the active key, GetJwks publishes it, and rotation
follows IDN-KEY-01 (published before it signs, retired keys kept for the overlap, then pruned)."""

from __future__ import annotations

import json
from datetime import timedelta

import grpc
import pytest
from sqlalchemy import text

from confide.identity.v1 import identity_pb2
from confide_chassis import db
from confide_chassis.auth import StaticJwks, TokenVerifier
from confide_devstack.devkeys import DevKeys
from confide_identity.domain.roles import Role

from .conftest import TOTP_SECRET, Harness, bearer

pytestmark = pytest.mark.integration


async def jwks_kids(h: Harness) -> list[str]:
    reply = await h.auth.GetJwks(identity_pb2.GetJwksRequest())
    return [key["kid"] for key in json.loads(reply.jwks_json)["keys"]]


async def verifier(h: Harness) -> TokenVerifier:
    reply = await h.auth.GetJwks(identity_pb2.GetJwksRequest())
    return TokenVerifier(
        StaticJwks(json.loads(reply.jwks_json)), issuer="confide-identity", audience="confide"
    )


async def test_the_dev_key_is_imported_and_tokens_verify_with_the_dev_jwks_file(
    identity: Harness, dev_keys: DevKeys
) -> None:
    h = identity
    assert await jwks_kids(h) == [dev_keys.kid]
    practice, admin = await h.new_practice()
    # Services of the dev stack verify with JWKS_FILE: identity's tokens must pass there too.
    dev_verifier = TokenVerifier(
        StaticJwks(json.loads(dev_keys.jwks_path.read_text())), issuer="confide-identity", audience="confide"
    )
    assert dev_verifier.verify(h.token(admin)).subject == str(admin.user_id)
    assert practice.practice_id


async def test_idn_key_01_rotation_publishes_first_overlaps_then_prunes(
    identity: Harness, dev_keys: DevKeys
) -> None:
    h = identity
    practice, _ = await h.new_practice()
    operator = await h.add_user(practice.practice_id, [Role.PLATFORM_OPERATOR], totp=True)
    old_token = h.token(operator)
    md = bearer(old_token)

    with pytest.raises(grpc.aio.AioRpcError) as not_operator:
        await h.auth.RotateSigningKey(
            identity_pb2.RotateSigningKeyRequest(), metadata=h.auth_md(operator, mfa=False)
        )
    assert not_operator.value.code() is grpc.StatusCode.PERMISSION_DENIED

    # Step 1: a pending key is published, the current one keeps signing.
    step = await h.auth.RotateSigningKey(identity_pb2.RotateSigningKeyRequest(), metadata=md)
    states = {key.kid: key.state for key in step.keys}
    assert states[dev_keys.kid] == identity_pb2.SIGNING_KEY_STATE_ACTIVE
    (pending,) = [kid for kid, state in states.items() if state == identity_pb2.SIGNING_KEY_STATE_PENDING]
    assert set(await jwks_kids(h)) == {dev_keys.kid, pending}
    assert h.service.store.signing_key().kid == dev_keys.kid

    # Too early to activate: nothing changes.
    again = await h.auth.RotateSigningKey(identity_pb2.RotateSigningKeyRequest(), metadata=md)
    assert {key.kid: key.state for key in again.keys} == states

    # Step 2, after the publish lead: the pending key signs, the old one is retired but still published.
    h.clock.advance(timedelta(minutes=61))
    step = await h.auth.RotateSigningKey(identity_pb2.RotateSigningKeyRequest(), metadata=md)
    states = {key.kid: key.state for key in step.keys}
    assert states == {
        dev_keys.kid: identity_pb2.SIGNING_KEY_STATE_RETIRED,
        pending: identity_pb2.SIGNING_KEY_STATE_ACTIVE,
    }
    assert h.service.store.signing_key().kid == pending
    jwks = await verifier(h)
    assert jwks.verify(old_token).subject == str(operator.user_id)  # signed by the retired key
    new_token = h.token(operator)
    assert jwks.verify(new_token).subject == str(operator.user_id)
    await h.users.GetUser(identity_pb2.GetUserRequest(user_id=str(operator.user_id)), metadata=md)

    # Step 3, after the overlap: the retired key is pruned (and a new pending key is published).
    h.clock.advance(timedelta(hours=25))
    step = await h.auth.RotateSigningKey(identity_pb2.RotateSigningKeyRequest(), metadata=bearer(new_token))
    kids = await jwks_kids(h)
    assert dev_keys.kid not in kids
    assert pending in kids
    assert dev_keys.kid not in {key.kid for key in step.keys}
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await h.users.GetUser(identity_pb2.GetUserRequest(user_id=str(operator.user_id)), metadata=md)
    assert stale.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_private_keys_and_totp_secrets_are_sealed_at_rest(identity: Harness) -> None:
    h = identity
    practice, admin = await h.new_practice()  # enrols TOTP with a known secret
    assert h.service.settings.database_url
    engine = db.create_engine(h.service.settings.database_url)
    try:
        async with engine.connect() as conn:
            keys = (await conn.execute(text("SELECT private_key_sealed FROM signing_keys"))).scalars().all()
            secrets = (
                (
                    await conn.execute(
                        text("SELECT secret_sealed FROM totp_credentials WHERE user_id = :u"),
                        {"u": admin.user_id},
                    )
                )
                .scalars()
                .all()
            )
            tokens = (await conn.execute(text("SELECT token_hash FROM refresh_tokens"))).scalars().all()
    finally:
        await engine.dispose()
    assert keys
    assert all(blob[:1] == b"\x01" and len(blob) == 1 + 8 + 12 + 32 + 16 for blob in keys)
    assert secrets
    assert TOTP_SECRET.encode() not in secrets[0]
    assert all(len(token) == 64 for token in tokens)
    assert practice.practice_id

"""MSG-01: rotating the key-encryption key re-wraps thread keys without touching bodies or stopping
reads, after which the old KEK can be retired; no plaintext body is kept anywhere at rest."""

from __future__ import annotations

import uuid

import grpc
import pytest

from confide.messaging.v1 import messaging_pb2 as pb
from confide.messaging.v1 import messaging_pb2_grpc as pb_grpc
from confide_messaging.testing import new_kek, settings_for_tests, start_messaging
from confide_messaging.wiring import rotate_kek

from .conftest import TOKENS, Stack, key, new_world

pytestmark = pytest.mark.integration


async def test_rotate_kek_rewraps_thread_keys_and_the_old_kek_can_go(stack: Stack) -> None:
    world = await new_world(stack)
    thread = (await world.open_thread()).thread_id
    await world.send(thread, "written under k1")
    sealed_before = await stack.scalar("SELECT body_sealed FROM messages WHERE body_sealed IS NOT NULL")
    threads = await stack.scalar("SELECT count(*) FROM thread_keys")

    new = f"k2:{new_kek()}"
    settings = settings_for_tests(
        stack.database_url, stack.bootstrap, keks=f"{stack.kek_spec},{new}", active_kek_id="k2"
    )
    # Replicas keep serving meanwhile: they still hold k1 and their unwrapped keys.
    assert await rotate_kek(settings) == threads
    assert await rotate_kek(settings) == 0  # nothing left to move
    assert await stack.scalar("SELECT string_agg(DISTINCT kek_id, ',') FROM thread_keys") == "k2"
    assert (
        await stack.scalar("SELECT body_sealed FROM messages WHERE body_sealed IS NOT NULL") == sealed_before
    )

    retired = await start_messaging(
        stack.database_url, stack.bootstrap, verifier=TOKENS.verifier, keks=new, migrate_first=False
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{retired.port}")
    try:
        page = await pb_grpc.MessagingServiceStub(channel).ListMessages(
            pb.ListMessagesRequest(thread_id=thread), metadata=world.client
        )
        assert [m.body for m in page.messages] == ["written under k1"]
    finally:
        await channel.close()
        await retired.running.stop(grace=0)


async def test_stored_answers_of_retried_sends_hold_no_plaintext_body(stack: Stack) -> None:
    """The chassis keeps each idempotent RPC's answer for retries; SendMessage's and AmendMessage's
    answers carry the body, so they are sealed like the message itself (MSG-01), and a retry still
    gets the first answer back, body included."""
    world = await new_world(stack)
    thread = (await world.open_thread()).thread_id
    body = f"my sister's name is {uuid.uuid4().hex} and she knows"
    reason = f"typo {uuid.uuid4().hex}"
    retry_key = key()
    first = await world.send(thread, body, idempotency_key=retry_key)
    await stack.api().AmendMessage(
        pb.AmendMessageRequest(
            message_id=first.message.message_id,
            body=f"{body}, corrected",
            reason=reason,
            idempotency_key=key(),
        ),
        metadata=world.client,
    )
    stored = await stack.rows("SELECT method, response FROM rpc_idempotency WHERE response IS NOT NULL")
    answers = {row[0] for row in stored}
    assert {
        "/confide.messaging.v1.MessagingService/SendMessage",
        "/confide.messaging.v1.MessagingService/AmendMessage",
    } <= answers
    for _, response in stored:
        assert body.encode() not in bytes(response)
        assert reason.encode() not in bytes(response)

    again = await world.send(thread, body, idempotency_key=retry_key)
    assert again == first
    assert again.message.body == body

"""MSG-01: rotating the key-encryption key re-wraps thread keys without touching bodies or stopping
reads, after which the old KEK can be retired."""

from __future__ import annotations

import grpc
import pytest

from confide.messaging.v1 import messaging_pb2 as pb
from confide.messaging.v1 import messaging_pb2_grpc as pb_grpc
from confide_messaging.testing import new_kek, settings_for_tests, start_messaging
from confide_messaging.wiring import rotate_kek

from .conftest import TOKENS, Stack, new_world

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

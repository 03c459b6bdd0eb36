"""Live chat across replicas: StreamMessages delivers every new message of a thread to each connected
participant exactly once and in sequence order, whichever replica stored it and whichever replica
the participant is connected to; a reconnect with a cursor gets exactly what was missed."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from confide.messaging.v1 import messaging_pb2 as pb

from .conftest import Stack, new_id, new_world

pytestmark = pytest.mark.integration


async def collect(call: Any, count: int, into: list[pb.Message]) -> None:
    async for item in call:
        into.append(item.message)
        if len(into) >= count:
            return


async def test_two_clients_on_two_replicas_get_every_message_once_in_order(stack: Stack) -> None:
    world = await new_world(stack)
    thread = (await world.open_thread()).thread_id
    request = pb.StreamMessagesRequest(thread_id=thread, after_sequence=0)
    client_call = stack.api(0).StreamMessages(request, metadata=world.client)
    clinician_call = stack.api(1).StreamMessages(request, metadata=world.clinician)
    total = 24
    client_got: list[pb.Message] = []
    clinician_got: list[pb.Message] = []
    receivers = asyncio.gather(
        collect(client_call, total, client_got), collect(clinician_call, total, clinician_got)
    )

    # Both participants write through both replicas, several at once (the thread row lock orders them).
    async def burst(start: int) -> None:
        await asyncio.gather(
            *(
                world.send(
                    thread,
                    f"line {start + i}",
                    as_client=(i % 2 == 0),
                    replica=i % 2,
                    kind=pb.MESSAGE_KIND_LIVE_CHAT,
                )
                for i in range(6)
            )
        )

    for start in range(0, total, 6):
        await burst(start)
    await asyncio.wait_for(receivers, timeout=30)
    client_call.cancel()
    clinician_call.cancel()

    expected = list(range(1, total + 1))
    assert [m.sequence for m in client_got] == expected
    assert [m.sequence for m in clinician_got] == expected
    assert [m.message_id for m in client_got] == [m.message_id for m in clinician_got]
    assert sorted(m.body for m in client_got) == sorted(f"line {i}" for i in range(total))
    # The stream's order is the thread's order as stored.
    page = await stack.api().ListMessages(pb.ListMessagesRequest(thread_id=thread), metadata=world.client)
    assert [m.message_id for m in page.messages] == [m.message_id for m in client_got]


async def test_a_reconnect_with_the_cursor_gets_exactly_what_was_missed(stack: Stack) -> None:
    world = await new_world(stack)
    thread = (await world.open_thread()).thread_id
    for i in range(3):
        await world.send(thread, f"before {i}", kind=pb.MESSAGE_KIND_LIVE_CHAT)

    first_call = stack.api(0).StreamMessages(
        pb.StreamMessagesRequest(thread_id=thread), metadata=world.clinician
    )
    first: list[pb.Message] = []
    await asyncio.wait_for(collect(first_call, 3, first), timeout=20)
    first_call.cancel()  # the clinician's connection drops
    cursor = first[-1].sequence

    for i in range(4):  # written while the clinician is away, through both replicas
        await world.send(thread, f"missed {i}", kind=pb.MESSAGE_KIND_LIVE_CHAT, replica=i % 2)

    again_call = stack.api(1).StreamMessages(
        pb.StreamMessagesRequest(thread_id=thread, after_sequence=cursor), metadata=world.clinician
    )
    again: list[pb.Message] = []
    resumed = asyncio.create_task(collect(again_call, 5, again))
    await asyncio.sleep(0.5)
    await world.send(thread, "live again", kind=pb.MESSAGE_KIND_LIVE_CHAT, replica=0)
    await asyncio.wait_for(resumed, timeout=20)
    again_call.cancel()

    assert [m.body for m in first] == ["before 0", "before 1", "before 2"]
    assert [m.body for m in again] == ["missed 0", "missed 1", "missed 2", "missed 3", "live again"]
    assert [m.sequence for m in again] == [4, 5, 6, 7, 8]


async def test_only_participants_may_stream(stack: Stack) -> None:
    world = await new_world(stack)
    thread = (await world.open_thread()).thread_id
    call = stack.api(1).StreamMessages(
        pb.StreamMessagesRequest(thread_id=thread), metadata=world.as_clinician(new_id())
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in call:
            pass
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

"""MSG-04: a client's text-therapy message is owed a clinician's reply within the practice's target,
in working time; a reply not given in time is reported once (ReplyOverdue, metric)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from prometheus_client import REGISTRY

from confide.messaging.v1 import events_pb2 as ev
from confide.messaging.v1 import messaging_pb2 as pb
from confide.messaging.v1 import messaging_pb2_grpc as pb_grpc

from .conftest import TOKENS, Stack, World, bad_fields, new_id, new_world

pytestmark = pytest.mark.integration

ALWAYS_ONE_HOUR = pb.ReplyPolicy(
    target_working_hours=1,
    working_days=[1, 2, 3, 4, 5, 6, 7],
    day_start_minute=0,
    day_end_minute=1440,
    time_zone="UTC",
)


def admin(world: World) -> tuple[tuple[str, str], ...]:
    return TOKENS.metadata(new_id(), world.practice_id, "practice_admin", mfa=True)


def overdue_total() -> float:
    return (
        REGISTRY.get_sample_value("confide_messaging_replies_overdue_total", {"service": "messaging"}) or 0.0
    )


async def test_msg_04_an_unanswered_text_therapy_message_is_reported_once(stack: Stack) -> None:
    world = await new_world(stack)
    policies = pb_grpc.ReplyPolicyServiceStub(stack.channels[0])
    default = (await policies.GetReplyPolicy(pb.GetReplyPolicyRequest(), metadata=world.clinician)).policy
    assert (default.target_working_hours, list(default.working_days)) == (8, [1, 2, 3, 4, 5])
    await policies.SetReplyPolicy(pb.SetReplyPolicyRequest(policy=ALWAYS_ONE_HOUR), metadata=admin(world))

    thread = (await world.open_thread()).thread_id
    waiting = await world.send(
        thread, "I have a question about my homework", kind=pb.MESSAGE_KIND_TEXT_THERAPY
    )
    await world.send(thread, "typing in chat", kind=pb.MESSAGE_KIND_LIVE_CHAT)  # chat owes no async reply
    due = await stack.scalar(
        "SELECT due_at FROM reply_obligations WHERE thread_id = CAST(:t AS uuid)", t=thread
    )
    sent_at = waiting.message.send_time.ToDatetime(tzinfo=UTC)
    assert due == sent_at + timedelta(hours=1)

    replies = stack.replicas[0].wired.replies
    before = overdue_total()
    assert await replies.detect_overdue(datetime.now(UTC)) == 0
    later = datetime.now(UTC) + timedelta(hours=2)
    assert await replies.detect_overdue(later) == 1
    assert await replies.detect_overdue(later) == 0  # reported once
    assert overdue_total() == before + 1
    assert (
        REGISTRY.get_sample_value("confide_messaging_replies_overdue_open_messages", {"service": "messaging"})
        == 1
    )

    (payload,) = await stack.outbox("confide.messaging.v1.ReplyOverdue", thread)
    event = ev.ReplyOverdue.FromString(payload)
    assert (event.message_id, event.client_id) == (waiting.message.message_id, world.client_id)
    assert list(event.care_team_clinician_ids) == [world.clinician_id]
    assert b"homework" not in payload

    # The clinician's reply settles it.
    await world.send(thread, "Happy to help", as_client=False)
    assert (
        await stack.scalar(
            "SELECT count(*) FROM reply_obligations"
            " WHERE thread_id = CAST(:t AS uuid) AND answered_at IS NULL",
            t=thread,
        )
        == 0
    )


async def test_msg_04_a_reply_in_time_is_never_overdue(stack: Stack) -> None:
    world = await new_world(stack)
    thread = (await world.open_thread()).thread_id
    await world.send(thread, "Quick question", kind=pb.MESSAGE_KIND_TEXT_THERAPY)
    await world.send(thread, "Sure", as_client=False, kind=pb.MESSAGE_KIND_TEXT_THERAPY)
    assert await stack.replicas[1].wired.replies.detect_overdue(datetime.now(UTC) + timedelta(days=30)) == 0
    assert await stack.outbox("confide.messaging.v1.ReplyOverdue", thread) == []


async def test_only_a_practice_admin_sets_the_target_and_it_is_checked(stack: Stack) -> None:
    world = await new_world(stack)
    policies = pb_grpc.ReplyPolicyServiceStub(stack.channels[0])
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await policies.SetReplyPolicy(
            pb.SetReplyPolicyRequest(policy=ALWAYS_ONE_HOUR), metadata=world.clinician
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    edge = pb.ReplyPolicy(
        target_working_hours=0, working_days=[1], day_end_minute=600, time_zone="Nowhere/Land"
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # bounds from the proto, at the edge
        await policies.SetReplyPolicy(pb.SetReplyPolicyRequest(policy=edge), metadata=admin(world))
    assert set(bad_fields(raised.value)) == {"policy.target_working_hours", "policy.time_zone"}
    rules = pb.ReplyPolicy(
        target_working_hours=8, working_days=[0, 9], day_start_minute=600, day_end_minute=500, time_zone="UTC"
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # what the service knows
        await policies.SetReplyPolicy(pb.SetReplyPolicyRequest(policy=rules), metadata=admin(world))
    assert set(bad_fields(raised.value)) == {"policy.working_days", "policy.day_end_minute"}

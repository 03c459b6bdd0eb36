"""SAFE-21/SAFE-24 within the request: a client's message with crisis language is stored and
delivered as usual, and by the time SendMessage returns the client has 988/911 (in the response and
as a system message in the thread) and the risk flag for the care team is committed to the outbox."""

from __future__ import annotations

import pytest

from confide.messaging.v1 import events_pb2 as ev
from confide.messaging.v1 import messaging_pb2 as pb

from .conftest import Stack, new_world

pytestmark = pytest.mark.integration

CRISIS_TEXT = "I can't do this anymore. I want to kill myself tonight."


async def test_safe_24_crisis_phrase_gets_resources_and_a_committed_risk_flag(stack: Stack) -> None:
    world = await new_world(stack)
    thread = (await world.open_thread()).thread_id
    sent = await world.send(thread, CRISIS_TEXT, idempotency_key="crisis-key-0001")

    # The client's own message is stored first, unchanged.
    assert (sent.message.sequence, sent.message.body) == (1, CRISIS_TEXT)
    assert [(r.code, r.contact) for r in sent.crisis_resources] == [
        ("988_call", "988"),
        ("988_text", "988"),
        ("988_chat", "https://988lifeline.org/chat"),
        ("emergency_911", "911"),
    ]
    assert sent.crisis_resources[-1].name == "Emergency services in CO"  # the client's recorded state
    crisis_message = sent.crisis_message
    assert (crisis_message.sequence, crisis_message.kind) == (2, pb.MESSAGE_KIND_SYSTEM)
    assert crisis_message.author_role == pb.AUTHOR_ROLE_SYSTEM
    assert "988" in crisis_message.body
    assert "911" in crisis_message.body

    # Already committed when the RPC returned: no waiting for the relay.
    flags = await stack.outbox("confide.messaging.v1.RiskFlagged", world.client_id)
    assert len(flags) == 1
    flag = ev.RiskFlagged.FromString(flags[0])
    assert flag.risk_flag_id == sent.risk_flag_id
    assert (flag.thread_id, flag.message_id) == (thread, sent.message.message_id)
    assert list(flag.signals) == [ev.RISK_SIGNAL_SUICIDE]
    assert list(flag.matched_rule_codes) == ["MSG-CRISIS-SUICIDE-INTENT"]
    assert list(flag.rule_ids) == ["SAFE-21", "SAFE-24"]
    assert list(flag.care_team_clinician_ids) == [world.clinician_id]
    assert b"kill" not in flags[0]

    # The care team sees both messages in the thread.
    page = await stack.api(1).ListMessages(pb.ListMessagesRequest(thread_id=thread), metadata=world.clinician)
    assert [m.message_id for m in page.messages] == [sent.message.message_id, crisis_message.message_id]

    # A retry answers the same, and raises no second flag.
    again = await world.send(thread, CRISIS_TEXT, idempotency_key="crisis-key-0001", replica=1)
    assert (again.risk_flag_id, again.crisis_message.message_id) == (
        sent.risk_flag_id,
        crisis_message.message_id,
    )
    assert len(again.crisis_resources) == 4
    assert len(await stack.outbox("confide.messaging.v1.RiskFlagged", world.client_id)) == 1


async def test_negated_language_and_clinician_messages_raise_no_flag(stack: Stack) -> None:
    world = await new_world(stack)
    thread = (await world.open_thread()).thread_id
    calm = await world.send(thread, "I would never kill myself, but this week was hard")
    assert not calm.crisis_resources
    assert not calm.risk_flag_id
    # A clinician asking the screening question is not the client in crisis.
    asked = await world.send(
        thread, "Have you had thoughts of killing yourself? Do you want to die?", as_client=False
    )
    assert not asked.risk_flag_id
    assert await stack.outbox("confide.messaging.v1.RiskFlagged", world.client_id) == []

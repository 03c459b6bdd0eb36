"""Threads between a client and their care team over real gRPC, Kafka and PostgreSQL: who may read
and write (care team from identity's events), audit of every read, encryption at rest (MSG-01),
amendments instead of edits (MSG-05), read receipts and unread counts."""

from __future__ import annotations

import grpc
import pytest

from confide.audit.v1 import events_pb2 as audit_pb2
from confide.messaging.v1 import events_pb2 as ev
from confide.messaging.v1 import messaging_pb2 as pb
from confide_messaging.testing import care_team_removed, eventually, produce, user_deactivated

from .conftest import ATTACHMENTS, TOKENS, Stack, bad_fields, key, new_id, new_world, rule_ids

pytestmark = pytest.mark.integration

SECRET_BODY = "I argued with my mother about the divorce again"


async def audit_reads(stack: Stack, thread_id: str) -> int:
    payloads = await stack.rows(
        "SELECT payload FROM outbox WHERE event_type = 'confide.audit.v1.AuditEvent' ORDER BY seq"
    )
    count = 0
    for (payload,) in payloads:
        event = audit_pb2.AuditEvent.FromString(bytes(payload))
        if event.resource.id == thread_id and event.action == audit_pb2.AUDIT_ACTION_READ:
            count += 1
    return count


async def test_client_and_care_team_exchange_messages_and_each_read_is_audited(stack: Stack) -> None:
    world = await new_world(stack)
    thread = await world.open_thread()
    assert [p.user_id for p in thread.participants] == [world.client_id, world.clinician_id]

    sent = await world.send(thread.thread_id, SECRET_BODY)
    reply = await world.send(
        thread.thread_id, "Thank you for telling me. Let's talk Thursday.", as_client=False
    )
    assert (sent.message.sequence, reply.message.sequence) == (1, 2)
    assert reply.message.author_role == pb.AUTHOR_ROLE_CLINICIAN
    assert not sent.crisis_resources

    before = await audit_reads(stack, thread.thread_id)
    page = await stack.api(1).ListMessages(
        pb.ListMessagesRequest(thread_id=thread.thread_id), metadata=world.clinician
    )
    assert [m.body for m in page.messages] == [SECRET_BODY, "Thank you for telling me. Let's talk Thursday."]
    assert page.last_sequence == 2
    assert await audit_reads(stack, thread.thread_id) == before + 1

    # MessageSent carries ids only, never the body.
    payloads = await stack.outbox("confide.messaging.v1.MessageSent", thread.thread_id)
    assert len(payloads) == 2
    assert all(b"divorce" not in p for p in payloads)
    assert ev.MessageSent.FromString(payloads[0]).message_id == sent.message.message_id


async def test_msg_01_the_database_holds_no_plaintext_body(stack: Stack) -> None:
    world = await new_world(stack)
    thread = await world.open_thread()
    sent = await world.send(thread.thread_id, SECRET_BODY)
    amended = await stack.api().AmendMessage(
        pb.AmendMessageRequest(
            message_id=sent.message.message_id,
            body="I argued with my father",
            reason="wrong parent named",
            idempotency_key=key(),
        ),
        metadata=world.client,
    )
    assert amended.amendment.amendment_reason == "wrong parent named"
    dump = await stack.scalar(
        "SELECT string_agg(t::text, ' ') FROM messages t WHERE thread_id = CAST(:t AS uuid)",
        t=thread.thread_id,
    )
    assert dump
    for secret in ("divorce", "father", "wrong parent"):
        assert secret not in dump
    raw = await stack.scalar(
        "SELECT body_sealed FROM messages WHERE id = CAST(:m AS uuid)", m=sent.message.message_id
    )
    assert b"divorce" not in bytes(raw)
    everything = await stack.scalar("SELECT string_agg(encode(payload, 'escape'), ' ') FROM outbox")
    assert "divorce" not in everything


async def test_msg_05_an_amendment_links_to_the_original_which_stays(stack: Stack) -> None:
    world = await new_world(stack)
    thread = await world.open_thread()
    original = (await world.send(thread.thread_id, "See you Tuesday")).message
    request = pb.AmendMessageRequest(
        message_id=original.message_id, body="See you Wednesday", reason="wrong day", idempotency_key=key()
    )
    amendment = (await stack.api().AmendMessage(request, metadata=world.client)).amendment
    again = (await stack.api().AmendMessage(request, metadata=world.client)).amendment  # retried
    assert again.message_id == amendment.message_id

    page = await stack.api().ListMessages(
        pb.ListMessagesRequest(thread_id=thread.thread_id), metadata=world.client
    )
    first, second = page.messages
    assert (first.body, list(first.amended_by_message_ids)) == ("See you Tuesday", [amendment.message_id])
    assert (second.amends_message_id, second.amendment_reason) == (original.message_id, "wrong day")
    assert (second.body, second.author_id) == ("See you Wednesday", world.client_id)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.api().AmendMessage(
            pb.AmendMessageRequest(
                message_id=original.message_id, body="x", reason="y", idempotency_key=key()
            ),
            metadata=world.clinician,
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # The database itself refuses an edit or a delete.
    with pytest.raises(Exception, match="append-only"):
        await stack.scalar(
            "DELETE FROM messages WHERE id = CAST(:m AS uuid) RETURNING id", m=original.message_id
        )


async def test_only_participants_and_the_care_team_follows_identity(stack: Stack) -> None:
    world = await new_world(stack)
    thread = await world.open_thread()
    await world.send(thread.thread_id, "hello")
    outsider, newcomer = new_id(), new_id()
    get = pb.GetThreadRequest(thread_id=thread.thread_id)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.api().GetThread(get, metadata=world.as_clinician(outsider))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.api().GetThread(
            get, metadata=world.as_clinician(world.clinician_id, practice_id=new_id())
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    # A clinician assigned later sees the history; a removed one loses access at once.
    await world.assign(newcomer)
    page = await stack.api().ListMessages(
        pb.ListMessagesRequest(thread_id=thread.thread_id), metadata=world.as_clinician(newcomer)
    )
    assert [m.body for m in page.messages] == ["hello"]
    await produce(
        stack.producer, care_team_removed(world.client_id, world.practice_id, newcomer, world.links[newcomer])
    )
    await eventually(
        lambda: stack.scalar(
            "SELECT NOT active FROM care_team_links WHERE link_id = :l", l=world.links[newcomer]
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.api(1).SendMessage(
            pb.SendMessageRequest(
                thread_id=thread.thread_id, kind=pb.MESSAGE_KIND_LIVE_CHAT, body="x", idempotency_key=key()
            ),
            metadata=world.as_clinician(newcomer),
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # A deactivated user is locked out even before the care-team removal arrives: by messaging's
    # projection (PERMISSION_DENIED) or by the chassis revoking their tokens (UNAUTHENTICATED),
    # whichever consumer gets the event first.
    await produce(stack.producer, user_deactivated(world.clinician_id, world.practice_id))
    await eventually(
        lambda: stack.scalar(
            "SELECT count(*) FROM deactivated_users WHERE user_id = CAST(:u AS uuid)", u=world.clinician_id
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.api().GetThread(get, metadata=world.clinician)
    assert raised.value.code() in {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}


async def test_read_receipts_and_unread_counts_per_participant(stack: Stack) -> None:
    world = await new_world(stack)
    thread = await world.open_thread()
    for body in ("one", "two", "three"):
        await world.send(thread.thread_id, body)
    get = pb.GetThreadRequest(thread_id=thread.thread_id)
    assert (await stack.api().GetThread(get, metadata=world.clinician)).thread.unread_count == 3
    assert (await stack.api().GetThread(get, metadata=world.client)).thread.unread_count == 0

    marked = await stack.api().MarkRead(
        pb.MarkReadRequest(thread_id=thread.thread_id, up_to_sequence=2), metadata=world.clinician
    )
    assert (marked.participant.last_read_sequence, marked.unread_count) == (2, 1)
    assert (marked.participant.user_id, marked.participant.role) == (
        world.clinician_id,
        pb.AUTHOR_ROLE_CLINICIAN,
    )
    # A receipt never moves back.
    back = await stack.api().MarkRead(
        pb.MarkReadRequest(thread_id=thread.thread_id, up_to_sequence=1), metadata=world.clinician
    )
    assert back.participant.last_read_sequence == 2

    seen = (await stack.api().GetThread(get, metadata=world.client)).thread
    receipts = {p.user_id: p.last_read_sequence for p in seen.participants}
    assert receipts == {world.client_id: 0, world.clinician_id: 2}
    listed = await stack.api().ListThreads(pb.ListThreadsRequest(), metadata=world.clinician)
    assert [(t.thread_id, t.unread_count) for t in listed.threads] == [(thread.thread_id, 1)]


async def test_bad_input_names_the_field_and_writes_nothing(stack: Stack) -> None:
    world = await new_world(stack)
    thread = await world.open_thread()
    # Bounds declared in the proto, checked by the chassis at the edge.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.send(
            thread.thread_id,
            "x" * 20_001,
            attachments=[
                pb.Attachment(object_key="k", sha256="a" * 64, size_bytes=0, media_type="text/plain")
            ],
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_fields(raised.value)) == {"body", "attachments[0].size_bytes"}
    # What only messaging knows, checked in its mapping.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.api().SendMessage(
            pb.SendMessageRequest(
                thread_id="not-a-uuid",
                kind=pb.MESSAGE_KIND_SYSTEM,
                body=" ",
                idempotency_key=key(),
                attachments=[pb.Attachment(object_key="k", sha256="nothex", size_bytes=1, media_type="pdf")],
            ),
            metadata=world.client,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_fields(raised.value)) == {
        "thread_id", "kind", "body", "attachments[0].sha256", "attachments[0].media_type",
    }  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.send(thread.thread_id, "hello", idempotency_key="short")
    assert bad_fields(raised.value) == ["idempotency_key"]
    assert (
        await stack.scalar(
            "SELECT count(*) FROM messages WHERE thread_id = CAST(:t AS uuid)", t=thread.thread_id
        )
        == 0
    )


async def test_attachments_are_metadata_with_a_content_hash(stack: Stack) -> None:
    world = await new_world(stack)
    thread = await world.open_thread()
    content = b"%PDF-1.7 my worksheet"
    key_in_store = f"uploads/{new_id()}"
    stored = ATTACHMENTS.put(key_in_store, content, "application/pdf")
    attachment = pb.Attachment(
        object_key=key_in_store, sha256=stored.sha256, size_bytes=len(content), media_type="application/pdf"
    )
    sent = await world.send(
        thread.thread_id, "my worksheet", kind=pb.MESSAGE_KIND_EMAIL, attachments=[attachment]
    )
    assert list(sent.message.attachments) == [attachment]
    page = await stack.api().ListMessages(
        pb.ListMessagesRequest(thread_id=thread.thread_id), metadata=world.clinician
    )
    assert list(page.messages[0].attachments) == [attachment]
    assert page.messages[0].kind == pb.MESSAGE_KIND_EMAIL
    assert (
        await stack.scalar(
            "SELECT count(*) FROM messages WHERE position(CAST(:c AS bytea) in body_sealed) > 0", c=content
        )
        == 0
    )

    # Metadata that does not describe the uploaded object is refused, naming the field.
    forged = pb.Attachment(
        object_key=key_in_store, sha256="0" * 64, size_bytes=len(content), media_type="application/pdf"
    )
    missing = pb.Attachment(
        object_key="uploads/none", sha256=stored.sha256, size_bytes=1, media_type="application/pdf"
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.send(thread.thread_id, "again", kind=pb.MESSAGE_KIND_EMAIL, attachments=[forged, missing])
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(raised.value) == ["attachments[0].sha256", "attachments[1].object_key"]


async def test_a_client_without_a_care_team_cannot_open_a_thread(stack: Stack) -> None:
    world = await new_world(stack)
    lonely = new_id()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stack.api().CreateThread(
            pb.CreateThreadRequest(client_id=lonely, idempotency_key=key()),
            metadata=TOKENS.metadata(lonely, world.practice_id, "client"),
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert rule_ids(raised.value) == ["MSG-01"]


async def test_another_practice_cannot_tell_whether_a_client_exists(stack: Stack) -> None:
    """Opening a thread for another practice's client is refused exactly as for an id nobody has."""
    world = await new_world(stack)
    await world.open_thread()  # the client is known to messaging
    stranger = world.as_clinician(world.clinician_id, practice_id=new_id())
    answers = []
    for client_id in (world.client_id, new_id()):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stack.api().CreateThread(
                pb.CreateThreadRequest(client_id=client_id, idempotency_key=key()), metadata=stranger
            )
        answers.append((raised.value.code(), raised.value.details()))
    assert answers[0] == answers[1]
    assert answers[0][0] == grpc.StatusCode.PERMISSION_DENIED


async def test_send_message_retried_with_its_key_stores_one_message(stack: Stack) -> None:
    world = await new_world(stack)
    thread = await world.open_thread()
    first = await world.send(thread.thread_id, "once", idempotency_key="retry-key-0001")
    again = await world.send(thread.thread_id, "once", idempotency_key="retry-key-0001", replica=1)
    assert again.message.message_id == first.message.message_id
    assert (
        await stack.scalar(
            "SELECT count(*) FROM messages WHERE thread_id = CAST(:t AS uuid)", t=thread.thread_id
        )
        == 1
    )

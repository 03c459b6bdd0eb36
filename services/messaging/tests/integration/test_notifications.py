"""MSG-03 over the real path: a new message queues a notification (outbox event, no content) and the
SMTP adapter delivers a fixed text to a real SMTP server (aiosmtpd); SMS goes to the recording
provider; quiet hours hold routine notices in the person's time zone; a crisis alert does not wait;
scheduling's ReminderDue becomes a reminder without details."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from aiosmtpd.controller import Controller
from prometheus_client import REGISTRY

from confide.messaging.v1 import events_pb2 as ev
from confide.messaging.v1 import messaging_pb2 as pb
from confide.messaging.v1 import messaging_pb2_grpc as pb_grpc
from confide.scheduling.v1 import events_pb2 as scheduling_events
from confide_devstack.postgres import PostgresCluster
from confide_messaging.adapters.sms import RecordingSmsProvider
from confide_messaging.adapters.smtp import SmtpEmailSender
from confide_messaging.testing import eventually, produce, ts

from .conftest import Stack, World, bad_fields, new_world, open_stack

pytestmark = pytest.mark.integration

PORTAL = "https://app.confide.invalid/messages"
SECRET = "my husband found out about the affair"


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content)))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


SMS = RecordingSmsProvider()


@pytest.fixture(scope="module")
async def stack(
    postgres_cluster: PostgresCluster, kafka_broker: Any, smtp: tuple[Inbox, int]
) -> AsyncIterator[Stack]:
    email = SmtpEmailSender(
        host="127.0.0.1", port=smtp[1], sender="Secure Messages <no-reply@confide.invalid>", starttls=False
    )
    async with open_stack(postgres_cluster, kafka_broker, email=email, sms=SMS) as opened:
        yield opened


def notifications(stack: Stack) -> Any:
    return stack.replicas[0].wired.notifications


async def set_preferences(stack: Stack, metadata: Any, **fields: Any) -> pb.NotificationPreferences:
    api = pb_grpc.NotificationServiceStub(stack.channels[0])
    reply = await api.SetNotificationPreferences(
        pb.SetNotificationPreferencesRequest(preferences=pb.NotificationPreferences(**fields)),
        metadata=metadata,
    )
    return reply.preferences


async def pending(stack: Stack, recipient: str) -> list[Any]:
    return await stack.rows(
        "SELECT purpose, deliver_after, status, channels FROM notifications"
        " WHERE recipient_id = CAST(:r AS uuid) ORDER BY created_at",
        r=recipient,
    )


async def test_msg_03_a_new_message_is_announced_by_email_without_its_text(
    stack: Stack, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    world = await new_world(stack)
    address = f"clinician-{uuid.uuid4().hex[:8]}@example.test"
    stored = await set_preferences(stack, world.clinician, email_enabled=True, email_address=address)
    assert (stored.email_enabled, stored.email_address) == (True, address)
    thread = (await world.open_thread()).thread_id

    await world.send(thread, SECRET)
    await world.send(thread, "and he is angry")  # coalesced into the pending notice
    rows = await pending(stack, world.clinician_id)
    assert [(r.purpose, r.status) for r in rows] == [("new_message", "pending")]
    events = await stack.outbox("confide.messaging.v1.NotificationRequested", world.clinician_id)
    requested = ev.NotificationRequested.FromString(events[0])
    assert (requested.purpose, list(requested.channels)) == (
        ev.NOTIFICATION_PURPOSE_NEW_MESSAGE,
        [ev.NOTIFICATION_CHANNEL_EMAIL],
    )
    assert b"affair" not in events[0]
    assert address.encode() not in events[0]

    assert await notifications(stack).deliver_due(datetime.now(UTC)) >= 1
    mails = [raw for to, raw in inbox.received if to == [address]]
    assert len(mails) == 1
    mail = message_from_bytes(mails[0])
    assert mail["Subject"] == "You have a new secure message"
    assert mail["From"] == "Secure Messages <no-reply@confide.invalid>"
    text = mails[0].decode()
    assert PORTAL in text
    for secret in ("affair", "husband", "angry", world.practice_id):
        assert secret not in text
    assert [r.status for r in await pending(stack, world.clinician_id)] == ["sent"]
    # Contact details are sealed too.
    dump = await stack.scalar("SELECT string_agg(t::text, ' ') FROM notification_preferences t")
    assert address not in dump


async def test_quiet_hours_hold_a_clients_notice_until_morning_in_their_zone(stack: Stack) -> None:
    world = await new_world(stack)  # the client's profile says America/Denver
    local = datetime.now(ZoneInfo("America/Denver"))
    start = (local - timedelta(hours=1)).replace(second=0, microsecond=0)
    end = (local + timedelta(hours=1)).replace(second=0, microsecond=0)
    await set_preferences(
        stack,
        world.client,
        sms_enabled=True,
        phone_number="+13035550123",
        quiet_hours=pb.QuietHours(
            start_minute=start.hour * 60 + start.minute, end_minute=end.hour * 60 + end.minute
        ),
    )
    thread = (await world.open_thread()).thread_id
    await world.send(thread, "How did the week go?", as_client=False)
    (row,) = await pending(stack, world.client_id)
    assert row.deliver_after == end.replace(tzinfo=ZoneInfo("America/Denver")).astimezone(UTC)

    await notifications(stack).deliver_due(datetime.now(UTC))
    assert not [m for m in SMS.sent if m.to == "+13035550123"]
    await notifications(stack).deliver_due(row.deliver_after + timedelta(seconds=1))
    texts = [m.text for m in SMS.sent if m.to == "+13035550123"]
    assert texts == [f"You have a new secure message. Sign in: {PORTAL}"]


async def test_safe_24_the_care_team_alert_does_not_wait_for_quiet_hours(stack: Stack) -> None:
    world = await new_world(stack)
    await set_preferences(
        stack,
        world.clinician,
        sms_enabled=True,
        phone_number="+13035550199",
        quiet_hours=pb.QuietHours(start_minute=0, end_minute=1439),  # always quiet
        time_zone="UTC",
    )
    thread = (await world.open_thread()).thread_id
    await world.send(thread, "I want to end my life")
    purposes = {r.purpose: r for r in await pending(stack, world.clinician_id)}
    assert purposes["crisis_alert"].deliver_after <= datetime.now(UTC)
    assert purposes["new_message"].deliver_after > datetime.now(UTC)
    await notifications(stack).deliver_due(datetime.now(UTC))
    assert [m.text for m in SMS.sent if m.to == "+13035550199"] == [
        f"Urgent: a client needs your attention now. Sign in: {PORTAL}"
    ]


async def test_a_reminder_due_from_scheduling_reaches_the_client_without_details(
    stack: Stack, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    world = await new_world(stack)
    address = f"client-{uuid.uuid4().hex[:8]}@example.test"
    await set_preferences(stack, world.client, email_enabled=True, email_address=address)
    appointment = str(uuid.uuid4())
    await produce(
        stack.producer,
        scheduling_events.ReminderDue(
            appointment_id=appointment,
            reminder_id=f"reminder:{appointment}:60m",
            start_time=ts(datetime.now(UTC) + timedelta(hours=1)),
            offset_minutes=60,
            client_id=world.client_id,
            clinician_id=world.clinician_id,
            practice_id=world.practice_id,
            occurred_at=ts(datetime.now(UTC)),
        ),
        source="//confide/scheduling",
    )
    await eventually(lambda: pending(stack, world.client_id), wait_seconds=30)
    await notifications(stack).deliver_due(datetime.now(UTC))
    mails = [raw for to, raw in inbox.received if to == [address]]
    assert len(mails) == 1
    assert message_from_bytes(mails[0])["Subject"] == "Upcoming appointment reminder"
    assert appointment not in mails[0].decode()


async def test_preferences_are_checked_field_by_field(stack: Stack) -> None:
    world: World = await new_world(stack)
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # bounds from the proto, at the edge
        await set_preferences(
            stack,
            world.client,
            quiet_hours=pb.QuietHours(start_minute=1440, end_minute=-1),
            time_zone="Mars/Olympus",
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_fields(raised.value)) == {
        "preferences.quiet_hours.start_minute",
        "preferences.quiet_hours.end_minute",
        "preferences.time_zone",
    }
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # formats only messaging checks
        await set_preferences(
            stack, world.client, email_enabled=True, email_address="not an address", sms_enabled=True,
            phone_number="555-0100",
        )  # fmt: skip
    assert set(bad_fields(raised.value)) == {"preferences.email_address", "preferences.phone_number"}


async def test_safe_24_a_screening_risk_flag_from_scheduling_alerts_the_care_team(stack: Stack) -> None:
    world = await new_world(stack)
    await set_preferences(stack, world.clinician, sms_enabled=True, phone_number="+13035550177")
    await produce(
        stack.producer,
        scheduling_events.RiskFlagged(
            client_id=world.client_id,
            practice_id=world.practice_id,
            risk_flag_id=str(uuid.uuid4()),
            screening_id=str(uuid.uuid4()),
            care_team_clinician_ids=[world.clinician_id],
            occurred_at=ts(datetime.now(UTC)),
        ),
        source="//confide/scheduling",
    )
    rows = await eventually(lambda: pending(stack, world.clinician_id), wait_seconds=30)
    assert [r.purpose for r in rows] == ["crisis_alert"]
    await notifications(stack).deliver_due(datetime.now(UTC))
    assert [m.text for m in SMS.sent if m.to == "+13035550177"] == [
        f"Urgent: a client needs your attention now. Sign in: {PORTAL}"
    ]


def crisis_escalation_failures(reason: str) -> float:
    """messaging's SAFE-24 escalation failures as its /metrics port exports them (process registry)."""
    value = REGISTRY.get_sample_value(
        "confide_messaging_crisis_escalation_failures_total", {"service": "messaging", "reason": reason}
    )
    return value or 0.0


async def test_safe_24_a_crisis_alert_that_cannot_reach_the_care_team_is_counted(stack: Stack) -> None:
    world = await new_world(stack)  # the clinician has no e-mail address or phone number yet
    before = {reason: crisis_escalation_failures(reason) for reason in ("no_channel", "undelivered")}
    thread = (await world.open_thread()).thread_id
    await world.send(thread, "I want to end my life")
    assert crisis_escalation_failures("no_channel") == before["no_channel"] + 1
    assert [r.purpose for r in await pending(stack, world.clinician_id)] == []

    # Reachable now, but the SMS provider is down: the alert is queued and its delivery fails.
    await notifications(stack).deliver_due(datetime.now(UTC))  # what earlier tests left is out of the way
    await set_preferences(stack, world.clinician, sms_enabled=True, phone_number="+13035550166")
    await world.send(thread, "I want to end my life")
    now = datetime.now(UTC)
    SMS.unavailable = True
    try:
        await notifications(stack).deliver_due(now)
    finally:
        SMS.unavailable = False
    assert crisis_escalation_failures("undelivered") == before["undelivered"] + 1
    assert crisis_escalation_failures("no_channel") == before["no_channel"] + 1

    # The retry a minute later reaches the clinician and counts no failure.
    await notifications(stack).deliver_due(now + timedelta(minutes=2))
    assert "Urgent: a client needs your attention now. Sign in: " + PORTAL in [
        m.text for m in SMS.sent if m.to == "+13035550166"
    ]
    assert crisis_escalation_failures("undelivered") == before["undelivered"] + 1

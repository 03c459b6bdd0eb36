"""Domain records → outgoing event messages (ids and codes only: never a body or a reason)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from confide.messaging.v1 import events_pb2 as ev
from confide.messaging.v1 import messaging_pb2 as pb
from confide_chassis.wire import timestamp
from confide_messaging.app.ports import ReplyObligation, RiskFlag
from confide_messaging.domain.crisis import RULE_IDS, RiskSignal
from confide_messaging.domain.threads import AuthorRole, Message, MessageKind, Thread

AUTHOR_ROLE = {
    AuthorRole.CLIENT: pb.AUTHOR_ROLE_CLIENT,
    AuthorRole.CLINICIAN: pb.AUTHOR_ROLE_CLINICIAN,
    AuthorRole.SYSTEM: pb.AUTHOR_ROLE_SYSTEM,
}
MESSAGE_KIND = {
    MessageKind.LIVE_CHAT: pb.MESSAGE_KIND_LIVE_CHAT,
    MessageKind.TEXT_THERAPY: pb.MESSAGE_KIND_TEXT_THERAPY,
    MessageKind.EMAIL: pb.MESSAGE_KIND_EMAIL,
    MessageKind.SYSTEM: pb.MESSAGE_KIND_SYSTEM,
}
RISK_SIGNAL = {
    RiskSignal.SUICIDE: ev.RISK_SIGNAL_SUICIDE,
    RiskSignal.SELF_HARM: ev.RISK_SIGNAL_SELF_HARM,
    RiskSignal.HARM_TO_OTHERS: ev.RISK_SIGNAL_HARM_TO_OTHERS,
}


def message_sent(thread: Thread, message: Message) -> ev.MessageSent:
    return ev.MessageSent(
        thread_id=str(thread.id),
        message_id=str(message.id),
        sequence=message.sequence,
        practice_id=thread.practice_id,
        client_id=str(thread.client_id),
        author_id=str(message.author_id) if message.author_id else "",
        author_role=AUTHOR_ROLE[message.author_role],
        kind=MESSAGE_KIND[message.kind],
        amends_message_id=str(message.amends_message_id) if message.amends_message_id else "",
        attachment_count=len(message.attachments),
        occurred_at=timestamp(message.sent_at),
    )


def risk_flagged(flag: RiskFlag, care_team: Iterable[UUID]) -> ev.RiskFlagged:
    return ev.RiskFlagged(
        client_id=str(flag.client_id),
        practice_id=flag.practice_id,
        risk_flag_id=str(flag.id),
        thread_id=str(flag.thread_id),
        message_id=str(flag.message_id),
        signals=[RISK_SIGNAL[RiskSignal(s)] for s in flag.signals],
        matched_rule_codes=list(flag.rule_codes),
        rule_ids=list(RULE_IDS),
        care_team_clinician_ids=sorted(str(c) for c in care_team),
        occurred_at=timestamp(flag.created_at),
    )


def notification_requested(
    *,
    notification_id: UUID,
    recipient_id: UUID,
    practice_id: str,
    purpose: ev.NotificationPurpose.ValueType,
    channels: Iterable[ev.NotificationChannel.ValueType],
    now: datetime,
    thread_id: UUID | None = None,
    appointment_id: str = "",
    deliver_after: datetime | None = None,
) -> ev.NotificationRequested:
    event = ev.NotificationRequested(
        notification_id=str(notification_id),
        recipient_id=str(recipient_id),
        practice_id=practice_id,
        purpose=purpose,
        channels=list(channels),
        thread_id=str(thread_id) if thread_id else "",
        appointment_id=appointment_id,
        occurred_at=timestamp(now),
    )
    if deliver_after is not None:
        event.deliver_after.CopyFrom(timestamp(deliver_after))
    return event


def reply_overdue(obligation: ReplyObligation, care_team: Iterable[UUID], now: datetime) -> ev.ReplyOverdue:
    return ev.ReplyOverdue(
        thread_id=str(obligation.thread_id),
        message_id=str(obligation.message_id),
        practice_id=obligation.practice_id,
        client_id=str(obligation.client_id),
        care_team_clinician_ids=sorted(str(c) for c in care_team),
        due_at=timestamp(obligation.due_at),
        occurred_at=timestamp(now),
    )

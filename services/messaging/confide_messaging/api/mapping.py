"""Wire ↔ domain for the messaging API: requests → commands (every field checked here, at the edge,
INVALID_ARGUMENT naming the field), domain records → response messages."""

from __future__ import annotations

import re
from datetime import time
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from confide.messaging.v1 import messaging_pb2 as pb
from confide_chassis.errors import ValidationCollector
from confide_chassis.ids import parse_id
from confide_chassis.wire import optional_timestamp, timestamp
from confide_messaging.app.commands import AmendMessage, CreateThread, MarkRead, SendMessage
from confide_messaging.app.events import AUTHOR_ROLE, MESSAGE_KIND
from confide_messaging.app.messaging import ThreadView
from confide_messaging.app.notifications import SetPreferences
from confide_messaging.app.ports import ContactPreferences
from confide_messaging.domain import crisis
from confide_messaging.domain.notifications import QuietHours
from confide_messaging.domain.reply_times import ReplyPolicy
from confide_messaging.domain.threads import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    MAX_BODY_CHARS,
    MAX_REASON_CHARS,
    SHA256_HEX,
    Attachment,
    AuthorRole,
    Message,
    MessageKind,
    ReadReceipt,
)

MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")
SENDABLE_KINDS = {
    pb.MESSAGE_KIND_LIVE_CHAT: MessageKind.LIVE_CHAT,
    pb.MESSAGE_KIND_TEXT_THERAPY: MessageKind.TEXT_THERAPY,
    pb.MESSAGE_KIND_EMAIL: MessageKind.EMAIL,
}
_CHANNEL = {
    crisis.ResourceChannel.CALL: pb.CRISIS_CHANNEL_CALL,
    crisis.ResourceChannel.TEXT: pb.CRISIS_CHANNEL_TEXT,
    crisis.ResourceChannel.CHAT: pb.CRISIS_CHANNEL_CHAT,
}


def _id(errors: ValidationCollector, value: str, field: str) -> UUID:
    parsed = parse_id(value)
    if parsed is None:
        errors.add(field, "must be a UUID")
        return UUID(int=0)
    return parsed


def _text(errors: ValidationCollector, value: str, field: str, limit: int) -> str:
    if not value.strip():
        errors.add(field, "must not be empty")
    elif len(value) > limit:
        errors.add(field, f"at most {limit} characters")
    return value


def _page(errors: ValidationCollector, value: int, default: int, limit: int) -> int:
    if value < 0 or value > limit:
        errors.add("page_size", f"0..{limit}")
    return value or default


def _attachments(errors: ValidationCollector, items: list[pb.Attachment]) -> tuple[Attachment, ...]:
    if len(items) > MAX_ATTACHMENTS:
        errors.add("attachments", f"at most {MAX_ATTACHMENTS}")
        return ()
    out: list[Attachment] = []
    for i, a in enumerate(items):
        path = f"attachments[{i}]"
        errors.require(0 < len(a.object_key) <= 512, f"{path}.object_key", "1..512 characters")
        errors.require(
            SHA256_HEX.match(a.sha256) is not None, f"{path}.sha256", "64 lower-case hex characters"
        )
        errors.require(0 < a.size_bytes <= MAX_ATTACHMENT_BYTES, f"{path}.size_bytes", "1..104857600")
        errors.require(
            MEDIA_TYPE.match(a.media_type) is not None,
            f"{path}.media_type",
            "a media type like application/pdf",
        )
        out.append(Attachment(a.object_key, a.sha256, a.size_bytes, a.media_type))
    return tuple(out)


def create_thread(request: pb.CreateThreadRequest) -> CreateThread:
    errors = ValidationCollector()
    command = CreateThread(_id(errors, request.client_id, "client_id"))
    errors.raise_if_any()
    return command


def thread_id(request: pb.GetThreadRequest) -> UUID:
    errors = ValidationCollector()
    value = _id(errors, request.thread_id, "thread_id")
    errors.raise_if_any()
    return value


def list_threads_limit(request: pb.ListThreadsRequest) -> int:
    errors = ValidationCollector()
    limit = _page(errors, request.page_size, 50, 100)
    errors.raise_if_any()
    return limit


def send_message(request: pb.SendMessageRequest) -> SendMessage:
    errors = ValidationCollector()
    kind = SENDABLE_KINDS.get(request.kind)
    if kind is None:
        errors.add("kind", "LIVE_CHAT, TEXT_THERAPY or EMAIL")
    command = SendMessage(
        thread_id=_id(errors, request.thread_id, "thread_id"),
        kind=kind or MessageKind.LIVE_CHAT,
        body=_text(errors, request.body, "body", MAX_BODY_CHARS),
        attachments=_attachments(errors, list(request.attachments)),
    )
    errors.raise_if_any()
    return command


def amend_message(request: pb.AmendMessageRequest) -> AmendMessage:
    errors = ValidationCollector()
    command = AmendMessage(
        message_id=_id(errors, request.message_id, "message_id"),
        body=_text(errors, request.body, "body", MAX_BODY_CHARS),
        reason=_text(errors, request.reason, "reason", MAX_REASON_CHARS),
    )
    errors.raise_if_any()
    return command


def list_messages(request: pb.ListMessagesRequest) -> tuple[UUID, int, int]:
    errors = ValidationCollector()
    thread = _id(errors, request.thread_id, "thread_id")
    errors.require(request.after_sequence >= 0, "after_sequence", "must not be negative")
    limit = _page(errors, request.page_size, 100, 200)
    errors.raise_if_any()
    return thread, request.after_sequence, limit


def mark_read(request: pb.MarkReadRequest) -> MarkRead:
    errors = ValidationCollector()
    thread = _id(errors, request.thread_id, "thread_id")
    errors.require(request.up_to_sequence >= 1, "up_to_sequence", "must be at least 1")
    errors.raise_if_any()
    return MarkRead(thread, request.up_to_sequence)


def stream_messages(request: pb.StreamMessagesRequest) -> tuple[UUID, int]:
    errors = ValidationCollector()
    thread = _id(errors, request.thread_id, "thread_id")
    errors.require(request.after_sequence >= 0, "after_sequence", "must not be negative")
    errors.raise_if_any()
    return thread, request.after_sequence


# --- responses -------------------------------------------------------------------------------------


def message_pb(message: Message) -> pb.Message:
    return pb.Message(
        message_id=str(message.id),
        thread_id=str(message.thread_id),
        sequence=message.sequence,
        kind=MESSAGE_KIND[message.kind],
        author_id=str(message.author_id) if message.author_id else "",
        author_role=AUTHOR_ROLE[message.author_role],
        body=message.body,
        attachments=[
            pb.Attachment(
                object_key=a.object_key, sha256=a.sha256, size_bytes=a.size_bytes, media_type=a.media_type
            )
            for a in message.attachments
        ],
        send_time=timestamp(message.sent_at),
        amends_message_id=str(message.amends_message_id) if message.amends_message_id else "",
        amendment_reason=message.amendment_reason or "",
        amended_by_message_ids=[str(m) for m in message.amended_by],
    )


def participant_pb(user_id: UUID, role: AuthorRole, receipt: ReadReceipt | None) -> pb.Participant:
    return pb.Participant(
        user_id=str(user_id),
        role=AUTHOR_ROLE[role],
        last_read_sequence=receipt.last_read_sequence if receipt else 0,
        read_time=optional_timestamp(receipt.read_at if receipt else None),
    )


def thread_pb(view: ThreadView) -> pb.Thread:
    thread = view.thread
    receipts = {r.participant_id: r for r in view.receipts}
    participants = [participant_pb(thread.client_id, AuthorRole.CLIENT, receipts.get(thread.client_id))]
    participants += [
        participant_pb(c, AuthorRole.CLINICIAN, receipts.get(c))
        for c in sorted(view.team.clinician_ids, key=str)
    ]
    return pb.Thread(
        thread_id=str(thread.id),
        practice_id=thread.practice_id,
        client_id=str(thread.client_id),
        participants=participants,
        last_sequence=thread.last_sequence,
        unread_count=view.unread_count,
        create_time=timestamp(thread.created_at),
        last_message_time=timestamp(thread.last_message_at or thread.created_at),
    )


def crisis_resource_pb(resource: crisis.CrisisResource) -> pb.CrisisResource:
    return pb.CrisisResource(
        code=resource.code,
        name=resource.name,
        channel=_CHANNEL[resource.channel],
        contact=resource.contact,
        instruction=resource.instruction,
    )


# --- notification preferences ------------------------------------------------------------------------

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def set_preferences(request: pb.SetNotificationPreferencesRequest) -> SetPreferences:
    errors = ValidationCollector()
    if not request.HasField("preferences"):
        errors.add("preferences", "required")
        errors.raise_if_any()
    p = request.preferences
    email = p.email_address.strip() or None
    phone = p.phone_number.strip() or None
    if email is not None and (len(email) > 254 or not EMAIL.match(email)):
        errors.add("preferences.email_address", "an e-mail address of at most 254 characters")
    if phone is not None and not E164.match(phone):
        errors.add("preferences.phone_number", "an E.164 number like +13035550100")
    errors.require(
        not p.email_enabled or email is not None, "preferences.email_address", "required for e-mail"
    )
    errors.require(not p.sms_enabled or phone is not None, "preferences.phone_number", "required for SMS")
    quiet: QuietHours | None = None
    if p.HasField("quiet_hours"):
        q = p.quiet_hours
        for name, value in (("start_minute", q.start_minute), ("end_minute", q.end_minute)):
            errors.require(0 <= value < 1440, f"preferences.quiet_hours.{name}", "0..1439")
        if 0 <= q.start_minute < 1440 and 0 <= q.end_minute < 1440:
            quiet = QuietHours(
                time(q.start_minute // 60, q.start_minute % 60), time(q.end_minute // 60, q.end_minute % 60)
            )
    zone = p.time_zone or None
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.add("preferences.time_zone", "an IANA time zone like America/Chicago")
    errors.raise_if_any()
    return SetPreferences(p.email_enabled, email, p.sms_enabled, phone, quiet, zone)


def preferences_pb(contact: ContactPreferences) -> pb.NotificationPreferences:
    prefs = contact.preferences
    out = pb.NotificationPreferences(
        email_enabled=prefs.email_enabled and contact.email_address is not None,
        email_address=contact.email_address or "",
        sms_enabled=prefs.sms_enabled and contact.phone_number is not None,
        phone_number=contact.phone_number or "",
        time_zone=prefs.time_zone or "",
    )
    if prefs.quiet_hours is not None:
        start, end = prefs.quiet_hours.start, prefs.quiet_hours.end
        out.quiet_hours.CopyFrom(
            pb.QuietHours(start_minute=start.hour * 60 + start.minute, end_minute=end.hour * 60 + end.minute)
        )
    return out


# --- reply policy ------------------------------------------------------------------------------------


def reply_policy(request: pb.SetReplyPolicyRequest) -> ReplyPolicy:
    errors = ValidationCollector()
    if not request.HasField("policy"):
        errors.add("policy", "required")
        errors.raise_if_any()
    p = request.policy
    errors.require(1 <= p.target_working_hours <= 72, "policy.target_working_hours", "1..72")
    days = set(p.working_days)
    errors.require(
        bool(days) and days <= set(range(1, 8)), "policy.working_days", "ISO weekdays 1..7, at least one"
    )
    errors.require(0 <= p.day_start_minute < 1440, "policy.day_start_minute", "0..1439")
    errors.require(
        p.day_start_minute < p.day_end_minute <= 1440,
        "policy.day_end_minute",
        "after the start, at most 1440",
    )
    try:
        ZoneInfo(p.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        errors.add("policy.time_zone", "an IANA time zone like America/Chicago")
    errors.raise_if_any()
    end = time.max if p.day_end_minute == 1440 else time(p.day_end_minute // 60, p.day_end_minute % 60)
    return ReplyPolicy(
        target_working_hours=p.target_working_hours,
        working_days=frozenset(days),
        day_start=time(p.day_start_minute // 60, p.day_start_minute % 60),
        day_end=end,
        time_zone=p.time_zone or "UTC",
    )


def reply_policy_pb(policy: ReplyPolicy) -> pb.ReplyPolicy:
    end = 1440 if policy.day_end == time.max else policy.day_end.hour * 60 + policy.day_end.minute
    return pb.ReplyPolicy(
        target_working_hours=policy.target_working_hours,
        working_days=sorted(policy.working_days),
        day_start_minute=policy.day_start.hour * 60 + policy.day_start.minute,
        day_end_minute=end,
        time_zone=policy.time_zone,
    )

"""Use cases of threads and messages: open, read (audited), send (with the crisis safety net), amend,
mark read. Each opens one unit of work: state, audit events and outgoing events commit together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from confide_chassis import audit
from confide_chassis.auth import Principal
from confide_chassis.errors import FieldViolation, InvalidArgument, PermissionDenied
from confide_chassis.ids import new_id
from confide_messaging import metrics
from confide_messaging.app import events
from confide_messaging.app.commands import AmendMessage, CreateThread, MarkRead, SendMessage
from confide_messaging.app.context import AppContext, actor_of, record_access
from confide_messaging.app.notifications import request_notification
from confide_messaging.app.ports import AttachmentStore, RiskFlag, UnitOfWork
from confide_messaging.app.reply_times import owe_reply
from confide_messaging.domain import crisis
from confide_messaging.domain.notifications import Purpose
from confide_messaging.domain.threads import (
    MAY_NOT_OPEN_THREAD,
    Actor,
    Attachment,
    AuthorRole,
    CareTeam,
    Message,
    MessageKind,
    ReadReceipt,
    Thread,
    attachment_mismatches,
    check_amendable,
    check_sendable,
    may_open_thread,
    participant_role,
)

THREAD = "message_thread"
MESSAGE = "message"


@dataclass(frozen=True, slots=True)
class ThreadView:
    thread: Thread
    team: CareTeam
    receipts: tuple[ReadReceipt, ...]
    unread_count: int


@dataclass(frozen=True, slots=True)
class CrisisResponse:
    resources: tuple[crisis.CrisisResource, ...]
    message: Message
    risk_flag_id: UUID


@dataclass(frozen=True, slots=True)
class SentMessage:
    message: Message
    crisis: CrisisResponse | None = None


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: tuple[Message, ...]
    last_sequence: int


async def _participant(uow: UnitOfWork, actor: Actor, thread_id: UUID) -> tuple[Thread, CareTeam, AuthorRole]:
    thread = await uow.threads.get(thread_id)
    team = await uow.care_teams.team(thread.client_id)
    role = participant_role(
        actor, thread, team, deactivated=await uow.care_teams.is_deactivated(actor.user_id)
    )
    return thread, team, role


async def _view(uow: UnitOfWork, thread: Thread, team: CareTeam, reader: UUID) -> ThreadView:
    receipts = tuple(await uow.reads.receipts(thread.id))
    last_read = next((r.last_read_sequence for r in receipts if r.participant_id == reader), 0)
    unread = await uow.messages.count_from_others_after(thread.id, reader, last_read)
    return ThreadView(thread, team, receipts, unread)


class MessagingUseCases:
    def __init__(self, ctx: AppContext, attachments: AttachmentStore | None = None) -> None:
        self._ctx = ctx
        self._attachments = attachments

    async def _verify_attachments(self, attachments: tuple[Attachment, ...]) -> None:
        """The metadata must describe the uploaded object (checked before any lock is taken)."""
        if self._attachments is None or not attachments:
            return
        violations: list[FieldViolation] = []
        for i, attachment in enumerate(attachments):
            stored = await self._attachments.stat(attachment.object_key)
            for name in attachment_mismatches(
                attachment, stored.sha256 if stored else None, stored.size_bytes if stored else None
            ):
                violations.append(
                    FieldViolation(f"attachments[{i}].{name}", "does not match the uploaded object")
                )
        if violations:
            raise InvalidArgument(violations)

    async def create_thread(self, principal: Principal, command: CreateThread) -> ThreadView:
        actor = actor_of(principal)
        now = self._ctx.now()
        async with self._ctx.uow() as uow:
            team = await uow.care_teams.team(command.client_id)
            profile = await uow.care_teams.profile(command.client_id)
            if profile is not None and profile.practice_id != actor.practice_id:
                raise PermissionDenied(MAY_NOT_OPEN_THREAD)
            may_open_thread(
                actor, command.client_id, team, deactivated=await uow.care_teams.is_deactivated(actor.user_id)
            )
            thread = Thread(
                id=new_id(), practice_id=actor.practice_id, client_id=command.client_id, created_at=now
            )
            await uow.threads.add(thread, created_by=actor.user_id)
            record_access(
                uow, action=audit.CREATE, resource_type=THREAD, resource_id=thread.id,
                subject=thread.client_id, now=now,
            )  # fmt: skip
            view = await _view(uow, thread, team, actor.user_id)
            await uow.commit()
        return view

    async def get_thread(self, principal: Principal, thread_id: UUID) -> ThreadView:
        actor = actor_of(principal)
        async with self._ctx.uow() as uow:
            thread, team, _ = await _participant(uow, actor, thread_id)
            view = await _view(uow, thread, team, actor.user_id)
            record_access(
                uow, action=audit.READ, resource_type=THREAD, resource_id=thread.id,
                subject=thread.client_id, now=self._ctx.now(),
            )  # fmt: skip
            await uow.commit()
        return view

    async def list_threads(self, principal: Principal, limit: int) -> list[ThreadView]:
        actor = actor_of(principal)
        async with self._ctx.uow() as uow:
            if await uow.care_teams.is_deactivated(actor.user_id):
                return []
            found: dict[UUID, Thread] = {}
            if "client" in actor.roles:
                found.update((t.id, t) for t in await uow.threads.of_client(actor.user_id, limit))
            if "clinician" in actor.roles:
                threads = await uow.threads.of_clinician(actor.user_id, actor.practice_id, limit)
                found.update((t.id, t) for t in threads)
            views: list[ThreadView] = []
            for thread in found.values():
                if thread.practice_id != actor.practice_id:
                    continue
                team = await uow.care_teams.team(thread.client_id)
                views.append(await _view(uow, thread, team, actor.user_id))
                record_access(
                    uow, action=audit.SEARCH, resource_type=THREAD, resource_id=thread.id,
                    subject=thread.client_id, now=self._ctx.now(),
                )  # fmt: skip
            await uow.commit()
        views.sort(key=lambda v: v.thread.last_message_at or v.thread.created_at, reverse=True)
        return views[:limit]

    async def send(self, principal: Principal, command: SendMessage) -> SentMessage:
        actor = actor_of(principal)
        check_sendable(command.kind)
        await self._verify_attachments(command.attachments)
        async with self._ctx.uow() as uow:
            thread, team, role = await _participant(uow, actor, command.thread_id)
            now = self._ctx.now()
            message = Message(
                id=new_id(),
                thread_id=thread.id,
                sequence=await uow.threads.next_sequence(thread.id, now),
                kind=command.kind,
                author_id=actor.user_id,
                author_role=role,
                body=command.body,
                sent_at=now,
                attachments=command.attachments,
            )
            await uow.messages.add(message)
            uow.publish(events.message_sent(thread, message))
            record_access(
                uow, action=audit.CREATE, resource_type=MESSAGE, resource_id=message.id,
                subject=thread.client_id, now=now,
            )  # fmt: skip
            for recipient in sorted(({thread.client_id} | team.clinician_ids) - {actor.user_id}, key=str):
                await request_notification(
                    uow, recipient=recipient, practice_id=thread.practice_id, purpose=Purpose.NEW_MESSAGE,
                    now=now, thread_id=thread.id,
                )  # fmt: skip
            if role is AuthorRole.CLIENT and command.kind is MessageKind.TEXT_THERAPY:
                await owe_reply(uow, thread, team, message)  # MSG-04
            elif role is AuthorRole.CLINICIAN:
                await uow.replies.answer(thread.id, now)
            response: CrisisResponse | None = None
            if role is AuthorRole.CLIENT:
                # SAFE-24: checked on the message already stored, so delivery never waits on it.
                assessment = crisis.assess(command.body)
                if assessment.is_crisis:
                    response = await self._crisis_response(uow, thread, team, message, assessment)
            await uow.commit()
        metrics.messages_sent_total.labels(command.kind.value).inc()
        if response is not None:
            metrics.crisis_flags_total.labels().inc()
            if not team.clinician_ids:  # nobody to alert (SAFE-24)
                metrics.crisis_escalation_failures_total.labels("no_care_team").inc()
        return SentMessage(message, response)

    async def _crisis_response(
        self,
        uow: UnitOfWork,
        thread: Thread,
        team: CareTeam,
        message: Message,
        assessment: crisis.CrisisAssessment,
    ) -> CrisisResponse:
        now = self._ctx.now()
        profile = await uow.care_teams.profile(thread.client_id)
        resources = crisis.crisis_resources(profile.home_state if profile else None)
        system_message = Message(
            id=new_id(),
            thread_id=thread.id,
            sequence=await uow.threads.next_sequence(thread.id, now),
            kind=MessageKind.SYSTEM,
            author_id=None,
            author_role=AuthorRole.SYSTEM,
            body=crisis.crisis_message_text(resources),
            sent_at=now,
        )
        await uow.messages.add(system_message)
        flag = RiskFlag(
            id=new_id(),
            thread_id=thread.id,
            message_id=message.id,
            crisis_message_id=system_message.id,
            client_id=thread.client_id,
            practice_id=thread.practice_id,
            rule_codes=assessment.rule_codes,
            signals=tuple(sorted(s.value for s in assessment.signals)),
            created_at=now,
        )
        await uow.risk_flags.add(flag)
        uow.publish(
            events.message_sent(thread, system_message), events.risk_flagged(flag, team.clinician_ids)
        )
        for clinician in sorted(team.clinician_ids, key=str):  # the care-team alert, quiet hours or not
            await request_notification(
                uow, recipient=clinician, practice_id=thread.practice_id, purpose=Purpose.CRISIS_ALERT,
                now=now, thread_id=thread.id,
            )  # fmt: skip
        return CrisisResponse(resources, system_message, flag.id)

    async def amend(self, principal: Principal, command: AmendMessage) -> Message:
        actor = actor_of(principal)
        async with self._ctx.uow() as uow:
            original = await uow.messages.get(command.message_id)
            thread, _, role = await _participant(uow, actor, original.thread_id)
            check_amendable(original, actor.user_id)
            now = self._ctx.now()
            amendment = Message(
                id=new_id(),
                thread_id=thread.id,
                sequence=await uow.threads.next_sequence(thread.id, now),
                kind=original.kind,
                author_id=actor.user_id,
                author_role=role,
                body=command.body,
                sent_at=now,
                amends_message_id=original.id,
                amendment_reason=command.reason,
            )
            await uow.messages.add(amendment)
            uow.publish(events.message_sent(thread, amendment))
            record_access(
                uow, action=audit.UPDATE, resource_type=MESSAGE, resource_id=original.id,
                subject=thread.client_id, now=now, rule_ids=("MSG-05",),
            )  # fmt: skip
            await uow.commit()
        return amendment

    async def list_messages(
        self, principal: Principal, thread_id: UUID, after_sequence: int, limit: int
    ) -> MessagePage:
        actor = actor_of(principal)
        async with self._ctx.uow() as uow:
            thread, _, _ = await _participant(uow, actor, thread_id)
            found = await uow.messages.after(thread.id, after_sequence, limit)
            record_access(
                uow, action=audit.READ, resource_type=THREAD, resource_id=thread.id,
                subject=thread.client_id, now=self._ctx.now(),
            )  # fmt: skip
            await uow.commit()
        return MessagePage(tuple(found), thread.last_sequence)

    async def mark_read(self, principal: Principal, command: MarkRead) -> tuple[ReadReceipt, AuthorRole, int]:
        """The caller's receipt after the change, their role in the thread, and what is still unread."""
        actor = actor_of(principal)
        async with self._ctx.uow() as uow:
            thread, _, role = await _participant(uow, actor, command.thread_id)
            if command.up_to_sequence > thread.last_sequence:
                raise InvalidArgument.field("up_to_sequence", "beyond the thread's last message")
            receipt = await uow.reads.mark(thread.id, actor.user_id, command.up_to_sequence, self._ctx.now())
            unread = await uow.messages.count_from_others_after(
                thread.id, actor.user_id, receipt.last_read_sequence
            )
            await uow.commit()
        return receipt, role, unread

    async def stream(
        self, principal: Principal, thread_id: UUID, after_sequence: int
    ) -> AsyncIterator[Message]:
        """Messages after the cursor, then each new one as it commits, in sequence order.

        The table is the source of truth: a wake-up (NOTIFY from any replica) only says "look again",
        and each look reads the rows after the last sequence delivered, so a lost or duplicated
        wake-up can neither lose nor repeat a message. Access is re-checked on every look, so a
        clinician removed from the care team stops receiving at once.
        """
        actor = actor_of(principal)
        cursor = after_sequence
        subscription = self._ctx.wakeups.subscribe(thread_id)  # before the first read: no gap
        try:
            while True:
                async with self._ctx.uow() as uow:
                    thread, _, _ = await _participant(uow, actor, thread_id)
                    batch = await uow.messages.after(thread.id, cursor, 200)
                    if batch:
                        record_access(
                            uow, action=audit.READ, resource_type=THREAD, resource_id=thread.id,
                            subject=thread.client_id, now=self._ctx.now(),
                        )  # fmt: skip
                        await uow.commit()  # the read is audited before the data leaves
                for message in batch:
                    yield message
                    cursor = message.sequence
                if len(batch) < 200:
                    await subscription.wait(self._ctx.stream_poll_seconds)
        finally:
            subscription.close()

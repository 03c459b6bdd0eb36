"""Text-therapy reply targets (MSG-04): the practice's policy, the replies owed, overdue detection."""

from __future__ import annotations

from datetime import datetime

from confide_chassis.auth import Principal
from confide_chassis.errors import PermissionDenied
from confide_messaging import metrics
from confide_messaging.app import events
from confide_messaging.app.context import AppContext
from confide_messaging.app.ports import ReplyObligation, UnitOfWork
from confide_messaging.domain.reply_times import DEFAULT_POLICY, ReplyPolicy, reply_due
from confide_messaging.domain.threads import CareTeam, Message, Thread


async def owe_reply(uow: UnitOfWork, thread: Thread, team: CareTeam, message: Message) -> ReplyObligation:
    """A client's text-therapy message is due an answer in working time: the practice's policy, in
    the time zone of the care team's clinician (their notification preferences) or the policy's."""
    policy = await uow.replies.policy(thread.practice_id) or DEFAULT_POLICY
    zone: str | None = None
    for clinician in sorted(team.clinician_ids, key=str):
        contact = await uow.preferences.get(clinician)
        if contact is not None and contact.preferences.time_zone:
            zone = contact.preferences.time_zone
            break
    obligation = ReplyObligation(
        message_id=message.id,
        thread_id=thread.id,
        practice_id=thread.practice_id,
        client_id=thread.client_id,
        sent_at=message.sent_at,
        due_at=reply_due(message.sent_at, policy, zone),
    )
    await uow.replies.owe(obligation)
    return obligation


class ReplyTimeUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def get_policy(self, principal: Principal) -> ReplyPolicy:
        async with self._ctx.uow() as uow:
            return await uow.replies.policy(principal.practice_id) or DEFAULT_POLICY

    async def set_policy(self, principal: Principal, policy: ReplyPolicy) -> ReplyPolicy:
        if "practice_admin" not in principal.roles:
            raise PermissionDenied("only a practice admin sets the reply target")
        async with self._ctx.uow() as uow:
            await uow.replies.save_policy(principal.practice_id, policy, self._ctx.now())
            await uow.commit()
        return policy

    async def detect_overdue(self, now: datetime, limit: int = 200) -> int:
        """Report each reply that passed its target once (ReplyOverdue); returns how many."""
        async with self._ctx.uow() as uow:
            overdue = await uow.replies.claim_overdue(now, limit)
            for obligation in overdue:
                team = await uow.care_teams.team(obligation.client_id)
                uow.publish(events.reply_overdue(obligation, team.clinician_ids, now))
            open_count = await uow.replies.open_overdue()
            await uow.commit()
        metrics.replies_overdue_total.labels().inc(len(overdue))
        metrics.replies_overdue_open.labels().set(open_count)
        return len(overdue)

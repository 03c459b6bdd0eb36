"""Notifications without PHI (MSG-03): preferences, requests (new message, reminder, crisis alert)
queued in the same transaction as their cause, and delivery by the notifier ports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from confide.messaging.v1 import events_pb2 as ev
from confide_chassis.auth import Principal
from confide_chassis.ids import new_id
from confide_chassis.logging import get_logger
from confide_messaging import metrics
from confide_messaging.app import events
from confide_messaging.app.context import AppContext, actor_of
from confide_messaging.app.ports import (
    ContactPreferences,
    EmailSender,
    Notification,
    SmsRejected,
    SmsSender,
    UnitOfWork,
)
from confide_messaging.domain.notifications import Channel, Preferences, Purpose, QuietHours, plan, render

log = get_logger(__name__)

MAX_ATTEMPTS = 5
_PURPOSE = {
    Purpose.NEW_MESSAGE: ev.NOTIFICATION_PURPOSE_NEW_MESSAGE,
    Purpose.APPOINTMENT_REMINDER: ev.NOTIFICATION_PURPOSE_APPOINTMENT_REMINDER,
    Purpose.CRISIS_ALERT: ev.NOTIFICATION_PURPOSE_CRISIS_ALERT,
}
_CHANNEL = {Channel.EMAIL: ev.NOTIFICATION_CHANNEL_EMAIL, Channel.SMS: ev.NOTIFICATION_CHANNEL_SMS}


@dataclass(frozen=True, slots=True)
class SetPreferences:
    email_enabled: bool
    email_address: str | None
    sms_enabled: bool
    phone_number: str | None
    quiet_hours: QuietHours | None
    time_zone: str | None


async def request_notification(
    uow: UnitOfWork,
    *,
    recipient: UUID,
    practice_id: str,
    purpose: Purpose,
    now: datetime,
    thread_id: UUID | None = None,
    appointment_id: str | None = None,
) -> Notification | None:
    """Queue a notification per the recipient's preferences (none when no channel is on). A client's
    quiet hours default to their profile's time zone."""
    contact = await uow.preferences.get(recipient)
    preferences = contact.preferences if contact else Preferences()
    profile = await uow.care_teams.profile(recipient)
    decided = plan(preferences, purpose, now, fallback_zone=profile.time_zone if profile else None)
    if decided is None:
        if purpose is Purpose.CRISIS_ALERT:
            metrics.crisis_escalation_failures_total.labels("no_channel").inc()
            log.warning("crisis alert not queued: the clinician has no notification channel")
        return None
    notification = Notification(
        id=new_id(),
        recipient_id=recipient,
        practice_id=practice_id,
        purpose=purpose,
        channels=decided.channels,
        deliver_after=decided.deliver_after,
        created_at=now,
        thread_id=thread_id,
        appointment_id=appointment_id,
    )
    if not await uow.notifications.add(notification):
        return None  # one is already pending for this thread: it covers this message too
    uow.publish(
        events.notification_requested(
            notification_id=notification.id,
            recipient_id=recipient,
            practice_id=practice_id,
            purpose=_PURPOSE[purpose],
            channels=[_CHANNEL[c] for c in decided.channels],
            now=now,
            thread_id=thread_id,
            appointment_id=appointment_id or "",
            deliver_after=decided.deliver_after if decided.deliver_after > now else None,
        )
    )
    return notification


class NotificationUseCases:
    def __init__(
        self, ctx: AppContext, *, email: EmailSender | None, sms: SmsSender | None, portal_url: str
    ) -> None:
        self._ctx = ctx
        self._email = email
        self._sms = sms
        self._portal_url = portal_url

    async def get_preferences(self, principal: Principal) -> ContactPreferences:
        actor = actor_of(principal)
        async with self._ctx.uow() as uow:
            found = await uow.preferences.get(actor.user_id)
        return found or ContactPreferences(actor.user_id, actor.practice_id, Preferences(), None, None)

    async def set_preferences(self, principal: Principal, command: SetPreferences) -> ContactPreferences:
        actor = actor_of(principal)
        contact = ContactPreferences(
            user_id=actor.user_id,
            practice_id=actor.practice_id,
            preferences=Preferences(
                email_enabled=command.email_enabled,
                sms_enabled=command.sms_enabled,
                has_email=command.email_address is not None,
                has_phone=command.phone_number is not None,
                quiet_hours=command.quiet_hours,
                time_zone=command.time_zone,
            ),
            email_address=command.email_address,
            phone_number=command.phone_number,
        )
        async with self._ctx.uow() as uow:
            await uow.preferences.save(contact, self._ctx.now())
            await uow.commit()
        return contact

    async def remind(
        self, uow: UnitOfWork, *, client_id: UUID, practice_id: str, appointment_id: str, now: datetime
    ) -> Notification | None:
        """scheduling's ReminderDue: tell the client an appointment is coming (no details, MSG-03)."""
        return await request_notification(
            uow,
            recipient=client_id,
            practice_id=practice_id,
            purpose=Purpose.APPOINTMENT_REMINDER,
            now=now,
            appointment_id=appointment_id,
        )

    async def alert_care_team(
        self, uow: UnitOfWork, *, client_id: UUID, practice_id: str, clinician_ids: list[UUID], now: datetime
    ) -> list[Notification]:
        """A screening flagged the client (scheduling's RiskFlagged): alert the care team named in the
        flag, or the client's care team now when the flag names none. Quiet hours do not apply."""
        team = clinician_ids or sorted((await uow.care_teams.team(client_id)).clinician_ids, key=str)
        if not team:
            metrics.crisis_escalation_failures_total.labels("no_care_team").inc()
            log.warning("crisis alert not queued: the client has no care team")
        queued: list[Notification] = []
        for clinician in team:
            notification = await request_notification(
                uow, recipient=clinician, practice_id=practice_id, purpose=Purpose.CRISIS_ALERT, now=now
            )
            if notification is not None:
                queued.append(notification)
        return queued

    async def deliver_due(self, now: datetime, limit: int = 50) -> int:
        """Send what is due; returns how many were sent. Failures retry a minute later, up to
        MAX_ATTEMPTS; a channel with no configured sender or a refused number gives up at once."""
        sent = 0
        async with self._ctx.uow() as uow:
            for notification in await uow.notifications.claim_due(now, limit):
                contact = await uow.preferences.get(notification.recipient_id)
                delivered, permanent = await self._deliver(notification, contact)
                if not delivered and notification.purpose is Purpose.CRISIS_ALERT:
                    metrics.crisis_escalation_failures_total.labels("undelivered").inc()
                sent += int(delivered)
                await uow.notifications.mark(
                    notification.id,
                    sent=delivered,
                    now=now,
                    give_up=permanent or notification.attempts + 1 >= MAX_ATTEMPTS,
                )
            await uow.commit()
        return sent

    async def _deliver(
        self, notification: Notification, contact: ContactPreferences | None
    ) -> tuple[bool, bool]:
        """(delivered on at least one channel, failure is permanent)."""
        if contact is None:
            return False, True
        delivered, permanent = False, True
        for channel in notification.channels:
            content = render(notification.purpose, self._portal_url, channel)
            try:
                if channel is Channel.EMAIL and self._email is not None and contact.email_address:
                    await self._email.send(contact.email_address, content.subject, content.text)
                elif channel is Channel.SMS and self._sms is not None and contact.phone_number:
                    await self._sms.send(contact.phone_number, content.text)
                else:
                    metrics.notifications_sent_total.labels(channel.value, "no_sender").inc()
                    continue
            except SmsRejected:
                metrics.notifications_sent_total.labels(channel.value, "rejected").inc()
                continue
            except Exception as exc:  # provider down: retry later
                log.warning("notification not delivered", channel=channel.value, error=type(exc).__name__)
                metrics.notifications_sent_total.labels(channel.value, "error").inc()
                permanent = False
                continue
            metrics.notifications_sent_total.labels(channel.value, "sent").inc()
            delivered = True
        return delivered, permanent and not delivered

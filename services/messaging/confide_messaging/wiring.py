"""The messaging service process: ``SPEC`` for ``confide_chassis.service.main`` and for tests.

    python -m confide_messaging serve        # gRPC + outbox relay + identity projection + live-stream LISTEN
    python -m confide_messaging migrate      # Alembic upgrade head
    python -m confide_messaging rotate-kek   # re-wrap every thread key under MESSAGING_ACTIVE_KEK_ID

The ONE module that builds adapters, the AppContext, use cases, servicers, consumers and jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from confide.messaging.v1 import messaging_pb2_grpc as pb_grpc
from confide_chassis import db
from confide_chassis.logging import get_logger
from confide_chassis.service import ServiceContext, ServiceSpec
from confide_chassis.settings import ConfigurationError, ServiceSettings
from confide_messaging.adapters.sms import RecordingSmsProvider
from confide_messaging.adapters.smtp import SmtpEmailSender
from confide_messaging.api.messaging import (
    NOTIFICATION_SERVICE,
    REPLY_POLICY_SERVICE,
    SERVICE,
    MessagingServicer,
    NotificationServicer,
    ReplyPolicyServicer,
)
from confide_messaging.app.context import AppContext, utc_now
from confide_messaging.app.messaging import MessagingUseCases
from confide_messaging.app.notifications import NotificationUseCases
from confide_messaging.app.ports import AttachmentStore, EmailSender, SmsSender
from confide_messaging.app.reply_times import ReplyTimeUseCases
from confide_messaging.db.envelope import KeyRing, StoredAnswerSealer
from confide_messaging.db.repositories import SqlCareTeams, rewrap_data_keys
from confide_messaging.db.uow import SessionUnitOfWork, SqlMessagingUnitOfWork
from confide_messaging.db.wakeups import PgThreadWakeups
from confide_messaging.events.consumers import (
    IDENTITY_TOPICS,
    SCHEDULING_TOPICS,
    identity_handler,
    reminder_handler,
)
from confide_messaging.settings import MessagingSettings

log = get_logger(__name__)

MIGRATIONS = Path(
    os.environ.get("MESSAGING_MIGRATIONS_DIR") or Path(__file__).resolve().parent.parent / "migrations"
)


def messaging_settings(settings: ServiceSettings) -> MessagingSettings:
    if isinstance(settings, MessagingSettings):
        return settings
    return MessagingSettings.model_validate(settings.model_dump())


def key_ring(settings: MessagingSettings) -> KeyRing:
    """KEKs from MESSAGING_KEKS; a fixed development KEK only in dev mode (`make run`)."""
    if settings.keks is not None and settings.keks.get_secret_value().strip():
        return KeyRing.parse(settings.keks.get_secret_value(), settings.active_kek_id)
    if settings.dev_mode:
        log.warning("MESSAGING_KEKS unset: using the development KEK (dev mode only)")
        return KeyRing.development()
    raise ConfigurationError("MESSAGING_KEKS is required (or MESSAGING_DEV_MODE=true for a dev stack)")


@dataclass
class Wired:
    """What configure() built, for tests (they call jobs with the instant they want)."""

    app: AppContext
    messaging: MessagingUseCases
    notifications: NotificationUseCases
    replies: ReplyTimeUseCases


def email_sender(settings: MessagingSettings) -> EmailSender | None:
    if not settings.smtp_host:
        return None
    return SmtpEmailSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout_seconds=settings.smtp_timeout_seconds,
    )


def periodic(
    name: str, interval: float, run: Callable[[], Awaitable[object]]
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    async def loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await run()
            except Exception as exc:  # database restarting: next round
                log.warning("background job failed", job=name, error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    return loop


def build_spec(
    *,
    clock: Callable[[], datetime] = utc_now,
    email: EmailSender | None = None,
    sms: SmsSender | None = None,
    attachments: AttachmentStore | None = None,
    background_jobs: bool = True,
    on_configured: Callable[[Wired], None] | None = None,
) -> ServiceSpec:
    """The service spec; the keyword arguments are for tests (defaults: SMTP from settings, the
    recording SMS provider only in dev mode, attachment metadata unverified until an object store
    is wired)."""

    async def configure(ctx: ServiceContext) -> None:
        settings = messaging_settings(ctx.settings)
        keys = key_ring(settings)
        # SendMessage/AmendMessage answers hold the body: the chassis stores them for retries, sealed.
        ctx.interceptor.response_sealer = StoredAnswerSealer(keys)
        sessions = ctx.require_sessions()
        assert ctx.engine is not None
        wakeups = PgThreadWakeups(ctx.engine)
        app = AppContext(
            uow=lambda: SqlMessagingUnitOfWork(sessions, keys),
            wakeups=wakeups,
            clock=clock,
            stream_poll_seconds=settings.stream_poll_seconds,
        )
        messaging = MessagingUseCases(app, attachments)
        notifications = NotificationUseCases(
            app,
            email=email or email_sender(settings),
            sms=sms or (RecordingSmsProvider() if settings.dev_mode else None),
            portal_url=settings.portal_url,
        )
        replies = ReplyTimeUseCases(app)
        pb_grpc.add_MessagingServiceServicer_to_server(MessagingServicer(messaging), ctx.server)
        pb_grpc.add_ReplyPolicyServiceServicer_to_server(ReplyPolicyServicer(replies), ctx.server)
        pb_grpc.add_NotificationServiceServicer_to_server(NotificationServicer(notifications), ctx.server)
        # Who may call: the access option on each RPC.
        ctx.add_grpc_service(SERVICE)
        ctx.add_grpc_service(NOTIFICATION_SERVICE)
        ctx.add_grpc_service(REPLY_POLICY_SERVICE)
        ctx.add_consumer("identity-projections", IDENTITY_TOPICS, identity_handler(SqlCareTeams))
        ctx.add_consumer(
            "scheduling-reminders",
            SCHEDULING_TOPICS,
            reminder_handler(lambda session: SessionUnitOfWork(session, keys), notifications, app.now),
        )
        ctx.add_background("live-stream-listen", wakeups.run)
        if background_jobs:
            ctx.add_background(
                "notifications",
                periodic(
                    "notifications",
                    settings.notification_interval_seconds,
                    lambda: notifications.deliver_due(app.now()),
                ),
            )
            ctx.add_background(
                "reply-overdue",
                periodic(
                    "reply-overdue",
                    settings.reply_overdue_interval_seconds,
                    lambda: replies.detect_overdue(app.now()),
                ),
            )
        if on_configured is not None:
            on_configured(Wired(app, messaging, notifications, replies))

    return ServiceSpec(
        name="messaging",
        settings_type=MessagingSettings,
        configure=configure,
        migrations=MIGRATIONS,
        commands={"rotate-kek": rotate_kek_command},
    )


async def rotate_kek(settings: MessagingSettings, clock: Callable[[], datetime] = utc_now) -> int:
    """Re-wrap every thread data key under the active KEK, in small transactions (no downtime:
    readers unwrap with whichever configured KEK a key names). Returns how many keys moved."""
    if not settings.database_url:
        raise ConfigurationError("MESSAGING_DATABASE_URL is required")
    keys = key_ring(settings)
    engine = db.create_engine(settings.database_url)
    sessions = db.session_factory(engine)
    moved = 0
    try:
        while True:
            async with sessions() as session, session.begin():
                count = await rewrap_data_keys(session, keys, clock())
            moved += count
            if count == 0:
                return moved
    finally:
        await engine.dispose()


def rotate_kek_command(settings: ServiceSettings, args: list[str]) -> int:
    moved = asyncio.run(rotate_kek(messaging_settings(settings)))
    sys.stdout.write(f"re-wrapped {moved} thread keys under the active KEK\n")
    return 0


SPEC = build_spec()

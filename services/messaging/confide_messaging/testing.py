"""Helpers for integration tests: migrate, start in-process (several replicas on one database),
produce identity events, sign tokens. Pure plumbing around the public pieces; imports no other service."""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from confide.common.v1 import jurisdiction_pb2
from confide.identity.v1 import events_pb2 as identity_events
from confide_chassis import migrations
from confide_chassis.auth import TokenVerifier
from confide_chassis.service import RunningService, start
from confide_chassis.testkit import publish
from confide_messaging.app.ports import AttachmentStore, EmailSender, SmsSender
from confide_messaging.settings import MessagingSettings
from confide_messaging.wiring import MIGRATIONS, Wired, build_spec


def new_kek() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def migrate(database_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, database_url)


def settings_for_tests(database_url: str, bootstrap_servers: str, **overrides: Any) -> MessagingSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap_servers,
        "grpc_port": 0,
        "metrics_port": 0,
        "readiness_interval_seconds": 0.3,
        "outbox_poll_interval_seconds": 0.2,
        "consumer_backoff_initial_seconds": 0.05,
        "keks": f"test-1:{new_kek()}",
    }
    values.update(overrides)
    return MessagingSettings(**values)


@dataclass
class StartedMessaging:
    running: RunningService
    wired: Wired

    @property
    def port(self) -> int:
        return self.running.port


async def start_messaging(
    database_url: str,
    bootstrap_servers: str,
    *,
    verifier: TokenVerifier | None = None,
    clock: Callable[[], datetime] | None = None,
    email: EmailSender | None = None,
    sms: SmsSender | None = None,
    attachments: AttachmentStore | None = None,
    background_jobs: bool = False,
    migrate_first: bool = True,
    **overrides: Any,
) -> StartedMessaging:
    if migrate_first:
        await migrate(database_url)
    """Migrate and start messaging in-process. Background jobs (notification delivery) are off by
    default: tests call the use cases with the instant they want."""
    captured: list[Wired] = []
    spec = build_spec(
        clock=clock or (lambda: datetime.now(UTC)),
        email=email,
        sms=sms,
        attachments=attachments,
        background_jobs=background_jobs,
        on_configured=captured.append,
    )
    running = await start(
        spec, settings_for_tests(database_url, bootstrap_servers, **overrides), verifier=verifier
    )
    return StartedMessaging(running, captured[0])


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


async def produce(producer: AIOKafkaProducer, message: Message, *, source: str = "//confide/identity") -> str:
    """Publish an event exactly as a Confide outbox relay would (key, CloudEvents headers)."""
    return await publish(producer, message, source=source)


def care_team_assigned(client_id: str, practice_id: str, clinician_id: str, link_id: str) -> Message:
    return identity_events.CareTeamAssigned(
        client_id=client_id,
        practice_id=practice_id,
        link_id=link_id,
        clinician_id=clinician_id,
        assigned_by=str(uuid.uuid4()),
        occurred_at=ts(datetime.now(UTC)),
    )


def care_team_removed(client_id: str, practice_id: str, clinician_id: str, link_id: str) -> Message:
    return identity_events.CareTeamRemoved(
        client_id=client_id,
        practice_id=practice_id,
        link_id=link_id,
        clinician_id=clinician_id,
        reason=identity_events.CARE_TEAM_REMOVAL_REASON_REMOVED,
        removed_by=str(uuid.uuid4()),
        occurred_at=ts(datetime.now(UTC)),
    )


def profile_changed(
    client_id: str, practice_id: str, *, state: str = "CO", time_zone: str = "America/Denver"
) -> Message:
    return identity_events.ClientProfileChanged(
        client_id=client_id,
        practice_id=practice_id,
        profile_version=1,
        home_state=jurisdiction_pb2.Jurisdiction.Value(f"JURISDICTION_{state}"),
        time_zone=time_zone,
        occurred_at=ts(datetime.now(UTC)),
    )


def user_deactivated(user_id: str, practice_id: str) -> Message:
    return identity_events.UserDeactivated(
        user_id=user_id,
        practice_id=practice_id,
        deactivated_by=str(uuid.uuid4()),
        occurred_at=ts(datetime.now(UTC)),
    )


async def eventually(check: Callable[[], Any], *, wait_seconds: float = 20.0, interval: float = 0.1) -> Any:
    """Await ``check()`` (sync or async) until it returns a truthy value."""
    deadline = time.monotonic() + wait_seconds
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)

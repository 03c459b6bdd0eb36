"""Helpers for integration tests: migrate, start in-process, produce identity events, read Kafka.

Pure plumbing around the public pieces (SPEC builder, settings, event envelope); it imports no other
service. Tests that need compliance start the real compliance service themselves.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from confide.identity.v1 import events_pb2 as identity_events
from confide.identity.v1 import identity_pb2
from confide_chassis import migrations
from confide_chassis.auth import TokenVerifier
from confide_chassis.events import header_value
from confide_chassis.service import RunningService, start
from confide_chassis.testkit import publish
from confide_scheduling.app.context import AppContext
from confide_scheduling.app.event_messages import state_to_pb
from confide_scheduling.app.ports import AuthorizationPort, VideoRoomPort
from confide_scheduling.settings import SchedulingSettings
from confide_scheduling.wiring import MIGRATIONS, build_spec


async def migrate(database_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, database_url)


def settings_for_tests(database_url: str, bootstrap_servers: str, **overrides: Any) -> SchedulingSettings:
    """Free ports, no metrics, fast relay and readiness, check-in open an hour ahead, no minimum notice."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap_servers,
        "grpc_port": 0,
        "metrics_port": 0,
        "readiness_interval_seconds": 0.3,
        "outbox_poll_interval_seconds": 0.2,
        "consumer_backoff_initial_seconds": 0.05,
        "check_in_opens_minutes": 60,
        "min_notice_minutes": 0,
    }
    values.update(overrides)
    return SchedulingSettings(**values)


@dataclass
class StartedScheduling:
    running: RunningService
    deps: AppContext

    @property
    def port(self) -> int:
        return self.running.port


async def start_scheduling(
    database_url: str,
    bootstrap_servers: str,
    *,
    verifier: TokenVerifier | None = None,
    authorization: AuthorizationPort | None = None,
    video: VideoRoomPort | None = None,
    clock: Callable[[], datetime] | None = None,
    background_jobs: bool = False,
    migrate_first: bool = True,
    **overrides: Any,
) -> StartedScheduling:
    """Migrate and start scheduling in-process. Background jobs are off by default: tests call
    ``confide_scheduling.app.jobs`` with the instant they want."""
    if migrate_first:
        await migrate(database_url)
    captured: list[AppContext] = []
    spec = build_spec(
        clock=clock or (lambda: datetime.now(UTC)),
        authorization=authorization,
        video=video,
        on_configured=captured.append,
        background_jobs=background_jobs,
    )
    running = await start(
        spec, settings_for_tests(database_url, bootstrap_servers, **overrides), verifier=verifier
    )
    return StartedScheduling(running, captured[0])


def ts(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


async def produce(producer: AIOKafkaProducer, message: Message, *, source: str = "//confide/identity") -> str:
    """Publish an event exactly as a Confide outbox relay would (key, CloudEvents headers)."""
    return await publish(producer, message, source=source)


def profile_changed(
    client_id: str,
    practice_id: str,
    *,
    home_state: str = "CO",
    time_zone: str = "America/Denver",
    version: int = 1,
    payer: identity_pb2.PayerType.ValueType = identity_pb2.PAYER_TYPE_SELF_PAY,
) -> identity_events.ClientProfileChanged:
    return identity_events.ClientProfileChanged(
        client_id=client_id,
        practice_id=practice_id,
        profile_version=version,
        home_state=state_to_pb(home_state),
        time_zone=time_zone,
        payer_type=payer,
        occurred_at=ts(datetime.now(UTC)),
    )


def consent_signed(
    client_id: str,
    practice_id: str,
    *,
    state: str = "CO",
    version: int = 1,
    modalities: Sequence[identity_pb2.Modality.ValueType] = (
        identity_pb2.MODALITY_VIDEO,
        identity_pb2.MODALITY_AUDIO_ONLY,
        identity_pb2.MODALITY_LIVE_CHAT,
    ),
) -> identity_events.ConsentSigned:
    now = datetime.now(UTC)
    return identity_events.ConsentSigned(
        client_id=client_id,
        practice_id=practice_id,
        signature_id=str(uuid.uuid4()),
        document_id=f"consent-{practice_id}",
        document_version=version,
        jurisdiction=state_to_pb(state),
        modalities=list(modalities),
        signer_role=identity_pb2.SIGNER_ROLE_CLIENT,
        method=identity_pb2.SIGNATURE_METHOD_CLICK,
        document_effective_at=ts(now - timedelta(days=30)),
        occurred_at=ts(now),
    )


def care_team_assigned(
    client_id: str, practice_id: str, clinician_id: str
) -> identity_events.CareTeamAssigned:
    return identity_events.CareTeamAssigned(
        client_id=client_id,
        practice_id=practice_id,
        link_id=str(uuid.uuid4()),
        clinician_id=clinician_id,
        assigned_by=str(uuid.uuid4()),
        occurred_at=ts(datetime.now(UTC)),
    )


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: str | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


async def read_records(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    until: Callable[[list[Record]], bool],
    keys: Iterable[str] | None = None,
    wait_seconds: float = 20.0,
) -> list[Record]:
    """Read ``topics`` from the beginning (no consumer group) until ``until(records)`` holds; only records
    whose key is in ``keys`` (when given) are kept."""
    wanted = set(keys) if keys is not None else None
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[Record] = []
    try:
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for r in records:
                    key = r.key.decode() if r.key is not None else None
                    if wanted is not None and key not in wanted:
                        continue
                    found.append(Record(r.topic, key, r.value or b"", list(r.headers or ())))
            if until(found):
                return found
        raise AssertionError(f"records did not arrive in time; got {[r.header('ce_type') for r in found]}")
    finally:
        await consumer.stop()


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

"""One stack per test module for the scheduling integration tests: the REAL compliance service and
scheduling, both in-process over real gRPC, PostgreSQL and Kafka; each test builds its own practice
("world") in it.

Identity is not run: its facts reach scheduling the way they do in production, as identity events on
Kafka (client profile, consent, care team), produced here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from google.rpc import error_details_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from confide.common.v1 import jurisdiction_pb2
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_chassis import db
from confide_chassis.grpc.status import details_of, status_from_error
from confide_chassis.outbox import new_producer
from confide_chassis.service import RunningService
from confide_chassis.testkit import TokenFactory
from confide_compliance.domain.credentials import Profession
from confide_compliance.testing import license_, seed_clinician, start_compliance
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_scheduling.testing import (
    StartedScheduling,
    care_team_assigned,
    consent_signed,
    eventually,
    produce,
    profile_changed,
    start_scheduling,
)

TOKENS = TokenFactory()
JITSI_DOMAIN = "meet.confide.test"
JITSI_APP_ID = "confide-test"
JITSI_SECRET = "jitsi-test-secret-0123456789abcdef-0123456789"


# A fixed-offset zone where it is about noon when the test session starts (Etc/GMT+N is UTC-N).
_OFFSET = 12 - datetime.now(UTC).hour
SCHEDULE_ZONE = "UTC" if _OFFSET == 0 else f"Etc/GMT{'-' if _OFFSET > 0 else '+'}{min(abs(_OFFSET), 12)}"


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Stack:
    compliance: RunningService
    scheduling: StartedScheduling
    engine: AsyncEngine
    producer: AIOKafkaProducer
    channel: grpc.aio.Channel
    bootstrap: str

    @property
    def availability(self) -> pb_grpc.AvailabilityServiceAsyncStub:
        return pb_grpc.AvailabilityServiceStub(self.channel)

    @property
    def appointments(self) -> pb_grpc.AppointmentServiceAsyncStub:
        return pb_grpc.AppointmentServiceStub(self.channel)

    @property
    def screening(self) -> pb_grpc.ScreeningServiceAsyncStub:
        return pb_grpc.ScreeningServiceStub(self.channel)

    @property
    def sessions(self) -> pb_grpc.SessionServiceAsyncStub:
        return pb_grpc.SessionServiceStub(self.channel)

    @property
    def series(self) -> pb_grpc.SeriesServiceAsyncStub:
        return pb_grpc.SeriesServiceStub(self.channel)

    @property
    def waitlist(self) -> pb_grpc.WaitlistServiceAsyncStub:
        return pb_grpc.WaitlistServiceStub(self.channel)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def outbox_types(self, key: str) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT event_type FROM outbox WHERE record_key = :k"
                    " AND event_type LIKE 'confide.scheduling.%' ORDER BY seq"
                ),
                {"k": key},
            )
            return [r[0] for r in rows]


@dataclass
class World:
    """A practice with one clinician (licensed in ``licensed``; schedule every day, all day, UTC,
    practising from CO) and clients whose profile (CO), consent (CO, synchronous modalities) and care-team
    link reached scheduling through identity events."""

    stack: Stack
    practice_id: str = field(default_factory=new_id)
    clinician_id: str = field(default_factory=new_id)
    admin_id: str = field(default_factory=new_id)
    clients: list[str] = field(default_factory=list)

    def client(self, index: int = 0) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(self.clients[index], self.practice_id, "client", mfa=False)

    @property
    def clinician(self) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(self.clinician_id, self.practice_id, "clinician")

    @property
    def admin(self) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(self.admin_id, self.practice_id, "practice_admin")

    async def add_client(self, *, consent: bool = True, profile: bool = True, care_team: bool = True) -> str:
        client_id = new_id()
        self.clients.append(client_id)
        producer = self.stack.producer
        if profile:
            await produce(producer, profile_changed(client_id, self.practice_id))
        if consent:
            await produce(producer, consent_signed(client_id, self.practice_id))
        if care_team:
            await produce(producer, care_team_assigned(client_id, self.practice_id, self.clinician_id))
        expected = int(profile) + int(consent) + int(care_team)

        async def arrived() -> bool:
            count = await self.stack.scalar(
                "SELECT (SELECT count(*) FROM client_profiles WHERE client_id = CAST(:c AS uuid))"
                " + (SELECT count(*) FROM consents WHERE client_id = CAST(:c AS uuid))"
                " + (SELECT count(*) FROM care_team_links WHERE client_id = CAST(:c AS uuid))",
                c=client_id,
            )
            return int(count) >= expected

        await eventually(arrived, wait_seconds=30)
        return client_id

    def book_request(
        self, start: datetime, *, client: int = 0, key: str | None = None, **fields: Any
    ) -> pb.BookAppointmentRequest:
        request = pb.BookAppointmentRequest(
            client_id=self.clients[client],
            clinician_id=self.clinician_id,
            session_type_code=fields.pop("session_type_code", "psychotherapy_45"),
            modality=fields.pop("modality", pb.MODALITY_VIDEO),
            idempotency_key=key or new_id(),
            **fields,
        )
        request.start_time.FromDatetime(start)
        return request


async def new_world(
    stack: Stack,
    *,
    clients: int = 1,
    licensed: tuple[str, ...] = ("CO",),
    time_zone: str = SCHEDULE_ZONE,
    **client_options: bool,
) -> World:
    world = World(stack)
    await seed_clinician(
        stack.compliance,
        practice_id=world.practice_id,
        clinician_id=world.clinician_id,
        credentials=[license_(f"lic-{state}", state) for state in licensed],
        practice_jurisdiction="CO",
        primary_profession=Profession.PSYCHOLOGIST,
    )
    schedule = pb.SetWeeklyScheduleRequest(
        clinician_id=world.clinician_id,
        time_zone=time_zone,
        location=jurisdiction_pb2.JURISDICTION_CO,
        modalities=[pb.MODALITY_VIDEO, pb.MODALITY_AUDIO_ONLY, pb.MODALITY_LIVE_CHAT],
        weekly_rules=[
            pb.WeeklyRule(weekday=cast(Any, day), start=pb.TimeOfDay(hours=0), end=pb.TimeOfDay(hours=0))
            for day in range(1, 8)
        ],
        idempotency_key=new_id(),
    )
    await stack.availability.SetWeeklySchedule(schedule, metadata=world.clinician)
    for _ in range(clients):
        await world.add_client(**client_options)
    return world


def next_slot(after: timedelta = timedelta(minutes=2), *, grid_minutes: int = 15) -> datetime:
    """The first grid start at least ``after`` from now where an hour-long session still ends the same
    local day of the test schedules (every day 00:00-24:00 in SCHEDULE_ZONE; a session never spans two
    days' rules). SCHEDULE_ZONE puts the session's local time near noon, so "soon" never falls on the
    next day, whenever the tests run."""
    at = datetime.now(ZoneInfo(SCHEDULE_ZONE)) + after
    minutes = (at.minute // grid_minutes + 1) * grid_minutes
    start = at.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=minutes)
    if start.hour == 23:
        start = start.replace(hour=0, minute=0) + timedelta(days=1)
    return start.astimezone(UTC)


def error_details(error: grpc.aio.AioRpcError) -> list[Any]:
    status = status_from_error(error)
    return details_of(status) if status is not None else []


def rule_ids(error: grpc.aio.AioRpcError) -> list[str]:
    return [
        v.type
        for d in error_details(error)
        if isinstance(d, error_details_pb2.PreconditionFailure)
        for v in d.violations
    ]


def bad_fields(error: grpc.aio.AioRpcError) -> list[str]:
    return [
        v.field
        for d in error_details(error)
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    ]


def error_info(error: grpc.aio.AioRpcError) -> dict[str, str]:
    for d in error_details(error):
        if isinstance(d, error_details_pb2.ErrorInfo):
            return dict(d.metadata)
    return {}


@pytest.fixture(scope="module")
async def stack(postgres_cluster: PostgresCluster, kafka_broker: Any) -> AsyncIterator[Stack]:
    bootstrap = str(kafka_broker.bootstrap_servers)
    compliance_url = await postgres_cluster.create_database_async(unique_database_name("sched_it_compliance"))
    scheduling_url = await postgres_cluster.create_database_async(unique_database_name("sched_it_scheduling"))
    compliance = await start_compliance(compliance_url, bootstrap, verifier=TOKENS.verifier)
    scheduling = await start_scheduling(
        scheduling_url,
        bootstrap,
        verifier=TOKENS.verifier,
        compliance_target=f"127.0.0.1:{compliance.port}",
        jitsi_domain=JITSI_DOMAIN,
        jitsi_app_id=JITSI_APP_ID,
        jitsi_app_secret=JITSI_SECRET,
    )
    engine = db.create_engine(scheduling_url)
    producer = new_producer(bootstrap, client_id="scheduling-it-identity")
    await producer.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{scheduling.port}")
    try:
        yield Stack(compliance, scheduling, engine, producer, channel, bootstrap)
    finally:
        await channel.close()
        await producer.stop()
        await engine.dispose()
        await scheduling.running.stop(grace=0)
        await compliance.stop(grace=0)

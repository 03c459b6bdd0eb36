"""One stack per test module: TWO messaging replicas in-process on the same PostgreSQL database
(real gRPC, real Kafka), the way production runs several pods. Identity is not run: its facts reach
messaging as identity events on Kafka, produced here; each test builds its own practice ("world")."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from google.rpc import error_details_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from confide.messaging.v1 import messaging_pb2 as pb
from confide.messaging.v1 import messaging_pb2_grpc as pb_grpc
from confide_chassis import db
from confide_chassis.grpc.status import details_of, status_from_error
from confide_chassis.outbox import new_producer
from confide_chassis.testkit import TokenFactory
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_messaging.adapters.object_store import InMemoryAttachmentStore
from confide_messaging.testing import (
    StartedMessaging,
    care_team_assigned,
    eventually,
    new_kek,
    produce,
    profile_changed,
    start_messaging,
)

TOKENS = TokenFactory()
# Object storage for attachments (the bytes never reach messaging); tests upload into it first.
ATTACHMENTS = InMemoryAttachmentStore()


def new_id() -> str:
    return str(uuid.uuid4())


def key() -> str:
    return new_id()


@dataclass
class Stack:
    replicas: list[StartedMessaging]
    channels: list[grpc.aio.Channel]
    engine: AsyncEngine
    producer: AIOKafkaProducer
    bootstrap: str
    database_url: str
    kek_spec: str

    def api(self, replica: int = 0) -> pb_grpc.MessagingServiceAsyncStub:
        return pb_grpc.MessagingServiceStub(self.channels[replica])

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(await conn.execute(text(sql), params))

    async def outbox(self, event_type: str, key: str) -> list[bytes]:
        rows = await self.rows(
            "SELECT payload FROM outbox WHERE event_type = :t AND record_key = :k ORDER BY seq",
            t=event_type,
            k=key,
        )
        return [bytes(r[0]) for r in rows]


@dataclass
class World:
    """A practice with clinicians on one client's care team (as identity would announce them)."""

    stack: Stack
    practice_id: str = field(default_factory=new_id)
    client_id: str = field(default_factory=new_id)
    clinician_id: str = field(default_factory=new_id)
    links: dict[str, str] = field(default_factory=dict)

    @property
    def client(self) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(self.client_id, self.practice_id, "client", mfa=False)

    @property
    def clinician(self) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(self.clinician_id, self.practice_id, "clinician")

    def as_clinician(self, clinician_id: str, practice_id: str | None = None) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(clinician_id, practice_id or self.practice_id, "clinician")

    async def assign(self, clinician_id: str) -> None:
        link = new_id()
        self.links[clinician_id] = link
        await produce(
            self.stack.producer, care_team_assigned(self.client_id, self.practice_id, clinician_id, link)
        )
        await eventually(
            lambda: self.stack.scalar(
                "SELECT count(*) FROM care_team_links WHERE link_id = :l AND active", l=link
            ),
            wait_seconds=30,
        )

    async def open_thread(self, replica: int = 0) -> pb.Thread:
        reply = await self.stack.api(replica).CreateThread(
            pb.CreateThreadRequest(client_id=self.client_id, idempotency_key=key()), metadata=self.client
        )
        return reply.thread

    async def send(
        self, thread_id: str, body: str, *, as_client: bool = True, replica: int = 0, **fields: Any
    ) -> pb.SendMessageResponse:
        request = pb.SendMessageRequest(
            thread_id=thread_id,
            kind=fields.pop("kind", pb.MESSAGE_KIND_TEXT_THERAPY),
            body=body,
            idempotency_key=fields.pop("idempotency_key", key()),
            **fields,
        )
        response: pb.SendMessageResponse = await self.stack.api(replica).SendMessage(
            request, metadata=self.client if as_client else self.clinician
        )
        return response


async def new_world(stack: Stack) -> World:
    world = World(stack)
    await produce(stack.producer, profile_changed(world.client_id, world.practice_id, state="CO"))
    await world.assign(world.clinician_id)
    await eventually(
        lambda: stack.scalar(
            "SELECT count(*) FROM client_profiles WHERE client_id = CAST(:c AS uuid)", c=world.client_id
        )
    )
    return world


def error_details(error: grpc.aio.AioRpcError) -> list[Any]:
    status = status_from_error(error)
    return details_of(status) if status is not None else []


def bad_fields(error: grpc.aio.AioRpcError) -> list[str]:
    return [
        v.field
        for d in error_details(error)
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    ]


def rule_ids(error: grpc.aio.AioRpcError) -> list[str]:
    return [
        v.type
        for d in error_details(error)
        if isinstance(d, error_details_pb2.PreconditionFailure)
        for v in d.violations
    ]


@contextlib.asynccontextmanager
async def open_stack(
    postgres_cluster: PostgresCluster, kafka_broker: Any, **options: Any
) -> AsyncIterator[Stack]:
    """Two replicas on one fresh database; `options` go to both (e.g. the notifier ports)."""
    bootstrap = str(kafka_broker.bootstrap_servers)
    url = await postgres_cluster.create_database_async(unique_database_name("messaging_it"))
    kek_spec = f"k1:{new_kek()}"
    common: dict[str, Any] = {
        "verifier": TOKENS.verifier,
        "keks": kek_spec,
        "stream_poll_seconds": 30,
        "attachments": ATTACHMENTS,
        **options,
    }
    first = await start_messaging(url, bootstrap, **common)
    # A second replica on the same database, as in production; its consumers join the same groups.
    second = await start_messaging(url, bootstrap, migrate_first=False, **common)
    replicas = [first, second]
    engine = db.create_engine(url)
    producer = new_producer(bootstrap, client_id="messaging-it-identity")
    await producer.start()
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{r.port}") for r in replicas]
    try:
        yield Stack(replicas, channels, engine, producer, bootstrap, url, kek_spec)
    finally:
        for channel in channels:
            await channel.close()
        await producer.stop()
        await engine.dispose()
        for replica in replicas:
            await replica.running.stop(grace=0)


@pytest.fixture(scope="module")
async def stack(postgres_cluster: PostgresCluster, kafka_broker: Any) -> AsyncIterator[Stack]:
    async with open_stack(postgres_cluster, kafka_broker) as opened:
        yield opened

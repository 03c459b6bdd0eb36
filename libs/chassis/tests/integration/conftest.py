"""Fixtures for chassis tests against the real Kafka broker and PostgreSQL (started once per session)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from confide.devtest.v1 import devtest_pb2
from confide_chassis import db
from confide_chassis.consumer import IdempotentConsumer
from confide_chassis.events import ConsumedEvent, OutgoingEvent
from confide_chassis.ids import new_id_str
from confide_chassis.outbox import new_producer
from confide_devstack.pytest_plugin import new_topic

EFFECTS_DDL = """
CREATE TABLE effects (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL,
    sample_id text NOT NULL,
    sequence int NOT NULL
)
"""


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database_url)
    await db.install_messaging_tables(engine)
    async with engine.begin() as conn:
        await conn.execute(text(EFFECTS_DDL))
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return db.session_factory(engine)


@pytest.fixture
async def bootstrap(kafka_broker: Any) -> str:
    return str(kafka_broker.bootstrap_servers)


@pytest.fixture
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = new_producer(bootstrap, client_id="chassis-test")
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def topic(bootstrap: str) -> str:
    return await new_topic(bootstrap, partitions=3)


@pytest.fixture
async def dlq_topic(bootstrap: str) -> str:
    return await new_topic(bootstrap, partitions=1)


def sample_events(topic: str, aggregates: int, per_aggregate: int) -> list[OutgoingEvent]:
    """Events for `aggregates` samples, each with sequence 1..per_aggregate, interleaved."""
    ids = [new_id_str() for _ in range(aggregates)]
    events = []
    for sequence in range(1, per_aggregate + 1):
        for sample_id in ids:
            message = devtest_pb2.SampleHappened(sample_id=sample_id, sequence=sequence)
            events.append(dataclasses.replace(OutgoingEvent.from_message(message), topic=topic))
    return events


async def write_events(
    sessions: async_sessionmaker[AsyncSession], events: Iterable[OutgoingEvent], per_tx: int = 50
) -> None:
    batch: list[OutgoingEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) == per_tx:
            async with db.UnitOfWork(sessions) as uow:
                uow.publish(*batch)
                await uow.commit()
            batch = []
    if batch:
        async with db.UnitOfWork(sessions) as uow:
            uow.publish(*batch)
            await uow.commit()


async def record_effect(session: AsyncSession, event: ConsumedEvent) -> None:
    message = event.unpack(devtest_pb2.SampleHappened)
    await session.execute(
        text("INSERT INTO effects (event_id, sample_id, sequence) VALUES (:e, :s, :q)"),
        {"e": event.event_id, "s": message.sample_id, "q": message.sequence},
    )


async def effects(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT event_id, sample_id, sequence FROM effects ORDER BY id"))
        return [(r[0], r[1], r[2]) for r in rows]


async def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running_consumer(consumer: IdempotentConsumer) -> AsyncIterator[IdempotentConsumer]:
    stop = asyncio.Event()
    await consumer.start()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield consumer
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await consumer.stop()


async def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list[Any]:
    """Every record of `topic` (at least `expected` of them), read without a consumer group."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for items in batch.values():
                records.extend(items)
        # Give stragglers (duplicates) a moment to show up.
        batch = await consumer.getmany(timeout_ms=300)
        for items in batch.values():
            records.extend(items)
    finally:
        await consumer.stop()
    return records

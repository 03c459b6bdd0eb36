"""Outbox → real Kafka → idempotent consumer: every committed event has its effect exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import textwrap
from collections import defaultdict
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from confide.devtest.v1 import devtest_pb2
from confide_chassis import db
from confide_chassis.consumer import IdempotentConsumer, PoisonEvent, dlq_info
from confide_chassis.events import ConsumedEvent, OutgoingEvent, build_headers
from confide_chassis.ids import new_id_str
from confide_chassis.outbox import OutboxRelay, asyncpg_dsn

from .conftest import (
    effects,
    read_all,
    record_effect,
    running_consumer,
    sample_events,
    wait_until,
    write_events,
)

pytestmark = pytest.mark.integration


def consumer_for(
    sessions: async_sessionmaker[AsyncSession],
    bootstrap: str,
    topic: str,
    dlq_topic: str,
    dlq_producer: AIOKafkaProducer,
    handler: Any = record_effect,
    max_attempts: int = 3,
    name: str | None = None,
) -> IdempotentConsumer:
    return IdempotentConsumer(
        name=name or f"test-{new_id_str()}",
        service="devtest",
        topics=[topic],
        handler=handler,
        sessions=sessions,
        bootstrap_servers=bootstrap,
        dlq_topic=dlq_topic,
        dlq_producer=dlq_producer,
        max_attempts=max_attempts,
        backoff_initial=0.05,
        backoff_max=0.2,
    )


def assert_in_order_per_aggregate(rows: list[tuple[str, str, int]]) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    for _, sample_id, sequence in rows:
        seen[sample_id].append(sequence)
    for sample_id, sequences in seen.items():
        assert sequences == sorted(sequences), f"events of {sample_id} applied out of order"


async def unpublished(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar_one()
        )


async def test_committed_events_reach_the_consumer_exactly_once_and_in_order(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    bootstrap: str,
    producer: AIOKafkaProducer,
    topic: str,
    dlq_topic: str,
) -> None:
    events = sample_events(topic, aggregates=12, per_aggregate=25)
    await write_events(sessions, events, per_tx=40)

    # A transaction that rolls back must publish nothing.
    ghost = sample_events(topic, aggregates=1, per_aggregate=3)
    async with db.UnitOfWork(sessions) as uow:
        uow.publish(*ghost)
        await db.add_events(uow.session, [])
        # leaving without commit() rolls back

    # Two relays at once, as with two replicas, share the outbox without double-publishing a claim.
    relays = [
        OutboxRelay(engine, producer, service="devtest", batch_size=17, poll_interval=0.2) for _ in range(2)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    consumer = consumer_for(sessions, bootstrap, topic, dlq_topic, producer)
    async with running_consumer(consumer):
        await wait_until(lambda: _count(engine, len(events)), timeout=60)
        await asyncio.sleep(1.0)  # anything extra would show up now
    stop.set()
    await asyncio.gather(*tasks)

    rows = await effects(engine)
    assert sorted(r[0] for r in rows) == sorted(e.event_id for e in events)
    assert not {e.event_id for e in ghost} & {r[0] for r in rows}
    assert_in_order_per_aggregate(rows)
    assert await unpublished(engine) == 0


async def _count(engine: AsyncEngine, expected: int) -> bool:
    return len(await effects(engine)) >= expected


RELAY_THAT_DIES = textwrap.dedent(
    """
    import asyncio, sys
    from sqlalchemy.ext.asyncio import create_async_engine
    from confide_chassis.outbox import OutboxRelay, new_producer

    class StallingProducer:
        '''Sends the first N records of the batch, then hangs: the relay dies mid-batch.'''
        def __init__(self, inner, limit):
            self.inner, self.limit, self.sent = inner, limit, 0
        async def send(self, *args, **kwargs):
            if self.sent >= self.limit:
                print("STALLED", flush=True)
                await asyncio.Event().wait()
            self.sent += 1
            future = await self.inner.send(*args, **kwargs)
            await future
            return future

    async def main():
        url, bootstrap, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
        engine = create_async_engine(url)
        producer = new_producer(bootstrap, client_id="doomed-relay")
        await producer.start()
        relay = OutboxRelay(engine, StallingProducer(producer, limit), service="devtest", batch_size=500)
        await relay.publish_batch()

    asyncio.run(main())
    """
)


async def test_relay_killed_mid_batch_then_restarted_loses_and_doubles_nothing(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    bootstrap: str,
    producer: AIOKafkaProducer,
    topic: str,
    dlq_topic: str,
) -> None:
    events = sample_events(topic, aggregates=5, per_aggregate=40)
    await write_events(sessions, events)
    url = engine.url.render_as_string(hide_password=False)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RELAY_THAT_DIES, url, bootstrap, "60", stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    assert line.strip() == b"STALLED"
    os.kill(proc.pid, signal.SIGKILL)  # no chance to commit or clean up
    await proc.wait()

    # 60 records reached Kafka, yet none is marked: the claim died with the relay's transaction.
    assert await unpublished(engine) == len(events)

    restarted = OutboxRelay(engine, producer, service="devtest", batch_size=50)
    # Until PostgreSQL notices the dead client, its row locks stand and the new relay skips those rows
    # (SKIP LOCKED): it keeps polling, as in production, and publishes them once the locks are gone.
    published = 0
    deadline = asyncio.get_running_loop().time() + 60
    while await unpublished(engine) and asyncio.get_running_loop().time() < deadline:
        published += await restarted.drain()
        await asyncio.sleep(0.1)
    assert published == len(events)
    on_kafka = await read_all(bootstrap, topic, expected=len(events) + 60)
    assert len(on_kafka) == len(events) + 60  # the 60 were published twice...

    consumer = consumer_for(sessions, bootstrap, topic, dlq_topic, producer)
    async with running_consumer(consumer):
        await wait_until(lambda: _count(engine, len(events)), timeout=60)
        await asyncio.sleep(1.0)
    rows = await effects(engine)
    assert len(rows) == len(events)  # ...and had their effect once
    assert sorted(r[0] for r in rows) == sorted(e.event_id for e in events)


async def test_a_redelivered_event_has_no_second_effect(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    bootstrap: str,
    producer: AIOKafkaProducer,
    topic: str,
    dlq_topic: str,
) -> None:
    message = devtest_pb2.SampleHappened(sample_id=new_id_str(), sequence=1)
    event = OutgoingEvent.from_message(message)
    headers = build_headers(
        event_id=event.event_id, event_type=event.event_type, source="//test", occurred_at=event.occurred_at
    )
    for _ in range(3):  # the same event, as a producer retry or a replay would deliver it
        await producer.send_and_wait(topic, value=event.payload, key=event.key.encode(), headers=headers)

    consumer = consumer_for(sessions, bootstrap, topic, dlq_topic, producer)
    async with running_consumer(consumer):
        await wait_until(lambda: _count(engine, 1), timeout=30)
        await wait_until(lambda: _outcomes(consumer.name, topic, "duplicate") == 2, timeout=30)
    assert [r[0] for r in await effects(engine)] == [event.event_id]
    # Operators see it: one processed, two duplicates, nothing left to read.
    assert _outcomes(consumer.name, topic, "processed") == 1
    lags = [
        REGISTRY.get_sample_value(
            "confide_consumer_lag_records",
            {"service": "devtest", "consumer": consumer.name, "topic": topic, "partition": p},
        )
        for p in ("0", "1", "2")
    ]
    assert [lag for lag in lags if lag is not None] == [0]  # the one partition with records is drained


def _outcomes(consumer: str, topic: str, outcome: str) -> float:
    labels = {"service": "devtest", "consumer": consumer, "topic": topic, "outcome": outcome}
    return REGISTRY.get_sample_value("confide_consumer_records_total", labels) or 0.0


async def test_failing_handler_is_retried_then_dead_lettered_without_blocking_others(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    bootstrap: str,
    producer: AIOKafkaProducer,
    topic: str,
    dlq_topic: str,
) -> None:
    flaky, broken, poison = new_id_str(), new_id_str(), new_id_str()
    calls: dict[str, int] = defaultdict(int)

    async def handler(session: AsyncSession, event: ConsumedEvent) -> None:
        sample_id = event.unpack(devtest_pb2.SampleHappened).sample_id
        calls[sample_id] += 1
        await record_effect(session, event)  # written, then rolled back when we fail below
        if sample_id == flaky and calls[sample_id] < 3:
            raise ConnectionError("transient")
        if sample_id == broken:
            raise RuntimeError("always fails")
        if sample_id == poison:
            raise PoisonEvent("can never succeed")

    healthy = [new_id_str() for _ in range(3)]
    messages = [
        devtest_pb2.SampleHappened(sample_id=s, sequence=1) for s in [flaky, broken, poison, *healthy]
    ]
    events = [OutgoingEvent.from_message(m) for m in messages]
    await write_events(sessions, [_on(topic, e) for e in events])
    # A record that is not an event at all (no CloudEvents headers).
    await producer.send_and_wait(topic, value=b"\x00garbage", key=b"x")

    assert await OutboxRelay(engine, producer, service="devtest").drain() == len(events)
    consumer = consumer_for(sessions, bootstrap, topic, dlq_topic, producer, handler=handler, max_attempts=4)
    async with running_consumer(consumer):
        await wait_until(lambda: _count(engine, 4), timeout=60)  # flaky + 3 healthy
        dead = await read_all(bootstrap, dlq_topic, expected=3, timeout=30)

    applied = {r[1] for r in await effects(engine)}
    assert applied == {flaky, *healthy}
    assert calls[flaky] == 3
    assert calls[broken] == 4  # max_attempts
    assert calls[poison] == 1  # no retries for poison

    infos = [dlq_info(r.headers) for r in dead]
    by_kind = {i["x-error-type"]: i for i in infos}
    assert set(by_kind) == {"RuntimeError", "PoisonEvent", "EnvelopeError"}
    assert by_kind["RuntimeError"]["x-error-attempts"] == "4"
    assert all(i["x-original-topic"] == topic for i in infos)
    # The broken event's payload is kept intact for replay.
    broken_record = next(r for r in dead if dlq_info(r.headers)["x-error-type"] == "RuntimeError")
    assert devtest_pb2.SampleHappened.FromString(broken_record.value).sample_id == broken


def _on(topic: str, event: OutgoingEvent) -> OutgoingEvent:
    return dataclasses.replace(event, topic=topic)


async def test_relay_wakes_on_notify_without_waiting_for_the_poll(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    bootstrap: str,
    producer: AIOKafkaProducer,
    topic: str,
) -> None:
    published: list[int] = []

    async def observe(count: int) -> None:
        published.append(count)

    relay = OutboxRelay(
        engine, producer, service="devtest", poll_interval=30.0, on_batch_published=observe
    )  # polling alone would take 30 s
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(1.0)  # listening now
    started = asyncio.get_running_loop().time()
    await write_events(sessions, sample_events(topic, aggregates=1, per_aggregate=3))
    await wait_until(lambda: sum(published) >= 3, timeout=10, interval=0.02)
    assert asyncio.get_running_loop().time() - started < 5
    stop.set()
    await task
    assert asyncpg_dsn(engine).startswith("postgresql://")


async def test_a_rebalance_mid_stream_neither_loses_nor_repeats_effects(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    bootstrap: str,
    producer: AIOKafkaProducer,
    topic: str,
    dlq_topic: str,
) -> None:
    """A second replica joins the group while the first is busy: partitions move, effects stay once."""
    events = sample_events(topic, aggregates=9, per_aggregate=40)
    await write_events(sessions, events)
    assert await OutboxRelay(engine, producer, service="devtest").drain() == len(events)

    slow_start = asyncio.Event()

    async def slow_handler(session: AsyncSession, event: ConsumedEvent) -> None:
        await record_effect(session, event)
        if not slow_start.is_set():
            await asyncio.sleep(0.01)  # keep the first replica busy while the second joins

    name = f"replicas-{new_id_str()}"  # same name: same consumer group, same inbox
    first = consumer_for(sessions, bootstrap, topic, dlq_topic, producer, handler=slow_handler, name=name)
    second = consumer_for(sessions, bootstrap, topic, dlq_topic, producer, handler=record_effect, name=name)
    async with running_consumer(first):
        await wait_until(lambda: _count(engine, 30), timeout=60)
        async with running_consumer(second):
            await wait_until(lambda: _count(engine, len(events)), timeout=90)
            slow_start.set()
            assert second.assigned_partitions(), "the second replica never received a partition"
            await asyncio.sleep(1.0)

    rows = await effects(engine)
    assert len(rows) == len(events)
    assert sorted(r[0] for r in rows) == sorted(e.event_id for e in events)
    assert_in_order_per_aggregate(rows)

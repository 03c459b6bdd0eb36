"""Parents for one-to-one flows, links for fan-in (docs/tracing.md), through the real outbox relay,
Kafka and the idempotent consumer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from confide_chassis import db
from confide_chassis.consumer import IdempotentConsumer
from confide_chassis.ids import new_id_str
from confide_chassis.outbox import OutboxRelay
from confide_chassis.telemetry import configure_tracing, instrument_aiokafka

from .conftest import effects, record_effect, running_consumer, sample_events, wait_until

pytestmark = pytest.mark.integration

_exporter = InMemorySpanExporter()
tracer = trace.get_tracer(__name__)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    configure_tracing("trace-shape-test", extra_processors=[SimpleSpanProcessor(_exporter)])
    instrument_aiokafka()
    _exporter.clear()
    yield _exporter
    _exporter.clear()


def ids(span: ReadableSpan) -> tuple[int, int]:
    return span.context.trace_id, span.context.span_id


def parent_ids(span: ReadableSpan) -> tuple[int, int] | None:
    return None if span.parent is None else (span.parent.trace_id, span.parent.span_id)


async def test_each_event_continues_its_request_and_batches_link_to_every_one(
    spans: InMemorySpanExporter,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    bootstrap: str,
    producer: AIOKafkaProducer,
    topic: str,
    dlq_topic: str,
) -> None:
    # Three requests, each writing one event to the outbox in its own trace.
    requests: list[ReadableSpan] = []
    for event in sample_events(topic, aggregates=3, per_aggregate=1):
        with tracer.start_as_current_span("request") as request:
            async with db.UnitOfWork(sessions) as uow:
                uow.publish(event)
                await uow.commit()
        assert isinstance(request, ReadableSpan)
        requests.append(request)
    relay = OutboxRelay(engine, producer, service="devtest")
    assert await relay.publish_batch() == 3  # one batch for all three requests

    consumer = IdempotentConsumer(
        name=f"test-{new_id_str()}",
        service="devtest",
        topics=[topic],
        handler=record_effect,
        sessions=sessions,
        bootstrap_servers=bootstrap,
        dlq_topic=dlq_topic,
        dlq_producer=producer,
    )
    async with running_consumer(consumer):
        await wait_until(lambda: _effects_count(engine, 3))
    finished = spans.get_finished_spans()
    request_ids = {ids(r) for r in requests}

    # The relay's batch: a trace of its own, linked to each request that wrote one of its rows.
    (batch,) = [s for s in finished if s.name == "outbox publish"]
    assert {(link.context.trace_id, link.context.span_id) for link in batch.links} == request_ids
    assert batch.context.trace_id not in {trace_id for trace_id, _ in request_ids}

    # Each send: a child of the request that wrote the row (one-to-one: parent, same trace).
    sends = [
        s
        for s in finished
        if s.kind is SpanKind.PRODUCER
        and s.attributes
        and s.attributes.get("messaging.destination.name") == topic
    ]
    assert {parent_ids(s) for s in sends} == request_ids

    # Each record's processing: a child of its send span; the handler's INSERT inside it.
    processed = [s for s in finished if s.name == f"process {topic}"]
    assert {parent_ids(s) for s in processed} == {ids(s) for s in sends}
    for span in processed:
        writes = [s for s in finished if parent_ids(s) == ids(span) and s.kind is SpanKind.CLIENT]
        assert any("INSERT INTO effects" in str((w.attributes or {}).get("db.statement")) for w in writes), (
            span
        )

    # The consumer's shared transactions: linked to every record's send span; the inbox claim is theirs.
    batches = [s for s in finished if s.name == f"process batch {topic}"]
    assert batches
    linked = {(link.context.trace_id, link.context.span_id) for b in batches for link in b.links}
    assert linked == {ids(s) for s in sends}
    inbox_claims = [
        s for s in finished if "INSERT INTO inbox" in str((s.attributes or {}).get("db.statement"))
    ]
    assert inbox_claims
    assert {parent_ids(s) for s in inbox_claims} <= {ids(b) for b in batches}

    # An empty poll and the backlog metrics start no trace.
    spans.clear()
    assert await relay.publish_batch() == 0
    await relay._update_backlog_metrics()
    assert spans.get_finished_spans() == ()


async def _effects_count(engine: AsyncEngine, expected: int) -> bool:
    return len(await effects(engine)) >= expected

"""Idempotent Kafka consumer: each event has its effect exactly once, whatever Kafka redelivers.

For every record, in partition order:
1. the envelope is checked; a record that is not a valid event is poison and goes to the DLQ;
2. in one database transaction the inbox row `(consumer, event_id)` is inserted and the handler
   runs; if the inbox row already exists the event was handled before and is skipped;
3. a failing handler is retried with exponential backoff; after the last attempt the record goes
   to the consumer's DLQ topic with error headers, and the inbox remembers it as dead-lettered;
4. only then is the offset committed (manual commits), so a crash replays, never skips.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from opentelemetry import trace
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from confide_chassis import metrics
from confide_chassis.db import database_unavailable, inbox_table
from confide_chassis.events import ConsumedEvent, EnvelopeError, header_value
from confide_chassis.idempotency import joined_transaction
from confide_chassis.logging import get_logger
from confide_chassis.retry import backoff_delays
from confide_chassis.telemetry import consume_span, extract_context, linked_span, record_error_class

log = get_logger(__name__)
tracer = trace.get_tracer("confide_chassis.consumer")

Handler = Callable[[AsyncSession, ConsumedEvent], Awaitable[None]]

H_ERROR_TYPE = "x-error-type"
H_ERROR_MESSAGE = "x-error-message"
H_ERROR_CONSUMER = "x-error-consumer"
H_ERROR_ATTEMPTS = "x-error-attempts"
H_ORIGINAL_TOPIC = "x-original-topic"
H_ORIGINAL_PARTITION = "x-original-partition"
H_ORIGINAL_OFFSET = "x-original-offset"


class PoisonEvent(Exception):
    """Raised by a handler for an event that can never succeed; it skips the retries."""


class _FailedAt(Exception):
    """Record number `position` of a shared transaction failed with `error`."""

    def __init__(self, position: int, error: BaseException) -> None:
        super().__init__(position)
        self.position = position
        self.error = error


def _consumed(record: Any) -> ConsumedEvent:
    return ConsumedEvent.from_record(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=list(record.headers or ()),
    )


def _safe_error_text(exc: BaseException) -> str:
    # Exception texts may quote data; keep only the class and the first line, bounded.
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"[:300]


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: IdempotentConsumer) -> None:
        self._owner = consumer

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # Wait for the record in hand so its offset is committed before another member takes over.
        async with self._owner._processing:
            await self._owner._commit_pending()

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info("partitions assigned", consumer=self._owner.name, count=len(assigned))


class IdempotentConsumer:
    def __init__(
        self,
        *,
        name: str,
        service: str,
        topics: Sequence[str],
        handler: Handler,
        sessions: async_sessionmaker[AsyncSession],
        bootstrap_servers: list[str] | str,
        dlq_topic: str,
        dlq_producer: AIOKafkaProducer,
        group_id: str | None = None,
        max_attempts: int = 5,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        auto_offset_reset: str = "earliest",
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self._service = service
        self._topics = list(topics)
        self._handler = handler
        self._sessions = sessions
        self._dlq_topic = dlq_topic
        self._dlq_producer = dlq_producer
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._pending: dict[TopicPartition, int] = {}  # offsets to commit
        self._handled: dict[TopicPartition, int] = {}  # next offset per partition, for the lag gauge
        self._processing = asyncio.Lock()
        self._consumer = AIOKafkaConsumer(
            **dict(security or {}),
            bootstrap_servers=bootstrap_servers,
            group_id=group_id or f"{service}.{name}",
            client_id=f"{service}-{name}",
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            isolation_level="read_committed",
            max_poll_records=100,
        )

    async def start(self) -> None:
        self._consumer.subscribe(self._topics, listener=_CommitOnRevoke(self))
        await self._consumer.start()

    async def stop(self) -> None:
        async with self._processing:
            with contextlib.suppress(KafkaError):
                await self._commit_pending()
        await self._consumer.stop()

    def assigned_partitions(self) -> set[TopicPartition]:
        """The partitions this replica owns right now (changes on every rebalance)."""
        return set(self._consumer.assignment())

    async def _commit_pending(self) -> None:
        """Commit handled offsets of the partitions still owned; a revoked partition's new owner
        re-reads from the last commit and the inbox turns those records into duplicates."""
        if not self._pending:
            return
        owned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in self._pending.items() if tp in owned}
        self._pending = {}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:  # a rebalance overtook us
            log.info("offset commit skipped by a rebalance", consumer=self.name, error=type(exc).__name__)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set. The consumer must have been started."""
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=500, max_records=100)
            for tp, records in batches.items():
                async with self._processing:
                    await self._handle_records(tp, records, stop)
                    await self._commit_pending()
            self._report_lag()

    async def _handle_records(self, tp: TopicPartition, records: Sequence[Any], stop: asyncio.Event) -> None:
        """A partition's records in order: runs of them share one transaction (one commit instead of
        one per record); a record that fails is handled alone, with its retries or the DLQ."""
        index = 0
        while index < len(records):
            if stop.is_set() or tp not in self._consumer.assignment():
                return  # stopping, or the partition moved to another replica in a rebalance
            done, failure = await self._handle_together(records[index:])
            if done:
                index += done
                self._mark_handled(tp, records[index - 1].offset)
            if failure is not None:
                record = records[index]
                await self.process(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    headers=list(record.headers or ()),
                    earlier_failure=failure,
                )
                self._mark_handled(tp, record.offset)
                index += 1

    def _mark_handled(self, tp: TopicPartition, offset: int) -> None:
        self._pending[tp] = offset + 1
        self._handled[tp] = offset + 1

    async def _handle_together(self, records: Sequence[Any]) -> tuple[int, BaseException | None]:
        """Handle leading `records` in one transaction, all or nothing.

        Returns how many leading records are done, and the error of the record right after them if
        it failed. When a record fails, the transaction is rolled back and the records before it are
        handled again on their own, so nothing half-done survives and order is kept.
        """
        events: list[ConsumedEvent] = []
        envelope_failure: EnvelopeError | None = None
        for record in records:
            try:
                events.append(_consumed(record))
            except EnvelopeError as exc:
                envelope_failure = exc
                break
        if not events:
            return 0, envelope_failure
        failure: _FailedAt | None = None
        unavailable: Exception | None = None
        # Fan-in: one transaction for records of many traces links to each record's producer span
        # (docs/tracing.md); each record's own span is that producer span's child.
        with linked_span(
            f"process batch {events[0].topic}",
            (extract_context(event.headers) for event in events),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": events[0].topic,
                "messaging.consumer.group.name": self.name,
                "messaging.batch.message_count": len(events),
            },
        ) as batch:
            try:
                outcomes = await self._handle_batch(events)
            except _FailedAt as failed:
                record_error_class(batch, failed.error)
                failure = failed
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                # The inbox claim or the commit lost the database: nothing was written; the first
                # record is retried alone until the database is back (`process`).
                record_error_class(batch, exc)
                unavailable = exc
        if unavailable is not None:
            return 0, unavailable
        if failure is not None:
            if failure.position == 0:
                return 0, failure.error
            done, earlier = await self._handle_together(records[: failure.position])
            return done, earlier if earlier is not None else failure.error
        for event, outcome in zip(events, outcomes, strict=True):
            metrics.consumer_events_total.labels(self._service, self.name, event.topic, outcome).inc()
        return len(events), envelope_failure

    async def _handle_batch(self, events: Sequence[ConsumedEvent]) -> list[str]:
        """Each event's outcome, all in one transaction; raises `_FailedAt` (rolled back) if one fails."""
        outcomes: list[str] = []
        async with self._sessions() as session, session.begin():
            fresh = await self._claim_inbox(session, events)
            for position, event in enumerate(events):
                error: Exception | None = None
                with self._span(event.topic, event.partition, event.offset, event.headers) as span:
                    span.set_attribute("messaging.message.id", event.event_id)
                    if event.event_id not in fresh:
                        outcomes.append("duplicate")
                        continue
                    fresh.discard(event.event_id)  # a second copy in this run is a duplicate
                    try:
                        with joined_transaction(session):
                            await self._handler(session, event)
                    except Exception as exc:
                        record_error_class(span, exc)  # the handler's error, not our wrapper
                        error = exc
                    else:
                        outcomes.append("processed")
                if error is not None:
                    raise _FailedAt(position, error) from error
        return outcomes

    def _span(
        self, topic: str, partition: int, offset: int, headers: Sequence[tuple[str, bytes]]
    ) -> contextlib.AbstractContextManager[trace.Span]:
        """The consumer span of one record, continuing the producer's trace from its headers."""
        return consume_span(topic, headers, consumer=self.name, partition=partition, offset=offset)

    def _report_lag(self) -> None:
        """Records between what this replica has handled and the end of each partition it owns."""
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            handled = self._handled.get(tp)
            if highwater is None or handled is None:
                continue
            metrics.consumer_lag.labels(self._service, self.name, tp.topic, str(tp.partition)).set(
                max(0, highwater - handled)
            )

    async def process(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        earlier_failure: BaseException | None = None,
    ) -> str:
        """Handle one record alone; returns its outcome (processed, duplicate, dead_lettered).

        `earlier_failure` is the error of an attempt already made (in a shared transaction): it
        counts as the first attempt.
        """
        with self._span(topic, partition, offset, headers) as span:
            try:
                event = ConsumedEvent.from_record(
                    topic=topic, partition=partition, offset=offset, key=key, value=value, headers=headers
                )
            except EnvelopeError as exc:
                await self._dead_letter(topic, partition, offset, key, value, headers, exc, attempts=0)
                return "dead_lettered"
            span.set_attribute("messaging.message.id", event.event_id)
            attempt = 0
            delays = backoff_delays(self._backoff_initial, max(self._backoff_max, self._backoff_initial))
            outage_delays = backoff_delays(self._backoff_initial, max(2.0, self._backoff_initial))
            while True:
                attempt += 1
                try:
                    if earlier_failure is not None:
                        failure, earlier_failure = earlier_failure, None
                        raise failure
                    outcome = await self._handle_once(event)
                    metrics.consumer_events_total.labels(self._service, self.name, topic, outcome).inc()
                    return outcome
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if database_unavailable(exc):
                        # Not the event's fault: keep the partition where it is (order holds) and
                        # wait for the database; dead-lettering would lose a good event.
                        attempt -= 1
                        metrics.consumer_events_total.labels(self._service, self.name, topic, "retried").inc()
                        log.warning(
                            "database unavailable; retrying the event",
                            consumer=self.name,
                            event_id=event.event_id,
                            error=type(exc).__name__,
                        )
                        await asyncio.sleep(next(outage_delays))
                        continue
                    poison = isinstance(exc, PoisonEvent | EnvelopeError)
                    if poison or attempt >= self._max_attempts:
                        log.error(
                            "event dead-lettered",
                            consumer=self.name,
                            event_id=event.event_id,
                            event_type=event.event_type,
                            attempts=attempt,
                            error=type(exc).__name__,
                        )
                        await self._dead_letter(
                            topic, partition, offset, key, value, headers, exc, attempts=attempt
                        )
                        await self._remember(event, "dead_lettered")
                        span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
                        return "dead_lettered"
                    metrics.consumer_events_total.labels(self._service, self.name, topic, "retried").inc()
                    log.warning(
                        "event handler failed; retrying",
                        consumer=self.name,
                        event_id=event.event_id,
                        attempt=attempt,
                        error=type(exc).__name__,
                    )
                    await asyncio.sleep(next(delays))

    async def _handle_once(self, event: ConsumedEvent) -> str:
        async with self._sessions() as session, session.begin():
            return await self._apply(session, event)

    async def _claim_inbox(self, session: AsyncSession, events: Sequence[ConsumedEvent]) -> set[str]:
        """Inbox rows for `events` in one statement; the ids returned are the ones not seen before."""
        inserted = await session.execute(
            pg_insert(inbox_table)
            .values([self._inbox_row(event, "processed") for event in events])
            .on_conflict_do_nothing()
            .returning(inbox_table.c.event_id)
        )
        return {row[0] for row in inserted}

    def _inbox_row(self, event: ConsumedEvent, outcome: str) -> dict[str, object]:
        return {
            "consumer": self.name,
            "event_id": event.event_id,
            "topic": event.topic,
            "partition": event.partition,
            "record_offset": event.offset,
            "outcome": outcome,
        }

    async def _apply(self, session: AsyncSession, event: ConsumedEvent) -> str:
        """The inbox row and the handler's work, in the caller's transaction."""
        if event.event_id not in await self._claim_inbox(session, [event]):
            return "duplicate"
        with joined_transaction(session):
            await self._handler(session, event)
        return "processed"

    async def _remember(self, event: ConsumedEvent, outcome: str) -> None:
        delays = backoff_delays(self._backoff_initial, max(2.0, self._backoff_initial))
        while True:
            try:
                async with self._sessions() as session, session.begin():
                    await session.execute(
                        pg_insert(inbox_table)
                        .values(self._inbox_row(event, outcome))
                        .on_conflict_do_nothing()
                    )
                return
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                await asyncio.sleep(next(delays))

    async def _dead_letter(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        exc: BaseException,
        *,
        attempts: int,
    ) -> None:
        error_headers: list[tuple[str, bytes]] = [
            (H_ERROR_TYPE, type(exc).__name__.encode()),
            (H_ERROR_MESSAGE, _safe_error_text(exc).encode()),
            (H_ERROR_CONSUMER, self.name.encode()),
            (H_ERROR_ATTEMPTS, str(attempts).encode()),
            (H_ORIGINAL_TOPIC, topic.encode()),
            (H_ORIGINAL_PARTITION, str(partition).encode()),
            (H_ORIGINAL_OFFSET, str(offset).encode()),
        ]
        kept = [
            (k, v) for k, v in headers if not k.startswith("x-error-") and not k.startswith("x-original-")
        ]
        await self._dlq_producer.send_and_wait(
            self._dlq_topic, value=value, key=key, headers=kept + error_headers
        )
        metrics.dlq_events_total.labels(self._service, self.name, topic).inc()
        metrics.consumer_events_total.labels(self._service, self.name, topic, "dead_lettered").inc()


def dlq_info(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, Any]:
    """The error headers of a DLQ record, for tools and tests."""
    names = (
        H_ERROR_TYPE,
        H_ERROR_MESSAGE,
        H_ERROR_CONSUMER,
        H_ERROR_ATTEMPTS,
        H_ORIGINAL_TOPIC,
        H_ORIGINAL_PARTITION,
        H_ORIGINAL_OFFSET,
    )
    return {n: header_value(headers, n) for n in names}

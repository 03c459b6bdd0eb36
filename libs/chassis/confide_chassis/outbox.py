"""Outbox relay: publishes committed outbox rows to Kafka, in order per aggregate, at least once.

Correctness rests on three choices:
- rows are claimed with `FOR UPDATE SKIP LOCKED`, so several relays (replicas) share the work
  without publishing the same row concurrently;
- a row is only published when no earlier unpublished row with the same key is held elsewhere,
  so per-aggregate order survives concurrent relays;
- rows are marked sent in the same transaction that claimed them, after Kafka acknowledged them
  (idempotent producer, acks=all). A relay killed mid-batch leaves its rows unmarked; they are
  published again and consumers drop the duplicates by event id (inbox).

The relay wakes on `LISTEN confide_outbox` (NOTIFY from an insert trigger) and polls as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from confide_chassis import metrics
from confide_chassis.db import OUTBOX_CHANNEL
from confide_chassis.events import build_headers
from confide_chassis.logging import get_logger
from confide_chassis.telemetry import (
    context_from_traceparent,
    inject_headers,
    linked_span,
    untraced,
    use_traceparent,
)

log = get_logger(__name__)
tracer = trace.get_tracer("confide_chassis.outbox")

_CLAIM = text(
    """
    WITH claimed AS (
        SELECT seq, record_key FROM outbox
        WHERE published_at IS NULL
        ORDER BY seq
        LIMIT :batch_size
        FOR UPDATE SKIP LOCKED
    )
    SELECT o.seq, o.event_id, o.topic, o.record_key, o.event_type, o.payload, o.traceparent,
           o.occurred_at
    FROM outbox o JOIN claimed c ON c.seq = o.seq
    WHERE NOT EXISTS (
        SELECT 1 FROM outbox earlier
        WHERE earlier.record_key = c.record_key
          AND earlier.published_at IS NULL
          AND earlier.seq < c.seq
          AND earlier.seq NOT IN (SELECT seq FROM claimed)
    )
    ORDER BY o.seq
    """
)
_MARK = text("UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE seq = ANY(:seqs)")
_BACKLOG = text("SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL")
_PRUNE = text(
    "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => :s)"
)


@dataclass(frozen=True, slots=True)
class _Row:
    seq: int
    event_id: str
    topic: str
    key: str
    event_type: str
    payload: bytes
    traceparent: str | None
    occurred_at: datetime


def asyncpg_dsn(engine: AsyncEngine) -> str:
    """The plain libpq DSN of a SQLAlchemy asyncpg engine (LISTEN needs a dedicated connection)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def new_producer(
    bootstrap_servers: list[str] | str, client_id: str, security: Mapping[str, Any] | None = None
) -> AIOKafkaProducer:
    """Idempotent producer with acks=all: a retried send never duplicates or reorders a record.

    ``security``: ``confide_chassis.kafka.kafka_security_options`` (TLS, SASL); none = PLAINTEXT.
    """
    return AIOKafkaProducer(
        **dict(security or {}),
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=15000,
    )


def _aiokafka_instrumented() -> bool:
    try:
        from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    except ImportError:  # pragma: no cover - the instrumentation is a pinned dependency
        return False
    return bool(AIOKafkaInstrumentor().is_instrumented_by_opentelemetry)


class OutboxRelay:
    """Publishes one service's outbox. Safe to run in every replica at once."""

    def __init__(
        self,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        *,
        service: str,
        source: str | None = None,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        retention_seconds: float = 7 * 24 * 3600,
        on_batch_published: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._service = service
        self._source = source or f"//confide/{service}"
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention_seconds = retention_seconds
        self._on_batch_published = on_batch_published
        self._wake = asyncio.Event()
        self._last_prune = 0.0

    async def publish_batch(self) -> int:
        """Claim, publish and mark one batch. Returns the number of records published."""
        async with self._engine.connect() as conn, conn.begin():
            with untraced():  # most polls find nothing: no trace for them
                result = await conn.execute(_CLAIM, {"batch_size": self._batch_size})
            rows = [_Row(*r) for r in result.all()]
            if not rows:
                return 0
            # Fan-in: one batch serves many requests' traces, so it links to each (docs/tracing.md);
            # each row's send span is a child of the span that wrote the row.
            with linked_span(
                "outbox publish",
                (context_from_traceparent(row.traceparent) for row in rows),
                attributes={"confide.service": self._service, "messaging.batch.message_count": len(rows)},
            ):
                futures = [await self._send(row) for row in rows]
                await asyncio.gather(*futures)
                await conn.execute(_MARK, {"seqs": [r.seq for r in rows]})
        for row in rows:
            metrics.outbox_published_total.labels(self._service, row.topic).inc()
        if self._on_batch_published is not None:
            await self._on_batch_published(len(rows))
        return len(rows)

    async def _send(self, row: _Row) -> asyncio.Future[Any]:
        headers = build_headers(
            event_id=str(row.event_id),
            event_type=row.event_type,
            source=self._source,
            occurred_at=row.occurred_at,
        )
        # Continue the trace of the request that wrote the row, not the relay's own batch (a row
        # written outside any trace, e.g. by a seed, publishes under the batch span).
        with use_traceparent(row.traceparent) if row.traceparent else contextlib.nullcontext():
            if not _aiokafka_instrumented():
                headers = inject_headers(headers)
            future: asyncio.Future[Any] = await self._producer.send(
                row.topic, value=row.payload, key=row.key.encode(), headers=headers
            )
            return future

    async def drain(self) -> int:
        """Publish until the outbox is empty (tests, shutdown)."""
        total = 0
        while published := await self.publish_batch():
            total += published
        return total

    async def _update_backlog_metrics(self) -> None:
        async with self._engine.connect() as conn:
            with untraced():  # every poll: no trace for it
                count, oldest = (await conn.execute(_BACKLOG)).one()
                if time.monotonic() - self._last_prune > 3600:
                    await conn.execute(_PRUNE, {"s": self._retention_seconds})
                    await conn.commit()
                    self._last_prune = time.monotonic()
        metrics.outbox_backlog.labels(self._service).set(count)
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest.timestamp())
        metrics.outbox_oldest_age_seconds.labels(self._service).set(age)

    async def _listen(self, stop: asyncio.Event) -> None:
        """Keep a LISTEN connection; reconnect when the database restarts."""

        def _notified(*_: object) -> None:
            self._wake.set()

        while not stop.is_set():
            try:
                conn = await asyncpg.connect(asyncpg_dsn(self._engine), timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                await _sleep_or_stop(stop, self._poll_interval)
                continue
            try:
                await conn.add_listener(OUTBOX_CHANNEL, _notified)
                self._wake.set()  # rows may have been written while we were not listening
                while not stop.is_set() and not conn.is_closed():
                    await _sleep_or_stop(stop, self._poll_interval)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; errors are logged and retried with backoff, never fatal."""
        listener = asyncio.create_task(self._listen(stop), name=f"{self._service}-outbox-listen")
        backoff = self._poll_interval
        try:
            while not stop.is_set():
                try:
                    published = await self.publish_batch()
                    await self._update_backlog_metrics()
                    backoff = self._poll_interval
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("outbox publish failed; retrying", error=type(exc).__name__)
                    await _sleep_or_stop(stop, backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                if published:
                    continue  # there may be more right away
                self._wake.clear()
                await _wait_any((self._wake, stop), self._poll_interval)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _wait_any(events: tuple[asyncio.Event, ...], seconds: float) -> None:
    """Until one of `events` is set or `seconds` pass, whichever comes first."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

"""Deactivated users' access tokens are refused by every service at once, not only when they expire.

identity publishes `confide.identity.v1.UserDeactivated` on its users topic. Every other service runs a
`RevocationWatcher`: a Kafka consumer WITHOUT a consumer group (each replica must see every
deactivation, not a share of them) that starts at the offsets of (now - `Revocations.window`) and keeps
`Revocations`, an in-memory map subject → deactivated_at. The `TokenVerifier` refuses a token of that
subject issued before the deactivation (plus the clock leeway); tokens issued later (the user was
reactivated and signed in again) are accepted. Older deactivations cannot matter: every token issued
before them has expired (the verifier refuses tokens living longer than the maximum lifetime).
See docs/adr/0013-authz-token-revocation.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf.message import DecodeError

from confide.identity.v1 import events_pb2 as identity_events
from confide_chassis.clock import utc_now
from confide_chassis.events import H_TYPE, event_spec, header_value
from confide_chassis.logging import get_logger

log = get_logger(__name__)

USERS_TOPIC = event_spec(identity_events.UserDeactivated).topic
USER_DEACTIVATED = identity_events.UserDeactivated.DESCRIPTOR.full_name


def publisher_of(topic: str) -> str:
    """The service a topic is named after (`identity` for `confide.identity.users.v1`)."""
    return topic.split(".")[1]


class Revocations:
    """subject → when the account was deactivated, for as long as a token issued before can live.

    `margin` absorbs clock differences between identity's replicas (a token's `iat` and the
    deactivation time come from different hosts): a token issued up to `margin` after the recorded
    deactivation is still refused. identity issues no token to a deactivated account, so only a
    reactivated account signing in again within that margin would be refused, and only until its
    next sign-in or refresh.
    """

    def __init__(self, *, max_token_lifetime: timedelta, leeway: timedelta) -> None:
        self.margin = leeway
        # A token issued at deactivation + margin expires after max lifetime, and is accepted for
        # one more leeway: after that the entry can no longer refuse anything.
        self.window = max_token_lifetime + 2 * leeway
        self._deactivated: dict[str, datetime] = {}
        self._listeners: list[Callable[[str], None]] = []

    def __len__(self) -> int:
        return len(self._deactivated)

    def on_revoke(self, listener: Callable[[str], None]) -> None:
        """Call `listener(subject)` on every new deactivation (the verifier forgets cached verdicts)."""
        self._listeners.append(listener)

    def revoke(self, subject: str, deactivated_at: datetime) -> None:
        known = self._deactivated.get(subject)
        if known is None or deactivated_at > known:
            self._deactivated[subject] = deactivated_at
        for listener in self._listeners:
            listener(subject)

    def refuses(self, subject: str, issued_at: datetime | None) -> bool:
        deactivated_at = self._deactivated.get(subject)
        if deactivated_at is None:
            return False
        return issued_at is None or issued_at <= deactivated_at + self.margin

    def prune(self, now: datetime) -> None:
        """Forget deactivations whose tokens have all expired."""
        horizon = now - self.window
        for subject in [s for s, at in self._deactivated.items() if at < horizon]:
            del self._deactivated[subject]


class RevocationWatcher:
    """Reads identity's users topic into `Revocations`, on every replica (no consumer group).

    `caught_up` turns true once the records that existed when the watcher started are read; the
    service reports ready only then (`readiness_check`), so a new replica never serves with a gap.
    """

    def __init__(
        self,
        revocations: Revocations,
        *,
        bootstrap_servers: list[str] | str,
        client_id: str,
        topic: str = USERS_TOPIC,
        lookback: timedelta | None = None,
        poll_seconds: float = 0.5,
        partition_check_seconds: float = 30.0,
    ) -> None:
        self._revocations = revocations
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._topic = topic
        # One more margin for the clock of the Kafka producer that stamped the records.
        self._lookback = lookback if lookback is not None else revocations.window + revocations.margin
        self._poll_ms = int(poll_seconds * 1000)
        self._partition_check = partition_check_seconds
        self._catch_up_to: dict[TopicPartition, int] = {}
        self._caught_up = asyncio.Event()

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    async def wait_caught_up(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._caught_up.wait(), seconds)
        return self.caught_up

    async def readiness_check(self) -> None:
        if not self.caught_up:
            raise RuntimeError("deactivated users not read yet")

    async def run(self, stop: asyncio.Event) -> None:
        consumer = await self._connect(stop)
        if consumer is None:
            return
        try:
            await self._follow(consumer, stop)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _connect(self, stop: asyncio.Event) -> AIOKafkaConsumer | None:
        delay = 0.5
        while not stop.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=None,  # every replica reads every partition; nothing to commit
                client_id=self._client_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
            )
            try:
                await consumer.start()
                return consumer
            except Exception as exc:
                log.warning("revocation watcher cannot reach Kafka; retrying", error=type(exc).__name__)
                with contextlib.suppress(Exception):
                    await consumer.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 5.0)
        return None

    async def _follow(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        next_partition_check = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_partition_check:
                    await self._assign_new_partitions(consumer)
                    self._revocations.prune(utc_now())
                    next_partition_check = time.monotonic() + self._partition_check
                if not self.caught_up and await self._reached_start_end(consumer):
                    self._caught_up.set()
                    log.info("deactivated users read", topic=self._topic, known=len(self._revocations))
                if not consumer.assignment():  # no topic yet: nothing to read
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self._partition_check)
                    continue
                batches = await consumer.getmany(timeout_ms=self._poll_ms)
                for records in batches.values():
                    for record in records:
                        self._handle(record)
            except Exception as exc:  # Kafka trouble: keep what we know, try again shortly
                log.warning("revocation watcher error; retrying", error=type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def _assign_new_partitions(self, consumer: AIOKafkaConsumer) -> None:
        # Track the topic in the client's metadata and refresh it now: the topic may have been created
        # or grown since the last look, and offset look-ups need its leaders (aiokafka has no public
        # call for either).
        client = consumer._client
        client.add_topic(self._topic)
        await client.force_metadata_update()
        partitions = consumer.partitions_for_topic(self._topic) or set()
        assigned = consumer.assignment()
        new = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        new = [tp for tp in new if tp not in assigned]
        if not new:
            if not partitions and not self.caught_up:
                self._caught_up.set()  # no topic yet: nobody was deactivated
            return
        # Offsets first, then assign: a failed look-up leaves the partitions for the next attempt.
        since_ms = int((utc_now() - self._lookback).timestamp() * 1000)
        starts = await consumer.offsets_for_times(dict.fromkeys(new, since_ms))
        ends = await consumer.end_offsets(new)
        consumer.assign([*assigned, *new])
        for tp in new:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
            self._catch_up_to[tp] = ends[tp]

    async def _reached_start_end(self, consumer: AIOKafkaConsumer) -> bool:
        for tp, end in self._catch_up_to.items():
            if await consumer.position(tp) < end:
                return False
        return True

    def _handle(self, record: Any) -> None:
        if header_value(record.headers, H_TYPE) != USER_DEACTIVATED:
            return
        try:
            event = identity_events.UserDeactivated.FromString(record.value or b"")
        except DecodeError:
            log.warning("undecodable UserDeactivated", partition=record.partition, offset=record.offset)
            return
        if not event.user_id or not event.HasField("occurred_at"):
            log.warning("incomplete UserDeactivated", partition=record.partition, offset=record.offset)
            return
        self._revocations.revoke(event.user_id, event.occurred_at.ToDatetime(tzinfo=UTC))

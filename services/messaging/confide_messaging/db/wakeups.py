"""Live-stream wake-ups from PostgreSQL: one LISTEN connection per replica, fanned out in memory.

The messages table's trigger NOTIFYs the thread id on commit (migration 0001), so every replica
learns of a new message whichever replica wrote it. A wake-up carries no data: streams re-read the
table after their cursor (docs/adr/0017-messaging.md). While the connection is down (database
restart) every stream is woken, and streams also poll, so nothing waits on a lost notification.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from confide_chassis.logging import get_logger
from confide_chassis.outbox import asyncpg_dsn
from confide_messaging.db.tables import THREAD_CHANNEL

log = get_logger(__name__)


class _Subscription:
    def __init__(self, hub: PgThreadWakeups, thread_id: UUID) -> None:
        self._hub = hub
        self.thread_id = thread_id
        self.event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), seconds)
        self.event.clear()

    def close(self) -> None:
        self._hub._remove(self)


class PgThreadWakeups:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._subscribers: dict[UUID, set[_Subscription]] = defaultdict(set)

    def subscribe(self, thread_id: UUID) -> _Subscription:
        subscription = _Subscription(self, thread_id)
        self._subscribers[thread_id].add(subscription)
        return subscription

    def _remove(self, subscription: _Subscription) -> None:
        listeners = self._subscribers.get(subscription.thread_id)
        if listeners is not None:
            listeners.discard(subscription)
            if not listeners:
                del self._subscribers[subscription.thread_id]

    def wake(self, thread_id: UUID) -> None:
        for subscription in self._subscribers.get(thread_id, ()):
            subscription.event.set()

    def wake_all(self) -> None:
        for listeners in self._subscribers.values():
            for subscription in listeners:
                subscription.event.set()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            self.wake(UUID(payload))
        except ValueError:
            return

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the LISTEN connection; reconnect when the database restarts (background task)."""
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(asyncpg_dsn(self._engine), timeout=5)
                await conn.add_listener(THREAD_CHANNEL, self._notified)
                self.wake_all()  # messages may have been committed while we were not listening
                while not stop.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=2)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("live-stream LISTEN connection lost; retrying", error=type(exc).__name__)
                self.wake_all()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()

"""PostgreSQL advisory locks: per transaction (serialize writers of one thing) and per process (one
runner of a job across replicas)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


async def advisory_xact_lock(session: AsyncSession, key: str) -> None:
    """Block until this transaction holds the lock `key` (released at commit or rollback)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


class PgSingleRunner:
    """Cluster-wide mutual exclusion with a session-level advisory lock on a dedicated connection.

    Whoever holds the connection holds the lock; if the process dies, PostgreSQL drops the
    connection and the lock with it, so another replica takes over at its next run.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        async with self._engine.connect() as conn:
            acquired = bool(
                await conn.scalar(
                    text("SELECT pg_try_advisory_lock(hashtextextended(:key, 0))"), {"key": name}
                )
            )
            await conn.commit()
            try:
                yield acquired
            finally:
                if acquired:
                    try:
                        await conn.execute(
                            text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"), {"key": name}
                        )
                        await conn.commit()
                    except BaseException:
                        # Never return a connection that may still hold the lock to the pool.
                        await conn.invalidate()
                        raise

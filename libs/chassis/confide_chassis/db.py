"""Database access: one async engine per service, sessions, and a unit of work that commits state
and outgoing events together (transactional outbox).

The outbox and inbox tables live in every service's own database. A service's first Alembic
migration creates them with `confide_chassis.migrations.create_messaging_tables()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import asyncpg
from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    AsyncSessionTransaction,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from confide_chassis.events import OutgoingEvent
from confide_chassis.idempotency import AmbientTransaction, ambient_transaction, idempotency_metadata
from confide_chassis.telemetry import current_traceparent

OUTBOX_CHANNEL = "confide_outbox"

messaging_metadata = MetaData()

outbox_table = Table(
    "outbox",
    messaging_metadata,
    # seq orders publication; event ids are UUIDv7 but several may share a millisecond.
    Column("seq", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("topic", String(249), nullable=False),
    Column("record_key", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("traceparent", Text, nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Index("outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
    Index("outbox_unpublished_key", "record_key", "seq", postgresql_where=text("published_at IS NULL")),
)

inbox_table = Table(
    "inbox",
    messaging_metadata,
    Column("consumer", String(200), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("topic", String(249), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("record_offset", BigInteger, nullable=False),
    # processed | dead_lettered
    Column("outcome", String(20), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id"),
)

# Wakes relays on commit; NOTIFY is transactional, so a relay never sees an uncommitted row.
OUTBOX_NOTIFY_DDL: Sequence[str] = (
    f"""
    CREATE OR REPLACE FUNCTION confide_outbox_notify() RETURNS trigger AS $$
    BEGIN
      PERFORM pg_notify('{OUTBOX_CHANNEL}', '');
      RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS outbox_notify ON outbox",
    """
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION confide_outbox_notify()
    """,
)


# PostgreSQL going away (restart, failover, connection limit): the transaction was rolled back,
# nothing was written, and the same work succeeds once the server is back.
_UNAVAILABLE_CAUSES: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.exceptions.AdminShutdownError,  # 57P01: terminated by a fast shutdown
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.ConnectionDoesNotExistError,  # closed in the middle of an operation
    ConnectionError,
    PoolTimeoutError,  # no connection to be had within the pool timeout
)


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database could not be reached (retry later), not a bug or bad data.

    Looks through SQLAlchemy's wrapper and the exception chain, since a lost connection surfaces as
    whatever statement (or ROLLBACK) happened to run on it.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, _UNAVAILABLE_CAUSES):
            return True
        orig = getattr(current, "orig", None)
        if isinstance(orig, _UNAVAILABLE_CAUSES):
            return True
        current = current.__cause__ or current.__context__
    return False


class MeasuredQueuePool(AsyncAdaptedQueuePool):
    """The async queue pool, also counting checkouts waiting for a connection and those that timed out.

    Read at scrape time by `confide_chassis.metrics.track_db_pool`. Checkouts run on the event
    loop's thread, so plain integers suffice.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting_checkouts = 0
        self.checkout_timeouts = 0

    def _do_get(self) -> ConnectionPoolEntry:
        self.waiting_checkouts += 1
        try:
            return super()._do_get()
        except PoolTimeoutError:
            self.checkout_timeouts += 1
            raise
        finally:
            self.waiting_checkouts -= 1


def create_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> AsyncEngine:
    """Async engine with pre-ping, so a restarted database costs one failed check, not every request."""
    from confide_chassis.telemetry import instrument_sqlalchemy

    engine = create_async_engine(
        url,
        poolclass=MeasuredQueuePool,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=5,
        echo=echo,
        connect_args={"timeout": 5, "command_timeout": 30},
    )
    instrument_sqlalchemy(engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def install_messaging_tables(engine: AsyncEngine) -> None:
    """Create outbox/inbox (and the idempotency table) directly (tests and tools); services use their
    Alembic migrations."""
    async with engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
        await conn.run_sync(idempotency_metadata.create_all)
        for ddl in OUTBOX_NOTIFY_DDL:
            await conn.execute(text(ddl))


async def add_events(session: AsyncSession, events: Sequence[Message | OutgoingEvent]) -> list[str]:
    """Stage events in the outbox inside the caller's transaction; returns their event ids."""
    if not events:
        return []
    traceparent = current_traceparent()
    rows = []
    for item in events:
        event = item if isinstance(item, OutgoingEvent) else OutgoingEvent.from_message(item)
        rows.append(
            {
                "event_id": event.event_id,
                "topic": event.topic,
                "record_key": event.key,
                "event_type": event.event_type,
                "payload": event.payload,
                "traceparent": traceparent,
                "occurred_at": event.occurred_at,
            }
        )
    await session.execute(insert(outbox_table), rows)
    return [str(r["event_id"]) for r in rows]


class UnitOfWork:
    """One business transaction: state changes and their events commit together or not at all.

        async with UnitOfWork(sessions) as uow:
            uow.session.add(entity)
            uow.publish(SomethingHappened(...))
            await uow.commit()

    Leaving the block without `commit()` rolls back, so a failed request leaves nothing half-written.
    Inside an idempotent RPC (`confide_chassis.idempotency`) the unit of work is a savepoint of the
    call's ambient transaction: `commit()` releases it, and the call's stored response commits with it.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._savepoint: AsyncSessionTransaction | None = None
        self._ambient: AmbientTransaction | None = None
        self._pending: list[Message | OutgoingEvent] = []
        self.committed_event_ids: list[str] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside `async with`")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._pending = []
        self._ambient = ambient_transaction()
        if self._ambient is not None:
            self._session = self._ambient.session
            self._savepoint = await self._session.begin_nested()
        else:
            self._session = self._sessions()
            await self._session.begin()
        return self

    def publish(self, *events: Message | OutgoingEvent) -> None:
        self._pending.extend(events)

    async def commit(self) -> None:
        session = self.session
        ids = await add_events(session, self._pending)
        if self._savepoint is not None:
            await self._savepoint.commit()
            self._savepoint = await session.begin_nested()  # later changes in this block stay undoable
            assert self._ambient is not None
            self._ambient.committed_work = True
        else:
            await session.commit()
        self.committed_event_ids = ids
        self._pending = []

    async def rollback(self) -> None:
        self._pending = []
        if self._savepoint is not None:
            await self._savepoint.rollback()
            self._savepoint = await self.session.begin_nested()
        else:
            await self.session.rollback()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if self._savepoint is not None:
                if self._savepoint.is_active:
                    await self._savepoint.rollback()
            elif session.in_transaction():
                await session.rollback()
        finally:
            if self._ambient is None:
                await session.close()
            self._session = None
            self._savepoint = None
            self._ambient = None

"""Alembic per service, run by `python -m confide_<name> migrate` (and the Kubernetes migration Job).

A service's `migrations/env.py` is two lines: import its metadata and call `run_env(metadata)`.
Its first revision calls `create_messaging_tables()` for the outbox and inbox.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from confide_chassis.db import OUTBOX_NOTIFY_DDL, messaging_metadata
from confide_chassis.idempotency import idempotency_metadata


def alembic_config(script_location: Path, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(script_location: Path, database_url: str, revision: str = "head") -> None:
    """Apply migrations (synchronous; call it through `asyncio.to_thread` from async code)."""
    command.upgrade(alembic_config(script_location, database_url), revision)


def run_env(target_metadata: MetaData) -> None:
    """Body of a service's env.py: online migrations over asyncpg, one transaction."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not configured")

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.run_sync(do_run)
                await conn.commit()
        finally:
            await engine.dispose()

    asyncio.run(run_async())


def create_messaging_tables() -> None:
    """Inside a revision's upgrade(): the outbox, the inbox, and the outbox NOTIFY trigger."""
    bind = op.get_bind()
    messaging_metadata.create_all(bind=bind)
    for ddl in OUTBOX_NOTIFY_DDL:
        bind.execute(text(ddl))


def drop_messaging_tables() -> None:
    bind = op.get_bind()
    bind.execute(text("DROP TRIGGER IF EXISTS outbox_notify ON outbox"))
    bind.execute(text("DROP FUNCTION IF EXISTS confide_outbox_notify()"))
    messaging_metadata.drop_all(bind=bind)


def create_idempotency_table() -> None:
    """Inside a revision's upgrade(): the table of idempotent RPCs' stored responses."""
    idempotency_metadata.create_all(bind=op.get_bind())


def drop_idempotency_table() -> None:
    idempotency_metadata.drop_all(bind=op.get_bind())

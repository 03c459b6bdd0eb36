"""The chassis' connection pool, as an operator sees it on /metrics: in use, idle, waiting, timed out."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from confide_chassis import db
from confide_chassis.metrics import track_db_pool

pytestmark = pytest.mark.integration

SERVICE = "pool-metrics-test"


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": SERVICE, **labels})


async def _use_one_connection(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def test_an_exhausted_pool_shows_waiting_checkouts_then_a_timeout(database_url: str) -> None:
    engine = db.create_engine(database_url, pool_size=1)  # 1 kept + 1 overflow, 5 s pool timeout
    track_db_pool(SERVICE, engine)
    try:
        await _use_one_connection(engine)
        assert _value("confide_db_pool_connections", state="idle") == 1.0
        assert _value("confide_db_pool_size_connections") == 1.0
        assert _value("confide_db_pool_max_overflow_connections") == 1.0
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 1"))
            assert _value("confide_db_pool_connections", state="in_use") == 2.0
            third = asyncio.create_task(_use_one_connection(engine))
            for _ in range(50):
                if _value("confide_db_pool_waiting_checkouts") == 1.0:
                    break
                await asyncio.sleep(0.05)
            assert _value("confide_db_pool_waiting_checkouts") == 1.0
            with pytest.raises(exc.TimeoutError):
                await third
        assert _value("confide_db_pool_checkout_timeouts_total") == 1.0
        assert _value("confide_db_pool_waiting_checkouts") == 0.0
        assert _value("confide_db_pool_connections", state="in_use") == 0.0
    finally:
        await engine.dispose()

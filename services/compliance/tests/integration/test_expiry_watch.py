"""The expiry watch against a real PostgreSQL: notices exactly once per dedupe key, a single active
runner across replicas, and coverage changes caused by dates announced once."""

from __future__ import annotations

import asyncio
import contextlib
import time as wall_clock
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from confide.common.v1 import jurisdiction_pb2
from confide.compliance.v1 import events_pb2
from confide_chassis import db
from confide_compliance import testing as t
from confide_compliance.app.context import AppContext
from confide_compliance.app.watch import ExpiryWatch
from confide_compliance.db.locks import PgSingleRunner
from confide_compliance.domain.credentials import CredentialStatus, Profession
from confide_devstack.postgres import PostgresCluster

from .conftest import module_database, new_id, wait_for

pytestmark = pytest.mark.integration

TODAY = date(2027, 1, 10)
PRACTICE = "0193a000-0000-7000-8000-00000000a001"


@pytest.fixture(scope="module")
async def watch_db(postgres_cluster: PostgresCluster) -> str:
    return await module_database(postgres_cluster, "expiry_watch")


@contextlib.asynccontextmanager
async def replica(url: str, day: date) -> AsyncIterator[AppContext]:
    """One service replica: its own engine (connection pool) and a clock fixed at noon UTC of `day`."""
    engine = db.create_engine(url, pool_size=3)
    try:
        noon = datetime.combine(day, time(12), tzinfo=UTC)
        yield t.app_context(engine, clock=lambda: noon)
    finally:
        await engine.dispose()


async def outbox(engine: AsyncEngine, clinician_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT event_type, count(*) FROM outbox WHERE record_key = :k "
                "AND event_type <> 'confide.audit.v1.AuditEvent' GROUP BY event_type"
            ),
            {"k": clinician_id},
        )
        return {str(kind).rsplit(".", 1)[-1]: int(n) for kind, n in rows}


def engine_of(ctx: AppContext) -> AsyncEngine:
    runner = ctx.runner
    assert isinstance(runner, PgSingleRunner)
    return runner.engine


class AlwaysGranted:
    """A lock that every replica gets: the dedupe keys alone must keep notices exactly once."""

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        yield True


async def test_lic_16_notices_are_sent_once_with_two_concurrent_runners(watch_db: str) -> None:
    clinician = new_id()
    async with replica(watch_db, TODAY) as a, replica(watch_db, TODAY) as b:
        await t.seed_clinician(
            a,
            practice_id=PRACTICE,
            clinician_id=clinician,
            credentials=[
                t.license_("co", "CO", expires_on=TODAY + timedelta(days=45)),  # → 60-day reminder
                t.license_(
                    "az", "AZ", status=CredentialStatus.SUSPENDED, status_since=TODAY - timedelta(days=3)
                ),  # → LicenseSuspended from the registry; the watch must not repeat it
                t.e_passport(issued_on=date(2026, 1, 1), expires_on=TODAY - timedelta(days=1)),  # → expired
                t.apit(issued_on=date(2026, 1, 1), expires_on=TODAY - timedelta(days=1)),  # → expired
            ],
            practice_jurisdiction="CO",
        )
        assert a.uow is not b.uow
        engine = db.create_engine(watch_db, pool_size=1)
        try:
            before = await outbox(engine, clinician)
            assert before.get("LicenseSuspended") == 1

            first, second = await asyncio.gather(
                ExpiryWatch(a).run_once(TODAY), ExpiryWatch(b).run_once(TODAY)
            )
            assert first.ran or second.ran
            ran = first if first.ran else second
            assert ran.by_milestone == {"expiring_60": 1, "expired": 2}

            # Without the single-runner lock (every replica "wins"), the dedupe keys still hold.
            unlocked_a = AppContext(a.uow, a.reference, a.clock, AlwaysGranted())
            unlocked_b = AppContext(b.uow, b.reference, b.clock, AlwaysGranted())
            again = await asyncio.gather(
                ExpiryWatch(unlocked_a).run_once(TODAY), ExpiryWatch(unlocked_b).run_once(TODAY)
            )
            assert [r.notices_sent for r in again] == [0, 0]

            after = await outbox(engine, clinician)
            assert after.get("LicenseExpiring") == 1
            assert after.get("LicenseExpired") == 2
            assert after.get("LicenseSuspended") == 1
        finally:
            await engine.dispose()


def last_success() -> float:
    """The gauge ConfideExpiryWatchStale alerts on, as this process exports it."""
    value = REGISTRY.get_sample_value(
        "confide_compliance_expiry_watch_last_success_timestamp_seconds", {"service": "compliance"}
    )
    assert value is not None
    return value


async def test_single_runner_lock_lets_only_one_replica_run(watch_db: str) -> None:
    async with replica(watch_db, TODAY) as a, replica(watch_db, TODAY) as b:
        assert a.runner is not None
        assert b.runner is not None
        async with a.runner.exclusive("compliance.expiry-watch") as held:
            assert held
            previous_success = last_success()
            skipped = await ExpiryWatch(b).run_once(TODAY)
            assert not skipped.ran
            assert last_success() == previous_success  # a skipped run is no success
        started = wall_clock.time()
        resumed = await ExpiryWatch(b).run_once(TODAY)
        assert resumed.ran
        assert started <= last_success() <= wall_clock.time()  # real time, not the replica's clock


async def test_lic_03_coverage_lost_when_a_license_lapses_is_announced_once(watch_db: str) -> None:
    clinician = new_id()
    last_day = TODAY + timedelta(days=20)
    async with replica(watch_db, last_day) as on_last_day:
        await t.seed_clinician(
            on_last_day,
            practice_id=PRACTICE,
            clinician_id=clinician,
            credentials=[
                t.license_("ca", "CA", Profession.CLINICAL_SOCIAL_WORKER, expires_on=last_day),
                t.license_("nv", "NV", Profession.CLINICAL_SOCIAL_WORKER, expires_on=date(2029, 1, 1)),
            ],
            practice_jurisdiction="NV",
        )
        await ExpiryWatch(on_last_day).run_once(last_day)
        on_last = await outbox(engine_of(on_last_day), clinician)
        # Still valid on its last day (dates are inclusive): a reminder, no coverage change.
        assert on_last == {"AuthorizationChanged": 2, "LicenseExpiring": 1}  # 2: CA and NV gained
    day_after = last_day + timedelta(days=1)
    async with replica(watch_db, day_after) as next_day:
        await ExpiryWatch(next_day).run_once(day_after)
        await ExpiryWatch(next_day).run_once(day_after)  # a rerun sends nothing new
        after = await outbox(engine_of(next_day), clinician)
        assert after == {"AuthorizationChanged": 3, "LicenseExpiring": 1, "LicenseExpired": 1}

    engine = db.create_engine(watch_db, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT payload FROM outbox WHERE record_key = :k "
                        "AND event_type = 'confide.compliance.v1.AuthorizationChanged' ORDER BY seq"
                    ),
                    {"k": clinician},
                )
            ).all()
        events = [events_pb2.AuthorizationChanged.FromString(r[0]) for r in rows]
        assert len(events) == 3  # CA gained, NV gained, CA lost
        lost = events[-1]
        assert list(lost.lost_jurisdictions) == [jurisdiction_pb2.JURISDICTION_CA]
        assert not lost.gained_jurisdictions
        assert "LIC-03" in lost.rule_ids
    finally:
        await engine.dispose()


async def test_the_running_service_runs_the_watch_in_the_background(watch_db: str, kafka_broker: Any) -> None:
    clinician = new_id()
    soon = datetime.now(UTC).date() + timedelta(days=10)
    async with replica(watch_db, datetime.now(UTC).date()) as ctx:
        await t.seed_clinician(
            ctx,
            practice_id=PRACTICE,
            clinician_id=clinician,
            credentials=[t.license_("co", "CO", expires_on=soon)],
        )
        running = await t.start_compliance(
            watch_db,
            kafka_broker.bootstrap_servers,
            migrate_first=False,
            expiry_watch_enabled=True,
            expiry_watch_initial_delay_seconds=0,
            expiry_watch_interval_seconds=3600,
        )
        try:
            await wait_for(lambda: _sent(engine_of(ctx), clinician), timeout=20)
        finally:
            await running.stop(grace=0)


async def _sent(engine: AsyncEngine, clinician_id: str) -> bool:
    return (await outbox(engine, clinician_id)).get("LicenseExpiring") == 1

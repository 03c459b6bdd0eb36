"""`python -m confide_scheduling migrate|seed-demo` against a real database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from confide_chassis import db
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_scheduling.demo import DEMO_CLINICIANS, DEMO_PRACTICE_ID

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]


def _run(command: str, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULING_")}
    environment |= {"SCHEDULING_DATABASE_URL": database_url, "LOG_FORMAT": "console", **env}
    return subprocess.run(
        [sys.executable, "-m", "confide_scheduling", command],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_migrate_then_seed_demo_is_idempotent_and_dev_only(postgres_cluster: PostgresCluster) -> None:
    url = await postgres_cluster.create_database_async(unique_database_name("sched_demo"))
    migrated = await asyncio.to_thread(_run, "migrate", url)
    assert migrated.returncode == 0, migrated.stderr

    refused = await asyncio.to_thread(_run, "seed-demo", url)
    assert refused.returncode == 2
    assert "SCHEDULING_DEV_MODE" in refused.stderr

    first = await asyncio.to_thread(_run, "seed-demo", url, SCHEDULING_DEV_MODE="true")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout.strip().splitlines()[-1])
    assert report["practice_id"] == DEMO_PRACTICE_ID
    assert sorted(report["created"]) == sorted(str(c.clinician_id) for c in DEMO_CLINICIANS)

    second = await asyncio.to_thread(_run, "seed-demo", url, SCHEDULING_DEV_MODE="true")
    assert json.loads(second.stdout.strip().splitlines()[-1])["created"] == []

    engine = db.create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT location_state, time_zone FROM clinician_schedules ORDER BY 1")
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("AZ", "America/Phoenix"),
        ("CA", "America/Los_Angeles"),
        ("CO", "America/Denver"),
    ]

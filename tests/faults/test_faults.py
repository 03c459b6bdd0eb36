"""Kill every part of the platform once under load; every effect still happens exactly once.

`make test` runs the short plan (a few faults, a small load); `make test-faults` sets
``CONFIDE_FAULTS=full`` for the whole schedule: SIGKILL of each service (identity, scheduling,
messaging, billing, compliance, directory, gateway), a Kafka broker restart and a PostgreSQL
restart. What is checked and why: docs/reliability.md ("Fault tests"); how: harness.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .harness import FULL_PLAN, SERVICES, SHORT_PLAN, run_faults

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAN = FULL_PLAN if os.environ.get("CONFIDE_FAULTS") == "full" else SHORT_PLAN


async def test_every_effect_happens_exactly_once_while_parts_of_the_platform_die(
    devstack_run_dir: Path,
) -> None:
    report = await run_faults(PLAN, devstack_run_dir / "faults")
    sys.stdout.write(report.table() + "\n")

    # The faults really happened, each while the load was running.
    assert [f.target for f in report.faults] == list(PLAN.faults)
    assert [f.target for f in report.faults if not f.during_load] == []
    if PLAN is FULL_PLAN:
        assert set(SERVICES) <= {f.target for f in report.faults}

    # The load really did something.
    assert report.counts["bookings acknowledged"] >= PLAN.min_bookings
    assert report.counts["sessions completed"] >= 1
    assert report.counts["messages acknowledged"] >= PLAN.min_messages

    # And every invariant held (each violation names what broke).
    assert report.violations == []

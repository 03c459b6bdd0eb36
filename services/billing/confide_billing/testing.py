"""Test helpers: migrate and start billing in-process (for its own tests and cross-service journeys)."""

from __future__ import annotations

import asyncio
from typing import Any

from confide_billing.settings import BillingSettings
from confide_billing.wiring import MIGRATIONS, build_spec
from confide_chassis import migrations
from confide_chassis.auth import TokenVerifier
from confide_chassis.service import RunningService, start


async def migrate(database_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, database_url)


def settings_for_tests(database_url: str, bootstrap_servers: str, **overrides: Any) -> BillingSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap_servers,
        "grpc_port": 0,
        "metrics_port": 0,
        "readiness_interval_seconds": 0.3,
        "outbox_poll_interval_seconds": 0.2,
    }
    values.update(overrides)
    return BillingSettings(**values)


async def start_billing(
    database_url: str,
    bootstrap_servers: str,
    *,
    verifier: TokenVerifier | None = None,
    spec_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> RunningService:
    await migrate(database_url)
    spec = build_spec(**(spec_options or {}))
    return await start(
        spec, settings_for_tests(database_url, bootstrap_servers, **overrides), verifier=verifier
    )

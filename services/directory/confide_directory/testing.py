"""Helpers for integration tests: migrate and start the directory in-process (other services' tests may
use them too)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from confide_chassis import migrations
from confide_chassis.auth import TokenVerifier
from confide_chassis.clock import utc_now
from confide_chassis.service import RunningService, start
from confide_directory.app.ports import AuthorizationPort, AvailabilityPort
from confide_directory.settings import DirectorySettings
from confide_directory.wiring import MIGRATIONS, build_spec


async def migrate(database_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, database_url)


def settings_for_tests(database_url: str, bootstrap_servers: str, **overrides: Any) -> DirectorySettings:
    """Free ports, no metrics server, fast readiness, relay and consumer retries."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap_servers,
        "grpc_port": 0,
        "metrics_port": 0,
        "readiness_interval_seconds": 0.3,
        "outbox_poll_interval_seconds": 0.2,
        "consumer_backoff_initial_seconds": 0.05,
    }
    values.update(overrides)
    return DirectorySettings(**values)


async def start_directory(
    database_url: str,
    bootstrap_servers: str,
    *,
    verifier: TokenVerifier | None = None,
    clock: Callable[[], datetime] = utc_now,
    authorization: AuthorizationPort | None = None,
    availability: AvailabilityPort | None = None,
    migrate_first: bool = True,
    **overrides: Any,
) -> RunningService:
    """Migrate and start the service; `running.port` is its gRPC port. Point it at compliance with
    `compliance_target="127.0.0.1:<port>"`."""
    if migrate_first:
        await migrate(database_url)
    spec = build_spec(clock=clock, authorization=authorization, availability=availability)
    return await start(
        spec, settings_for_tests(database_url, bootstrap_servers, **overrides), verifier=verifier
    )

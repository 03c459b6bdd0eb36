"""The whole platform for end-to-end tests, started the way `make run` starts it.

`python -m confide_devstack run` runs every service as its own process (migrate, seed-demo, serve)
with the gateway in front and the reference web client at its root. The session's Kafka broker and
PostgreSQL cluster are reused (one database per service), and every port is a free one, so the
tests run beside a developer's `make run`. Tests talk to the platform only through the gateway's
HTTP origin, as a browser or a frontend would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_devstack.stack import READY_BANNER, discover_services

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 240.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Platform:
    gateway: str  # http://127.0.0.1:<port>
    info: dict[str, Any]
    output: list[str]

    async def call(
        self, path: str, body: dict[str, Any], token: str | None = None, *, expect_ok: bool = True
    ) -> tuple[int, dict[str, Any]]:
        """A Connect JSON call through the gateway; returns (HTTP status, JSON body)."""
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.gateway}/{path}", data=json.dumps(body), headers=headers) as reply,
        ):
            payload = await reply.json(content_type=None)
            if expect_ok and reply.status != 200:
                raise AssertionError(f"{path} answered {reply.status}: {json.dumps(payload)[:600]}")
            return reply.status, payload


# Module scope: the platform's services join the same consumer groups as the in-process services
# of later test modules on the shared broker, so it must be gone before they run.
@pytest.fixture(scope="module")
async def platform(
    postgres_cluster: PostgresCluster, kafka_broker: Any, devstack_run_dir: Path
) -> AsyncIterator[Platform]:
    env: dict[str, str] = {
        "CONFIDE_RUN_DIR": str(devstack_run_dir / "e2e-stack"),
        "KAFKA_BOOTSTRAP_SERVERS": str(kafka_broker.bootstrap_servers),  # ours: the stack starts none
        "CONFIDE_PG_PORT": str(_free_port()),
        "GATEWAY_CORS_ORIGINS": "http://127.0.0.1",
        "GATEWAY_RATE_PER_SECOND": "200",
        "GATEWAY_RATE_BURST": "400",
    }
    for spec in discover_services(ROOT / "services", {}):
        prefix = spec.name.upper().replace("-", "_")
        env[f"{prefix}_GRPC_PORT"] = str(_free_port())
        env[f"{prefix}_METRICS_PORT"] = str(_free_port())
        if spec.needs_database:
            env[f"{prefix}_DATABASE_URL"] = await postgres_cluster.create_database_async(
                unique_database_name(f"e2e_{spec.name}")
            )
    log_path = devstack_run_dir / "e2e-stack.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "confide_devstack",
        "run",
        stdout=asyncio.subprocess.PIPE,
        stderr=log_path.open("wb"),
        env={**os.environ, **env},
        cwd=ROOT,
    )
    output: list[str] = []
    ready = asyncio.Event()

    async def drain() -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            output.append(line.decode(errors="replace"))
            if READY_BANNER in output[-1]:
                ready.set()

    drainer = asyncio.create_task(drain())
    try:
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait(
            {waiter, asyncio.create_task(proc.wait())},
            timeout=START_SECONDS,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not ready.is_set():
            raise AssertionError("the platform did not start:\n" + "".join(output[-80:]))
        info = json.loads((devstack_run_dir / "e2e-stack" / "stack.json").read_text(encoding="utf-8"))
        yield Platform(f"http://127.0.0.1:{env['GATEWAY_GRPC_PORT']}", info, output)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        drainer.cancel()

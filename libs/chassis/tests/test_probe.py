"""The image's health probe (python -m confide_chassis.probe) against a real grpc.health.v1 server."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from confide_chassis.probe import grpc_port


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[int, health.aio.HealthServicer]]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port, servicer
    finally:
        await server.stop(None)


async def _probe(*args: str, **env: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "confide_chassis.probe",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_probe_exits_zero_only_while_the_service_is_serving(
    health_server: tuple[int, health.aio.HealthServicer],
) -> None:
    port, servicer = health_server
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    code, out = await _probe(CONFIDE_SERVICE="identity", IDENTITY_GRPC_PORT=str(port))
    assert (code, out.strip()) == (0, f"identity on 127.0.0.1:{port}: SERVING")
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)  # lost its database
    assert (await _probe("identity", IDENTITY_GRPC_PORT=str(port)))[0] == 1


async def test_probe_fails_when_nothing_listens_and_without_a_service() -> None:
    with_nothing = await _probe("scheduling", SCHEDULING_GRPC_PORT="1")
    assert with_nothing[0] == 1
    assert (await _probe(CONFIDE_SERVICE=""))[0] == 2


def test_port_defaults_to_the_services_settings() -> None:
    assert grpc_port("identity", {}) == 50051
    assert grpc_port("compliance", {}) == 50055
    assert grpc_port("scheduling", {"SCHEDULING_GRPC_PORT": "6001"}) == 6001

"""Readiness that reflects the service's dependencies (grpc.health.v1).

- service "" (overall) and each registered gRPC service: SERVING only while every check passes,
  so Kubernetes stops routing to a pod that lost its database or Kafka;
- service "liveness": SERVING while the process runs its event loop — a lost database must not
  make Kubernetes restart the pod, only take it out of rotation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping

from aiokafka import AIOKafkaProducer
from grpc_health.v1 import health, health_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from confide_chassis.logging import get_logger

log = get_logger(__name__)

Check = Callable[[], Awaitable[None]]
LIVENESS = "liveness"


def database_check(engine: AsyncEngine, timeout: float = 2.0) -> Check:
    async def check() -> None:
        async def ping() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await asyncio.wait_for(ping(), timeout)

    return check


def kafka_check(producer: AIOKafkaProducer, timeout: float = 3.0) -> Check:
    async def check() -> None:
        ok = await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout)
        if not ok.brokers():
            raise ConnectionError("no Kafka broker reachable")

    return check


class Readiness:
    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        checks: Mapping[str, Check],
        services: Iterable[str],
        interval: float = 2.0,
    ) -> None:
        self._servicer = servicer
        self._checks = dict(checks)
        self._services = ["", *services]
        self._interval = interval
        self.failing: dict[str, str] = {}
        self._serving: bool | None = None

    async def evaluate(self) -> bool:
        failing: dict[str, str] = {}
        for name, check in self._checks.items():
            try:
                await check()
            except Exception as exc:
                failing[name] = type(exc).__name__
        self.failing = failing
        serving = not failing
        if serving != self._serving:
            log.info("readiness changed", serving=serving, failing=sorted(failing))
        await self.set_all(serving)
        return serving

    async def set_all(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in self._services:
            await self._servicer.set(name, status)
        self._serving = serving

    async def run(self, stop: asyncio.Event) -> None:
        await self._servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        while not stop.is_set():
            await self.evaluate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)

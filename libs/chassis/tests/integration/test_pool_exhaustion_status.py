"""A service whose database connections are all busy answers UNAVAILABLE (retry later), never INTERNAL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from confide.devtest.v1 import devtest_pb2, devtest_pb2_grpc
from confide_chassis.auth import PUBLIC
from confide_chassis.db import create_engine, install_messaging_tables
from confide_chassis.service import ServiceContext, ServiceSpec, start
from confide_chassis.settings import ServiceSettings

pytestmark = pytest.mark.integration

SERVICE = devtest_pb2.DESCRIPTOR.services_by_name["SampleService"].full_name


class BusyServicer(devtest_pb2_grpc.SampleServiceServicer):
    """Echo "hold" keeps its database connection until the test releases it; any other text needs one
    briefly. (Held by an event, not a timed sleep, so the test does not depend on the machine's speed.)"""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self.holding = 0
        self.release = asyncio.Event()

    async def Echo(self, request: devtest_pb2.EchoRequest, context: Any) -> devtest_pb2.EchoResponse:
        async with self._ctx.require_sessions()() as session:
            await session.execute(text("SELECT 1"))  # the session now has its connection
            if request.text == "hold":
                self.holding += 1
                await self.release.wait()
        return devtest_pb2.EchoResponse(text=request.text)

    async def Fail(self, request: devtest_pb2.FailRequest, context: Any) -> devtest_pb2.FailResponse:
        return devtest_pb2.FailResponse()

    async def Count(
        self, request: devtest_pb2.CountRequest, context: Any
    ) -> AsyncIterator[devtest_pb2.CountResponse]:
        yield devtest_pb2.CountResponse(number=1)


async def test_an_rpc_that_finds_no_free_connection_is_unavailable(
    database_url: str, kafka_broker: Any
) -> None:
    engine = create_engine(database_url)
    await install_messaging_tables(engine)
    await engine.dispose()

    servicers: list[BusyServicer] = []

    async def configure(ctx: ServiceContext) -> None:
        servicers.append(BusyServicer(ctx))
        devtest_pb2_grpc.add_SampleServiceServicer_to_server(servicers[0], ctx.server)
        ctx.add_grpc_service(SERVICE, {"Echo": PUBLIC, "Fail": PUBLIC})

    running = await start(
        ServiceSpec(name="devtest", settings_type=ServiceSettings, configure=configure),
        ServiceSettings(
            service_name="devtest",
            grpc_port=0,
            database_url=database_url,
            kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
            db_pool_size=1,  # one kept connection and one overflow
            # Neither the readiness probe nor the outbox relay may take a connection meanwhile.
            readiness_interval_seconds=60,
            outbox_poll_interval_seconds=60,
        ),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = devtest_pb2_grpc.SampleServiceStub(channel)

            async def echo(words: str) -> str:
                return (await stub.Echo(devtest_pb2.EchoRequest(text=words))).text

            assert await echo("free") == "free"
            busy = servicers[0]
            holders = [asyncio.create_task(echo("hold")) for _ in range(2)]
            for _ in range(200):  # both connections taken
                if busy.holding == 2:
                    break
                await asyncio.sleep(0.05)
            assert busy.holding == 2
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await echo("needs a connection")
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "retry" in (refused.value.details() or "")
            busy.release.set()
            assert await asyncio.gather(*holders) == ["hold", "hold"]
            # Once the connections are back, the same call succeeds.
            assert await echo("again") == "again"
    finally:
        await running.stop(grace=1)

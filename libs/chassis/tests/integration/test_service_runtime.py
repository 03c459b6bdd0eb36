"""A chassis-built service over real gRPC, PostgreSQL and Kafka: auth, error mapping, health, tracing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncSession

from confide.devtest.v1 import devtest_pb2, devtest_pb2_grpc
from confide_chassis import errors
from confide_chassis.auth import PUBLIC, StaticJwks, TokenVerifier, allow
from confide_chassis.consumer import IdempotentConsumer
from confide_chassis.db import UnitOfWork, create_engine, install_messaging_tables
from confide_chassis.events import ConsumedEvent, OutgoingEvent
from confide_chassis.grpc.status import details_of, status_from_error
from confide_chassis.ids import new_id_str
from confide_chassis.service import RunningService, ServiceContext, ServiceSpec, start
from confide_chassis.settings import ServiceSettings
from confide_chassis.telemetry import configure_tracing, instrument_grpc_client
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import new_topic

pytestmark = pytest.mark.integration

SERVICE = devtest_pb2.DESCRIPTOR.services_by_name["SampleService"].full_name
KEY = Ed25519PrivateKey.generate()
JWKS = {"keys": [{**json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(KEY.public_key())), "kid": "test"}]}
VERIFIER = TokenVerifier(StaticJwks(JWKS), issuer="confide-identity", audience="confide")


def token(roles: list[str], mfa: bool = True) -> str:
    now = int(time.time())
    claims = {"sub": "u1", "practice": "p1", "roles": roles, "mfa": mfa, "iat": now, "exp": now + 300}
    claims |= {"iss": "confide-identity", "aud": "confide"}
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": "test"})


class SampleServicer(devtest_pb2_grpc.SampleServiceServicer):
    def __init__(self, ctx: ServiceContext, topic: str | None) -> None:
        self._ctx = ctx
        self._topic = topic

    async def Echo(self, request: devtest_pb2.EchoRequest, context: Any) -> devtest_pb2.EchoResponse:
        if request.text == "slow":
            await asyncio.sleep(1.5)
        if request.sample_id and self._topic:
            async with UnitOfWork(self._ctx.require_sessions()) as uow:
                event = OutgoingEvent.from_message(devtest_pb2.SampleHappened(sample_id=request.sample_id))
                uow.publish(_retopic(event, self._topic))
                await uow.commit()
        return devtest_pb2.EchoResponse(text=request.text)

    async def Fail(self, request: devtest_pb2.FailRequest, context: Any) -> devtest_pb2.FailResponse:
        if request.kind == "invalid":
            raise errors.InvalidArgument.field("kind", "must be a known kind")
        if request.kind == "precondition":
            raise errors.FailedPrecondition(errors.RuleViolation("LIC-03", "no authority for that state"))
        if request.kind == "not_found":
            raise errors.NotFound("no such sample")
        raise RuntimeError("a bug, with details nobody outside may see: jane@example.com")

    async def Count(
        self, request: devtest_pb2.CountRequest, context: Any
    ) -> AsyncIterator[devtest_pb2.CountResponse]:
        for number in range(1, request.count + 1):
            yield devtest_pb2.CountResponse(number=number)


def _retopic(event: OutgoingEvent, topic: str) -> OutgoingEvent:
    return dataclasses.replace(event, topic=topic)


def spec(*, declare_fail: bool = True, topic: str | None = None) -> ServiceSpec:
    async def configure(ctx: ServiceContext) -> None:
        devtest_pb2_grpc.add_SampleServiceServicer_to_server(SampleServicer(ctx, topic), ctx.server)
        access = {"Echo": allow("clinician")}
        if declare_fail:
            access["Fail"] = PUBLIC
        ctx.add_grpc_service(SERVICE, access)

    return ServiceSpec(name="devtest", settings_type=ServiceSettings, configure=configure)


def settings_for(database_url: str | None, bootstrap: str, **extra: Any) -> ServiceSettings:
    return ServiceSettings(
        service_name="devtest",
        grpc_port=0,
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        readiness_interval_seconds=0.3,
        outbox_poll_interval_seconds=0.2,
        **extra,
    )


@pytest.fixture
async def service(database_url: str, kafka_broker: Any) -> AsyncIterator[RunningService]:
    engine = create_engine(database_url)
    await install_messaging_tables(engine)
    await engine.dispose()
    running = await start(
        spec(), settings_for(database_url, kafka_broker.bootstrap_servers), verifier=VERIFIER
    )
    yield running
    await running.stop(grace=1)


def stub(port: int) -> tuple[grpc.aio.Channel, devtest_pb2_grpc.SampleServiceAsyncStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return channel, devtest_pb2_grpc.SampleServiceStub(channel)


def auth(tok: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {tok}"),)


async def test_rpc_access_is_checked_against_the_token(service: RunningService) -> None:
    channel, client = stub(service.port)
    async with channel:
        reply = await client.Echo(devtest_pb2.EchoRequest(text="hi"), metadata=auth(token(["clinician"])))
        assert reply.text == "hi"
        with pytest.raises(grpc.aio.AioRpcError) as no_token:
            await client.Echo(devtest_pb2.EchoRequest(text="hi"))
        assert no_token.value.code() is grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as wrong_role:
            await client.Echo(devtest_pb2.EchoRequest(text="hi"), metadata=auth(token(["client"])))
        assert wrong_role.value.code() is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as forged:
            await client.Echo(devtest_pb2.EchoRequest(text="hi"), metadata=auth(token(["clinician"]) + "x"))
        assert forged.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_domain_errors_map_to_statuses_with_details(service: RunningService) -> None:
    channel, client = stub(service.port)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await client.Fail(devtest_pb2.FailRequest(kind="invalid"))
        assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        status = status_from_error(invalid.value)
        assert status is not None
        bad = next(d for d in details_of(status) if isinstance(d, error_details_pb2.BadRequest))
        assert bad.field_violations[0].field == "kind"

        with pytest.raises(grpc.aio.AioRpcError) as precondition:
            await client.Fail(devtest_pb2.FailRequest(kind="precondition"))
        assert precondition.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "LIC-03" in (precondition.value.details() or "")

        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await client.Fail(devtest_pb2.FailRequest(kind="not_found"))
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND

        with pytest.raises(grpc.aio.AioRpcError) as bug:
            await client.Fail(devtest_pb2.FailRequest(kind="bug"))
        assert bug.value.code() is grpc.StatusCode.INTERNAL
        assert "example.com" not in (bug.value.details() or "")


async def test_rpc_without_declared_access_is_denied(database_url: str, kafka_broker: Any) -> None:
    running = await start(
        spec(declare_fail=False), settings_for(None, kafka_broker.bootstrap_servers), verifier=VERIFIER
    )
    try:
        channel, client = stub(running.port)
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await client.Fail(
                    devtest_pb2.FailRequest(kind="invalid"), metadata=auth(token(["clinician"]))
                )
            assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    finally:
        await running.stop(grace=0)


async def health_of(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=3
        )
        return int(reply.status)


async def wait_for_health(port: int, wanted: int, service: str = "", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await health_of(port, service)
        if last == wanted:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"health of {service!r} stayed {last}, wanted {wanted}")


async def test_readiness_follows_the_database(kafka_broker: Any, devstack_run_dir: Path) -> None:
    # A cluster of its own: stopping the shared one would break every other test.
    cluster = PostgresCluster(devstack_run_dir / "health-pg")
    cluster.start()
    try:
        url = await cluster.create_database_async("health_probe")
        engine = create_engine(url)
        await install_messaging_tables(engine)
        await engine.dispose()
        running = await start(spec(), settings_for(url, kafka_broker.bootstrap_servers), verifier=VERIFIER)
        try:
            serving = health_pb2.HealthCheckResponse.SERVING
            not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
            await wait_for_health(running.port, serving)
            await wait_for_health(running.port, serving, SERVICE)

            cluster.stop()
            await wait_for_health(running.port, not_serving)
            await wait_for_health(running.port, not_serving, SERVICE)
            # Liveness stays up: a lost database takes the pod out of rotation, it does not restart it.
            assert await health_of(running.port, "liveness") == serving

            cluster.start()
            await wait_for_health(running.port, serving)
        finally:
            await running.stop(grace=0)
    finally:
        cluster.stop()


async def test_graceful_shutdown_lets_in_flight_rpcs_finish(service: RunningService) -> None:
    channel, client = stub(service.port)
    async with channel:
        call = asyncio.ensure_future(
            client.Echo(devtest_pb2.EchoRequest(text="slow"), metadata=auth(token(["clinician"])))
        )
        await asyncio.sleep(0.3)
        await service.stop(grace=5)
        reply = await call
        assert reply.text == "slow"


async def test_trace_continues_from_rpc_through_outbox_and_kafka_to_consumer(
    database_url: str, kafka_broker: Any
) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("devtest", extra_processors=[SimpleSpanProcessor(exporter)])
    instrument_grpc_client()  # the caller propagates its trace, as the gateway and services do
    topic = await new_topic(kafka_broker.bootstrap_servers, partitions=1)
    dlq = await new_topic(kafka_broker.bootstrap_servers, partitions=1)
    engine = create_engine(database_url)
    await install_messaging_tables(engine)
    await engine.dispose()

    seen: list[str] = []
    handled = asyncio.Event()

    async def handler(session: AsyncSession, event: ConsumedEvent) -> None:
        seen.append(format(trace.get_current_span().get_span_context().trace_id, "032x"))
        handled.set()

    async def configure(ctx: ServiceContext) -> None:
        await spec(topic=topic).configure(ctx)
        ctx.consumers.append(
            IdempotentConsumer(
                name="trace-test",
                service="devtest",
                topics=[topic],
                handler=handler,
                sessions=ctx.require_sessions(),
                bootstrap_servers=kafka_broker.bootstrap_servers,
                dlq_topic=dlq,
                dlq_producer=ctx.producer,
            )
        )

    running = await start(
        ServiceSpec(name="devtest", settings_type=ServiceSettings, configure=configure),
        settings_for(database_url, kafka_broker.bootstrap_servers),
        verifier=VERIFIER,
    )
    try:
        tracer = trace.get_tracer("test")
        with tracer.start_as_current_span("frontend request") as root:
            expected = format(root.get_span_context().trace_id, "032x")
            channel, client = stub(running.port)
            async with channel:
                await client.Echo(
                    devtest_pb2.EchoRequest(text="t", sample_id=new_id_str()),
                    metadata=auth(token(["clinician"])),
                )
        await asyncio.wait_for(handled.wait(), timeout=30)
        assert seen == [expected]
    finally:
        await running.stop(grace=0)

"""Every chassis service refuses a deactivated user's earlier tokens once identity's UserDeactivated arrives.

Real Kafka: the events are published on identity's users topic the way identity's relay does, and two
replicas of a chassis-built service (no consumer group: each reads every deactivation) verify tokens.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
import jwt
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from confide.devtest.v1 import devtest_pb2, devtest_pb2_grpc
from confide.identity.v1 import events_pb2 as identity_events
from confide_chassis import errors
from confide_chassis.auth import PUBLIC, StaticJwks, TokenVerifier, allow
from confide_chassis.events import OutgoingEvent, build_headers
from confide_chassis.service import RunningService, ServiceContext, ServiceSpec, start
from confide_chassis.settings import ServiceSettings

pytestmark = pytest.mark.integration

SERVICE = devtest_pb2.DESCRIPTOR.services_by_name["SampleService"].full_name
KEY = Ed25519PrivateKey.generate()
JWKS = {"keys": [{**json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(KEY.public_key())), "kid": "test"}]}
PRACTICE = str(uuid.uuid4())
# The watcher polls every 0.5 s; generous for a loaded 2-core machine, bounded all the same.
PROPAGATION_SECONDS = 15.0


def token(subject: str, *, issued_seconds_ago: int = 5) -> str:
    now = int(time.time())
    claims = {
        "sub": subject,
        "practice": PRACTICE,
        "roles": ["client"],
        "mfa": False,
        "iat": now - issued_seconds_ago,
        "exp": now + 300,
        "iss": "confide-identity",
        "aud": "confide",
    }
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": "test"})


def bearer(tok: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {tok}"),)


class SampleServicer(devtest_pb2_grpc.SampleServiceServicer):
    async def Echo(self, request: devtest_pb2.EchoRequest, context: Any) -> devtest_pb2.EchoResponse:
        return devtest_pb2.EchoResponse(text=request.text)

    async def Fail(self, request: devtest_pb2.FailRequest, context: Any) -> devtest_pb2.FailResponse:
        raise errors.NotFound("no such sample")

    async def Count(
        self, request: devtest_pb2.CountRequest, context: Any
    ) -> AsyncIterator[devtest_pb2.CountResponse]:
        for number in range(1, request.count + 1):
            yield devtest_pb2.CountResponse(number=number)


async def configure(ctx: ServiceContext) -> None:
    devtest_pb2_grpc.add_SampleServiceServicer_to_server(SampleServicer(), ctx.server)
    ctx.add_grpc_service(SERVICE, {"Echo": allow(), "Fail": PUBLIC, "Count": PUBLIC})


SPEC = ServiceSpec(name="devtest", settings_type=ServiceSettings, configure=configure)


async def start_replica(bootstrap: str) -> RunningService:
    settings = ServiceSettings(
        service_name="devtest", grpc_port=0, kafka_bootstrap_servers=bootstrap, readiness_interval_seconds=0.3
    )
    verifier = TokenVerifier(StaticJwks(JWKS), issuer="confide-identity", audience="confide")
    return await start(SPEC, settings, verifier=verifier)


async def publish_deactivation(bootstrap: str, subject: str, at: datetime) -> None:
    """What identity's outbox relay sends after DeactivateUser."""
    occurred_at = Timestamp()
    occurred_at.FromDatetime(at)
    event = OutgoingEvent.from_message(
        identity_events.UserDeactivated(
            user_id=subject, practice_id=PRACTICE, deactivated_by=str(uuid.uuid4()), occurred_at=occurred_at
        ),
        occurred_at=at,
    )
    headers = build_headers(
        event_id=event.event_id,
        event_type=event.event_type,
        source="//confide/identity",
        occurred_at=event.occurred_at,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(event.topic, event.payload, key=event.key.encode(), headers=headers)
    finally:
        await producer.stop()


@pytest.fixture
async def replicas(kafka_broker: Any) -> AsyncIterator[list[RunningService]]:
    started: list[RunningService] = []
    try:
        for _ in range(2):
            started.append(await start_replica(kafka_broker.bootstrap_servers))
        yield started
    finally:
        for running in started:
            await running.stop(grace=0)


async def echo(port: int, tok: str) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            await devtest_pb2_grpc.SampleServiceStub(channel).Echo(
                devtest_pb2.EchoRequest(text="hi"), metadata=bearer(tok), timeout=5
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def public_call(port: int, tok: str) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            await devtest_pb2_grpc.SampleServiceStub(channel).Fail(
                devtest_pb2.FailRequest(kind="not_found"), metadata=bearer(tok), timeout=5
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def public_stream(port: int, tok: str) -> list[int]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = devtest_pb2_grpc.SampleServiceStub(channel).Count(
            devtest_pb2.CountRequest(count=3), metadata=bearer(tok), timeout=5
        )
        return [reply.number async for reply in call]


async def ready(port: int) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def within(seconds: float, check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(0.1)


async def test_a_deactivation_published_before_start_is_honoured_once_ready(kafka_broker: Any) -> None:
    gone = str(uuid.uuid4())
    await publish_deactivation(kafka_broker.bootstrap_servers, gone, datetime.now(UTC))
    running = await start_replica(kafka_broker.bootstrap_servers)
    try:
        await within(PROPAGATION_SECONDS, lambda: ready(running.port), "replica ready")
        # Ready means the deactivations of the last token lifetime are read: no window of acceptance.
        assert await echo(running.port, token(gone)) is grpc.StatusCode.UNAUTHENTICATED
        assert await echo(running.port, token(str(uuid.uuid4()))) is grpc.StatusCode.OK
    finally:
        await running.stop(grace=0)


async def test_every_replica_refuses_a_user_deactivated_while_it_runs(
    kafka_broker: Any, replicas: list[RunningService]
) -> None:
    leaving, staying = str(uuid.uuid4()), str(uuid.uuid4())
    leaving_token, staying_token = token(leaving), token(staying)
    for replica in replicas:
        assert await echo(replica.port, leaving_token) is grpc.StatusCode.OK  # now remembered as valid
        assert await echo(replica.port, staying_token) is grpc.StatusCode.OK

    await publish_deactivation(kafka_broker.bootstrap_servers, leaving, datetime.now(UTC))

    for replica in replicas:

        async def refused(port: int = replica.port) -> bool:
            return await echo(port, leaving_token) is grpc.StatusCode.UNAUTHENTICATED

        await within(PROPAGATION_SECONDS, refused, f"replica on {replica.port} refusing the deactivated user")
        assert await echo(replica.port, staying_token) is grpc.StatusCode.OK
        # Public RPCs (unary and streaming) ignore the refused token rather than failing on it.
        assert await public_call(replica.port, leaving_token) is grpc.StatusCode.NOT_FOUND
        assert await public_stream(replica.port, leaving_token) == [1, 2, 3]

"""The edge of a chassis-built service over real gRPC: what a caller gets for requests that are too big,
do not parse, break the wire rules, or make a handler echo a huge value into its error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from confide.devtest.v1 import devtest_pb2, devtest_pb2_grpc
from confide_chassis import errors
from confide_chassis.auth import PUBLIC
from confide_chassis.grpc.status import MAX_MESSAGE_CHARS, details_of, status_from_error
from confide_chassis.service import RunningService, ServiceContext, ServiceSpec, start
from confide_chassis.settings import ServiceSettings

pytestmark = pytest.mark.integration

SERVICE = devtest_pb2.DESCRIPTOR.services_by_name["SampleService"].full_name
ECHO = f"/{SERVICE}/Echo"
MEBIBYTE = 1024 * 1024


class EchoingServicer(devtest_pb2_grpc.SampleServiceServicer):
    async def Echo(self, request: devtest_pb2.EchoRequest, context: Any) -> devtest_pb2.EchoResponse:
        return devtest_pb2.EchoResponse(text=request.text)

    async def Fail(self, request: devtest_pb2.FailRequest, context: Any) -> devtest_pb2.FailResponse:
        # A careless handler: it repeats the caller's value into its error, a thousand times over.
        raise errors.InvalidArgument.field(request.kind * 1000, "unknown kind " + request.kind * 1000)

    async def Count(
        self, request: devtest_pb2.CountRequest, context: Any
    ) -> AsyncIterator[devtest_pb2.CountResponse]:
        for number in range(1, request.count + 1):
            yield devtest_pb2.CountResponse(number=number)


def spec() -> ServiceSpec:
    async def configure(ctx: ServiceContext) -> None:
        devtest_pb2_grpc.add_SampleServiceServicer_to_server(EchoingServicer(), ctx.server)
        ctx.add_grpc_service(SERVICE, {"Echo": PUBLIC, "Fail": PUBLIC, "Count": PUBLIC})

    return ServiceSpec(name="devtest", settings_type=ServiceSettings, configure=configure)


@pytest.fixture(scope="module")
async def service(kafka_broker: Any) -> AsyncIterator[RunningService]:
    settings = ServiceSettings(
        service_name="devtest",
        grpc_port=0,
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        grpc_max_receive_message_bytes=MEBIBYTE,
    )
    running = await start(spec(), settings)
    yield running
    await running.stop(grace=0)


@pytest.fixture
async def channel(service: RunningService) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as opened:
        yield opened


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = status_from_error(error)
    return [
        v.field
        for d in (details_of(status) if status is not None else [])
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    ]


async def test_a_request_that_does_not_parse_is_invalid_argument(channel: grpc.aio.Channel) -> None:
    raw = channel.unary_unary(ECHO, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    for payload in (b"\x0a\x02\xc3\x28", b"\x0a\x05ab", b"\xff\xff\xff\xff"):  # bad UTF-8, truncated, garbage
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await raw(payload)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, payload


async def test_wire_rules_are_checked_before_the_handler(channel: grpc.aio.Channel) -> None:
    client = devtest_pb2_grpc.SampleServiceStub(channel)
    assert (await client.Echo(devtest_pb2.EchoRequest(text="x" * 1024))).text == "x" * 1024
    with pytest.raises(grpc.aio.AioRpcError) as too_long:
        await client.Echo(devtest_pb2.EchoRequest(text="x" * 1025, sample_id="a\x00b"))
    assert too_long.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(too_long.value) == ["text", "sample_id"]


async def test_a_request_over_the_size_limit_is_resource_exhausted(channel: grpc.aio.Channel) -> None:
    client = devtest_pb2_grpc.SampleServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as too_big:
        await client.Echo(devtest_pb2.EchoRequest(text="x" * (2 * MEBIBYTE)))
    assert too_big.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_an_error_echoing_a_huge_value_stays_small(channel: grpc.aio.Channel) -> None:
    client = devtest_pb2_grpc.SampleServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as echoed:
        await client.Fail(devtest_pb2.FailRequest(kind="k" * 1000))
    assert echoed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(echoed.value.details() or "") <= MAX_MESSAGE_CHARS
    trailer = sum(len(key) + len(value) for key, value in echoed.value.trailing_metadata() or ())
    assert trailer < 4096
    assert len(violated_fields(echoed.value)) == 1


async def test_streaming_rpcs_get_the_same_edge(channel: grpc.aio.Channel) -> None:
    client = devtest_pb2_grpc.SampleServiceStub(channel)
    assert [r.number async for r in client.Count(devtest_pb2.CountRequest(count=3))] == [1, 2, 3]
    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        async for _ in client.Count(devtest_pb2.CountRequest(count=1_000_000)):
            pass
    assert too_many.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(too_many.value) == ["count"]
    raw = channel.unary_stream(
        f"/{SERVICE}/Count", request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    with pytest.raises(grpc.aio.AioRpcError) as garbage:
        async for _ in raw(b"\xff\xff\xff\xff"):
            pass
    assert garbage.value.code() is grpc.StatusCode.INVALID_ARGUMENT

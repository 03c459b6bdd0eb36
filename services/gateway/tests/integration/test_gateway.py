"""The gateway over real HTTP (hypercorn), in front of a real chassis-built gRPC service: Connect JSON
and binary, gRPC-Web, gRPC, server streaming, CORS, tokens, errors, rate and size limits."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from confide.devtest.v1 import devtest_pb2, devtest_pb2_grpc
from confide_chassis import errors
from confide_chassis.db import create_engine, install_messaging_tables
from confide_chassis.service import RunningService, ServiceContext, ServiceSpec, start
from confide_chassis.settings import ServiceSettings
from confide_chassis.testkit import TokenFactory
from confide_gateway.app import Gateway
from confide_gateway.routes import gateway_routes
from confide_gateway.settings import GatewaySettings
from confide_gateway.upstream import Upstreams

pytestmark = pytest.mark.integration

TOKENS = TokenFactory()
ORIGIN = "https://app.confide.test"
SAMPLE = "/confide.devtest.v1.SampleService"


class Sample(devtest_pb2_grpc.SampleServiceServicer):
    async def Echo(self, request: devtest_pb2.EchoRequest, context: Any) -> devtest_pb2.EchoResponse:
        if request.text == "slow":
            await asyncio.sleep(2)
        return devtest_pb2.EchoResponse(text=request.text)

    async def Fail(self, request: devtest_pb2.FailRequest, context: Any) -> devtest_pb2.FailResponse:
        if request.kind == "invalid":
            raise errors.InvalidArgument.field("kind", "must be a known kind")
        if request.kind == "precondition":
            raise errors.FailedPrecondition(errors.RuleViolation("LIC-03", "no authority for that state"))
        raise RuntimeError("secret detail jane@example.com")

    async def Count(
        self, request: devtest_pb2.CountRequest, context: Any
    ) -> AsyncIterator[devtest_pb2.CountResponse]:
        for number in range(1, request.count + 1):
            yield devtest_pb2.CountResponse(number=number)
            await asyncio.sleep(request.interval_ms / 1000)


def sample_spec() -> ServiceSpec:
    async def configure(ctx: ServiceContext) -> None:
        devtest_pb2_grpc.add_SampleServiceServicer_to_server(Sample(), ctx.server)
        ctx.add_grpc_service(devtest_pb2.DESCRIPTOR.services_by_name["SampleService"])

    return ServiceSpec(name="devtest", settings_type=ServiceSettings, configure=configure)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Edge:
    url: str
    port: int


@pytest.fixture(scope="module")
async def edge_stack(postgres_cluster: Any, kafka_broker: Any) -> AsyncIterator[Edge]:
    from confide_devstack.pytest_plugin import unique_database_name

    url = await postgres_cluster.create_database_async(unique_database_name("gateway_it"))
    engine = create_engine(url)
    await install_messaging_tables(engine)
    await engine.dispose()
    upstream: RunningService = await start(
        sample_spec(),
        ServiceSettings(
            service_name="devtest",
            grpc_port=0,
            database_url=url,
            kafka_bootstrap_servers=str(kafka_broker.bootstrap_servers),
            readiness_interval_seconds=0.3,
        ),
        verifier=TOKENS.verifier,
    )
    port = _free_port()
    settings = GatewaySettings(
        grpc_port=port,
        metrics_port=0,
        cors_origins=ORIGIN,
        rate_per_second=5,
        rate_burst=20,
        max_request_bytes=4096,
    )
    upstreams = Upstreams(lambda _: f"127.0.0.1:{upstream.port}")
    app = Gateway(settings, gateway_routes({"devtest"}), upstreams, TOKENS.verifier)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    server = asyncio.create_task(hypercorn_serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    try:
        yield Edge(f"http://127.0.0.1:{port}", port)
    finally:
        stop.set()
        await server
        await upstream.stop(grace=0)


def bearer(subject: str = "u-1", *roles: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS.token(subject, 'p-1', roles or ('clinician',))}"}


async def post(
    edge: Edge, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(edge.url + path, data=body, headers=headers) as r,
    ):
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()


async def test_connect_json_unary_with_a_token(edge_stack: Edge) -> None:
    status, headers, body = await post(
        edge_stack,
        f"{SAMPLE}/Echo",
        json.dumps({"text": "hello"}).encode(),
        {"content-type": "application/json", "x-request-id": "req-abcdef12", **bearer()},
    )
    assert status == 200
    assert json.loads(body) == {"text": "hello"}
    assert headers["x-request-id"] == "req-abcdef12"


async def test_connect_binary_unary(edge_stack: Edge) -> None:
    status, _, body = await post(
        edge_stack,
        f"{SAMPLE}/Echo",
        devtest_pb2.EchoRequest(text="bin").SerializeToString(),
        {"content-type": "application/proto", **bearer()},
    )
    assert status == 200
    assert devtest_pb2.EchoResponse.FromString(body).text == "bin"


async def test_plain_grpc_client_through_the_gateway(edge_stack: Edge) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{edge_stack.port}") as channel:
        stub = devtest_pb2_grpc.SampleServiceStub(channel)
        reply = await stub.Echo(devtest_pb2.EchoRequest(text="grpc"), metadata=tuple(bearer().items()))
        assert reply.text == "grpc"
        numbers = [m.number async for m in stub.Count(devtest_pb2.CountRequest(count=3))]
        assert numbers == [1, 2, 3]


def _frame(message: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(message)) + message


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at < len(data):
        flags, size = struct.unpack(">BI", data[at : at + 5])
        out.append((flags, data[at + 5 : at + 5 + size]))
        at += 5 + size
    return out


async def test_grpc_web_from_a_browser_origin(edge_stack: Edge) -> None:
    status, headers, body = await post(
        edge_stack,
        f"{SAMPLE}/Echo",
        _frame(devtest_pb2.EchoRequest(text="web").SerializeToString()),
        {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", "origin": ORIGIN, **bearer()},
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == ORIGIN
    frames = _frames(body)
    assert devtest_pb2.EchoResponse.FromString(frames[0][1]).text == "web"
    assert frames[-1][0] & 0x80  # trailers frame
    assert b"grpc-status:0" in frames[-1][1].replace(b" ", b"")


async def test_a_frame_marked_compressed_without_an_encoding_is_the_clients_error(edge_stack: Edge) -> None:
    # Found by tests/e2e/test_fuzz_gateway.py: connectrpc answered INTERNAL ("protocol error").
    status, _, body = await post(
        edge_stack,
        f"{SAMPLE}/Echo",
        _frame(devtest_pb2.EchoRequest(text="web").SerializeToString(), flags=0x01),
        {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", **bearer()},
    )
    assert status == 200
    trailers = _frames(body)[-1][1].replace(b" ", b"")
    assert b"grpc-status:3\r\n" in trailers, trailers  # INVALID_ARGUMENT


async def test_connect_server_stream(edge_stack: Edge) -> None:
    request = _frame(json.dumps({"count": 4, "intervalMs": 10}).encode())
    status, _, body = await post(
        edge_stack, f"{SAMPLE}/Count", request, {"content-type": "application/connect+json"}
    )
    assert status == 200
    frames = _frames(body)
    assert [json.loads(data)["number"] for flags, data in frames if not flags & 0x02] == [1, 2, 3, 4]
    assert frames[-1][0] & 0x02  # end-of-stream frame


async def test_cors_preflight(edge_stack: Edge) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.options(
            f"{edge_stack.url}{SAMPLE}/Echo",
            headers={"origin": ORIGIN, "access-control-request-method": "POST"},
        ) as allowed:
            assert allowed.status == 204
            assert allowed.headers["access-control-allow-origin"] == ORIGIN
        async with session.options(
            f"{edge_stack.url}{SAMPLE}/Echo",
            headers={"origin": "https://evil.test", "access-control-request-method": "POST"},
        ) as denied:
            assert denied.status == 403
            assert "access-control-allow-origin" not in denied.headers


async def test_missing_or_bad_token_is_unauthenticated_at_the_edge(edge_stack: Edge) -> None:
    for headers in ({}, {"authorization": "Bearer not-a-token"}):
        status, _, body = await post(
            edge_stack, f"{SAMPLE}/Echo", b'{"text":"x"}', {"content-type": "application/json", **headers}
        )
        assert status == 401
        assert json.loads(body)["code"] == "unauthenticated"


async def test_domain_errors_keep_their_details_bugs_leak_nothing(edge_stack: Edge) -> None:
    status, _, body = await post(
        edge_stack, f"{SAMPLE}/Fail", b'{"kind":"invalid"}', {"content-type": "application/json"}
    )
    error = json.loads(body)
    assert (status, error["code"]) == (400, "invalid_argument")
    details = {d["type"]: d["value"] for d in error["details"]}
    bad_request = error_details_pb2.BadRequest.FromString(
        base64.b64decode(details["google.rpc.BadRequest"] + "==")
    )
    assert bad_request.field_violations[0].field == "kind"

    status, _, body = await post(
        edge_stack, f"{SAMPLE}/Fail", b'{"kind":"bug"}', {"content-type": "application/json"}
    )
    error = json.loads(body)
    assert error["code"] == "internal"
    assert "jane" not in body.decode()
    assert "secret" not in body.decode()
    _ = status_pb2


async def test_oversized_requests_are_refused(edge_stack: Edge) -> None:
    status, _, body = await post(
        edge_stack,
        f"{SAMPLE}/Echo",
        json.dumps({"text": "x" * 10_000}).encode(),
        {"content-type": "application/json", **bearer()},
    )
    assert status != 200
    assert json.loads(body)["code"] == "resource_exhausted"


async def test_deadline_is_propagated(edge_stack: Edge) -> None:
    _, _, body = await post(
        edge_stack,
        f"{SAMPLE}/Echo",
        b'{"text":"slow"}',
        {"content-type": "application/json", "connect-timeout-ms": "300", **bearer()},
    )
    assert json.loads(body)["code"] == "deadline_exceeded"


async def test_per_client_rate_limit(edge_stack: Edge) -> None:
    headers = {"content-type": "application/json", **bearer("greedy-client")}
    codes = []
    for _ in range(30):
        status, _, _ = await post(edge_stack, f"{SAMPLE}/Echo", b'{"text":"x"}', headers)
        codes.append(status)
    assert 429 in codes
    assert codes[0] == 200
    status, _, _ = await post(
        edge_stack,
        f"{SAMPLE}/Echo",
        b'{"text":"x"}',
        {"content-type": "application/json", **bearer("polite-client")},
    )
    assert status == 200  # other clients are not affected

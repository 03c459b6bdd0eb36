"""Hypothesis fuzzing of every RPC the gateway serves, over HTTP, the way a broken or hostile client
would call it (docs/api/gateway.md).

For each route (every RPC whose proto says `gateway: true`), Hypothesis draws requests: Connect JSON
bodies with fuzzed values of the right shape (from the request's descriptor), the same with wrong
JSON types, unknown fields, deep nesting or a non-object at the top, invalid UTF-8, bodies that are
not JSON at all, a wrong or missing content type, Connect binary with random or mutated bytes, and
gRPC-Web frames that lie about their length or flags. They are sent as a caller holding a role the
RPC admits, now and then anonymously. Every answer must:

- never be HTTP 500, nor a Connect error `internal` or `unknown`, nor gRPC-Web status INTERNAL (13)
  or UNKNOWN (2);
- stay small (the error body echoes no megabyte of what was sent).

Then every route gets a body over the gateway's size limit (1 MiB) as Connect JSON, as gzip that
inflates past it, and as a gRPC-Web frame: each is `resource_exhausted` at the gateway and never
reaches a service (the services' own request counters do not move). Finally the gateway and every
service still answer their health checks.

Deterministic (`derandomize`, no example database); `FUZZ_EXAMPLES` (default 5 per route) runs
longer (`make test-fuzz`), `FUZZ_RPCS` (a regular expression) narrows the run to matching paths.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import gzip
import json
import os
import re
import struct
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import jwt
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from confide_chassis.auth import Access
from confide_gateway.routes import Route, gateway_routes

from ..contract.message_strategies import messages, nested_field_one
from .conftest import Platform

pytestmark = [
    pytest.mark.integration,
    # Hypothesis warns when the global `random` state moves while it draws an example: the HTTP client
    # runs on the event loop meanwhile, in another thread; no concern here.
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

EXAMPLES_PER_ROUTE = int(os.environ.get("FUZZ_EXAMPLES", "5"))
GATEWAY_MAX_REQUEST_BYTES = 1024 * 1024  # GATEWAY_MAX_REQUEST_BYTES' default (docs/api/gateway.md)
# An error body is a code, a bounded message and the service's details: never an echo of the request.
MAX_ERROR_BODY_BYTES = 16 * 1024
CONCURRENCY = 6
STREAM_DEADLINE_MS = "2000"
# Only the routes whose path matches (e.g. "messaging"), to dig into one area.
ONLY = re.compile(os.environ.get("FUZZ_RPCS", ""))
TIMEOUT = aiohttp.ClientTimeout(total=30)
SERVICES = ("identity", "scheduling", "messaging", "billing", "compliance", "directory")
PRACTICE_ID = "01930000-0000-7000-8000-000000000001"
SUBJECT_OF_ROLE = {
    "client": "01930000-0000-7000-8000-0000000000e1",  # alex
    "clinician": "01930000-0000-7000-8000-0000000000c3",  # dr.rivera, on alex's care team
    "practice_admin": "01930000-0000-7000-8000-0000000000a1",
    "platform_operator": "01930000-0000-7000-8000-0000000000a2",
    "compliance_officer": "01930000-0000-7000-8000-0000000000a2",
}
ROLE_PREFERENCE = ("client", "clinician", "practice_admin", "compliance_officer", "platform_operator")
GRPC_WEB = "application/grpc-web+proto"
_GRPC_STATUS = re.compile(rb"grpc-status:\s*(\d+)", re.IGNORECASE)
_HIDDEN_GRPC = {"2", "13"}  # UNKNOWN, INTERNAL
_END_STREAM_CODE = re.compile(rb'"error"\s*:\s*\{\s*"code"\s*:\s*"([a-z_]+)"')


@dataclass(frozen=True)
class Request:
    """One HTTP request to a route: what a client could put on the wire."""

    what: str
    body: bytes
    content_type: str | None
    signed_in: bool = True
    headers: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # failing cases are printed: keep big bodies short
        head = self.body[:160]
        more = f" +{len(self.body) - len(head)} bytes" if len(self.body) > len(head) else ""
        return (
            f"Request({self.what}, {self.content_type}, signed_in={self.signed_in}, "
            f"headers={self.headers}, body={head!r}{more})"
        )


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes
    grpc_status: str | None


@dataclass
class Tally:
    calls: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)


class Problem(AssertionError):
    pass


# --- tokens --------------------------------------------------------------------------------------------


def caller_role(access: Access) -> str | None:
    if access.public:
        return None
    if not access.roles:
        return "client"
    return next((r for r in ROLE_PREFERENCE if r in access.roles), sorted(access.roles)[0])


def mint(signing_key: Path, jwks: Path, role: str) -> str:
    """An access token as identity signs it, with the dev stack's key (identity signs with it too)."""
    now = int(time.time())
    kid = json.loads(jwks.read_text(encoding="utf-8"))["keys"][0]["kid"]
    claims = {
        "sub": SUBJECT_OF_ROLE[role],
        "practice": PRACTICE_ID,
        "roles": [role],
        "mfa": True,
        "iat": now,
        "exp": now + 900,
        "iss": "confide-identity",
        "aud": "confide",
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, signing_key.read_bytes(), algorithm="EdDSA", headers={"kid": kid})


# --- request strategies --------------------------------------------------------------------------------


def _frame(payload: bytes, flags: int = 0, declared: int | None = None) -> bytes:
    """A gRPC-Web (and Connect streaming) envelope: flags, a big-endian length, the message."""
    return struct.pack(">BI", flags, len(payload) if declared is None else declared) + payload


def _json_of(message: Message) -> Any:
    try:
        return json_format.MessageToDict(message)
    except (ValueError, TypeError, OverflowError):  # instants no RFC 3339 string can hold
        return {}


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
JSON = "application/json"
PROTO = "application/proto"
CONTENT_TYPES = [
    None,
    "text/plain",
    "application/xml",
    "application/json; charset=latin1",
    "multipart/form-data",
]
ODD_HEADERS = [
    ("connect-timeout-ms", "abc"),
    ("connect-timeout-ms", "-1"),
    ("connect-timeout-ms", "99999999999999999999"),
    ("connect-protocol-version", "7"),
    ("content-encoding", "gzip"),
    ("content-encoding", "br"),
    ("grpc-timeout", "1x"),
]
BROKEN_AUTHORIZATION = ["a", "Bearer", "Bearer x.y.z", "Basic Zm9vOmJhcg==", "Bearer " + "A" * 8000]


def _deeply_nested(depth: int) -> Request:
    return Request(f"JSON nested {depth} deep", b'{"a":' * depth + b"1" + b"}" * depth, JSON)


def _binary_nested(depth: int) -> Request:
    return Request(f"Connect binary nested {depth} deep", nested_field_one(depth), PROTO)


def _frame_with_length(message: Message, declared: int) -> Request:
    return Request(
        "gRPC-Web frame with a wrong length", _frame(message.SerializeToString(), 0, declared), GRPC_WEB
    )


def _frame_with_flags(message: Message, flags: int) -> Request:
    return Request(f"gRPC-Web frame flags {flags:#x}", _frame(message.SerializeToString(), flags), GRPC_WEB)


def _two_frames(message: Message) -> Request:
    return Request("gRPC-Web, two frames for a unary call", _frame(message.SerializeToString()) * 2, GRPC_WEB)


def _grpc_web_text(message: Message) -> Request:
    body = base64.b64encode(_frame(message.SerializeToString()))
    return Request("gRPC-Web text (base64)", body, "application/grpc-web-text")


def _odd_header(header: tuple[str, str]) -> Request:
    return Request(f"header {header[0]}: {header[1]}", b"{}", JSON, headers=(header,))


def _broken_authorization(value: str) -> Request:
    return Request("a broken authorization header", b"{}", JSON, False, (("authorization", value),))


def _requests(route: Route) -> st.SearchStrategy[Request]:
    descriptor: Any = route.input.DESCRIPTOR
    fuzzed = messages(descriptor)
    as_json = fuzzed.map(_json_of)
    first_field = descriptor.fields[0].json_name if descriptor.fields else "x"

    def wrong_type(body: Any, value: Any) -> Request:
        key = next(iter(body), first_field)
        return Request("a field of the wrong JSON type", json.dumps({**body, key: value}).encode(), JSON)

    def unknown_field(body: Any, name: str, value: Any) -> Request:
        return Request("an unknown field", json.dumps({**body, f"zz{name}": value}).encode(), JSON)

    def invalid_utf8(junk: bytes) -> Request:
        body = b'{"' + first_field.encode() + b'": "' + junk + b'\xff"}'
        return Request("invalid UTF-8 in a string", body, JSON)

    connect_json = st.one_of(
        as_json.map(lambda body: Request("fuzzed JSON", json.dumps(body).encode(), JSON)),
        st.builds(wrong_type, as_json, _json_values),
        st.builds(unknown_field, as_json, st.text(max_size=8), _json_values),
        st.integers(10, 100_000).map(_deeply_nested),
        st.sampled_from([b"[]", b"null", b"1", b'"x"', b"", b"{", b'{"a":}', b"\xef\xbb\xbf{}"]).map(
            lambda raw: Request("not a JSON object", raw, JSON)
        ),
        st.binary(min_size=1, max_size=16).map(invalid_utf8),
    )
    binary = st.one_of(
        fuzzed.map(lambda m: Request("Connect binary", m.SerializeToString(), "application/proto")),
        st.binary(max_size=64).map(
            lambda raw: Request("Connect binary, random bytes", raw, "application/proto")
        ),
        st.integers(1, 300).map(_binary_nested),
    )
    grpc_web = st.one_of(
        fuzzed.map(lambda m: Request("gRPC-Web frame", _frame(m.SerializeToString()), GRPC_WEB)),
        st.builds(_frame_with_length, fuzzed, st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1])),
        st.builds(_frame_with_flags, fuzzed, st.sampled_from([0x01, 0x02, 0x80, 0xFF])),
        st.binary(max_size=8).map(lambda raw: Request("gRPC-Web, a truncated frame", raw, GRPC_WEB)),
        fuzzed.map(_two_frames),
        fuzzed.map(_grpc_web_text),
    )
    odd_headers = st.one_of(
        st.sampled_from(CONTENT_TYPES).map(lambda kind: Request(f"content type {kind}", b"{}", kind)),
        st.sampled_from(ODD_HEADERS).map(_odd_header),
        st.sampled_from(BROKEN_AUTHORIZATION).map(_broken_authorization),
    )
    # Mostly as a caller the RPC admits (to get past the gateway's token check), sometimes anonymously.
    return st.builds(
        lambda request, signed_in: dataclasses.replace(request, signed_in=request.signed_in and signed_in),
        st.one_of(connect_json, connect_json, binary, grpc_web, odd_headers),
        st.sampled_from([True, True, True, False]),
    )


# --- sending and judging -------------------------------------------------------------------------------


async def send(
    session: aiohttp.ClientSession, gateway: str, route: Route, request: Request, token: str | None
) -> Reply:
    headers = dict(request.headers)
    if request.content_type is not None:
        headers["content-type"] = request.content_type
    if request.content_type and request.content_type.startswith("application/grpc-web"):
        headers.setdefault("x-grpc-web", "1")
    if request.signed_in and token and "authorization" not in headers:
        headers["authorization"] = f"Bearer {token}"
    if route.server_streaming:  # a valid request opens a quiet stream: end it soon
        headers.setdefault("connect-timeout-ms", STREAM_DEADLINE_MS)
        headers.setdefault("grpc-timeout", f"{STREAM_DEADLINE_MS}m")
    skip = () if request.content_type is not None else ("Content-Type",)
    try:
        async with session.post(
            f"{gateway}{route.path}", data=request.body, headers=headers, skip_auto_headers=skip
        ) as reply:
            body = await reply.read()
    except TimeoutError:
        raise Problem(f"{route.path} [{request.what}]: no answer within {TIMEOUT.total} s") from None
    grpc_status = reply.headers.get("grpc-status")
    if grpc_status is None:
        found = _GRPC_STATUS.search(body)  # gRPC-Web: the status is in the trailer frame
        grpc_status = found.group(1).decode() if found else None
    return Reply(reply.status, reply.headers.get("content-type", ""), body, grpc_status)


def connect_code(reply: Reply) -> str | None:
    """The Connect error code of an answer: a unary error's JSON body, or a stream's end message."""
    if reply.content_type.startswith("application/connect+"):
        found = _END_STREAM_CODE.search(reply.body)
        return found.group(1).decode() if found else None
    if not reply.content_type.startswith("application/json") or reply.status == 200:
        return None
    try:
        return str(json.loads(reply.body).get("code"))
    except (ValueError, AttributeError):
        return None


def judge(route: Route, request: Request, reply: Reply) -> None:
    code = connect_code(reply)
    where = f"{route.path} [{request.what}]"
    if reply.status >= 500 and reply.status not in (503, 504):
        raise Problem(f"{where}: HTTP {reply.status} {reply.body[:300]!r}")
    if code in ("internal", "unknown"):
        raise Problem(f"{where}: Connect error {code}: {reply.body[:300]!r}")
    if reply.grpc_status in _HIDDEN_GRPC:
        raise Problem(f"{where}: gRPC-Web status {reply.grpc_status}: {reply.body[:300]!r}")
    if reply.status != 200 and len(reply.body) > MAX_ERROR_BODY_BYTES:
        raise Problem(f"{where}: a {len(reply.body)}-byte error body (HTTP {reply.status})")


@dataclass
class Target:
    route: Route
    token: str | None


def fuzz_route_in_thread(
    target: Target,
    gateway: str,
    session: aiohttp.ClientSession,
    tally: Tally,
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Hypothesis for one route, in a worker thread; the HTTP calls run on the test's event loop."""

    async def exercise(request: Request) -> None:
        reply = await send(session, gateway, target.route, request, target.token)
        tally.calls += 1
        key = f"{reply.status}" + (f"/{connect_code(reply)}" if connect_code(reply) else "")
        tally.statuses[key] = tally.statuses.get(key, 0) + 1
        judge(target.route, request, reply)

    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        derandomize=True,
        database=None,
        deadline=None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
    )
    @given(request=_requests(target.route))
    def check(request: Request) -> None:
        asyncio.run_coroutine_threadsafe(exercise(request), loop).result()

    try:
        check()
    except Exception as failure:
        tally.findings.append(f"{target.route.path}: {type(failure).__name__}: {str(failure)[:400]}")


# --- oversized bodies ----------------------------------------------------------------------------------


def oversized(route: Route) -> list[Request]:
    """Bodies just over the gateway's limit: as Connect JSON, as gzip inflating past it, as gRPC-Web
    (server streams take Connect's enveloped JSON)."""
    field_name = route.input.DESCRIPTOR.fields[0].json_name if route.input.DESCRIPTOR.fields else "x"
    big = json.dumps({field_name: "x" * GATEWAY_MAX_REQUEST_BYTES}).encode()
    grpc_web = Request(
        "gRPC-Web frame over 1 MiB", _frame(b"\x0a" + b"\xff" * GATEWAY_MAX_REQUEST_BYTES), GRPC_WEB
    )
    if route.server_streaming:
        stream = "application/connect+json"
        return [
            Request("enveloped JSON over 1 MiB", _frame(big), stream),
            Request(
                "enveloped gzip inflating past 1 MiB",
                _frame(gzip.compress(big), flags=1),
                stream,
                headers=(("connect-content-encoding", "gzip"),),
            ),
            grpc_web,
        ]
    return [
        Request("JSON over 1 MiB", big, JSON),
        Request(
            "gzip inflating past 1 MiB", gzip.compress(big), JSON, headers=(("content-encoding", "gzip"),)
        ),
        grpc_web,
    ]


async def send_raw(gateway: str, route: Route, request: Request, token: str | None) -> Reply:
    """An HTTP/1.1 request over a plain socket that keeps reading when the server answers (and
    closes) before the whole body is sent: what a gateway refusing a large body early does."""
    host, port = gateway.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [
        f"POST {route.path} HTTP/1.1",
        f"host: {host}:{port}",
        f"content-length: {len(request.body)}",
        f"content-type: {request.content_type}",
        "connection: close",
        *(f"{name}: {value}" for name, value in request.headers),
    ]
    if request.content_type == GRPC_WEB:
        lines.append("x-grpc-web: 1")
    if token:
        lines.append(f"authorization: Bearer {token}")
    received = bytearray()

    async def read_all() -> None:  # reads while the body is still being sent: the answer comes early
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(64 * 1024):
                received.extend(chunk)

    reading = asyncio.create_task(read_all())
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        for start in range(0, len(request.body), 64 * 1024):
            writer.write(request.body[start : start + 64 * 1024])
            await writer.drain()
    except (ConnectionError, OSError):
        pass  # refused before the body was all sent
    try:
        await asyncio.wait_for(reading, TIMEOUT.total)
    finally:
        writer.close()
    raw = bytes(received)
    if not raw:
        return Reply(0, "", b"", None)  # closed without an answer
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    found = _GRPC_STATUS.search(body)
    grpc_status = headers.get("grpc-status") or (found.group(1).decode() if found else None)
    return Reply(int(status_line.split()[1]), headers.get("content-type", ""), body, grpc_status)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


def refused_as_too_large(reply: Reply) -> bool:
    """resource_exhausted; or the connection closed with no answer: the gateway refused the body from
    its declared length and closed the connection before the client had sent it all, so the client's
    kernel may drop the answer (the services' counters show it never went further)."""
    return connect_code(reply) == "resource_exhausted" or reply.grpc_status == "8" or reply.status == 0


_REQUESTS_TOTAL = re.compile(r"^confide_rpc_requests_total\{([^}]*)\} ([0-9.e+]+)$", re.MULTILINE)


async def served_requests(session: aiohttp.ClientSession, platform: Platform, paths: set[str]) -> float:
    """How many requests to `paths` the services have handled (their confide_rpc_requests_total)."""
    total = 0.0
    for name in SERVICES:
        async with session.get(platform.metrics_url(name)) as reply:
            text = await reply.text()
        for labels, value in _REQUESTS_TOTAL.findall(text):
            method = re.search(r'method="([^"]*)"', labels)
            if method is not None and method.group(1) in paths:
                total += float(value)
    return total


# --- health --------------------------------------------------------------------------------------------


async def healthy(session: aiohttp.ClientSession, platform: Platform) -> list[str]:
    """The parts that do not answer their health checks as serving."""
    failing = []
    async with session.get(f"{platform.gateway}/healthz") as reply:
        if reply.status != 200:
            failing.append("gateway")
    for name in SERVICES:
        async with grpc.aio.insecure_channel(platform.grpc_target(name)) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            if reply.status != health_pb2.HealthCheckResponse.SERVING:
                failing.append(name)
    return failing


async def until_services_accept(
    session: aiohttp.ClientSession, platform: Platform, targets: list[Target]
) -> None:
    """Each service fetches identity's signing keys in the background after it starts and refuses
    genuine tokens until then: wait for one signed-in call per service to get past authentication."""
    probes = {t.route.upstream: t for t in targets if t.token is not None and not t.route.server_streaming}
    deadline = time.monotonic() + 90
    for target in probes.values():
        while True:
            reply = await send(
                session,
                platform.gateway,
                target.route,
                Request("probe", b"{}", "application/json"),
                target.token,
            )
            if reply.status != 401:
                break
            assert time.monotonic() < deadline, f"{target.route.upstream} never accepted identity's tokens"
            await asyncio.sleep(0.5)


async def test_fuzzed_http_requests_to_every_gateway_route_never_fail_internally(platform: Platform) -> None:
    routes = {path: route for path, route in gateway_routes(SERVICES).items() if ONLY.search(path)}
    assert len(routes) > (60 if not ONLY.pattern else 0), "every gateway route is fuzzed"
    signing_key = Path(str(platform.info["dev_signing_key_file"]))
    jwks = Path(str(platform.info["jwks_file"]))
    tokens: dict[str, str] = {}

    def token_for(route: Route) -> str | None:
        role = caller_role(route.access)
        if role is None:
            return None
        return tokens.setdefault(role, mint(signing_key, jwks, role))

    targets = [Target(route, token_for(route)) for route in routes.values()]
    tally = Tally()
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:
        await until_services_accept(session, platform, targets)
        queue: asyncio.Queue[Target] = asyncio.Queue()
        for target in targets:
            queue.put_nowait(target)

        with ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="fuzz-gw") as pool:

            async def worker() -> None:
                while not queue.empty():
                    target = queue.get_nowait()
                    await loop.run_in_executor(
                        pool, fuzz_route_in_thread, target, platform.gateway, session, tally, loop
                    )

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

        print(f"{tally.calls} calls, {len(tally.findings)} routes failed:", *tally.findings, sep="\n")  # noqa: T201

        # Over the size limit: refused by the gateway itself, so no service counts the request.
        paths = set(routes)
        served_before = await served_requests(session, platform, paths)
        not_refused = []
        for target in targets:
            for request in oversized(target.route):
                reply = await send_raw(platform.gateway, target.route, request, target.token)
                judge(target.route, request, reply)
                if not refused_as_too_large(reply):
                    not_refused.append(
                        f"{target.route.path} [{request.what}] -> HTTP {reply.status} {reply.body[:120]!r}"
                    )
        served_after = await served_requests(session, platform, paths)
        unhealthy = await healthy(session, platform)

    summary = f"{tally.calls} calls, answers: {dict(sorted(tally.statuses.items()))}"
    assert not tally.findings, f"{len(tally.findings)} routes failed ({summary}):\n" + "\n".join(
        tally.findings
    )
    assert not not_refused, "oversized requests not refused at the gateway:\n" + "\n".join(not_refused[:20])
    assert served_after == served_before, (
        f"{served_after - served_before} oversized requests reached a service"
    )
    assert not unhealthy, f"not serving after fuzzing: {unhealthy}"
    print(summary)  # noqa: T201 - shown with -s

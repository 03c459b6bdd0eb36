"""The gateway's ASGI application: connectrpc serves Connect (JSON and binary), gRPC-Web and gRPC for
every route the protos mark `gateway: true`; around it, the edge: CORS, request ids, per-client rate
limits, token verification, request size limits, deadlines, metrics and trace context."""

from __future__ import annotations

import asyncio
import mimetypes
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connectrpc.code import Code
from connectrpc.compat import google_protobuf_codecs
from connectrpc.errors import ConnectError
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2
from opentelemetry import propagate, trace

from confide_chassis import metrics
from confide_chassis.auth import TokenVerifier
from confide_chassis.errors import DomainError
from confide_gateway import edge
from confide_gateway.routes import Route
from confide_gateway.settings import GatewaySettings
from confide_gateway.upstream import Upstreams, forwarded_metadata

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SERVICE = "gateway"
HEALTH_PATH = "/grpc.health.v1.Health/Check"
tracer = trace.get_tracer("confide_gateway")


class _ConnectApp(ConnectASGIApplication[None]):
    @property
    def path(self) -> str:
        return "/"


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name)
    return None if value is None else str(value)


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        routes: Mapping[str, Route],
        upstreams: Upstreams,
        verifier: TokenVerifier,
    ) -> None:
        self._settings = settings
        self._routes = routes
        self._upstreams = upstreams
        self._verifier = verifier
        self._limiter = edge.RateLimiter(settings.rate_per_second, settings.rate_burst)
        self._origins = settings.allowed_origins
        self._web_root = Path(settings.web_root).resolve() if settings.web_root else None
        endpoints: dict[str, Any] = {path: self._endpoint(route) for path, route in routes.items()}
        endpoints[HEALTH_PATH] = Endpoint.unary(
            MethodInfo(
                name="Check",
                service_name="grpc.health.v1.Health",
                input=health_pb2.HealthCheckRequest,
                output=health_pb2.HealthCheckResponse,
                idempotency_level=IdempotencyLevel.NO_SIDE_EFFECTS,
                stream_type=StreamType.UNARY,
            ),
            self._health,
        )
        self._connect = _ConnectApp(
            service=None,
            endpoints=lambda _: endpoints,
            codecs=google_protobuf_codecs(),
            read_max_bytes=settings.max_request_bytes,
        )

    # --- the edge around every call ----------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        rid = edge.request_id(headers.get("x-request-id"))
        scope["headers"] = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"x-request-id"] + [
            (b"x-request-id", rid.encode())
        ]
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS":
            await self._preflight(origin, send)
            return
        extra = [(b"x-request-id", rid.encode()), *edge.cors_headers(origin, self._origins)]

        async def send_with_edge_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        path = scope.get("path", "")
        if path in self._routes or path == HEALTH_PATH:
            await self._connect(scope, _uncompressed_frames_only(headers, receive), send_with_edge_headers)
        elif scope["method"] == "GET":
            await self._static(path, send_with_edge_headers)
        else:
            await _plain(send_with_edge_headers, 404, b"no such RPC\n")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._upstreams.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _preflight(self, origin: str | None, send: Send) -> None:
        allowed = edge.preflight_headers(origin, self._origins) if origin else None
        if allowed is None:
            await _plain(send, 403, b"origin not allowed\n")
            return
        await send({"type": "http.response.start", "status": 204, "headers": allowed})
        await send({"type": "http.response.body", "body": b""})

    async def _static(self, path: str, send: Send) -> None:
        """The reference web client (same origin as the API, so no CORS is needed for it)."""
        if path == "/healthz":
            await _plain(send, 200, b"ok\n")
            return
        if self._web_root is None:
            await _plain(send, 404, b"not found\n")
            return
        relative = path.lstrip("/") or "index.html"
        target = (self._web_root / relative).resolve()
        if not target.is_relative_to(self._web_root) or not target.is_file():
            target = self._web_root / "index.html"  # single-page app: the client routes itself
            if not target.is_file():
                await _plain(send, 404, b"not found\n")
                return
        body = target.read_bytes()
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    # --- forwarding ----------------------------------------------------------------------------------

    def _admit(self, route: Route, ctx: RequestContext[Any, Any]) -> tuple[tuple[str, str], ...]:
        headers = ctx.request_headers
        token = _bearer(_header(headers, "authorization"))
        subject = None
        if token is not None:
            try:
                subject = self._verifier.verify(token).subject
            except DomainError:
                if not route.access.public:
                    raise ConnectError(Code.UNAUTHENTICATED, "a valid access token is required") from None
        elif not route.access.public:
            raise ConnectError(Code.UNAUTHENTICATED, "a valid access token is required")
        client = subject or ctx.client_address or "unknown"
        if not self._limiter.admit(client, time.monotonic()):
            raise ConnectError(Code.RESOURCE_EXHAUSTED, "too many requests; slow down")
        rid = _header(headers, "x-request-id") or edge.request_id(None)
        plain = {
            name: str(value)
            for name in ("authorization", "traceparent", "tracestate")
            if (value := headers.get(name))
        }
        return forwarded_metadata(plain, rid)

    def _endpoint(self, route: Route) -> Endpoint[Any, Any]:
        info = MethodInfo(
            name=route.method,
            service_name=route.service,
            input=route.input,
            output=route.output,
            idempotency_level=IdempotencyLevel.UNKNOWN,
            stream_type=StreamType.SERVER_STREAM if route.server_streaming else StreamType.UNARY,
        )
        if route.server_streaming:

            async def stream(request: Message, ctx: RequestContext[Any, Any]) -> AsyncIterator[Message]:
                metadata = self._admit(route, ctx)
                timeout = edge.deadline_seconds(
                    ctx.timeout_ms, self._settings.stream_max_seconds, self._settings.stream_max_seconds
                )
                with recorded(route.path):
                    async for data in self._upstreams.server_stream(
                        route.upstream, route.path, request.SerializeToString(), metadata, timeout
                    ):
                        yield route.output.FromString(data)

            return Endpoint.server_stream(info, stream)

        async def unary(request: Message, ctx: RequestContext[Any, Any]) -> Message:
            carrier = {
                k: str(v) for k, v in ctx.request_headers.items() if k in ("traceparent", "tracestate")
            }
            with (
                tracer.start_as_current_span(
                    route.path, context=propagate.extract(carrier), kind=trace.SpanKind.SERVER
                ),
                recorded(route.path),
            ):
                metadata = self._admit(route, ctx)
                timeout = edge.deadline_seconds(
                    ctx.timeout_ms,
                    self._settings.default_deadline_seconds,
                    self._settings.max_deadline_seconds,
                )
                data = await self._upstreams.unary(
                    route.upstream, route.path, request.SerializeToString(), metadata, timeout
                )
                return route.output.FromString(data)

        return Endpoint.unary(info, unary)

    async def _health(
        self, request: health_pb2.HealthCheckRequest, ctx: RequestContext[Any, Any]
    ) -> health_pb2.HealthCheckResponse:
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


def _uncompressed_frames_only(headers: dict[str, str], receive: Receive) -> Receive:
    """A framed request (gRPC, gRPC-Web, Connect streams) whose frame says "compressed" while the
    request names no compression is the client's mistake: INVALID_ARGUMENT. connectrpc answers it with
    INTERNAL, which callers must read as a bug of ours (docs/api/gateway.md). Requests to the gateway
    hold one frame (no RPC streams from the client), so its first byte is the flags byte."""
    kind = headers.get("content-type", "")
    if not kind.startswith(("application/grpc", "application/connect+")) or kind.startswith(
        "application/grpc-web-text"
    ):
        return receive
    encoding = headers.get("grpc-encoding") or headers.get("connect-content-encoding") or "identity"
    if encoding != "identity":
        return receive
    first = True

    async def checked() -> dict[str, Any]:
        nonlocal first
        message = await receive()
        body = message.get("body", b"") if message.get("type") == "http.request" else b""
        if first and body:
            first = False
            if body[0] & 0x01:
                raise ConnectError(
                    Code.INVALID_ARGUMENT, "a compressed frame needs the grpc-encoding it was compressed with"
                )
        return message

    return checked


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def grpc_code_name(code: Code) -> str:
    """The gRPC status name every service's metrics use (Connect spells one code CANCELED)."""
    return "CANCELLED" if code is Code.CANCELED else code.name


@contextmanager
def recorded(path: str) -> Iterator[None]:
    """Count one public RPC with its final code and time it.

    Anything but a ConnectError is a bug of ours that connectrpc answers as an internal error, so it
    is counted as INTERNAL (the availability SLO must see it); a client that goes away is CANCELLED.
    """
    started = time.perf_counter()
    code = "OK"
    try:
        yield
    except ConnectError as error:
        code = grpc_code_name(error.code)
        raise
    except (asyncio.CancelledError, GeneratorExit):
        code = "CANCELLED"
        raise
    except Exception:
        code = "INTERNAL"
        raise
    finally:
        metrics.rpc_requests_total.labels(SERVICE, path, code).inc()
        metrics.rpc_duration_seconds.labels(SERVICE, path).observe(time.perf_counter() - started)


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["Gateway"]

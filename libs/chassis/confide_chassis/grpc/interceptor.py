"""One server interceptor for every RPC: authenticate, authorize, validate, time, log, and map errors.

Order matters and is fixed here: the principal is resolved first so that logs and metrics can
say whether a call was authenticated; then the request is validated against the wire rules
(`confide_chassis.grpc.validation`; a request that does not even parse is INVALID_ARGUMENT too);
domain errors become rich statuses; any other exception is a bug and becomes a bare INTERNAL (the
detail goes to the log, never to the caller).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc
from google.rpc import status_pb2
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from confide_chassis import errors, metrics
from confide_chassis.auth import PUBLIC, Access, Principal, TokenVerifier, reset_principal, set_principal
from confide_chassis.db import database_unavailable
from confide_chassis.grpc.status import grpc_status_of, internal_status, to_status
from confide_chassis.grpc.validation import validate_request
from confide_chassis.idempotency import ResponseSealer, is_idempotent, run_idempotent
from confide_chassis.logging import get_logger

log = get_logger(__name__)

# Infrastructure RPCs that probes and tools call without a token.
ALWAYS_PUBLIC_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The access token of a call's `authorization: Bearer ...` metadata (services forward it when a
    downstream service must authorize the same user)."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return None


class UndecodableRequest:
    """Stands in for a request whose bytes did not parse, so the handler answers INVALID_ARGUMENT
    (grpc's own answer would be INTERNAL "Exception deserializing request!")."""

    __slots__ = ()


UNDECODABLE = UndecodableRequest()


def _lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None
    parse = deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception:
            return UNDECODABLE

    return deserialize


def check_request(request: Any) -> None:
    """The edge check every handler's request passes before the handler sees it."""
    if request is UNDECODABLE:
        raise errors.InvalidArgument.field("", "the request is not a valid message of its type")
    validate_request(request)


def _passthrough(serializer: Callable[[Any], bytes] | None) -> Callable[[Any], bytes] | None:
    """A response serializer that sends stored (already serialized) idempotent replies as they are."""
    if serializer is None:
        return None
    inner = serializer

    def serialize(response: Any) -> bytes:
        return response if isinstance(response, bytes) else inner(response)

    return serialize


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        *,
        service: str,
        verifier: TokenVerifier,
        access: Mapping[str, Access],
        sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._service = service
        self.verifier = verifier
        self._access = access
        # The service's database, where idempotent RPCs keep their answers (None: no database).
        self.sessions = sessions
        # Transitional: a service that still stores idempotent answers itself turns this off.
        self.idempotency = True
        # Encrypts stored answers, for a service whose answers carry data it encrypts at rest.
        self.response_sealer: ResponseSealer | None = None

    def _policy(self, method: str) -> Access | None:
        if method.startswith(ALWAYS_PUBLIC_PREFIXES):
            return PUBLIC
        return self._access.get(method)

    def _authenticate(self, method: str, metadata: Any) -> Principal | None:
        policy = self._policy(method)
        if policy is None:
            # Deny by default: an RPC nobody declared access for is not callable.
            raise errors.PermissionDenied("operation not permitted")
        token = bearer_token(metadata)
        principal = None
        if token:
            try:
                principal = self.verifier.verify(token)
            except errors.Unauthenticated:
                # A public RPC ignores a stale or bad token: a frontend that always attaches its access
                # token must still be able to Refresh (or SignIn) once that token has expired.
                if not policy.public:
                    raise
        policy.check(principal)
        return principal

    def _status_for(self, exc: BaseException, method: str) -> tuple[grpc.StatusCode, status_pb2.Status]:
        """Domain errors keep their meaning; anything else is a bug: logged here, hidden from callers."""
        if isinstance(exc, errors.DomainError):
            return to_status(exc)
        if isinstance(exc, sqlalchemy_exc.TimeoutError):
            # Every pooled connection stayed busy past the pool timeout: overload, not a bug, and a
            # retry a moment later can succeed (a load test of messaging showed it as INTERNAL).
            log.warning("rpc refused: no database connection free in time", method=method)
            return to_status(errors.Unavailable("the service is busy; retry shortly"))
        if database_unavailable(exc):
            # Not a bug: the transaction was rolled back, so the caller may retry (same key).
            log.warning("database unavailable during RPC", method=method, error=type(exc).__name__)
            return to_status(errors.Unavailable("the service's database is unavailable; retry shortly"))
        log.error("unhandled error in RPC", method=method, error=type(exc).__name__, exc_info=exc)
        return internal_status()

    async def _abort(
        self, context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode, status: status_pb2.Status
    ) -> None:
        await context.abort_with_status(grpc_status_of(status))

    def _record(self, method: str, code: grpc.StatusCode, started: float) -> None:
        elapsed = time.perf_counter() - started
        metrics.rpc_requests_total.labels(self._service, method, code.name).inc()
        metrics.rpc_duration_seconds.labels(self._service, method).observe(elapsed)
        if not method.startswith(ALWAYS_PUBLIC_PREFIXES):
            log.info("rpc", method=method, code=code.name, duration_ms=round(elapsed * 1000, 2))

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        metadata = handler_call_details.invocation_metadata

        if handler.unary_unary is not None:
            inner_uu: Any = handler.unary_unary
            serializer: Any = handler.response_serializer or (lambda r: r.SerializeToString())

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                started = time.perf_counter()
                metrics.rpc_in_flight.labels(self._service).inc()
                token = None
                code = grpc.StatusCode.OK
                try:
                    principal = self._authenticate(method, metadata)
                    token = set_principal(principal)
                    check_request(request)
                    if self.idempotency and self.sessions is not None and is_idempotent(request):
                        return await run_idempotent(
                            self.sessions,
                            caller=principal.subject if principal is not None else "anonymous",
                            method=method,
                            request=request,
                            handler=lambda: inner_uu(request, context),
                            serialize=serializer,
                            sealer=self.response_sealer,
                        )
                    return await inner_uu(request, context)
                except grpc.aio.AbortError:
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    raise
                except Exception as exc:
                    code, status = self._status_for(exc, method)
                    await self._abort(context, code, status)
                    raise  # unreachable: abort raises
                finally:
                    if token is not None:
                        reset_principal(token)
                    metrics.rpc_in_flight.labels(self._service).dec()
                    self._record(method, code, started)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=_lenient(handler.request_deserializer),
                response_serializer=_passthrough(handler.response_serializer),
            )

        if handler.unary_stream is not None:
            inner_us: Any = handler.unary_stream

            async def unary_stream(
                request: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                started = time.perf_counter()
                metrics.rpc_in_flight.labels(self._service).inc()
                token = None
                code = grpc.StatusCode.OK
                try:
                    token = set_principal(self._authenticate(method, metadata))
                    check_request(request)
                    async for item in inner_us(request, context):
                        yield item
                except grpc.aio.AbortError:
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    raise
                except Exception as exc:
                    code, status = self._status_for(exc, method)
                    await self._abort(context, code, status)
                    raise
                finally:
                    if token is not None:
                        reset_principal(token)
                    metrics.rpc_in_flight.labels(self._service).dec()
                    self._record(method, code, started)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=_lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )

        # Client-streaming RPCs: authorize up front; Confide's APIs do not use them yet.
        self._authenticate(method, metadata)
        return handler

"""Forwarding to the internal gRPC services: one channel per service, bytes in and out, the caller's
token, request id, deadline and trace context passed on, errors mapped to Connect with their details
(field violations, rule ids) and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import grpc
from connectrpc.code import Code
from connectrpc.errors import ConnectError, ErrorDetail
from google.rpc import status_pb2
from protobuf.wkt import Any as AnyDetail

from confide_chassis.grpc.status import STATUS_DETAILS_KEY
from confide_chassis.logging import get_logger

log = get_logger(__name__)

_CODE = {status: Code[status.name] for status in grpc.StatusCode if status.name in Code.__members__}
_HIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
_FORWARDED_HEADERS = ("authorization", "x-request-id", "traceparent", "tracestate")


def _identity(data: bytes) -> bytes:
    return data


class Upstreams:
    def __init__(self, address_of: Callable[[str], str]) -> None:
        self._address_of = address_of
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, service: str) -> grpc.aio.Channel:
        channel = self._channels.get(service)
        if channel is None:
            channel = grpc.aio.insecure_channel(
                self._address_of(service),
                options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)],
            )
            self._channels[service] = channel
        return channel

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    async def unary(
        self, service: str, path: str, request: bytes, metadata: tuple[tuple[str, str], ...], deadline: float
    ) -> bytes:
        call = self.channel(service).unary_unary(
            path, request_serializer=_identity, response_deserializer=_identity
        )
        try:
            reply: bytes = await call(request, metadata=metadata, timeout=deadline)
        except grpc.aio.AioRpcError as error:
            raise connect_error(error, path) from None
        return reply

    async def server_stream(
        self, service: str, path: str, request: bytes, metadata: tuple[tuple[str, str], ...], deadline: float
    ) -> AsyncIterator[bytes]:
        call = self.channel(service).unary_stream(
            path, request_serializer=_identity, response_deserializer=_identity
        )
        stream = call(request, metadata=metadata, timeout=deadline)
        try:
            async for item in stream:
                yield item
        except grpc.aio.AioRpcError as error:
            raise connect_error(error, path) from None
        finally:
            stream.cancel()


def forwarded_metadata(headers: Mapping[str, str], request_id: str) -> tuple[tuple[str, str], ...]:
    pairs = [
        (name, headers[name]) for name in _FORWARDED_HEADERS if name in headers and name != "x-request-id"
    ]
    pairs.append(("x-request-id", request_id))
    return tuple(pairs)


def connect_error(error: grpc.aio.AioRpcError, path: str) -> ConnectError:
    """The upstream's status as a Connect error: code, message and google.rpc details as they were —
    except for bugs (INTERNAL, UNKNOWN), whose message never leaves the cluster."""
    code = error.code()
    if code in _HIDDEN:
        log.error("upstream failed", path=path, code=code.name)
        return ConnectError(Code.INTERNAL, "internal error")
    if code is grpc.StatusCode.UNAVAILABLE and not _status_details(error):
        log.warning("upstream unavailable", path=path)
    details = [
        ErrorDetail(AnyDetail(type_url=detail.type_url, value=detail.value))
        for detail in _status_details(error)
    ]
    return ConnectError(_CODE.get(code, Code.UNKNOWN), (error.details() or "")[:512], details)


def _status_details(error: grpc.aio.AioRpcError) -> list[Any]:
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return list(status_pb2.Status.FromString(value).details)
    return []

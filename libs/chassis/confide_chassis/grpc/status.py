"""Domain errors → gRPC status with google.rpc details (BadRequest, PreconditionFailure, ErrorInfo).

The rich status travels in the `grpc-status-details-bin` trailer, written and read with grpcio-status
(`grpc_status.rpc_status`). Every text in it is bounded (message, descriptions, counts), so a service
that echoes a huge value into an error still answers with a small status, never RESOURCE_EXHAUSTED
on the client's metadata limit.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from confide_chassis import errors

ERROR_DOMAIN = "confide.dev"
STATUS_DETAILS_KEY = "grpc-status-details-bin"

# Bounds of what a status says: `grpc-message` and the details trailer stay a few KiB at most.
MAX_MESSAGE_CHARS = 512
MAX_TEXT_CHARS = 256
MAX_DETAIL_ITEMS = 50


def bounded(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text`, cut to `limit` characters with "…" when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CODES: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Conflict: grpc.StatusCode.ABORTED,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_code_for(error: errors.DomainError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return grpc.StatusCode.FAILED_PRECONDITION


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status(error: errors.DomainError) -> tuple[grpc.StatusCode, status_pb2.Status]:
    code = status_code_for(error)
    status = status_pb2.Status(code=code.value[0], message=bounded(error.message, MAX_MESSAGE_CHARS))
    if isinstance(error, errors.InvalidArgument):
        status.details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=bounded(v.field), description=bounded(v.description)
                        )
                        for v in error.violations[:MAX_DETAIL_ITEMS]
                    ]
                )
            )
        )
    if isinstance(error, errors.FailedPrecondition):
        status.details.append(
            _pack(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type=bounded(v.rule_id),
                            subject=bounded(v.subject),
                            description=bounded(v.description),
                        )
                        for v in error.violations[:MAX_DETAIL_ITEMS]
                    ]
                )
            )
        )
    metadata = {bounded(k): bounded(v) for k, v in list(error.metadata.items())[:MAX_DETAIL_ITEMS]}
    if isinstance(error, errors.FailedPrecondition):
        metadata.setdefault("rule_ids", bounded(",".join(error.rule_ids)))
    status.details.append(
        _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata))
    )
    return code, status


def internal_status() -> tuple[grpc.StatusCode, status_pb2.Status]:
    return grpc.StatusCode.INTERNAL, status_pb2.Status(
        code=code_pb2.INTERNAL, message="internal error; it has been logged"
    )


def grpc_status_of(status: status_pb2.Status) -> grpc.Status:
    """The status to end an RPC with (`context.abort_with_status`): code, message and the trailer."""
    result: grpc.Status = rpc_status.to_status(status)
    return result


def details_of(status: status_pb2.Status) -> list[object]:
    """Unpack the known detail messages of a status (clients and tests)."""
    out: list[object] = []
    for detail in status.details:
        for cls in (
            error_details_pb2.BadRequest,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.ErrorInfo,
        ):
            if detail.Is(cls.DESCRIPTOR):
                msg = cls()
                detail.Unpack(msg)
                out.append(msg)
    return out


def status_from_error(error: grpc.aio.AioRpcError | grpc.RpcError) -> status_pb2.Status | None:
    """The rich status a failed call carried, if any (None also when it contradicts the call's code)."""
    if not hasattr(error, "trailing_metadata"):
        return None
    try:
        found: status_pb2.Status | None = rpc_status.from_call(error)
    except ValueError:
        return None
    return found

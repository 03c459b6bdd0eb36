"""Domain errors → gRPC status with google.rpc details (BadRequest, PreconditionFailure, ErrorInfo)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from confide_chassis import errors

ERROR_DOMAIN = "confide.dev"
STATUS_DETAILS_KEY = "grpc-status-details-bin"

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
    status = status_pb2.Status(code=code.value[0], message=error.message)
    if isinstance(error, errors.InvalidArgument):
        status.details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                        for v in error.violations
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
                            type=v.rule_id, subject=v.subject, description=v.description
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    metadata = dict(error.metadata)
    if isinstance(error, errors.FailedPrecondition):
        metadata.setdefault("rule_ids", ",".join(error.rule_ids))
    status.details.append(
        _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata))
    )
    return code, status


def internal_status() -> tuple[grpc.StatusCode, status_pb2.Status]:
    return grpc.StatusCode.INTERNAL, status_pb2.Status(
        code=code_pb2.INTERNAL, message="internal error; it has been logged"
    )


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
    """The rich status a failed call carried, if any."""
    trailing: Any = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None

"""Domain errors become the gRPC status a caller can act on, with machine-readable details."""

import grpc
import pytest
from google.rpc import error_details_pb2

from confide_chassis import errors
from confide_chassis.grpc.status import details_of, internal_status, to_status


def test_invalid_argument_carries_every_field_violation() -> None:
    error = errors.InvalidArgument(
        [
            errors.FieldViolation("client.date_of_birth", "must be in the past"),
            errors.FieldViolation("client.home_state", "unknown jurisdiction"),
        ]
    )
    code, status = to_status(error)
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    bad_request = next(d for d in details_of(status) if isinstance(d, error_details_pb2.BadRequest))
    assert [v.field for v in bad_request.field_violations] == ["client.date_of_birth", "client.home_state"]


def test_failed_precondition_cites_rule_ids() -> None:
    error = errors.FailedPrecondition(
        [errors.RuleViolation("LIC-03", "no authority in the client's state", subject="appointment")]
    )
    code, status = to_status(error)
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    details = details_of(status)
    failure = next(d for d in details if isinstance(d, error_details_pb2.PreconditionFailure))
    assert failure.violations[0].type == "LIC-03"
    info = next(d for d in details if isinstance(d, error_details_pb2.ErrorInfo))
    assert info.metadata["rule_ids"] == "LIC-03"
    assert info.domain == "confide.dev"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.PermissionDenied("no"), grpc.StatusCode.PERMISSION_DENIED),
        (errors.Unauthenticated("no"), grpc.StatusCode.UNAUTHENTICATED),
        (errors.NotFound("no"), grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists("no"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.Conflict("no"), grpc.StatusCode.ABORTED),
        (errors.ResourceExhausted("no"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.Unavailable("no"), grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_each_domain_error_has_its_own_code(error: errors.DomainError, code: grpc.StatusCode) -> None:
    assert to_status(error)[0] is code


def test_internal_status_reveals_nothing() -> None:
    code, status = internal_status()
    assert code is grpc.StatusCode.INTERNAL
    assert "internal error" in status.message
    assert not status.details


def test_validation_collector_reports_all_fields_at_once() -> None:
    collector = errors.ValidationCollector()
    collector.require(False, "a", "missing")
    collector.require(True, "b", "fine")
    collector.add("c", "bad")
    with pytest.raises(errors.InvalidArgument) as caught:
        collector.raise_if_any()
    assert [v.field for v in caught.value.violations] == ["a", "c"]


def test_errors_refuse_to_be_empty() -> None:
    with pytest.raises(ValueError, match="at least one"):
        errors.InvalidArgument([])
    with pytest.raises(ValueError, match="at least one"):
        errors.FailedPrecondition([])

"""Domain errors: what went wrong, in words a caller can act on.

This module is pure (no gRPC, no I/O) so that every service's domain layer may raise these.
The gRPC error interceptor (`confide_chassis.grpc.errors`) maps each class to a status code with
rich details (google.rpc.BadRequest, PreconditionFailure, ErrorInfo). Anything that is not a
DomainError is a bug and becomes INTERNAL with no detail leaked to the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request: `field` is the request path, e.g. ``client.date_of_birth``."""

    field: str
    description: str


@dataclass(frozen=True, slots=True)
class RuleViolation:
    """A domain rule that blocked the request, cited by its id from docs/rules.md (e.g. ``LIC-03``)."""

    rule_id: str
    description: str
    subject: str = ""


class DomainError(Exception):
    """Base of all errors a caller is expected to handle. Messages must not contain PHI."""

    reason: str = "DOMAIN_ERROR"

    def __init__(self, message: str, *, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(DomainError):
    """The request itself is malformed; retrying it unchanged will fail again."""

    reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        violations: FieldViolation | Iterable[FieldViolation],
        message: str | None = None,
    ) -> None:
        items = [violations] if isinstance(violations, FieldViolation) else list(violations)
        if not items:
            raise ValueError("InvalidArgument needs at least one field violation")
        self.violations: tuple[FieldViolation, ...] = tuple(items)
        super().__init__(message or "; ".join(f"{v.field}: {v.description}" for v in items))

    @classmethod
    def field(cls, field_path: str, description: str) -> InvalidArgument:
        return cls(FieldViolation(field_path, description))


class Unauthenticated(DomainError):
    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    reason = "PERMISSION_DENIED"


class NotFound(DomainError):
    """Also used instead of PermissionDenied where revealing existence would leak information."""

    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    """The request is well-formed but a domain rule forbids it now. Cite the rule ids."""

    reason = "FAILED_PRECONDITION"

    def __init__(
        self,
        violations: RuleViolation | Iterable[RuleViolation],
        message: str | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        items = [violations] if isinstance(violations, RuleViolation) else list(violations)
        if not items:
            raise ValueError("FailedPrecondition needs at least one rule violation")
        self.violations: tuple[RuleViolation, ...] = tuple(items)
        super().__init__(
            message or "; ".join(f"{v.rule_id}: {v.description}" for v in items), metadata=metadata
        )

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(v.rule_id for v in self.violations)


class Conflict(DomainError):
    """A concurrent change won (optimistic lock, double booking); the caller may retry after re-reading."""

    reason = "ABORTED"


class ResourceExhausted(DomainError):
    """Rate limits and lockouts."""

    reason = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    """A dependency could not answer in time; safe to retry later. Callers that must fail closed do."""

    reason = "UNAVAILABLE"


@dataclass(slots=True)
class ValidationCollector:
    """Collects every field violation of a request so the caller sees all of them at once."""

    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        self.violations.append(FieldViolation(field_path, description))

    def require(self, condition: bool, field_path: str, description: str) -> None:
        if not condition:
            self.add(field_path, description)

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)

"""Idempotency keys for mutating requests, as pure helpers.

The app layer stores ``IdempotencyRecord``s scoped by (caller, method, key) in the same transaction as
the change they produced. On a request it looks up the record and calls :func:`check_idempotency`:

- no record → proceed, then store ``IdempotencyRecord(key, fingerprint, result)``;
- same key, same request (fingerprint) → replay the stored result, change nothing;
- same key, different request → InvalidArgument on ``idempotency_key`` (the client reused a key).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Generic, TypeVar
from uuid import UUID

from confide_chassis.errors import InvalidArgument

__all__ = ["IdempotencyRecord", "check_idempotency", "request_fingerprint", "validate_idempotency_key"]

T = TypeVar("T")

_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def validate_idempotency_key(key: str) -> str:
    """8-128 characters of ``[A-Za-z0-9._:-]`` (a UUID fits)."""
    if not _KEY.match(key):
        raise InvalidArgument.field("idempotency_key", "must be 8-128 characters of letters, digits, . _ : -")
    return key


def _canonical(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidArgument.field("request", "timestamps must be timezone-aware")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, frozenset | set):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, Sequence):
        return [_canonical(v) for v in value]
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def request_fingerprint(method: str, request: Mapping[str, object]) -> str:
    """A stable SHA-256 of the method name and the request's fields (order-independent for mappings and
    sets; floats are not accepted: use integers, strings, enums, times, ids)."""
    payload = json.dumps(
        {"method": method, "request": _canonical(request)}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IdempotencyRecord(Generic[T]):
    key: str
    fingerprint: str
    result: T


def check_idempotency(key: str, fingerprint: str, existing: IdempotencyRecord[T] | None) -> T | None:
    """None → run the request; otherwise the stored result to replay. Mismatch → InvalidArgument."""
    validate_idempotency_key(key)
    if existing is None:
        return None
    if existing.key != key:
        raise ValueError("the record looked up belongs to another key")
    if existing.fingerprint != fingerprint:
        raise InvalidArgument.field(
            "idempotency_key", "was already used for a different request; use a new key for a new request"
        )
    return existing.result

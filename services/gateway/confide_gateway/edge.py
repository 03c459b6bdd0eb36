"""Edge rules, pure: request ids, CORS decisions, per-client token buckets, deadlines."""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CORS_ALLOW_HEADERS = (
    "authorization, content-type, connect-protocol-version, connect-timeout-ms, grpc-timeout, "
    "x-grpc-web, x-user-agent, x-request-id, traceparent, tracestate"
)
CORS_EXPOSE_HEADERS = "grpc-status, grpc-message, grpc-status-details-bin, x-request-id, content-type"


def request_id(offered: str | None) -> str:
    """The client's request id when it is well-formed, else a new one (never echo arbitrary input)."""
    if offered and _REQUEST_ID.match(offered):
        return offered
    return secrets.token_hex(16)


def cors_headers(origin: str | None, allowed: frozenset[str]) -> list[tuple[bytes, bytes]]:
    """Headers that let `origin` read the answer; none for an origin not on the allow-list."""
    if origin is None or origin not in allowed:
        return []
    return [
        (b"access-control-allow-origin", origin.encode()),
        (b"access-control-expose-headers", CORS_EXPOSE_HEADERS.encode()),
        (b"vary", b"origin"),
    ]


def preflight_headers(origin: str, allowed: frozenset[str]) -> list[tuple[bytes, bytes]] | None:
    if origin not in allowed:
        return None
    return [
        *cors_headers(origin, allowed),
        (b"access-control-allow-methods", b"POST, GET, OPTIONS"),
        (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
        (b"access-control-max-age", b"7200"),
    ]


def deadline_seconds(requested_ms: float | None, default: float, maximum: float) -> float:
    """The client's deadline (Connect-Timeout-Ms / grpc-timeout), capped; the default when unset."""
    if requested_ms is None or requested_ms <= 0:
        return default
    return min(requested_ms / 1000.0, maximum)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per client; the least recently seen clients are forgotten first (bounded memory)."""

    def __init__(self, rate_per_second: float, burst: int, max_clients: int = 50_000) -> None:
        self._rate = rate_per_second
        self._burst = float(burst)
        self._max = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def admit(self, client: str, now: float) -> bool:
        bucket = self._buckets.pop(client, None) or _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        self._buckets[client] = bucket
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return allowed

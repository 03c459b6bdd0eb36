"""Prometheus metrics shared by every service, served on their own port.

All metrics live in prometheus_client's default registry, so a service's domain counters defined
elsewhere (``prometheus_client.Counter(...)`` at module level) are exported next to these.

Labels are bounded and never carry PHI: only ``service`` (the deployable: identity, scheduling, …),
``method`` (the full gRPC method, ``/confide.identity.v1.IdentityService/Login``; map methods the server
does not implement to ``"unknown"`` so clients cannot mint series), ``code`` (gRPC status name),
``topic``, ``consumer`` (consumer group name), ``partition`` and ``outcome``. Never a user id, an
e-mail, an error message or anything else a request supplies.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "CONSUMER_OUTCOMES",
    "RPC_BUCKETS",
    "MetricsServer",
    "consumer_events_total",
    "consumer_lag",
    "db_pool_checked_out",
    "db_pool_overflow",
    "db_pool_size",
    "dlq_events_total",
    "outbox_backlog",
    "outbox_oldest_age_seconds",
    "outbox_published_total",
    "render_latest",
    "rpc_duration_seconds",
    "rpc_in_flight",
    "rpc_requests_total",
    "start_metrics_server",
    "track_db_pool",
]

# No ``*_created`` series next to every counter and histogram: they double the series count and
# nothing in our dashboards or alerts reads them.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

# 1 ms … 10 s. Baseline unary latency is ~0.5 ms p50 / ~5 ms p99 (ECOSYSTEM-NOTES.md), so the low end
# is fine-grained; RPCs that touch PostgreSQL and Kafka land in 5-250 ms.
RPC_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

CONSUMER_OUTCOMES: tuple[str, ...] = ("processed", "duplicate", "retried", "dead_lettered")

# --- gRPC -----------------------------------------------------------------------------------------
rpc_requests_total = Counter(
    "rpc_requests_total",
    "gRPC requests handled, by final status code.",
    ["service", "method", "code"],
)
rpc_duration_seconds = Histogram(
    "rpc_duration_seconds",
    "gRPC handling time in seconds, from the first interceptor to the final status.",
    ["service", "method"],
    buckets=RPC_BUCKETS,
)
rpc_in_flight = Gauge(
    "rpc_in_flight",
    "gRPC requests being handled now.",
    ["service"],
)

# --- transactional outbox -------------------------------------------------------------------------
outbox_backlog = Gauge(
    "outbox_backlog",
    "Outbox rows written but not yet published to Kafka.",
    ["service"],
)
outbox_oldest_age_seconds = Gauge(
    "outbox_oldest_age_seconds",
    "Age in seconds of the oldest unpublished outbox row (0 when the outbox is empty).",
    ["service"],
)
outbox_published_total = Counter(
    "outbox_published_total",
    "Outbox rows published to Kafka.",
    ["service", "topic"],
)

# --- consumers ------------------------------------------------------------------------------------
consumer_events_total = Counter(
    "consumer_events_total",
    "Records handled by a consumer, by outcome: processed, duplicate, retried, dead_lettered.",
    ["service", "consumer", "topic", "outcome"],
)
consumer_lag = Gauge(
    "consumer_lag",
    "Records between a consumer group's position and the partition's end offset.",
    ["service", "consumer", "topic", "partition"],
)
dlq_events_total = Counter(
    "dlq_events_total",
    "Records a consumer sent to its service's dead-letter topic.",
    ["service", "consumer", "topic"],
)

# --- database pool (read at scrape time, see track_db_pool) ---------------------------------------
db_pool_size = Gauge(
    "db_pool_size",
    "Configured size of the database connection pool.",
    ["service"],
)
db_pool_checked_out = Gauge(
    "db_pool_checked_out",
    "Database connections currently checked out of the pool.",
    ["service"],
)
db_pool_overflow = Gauge(
    "db_pool_overflow",
    "Connections open beyond the pool size (negative while the pool is not yet full).",
    ["service"],
)


def track_db_pool(service: str, engine: AsyncEngine | Engine) -> None:
    """Report `engine`'s pool in the ``db_pool_*`` gauges, read at each scrape (no background task).

    Pools without these counters (``NullPool``, ``StaticPool``) are skipped. A later call for the
    same service replaces the earlier engine.
    """
    from sqlalchemy.ext.asyncio import AsyncEngine

    pool = (engine.sync_engine if isinstance(engine, AsyncEngine) else engine).pool
    size = getattr(pool, "size", None)
    checkedout = getattr(pool, "checkedout", None)
    overflow = getattr(pool, "overflow", None)
    if not (callable(size) and callable(checkedout) and callable(overflow)):
        return
    db_pool_size.labels(service).set_function(lambda: float(size()))
    db_pool_checked_out.labels(service).set_function(lambda: float(checkedout()))
    db_pool_overflow.labels(service).set_function(lambda: float(overflow()))


# --- exposition -----------------------------------------------------------------------------------


class MetricsServer:
    """A running /metrics endpoint. Call it (or `stop`) to shut it down; `port` is the bound port."""

    def __init__(self, host: str, port: int) -> None:
        # prometheus_client 0.26: start_http_server is start_wsgi_server and returns (server, thread);
        # the server thread is a daemon and logs no requests.
        self._server, self._thread = prometheus_client.start_http_server(port, addr=host)
        self.host = host
        self.port: int = self._server.server_port
        self._stopped = False
        self._lock = threading.Lock()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)

    __call__ = stop

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"


def start_metrics_server(host: str, port: int) -> MetricsServer:
    """Serve the default registry in the Prometheus text format on ``http://host:port/metrics``.

    Runs in a daemon thread, beside the asyncio loop. ``port=0`` picks a free port (read
    ``.port``). The result is the stop callable: ``stop = start_metrics_server(...); ...; stop()``.
    """
    return MetricsServer(host, port)


def render_latest() -> bytes:
    """The default registry in the Prometheus text format, as served (tests, debugging)."""
    return prometheus_client.generate_latest(prometheus_client.REGISTRY)

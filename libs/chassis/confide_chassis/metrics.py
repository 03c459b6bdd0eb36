"""Prometheus metrics shared by every service, served on their own port.

All metrics live in prometheus_client's default registry, so a service's domain counters defined
elsewhere (``prometheus_client.Counter(...)`` at module level) are exported next to these.

Names follow one scheme: ``confide_<area>_<what>_<unit>`` (``confide_<service>_…`` for a service's
own), ``_total`` on counters, base units (seconds). Every metric has the ``service`` label first (a
service's own metrics set it once with `bind_service`), so one selector finds a service's series.

Labels are bounded and never carry PHI: only ``service`` (the deployable: identity, scheduling, …),
``method`` (the full gRPC method, ``/confide.identity.v1.IdentityService/Login``; map methods the server
does not implement to ``"unknown"`` so clients cannot mint series), ``code`` (gRPC status name),
``topic``, ``consumer`` (consumer group name), ``partition`` and ``outcome``. Never a user id, an
e-mail, an error message or anything else a request supplies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import QueuePool

MetricT = TypeVar("MetricT", bound=MetricWrapperBase)

__all__ = [
    "CONSUMER_OUTCOMES",
    "DB_POOL_METRICS",
    "RPC_BUCKETS",
    "MetricsServer",
    "ServiceMetric",
    "bind_service",
    "consumer_events_total",
    "consumer_lag",
    "db_pool",
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

# 1 ms … 10 s. Baseline unary latency is ~0.5 ms p50 / ~5 ms p99 on this machine kind, so the low end
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
    "confide_rpc_requests_total",
    "gRPC requests handled, by final status code.",
    ["service", "method", "code"],
)
rpc_duration_seconds = Histogram(
    "confide_rpc_duration_seconds",
    "gRPC handling time in seconds, from the first interceptor to the final status.",
    ["service", "method"],
    buckets=RPC_BUCKETS,
)
rpc_in_flight = Gauge(
    "confide_rpc_in_flight_requests",
    "gRPC requests being handled now.",
    ["service"],
)

# --- transactional outbox -------------------------------------------------------------------------
outbox_backlog = Gauge(
    "confide_outbox_pending_events",
    "Outbox rows (events) written but not yet published to Kafka.",
    ["service"],
)
outbox_oldest_age_seconds = Gauge(
    "confide_outbox_oldest_pending_age_seconds",
    "Age in seconds of the oldest unpublished outbox row (0 when the outbox is empty).",
    ["service"],
)
outbox_published_total = Counter(
    "confide_outbox_published_events_total",
    "Outbox rows (events) published to Kafka.",
    ["service", "topic"],
)

# --- consumers ------------------------------------------------------------------------------------
consumer_events_total = Counter(
    "confide_consumer_records_total",
    "Records handled by a consumer, by outcome: processed, duplicate, retried, dead_lettered.",
    ["service", "consumer", "topic", "outcome"],
)
consumer_lag = Gauge(
    "confide_consumer_lag_records",
    "Records between a consumer group's position and the partition's end offset.",
    ["service", "consumer", "topic", "partition"],
)
dlq_events_total = Counter(
    "confide_dlq_records_total",
    "Records a consumer sent to its service's dead-letter topic.",
    ["service", "consumer", "topic"],
)

# --- database pool (read at scrape time, see track_db_pool) ---------------------------------------
DB_POOL_METRICS: dict[str, tuple[str, str]] = {
    # exposed name: (type, help)
    "confide_db_pool_connections": (
        "gauge",
        "Open database connections by state: in_use (checked out) or idle (in the pool).",
    ),
    "confide_db_pool_size_connections": ("gauge", "Configured pool size: connections kept open."),
    "confide_db_pool_max_overflow_connections": (
        "gauge",
        "Configured overflow: connections opened beyond the pool size under load, closed after use.",
    ),
    "confide_db_pool_waiting_checkouts": (
        "gauge",
        "Requests waiting for a connection right now (all size + overflow connections in use).",
    ),
    "confide_db_pool_checkout_timeouts_total": (
        "counter",
        "Requests that gave up waiting for a connection (pool timeout); each failed its call.",
    ),
}


class DbPoolCollector(Collector):
    """Reads each tracked pool at scrape time: no background task, nothing stale.

    What an SRE acts on: ``in_use`` near size + max overflow with waiting checkouts or timeouts
    means the pool (or the database) is the bottleneck; raise ``<NAME>_DB_POOL_SIZE`` or find the
    slow queries holding connections.
    """

    def __init__(self) -> None:
        self._pools: dict[str, QueuePool] = {}
        self._lock = threading.Lock()

    def track(self, service: str, pool: QueuePool) -> None:
        with self._lock:
            self._pools[service] = pool

    def describe(self) -> Iterable[Metric]:
        return list(self._families().values())

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            pools = sorted(self._pools.items())
        families = self._families()
        for service, pool in pools:
            values = {
                "confide_db_pool_size_connections": pool.size(),
                "confide_db_pool_max_overflow_connections": getattr(pool, "_max_overflow", 0),
                "confide_db_pool_waiting_checkouts": getattr(pool, "waiting_checkouts", 0),
                "confide_db_pool_checkout_timeouts_total": getattr(pool, "checkout_timeouts", 0),
            }
            for name, value in values.items():
                families[name].add_metric([service], float(value))
            families["confide_db_pool_connections"].add_metric([service, "in_use"], float(pool.checkedout()))
            families["confide_db_pool_connections"].add_metric([service, "idle"], float(pool.checkedin()))
        return list(families.values())

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for name, (kind, documentation) in DB_POOL_METRICS.items():
            labels = ["service", "state"] if name == "confide_db_pool_connections" else ["service"]
            if kind == "counter":
                families[name] = CounterMetricFamily(name, documentation, labels=labels)
            else:
                families[name] = GaugeMetricFamily(name, documentation, labels=labels)
        return families


db_pool = DbPoolCollector()
prometheus_client.REGISTRY.register(db_pool)


def track_db_pool(service: str, engine: AsyncEngine | Engine) -> None:
    """Report `engine`'s pool in the ``confide_db_pool_*`` metrics, read at each scrape.

    Pools that keep no connections (``NullPool``, ``StaticPool``) are skipped. Waiting checkouts
    and timeouts come from the chassis' pool (`confide_chassis.db.create_engine`); other queue pools
    report 0 for them. A later call for the same service replaces the earlier engine.
    """
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import QueuePool

    pool = (engine.sync_engine if isinstance(engine, AsyncEngine) else engine).pool
    if isinstance(pool, QueuePool):
        db_pool.track(service, pool)


def bind_service(metric: MetricT, service: str) -> ServiceMetric[MetricT]:
    """`metric` with its first label, ``service``, set: ``.labels(...)`` then takes only the others.

    For a service's own metrics, defined once at module level with ``["service", ...]`` labels,
    so call sites stay short and no series lacks the ``service`` label.
    """
    return ServiceMetric(metric, service)


class ServiceMetric(Generic[MetricT]):
    """See `bind_service`."""

    def __init__(self, metric: MetricT, service: str) -> None:
        if not metric._labelnames or metric._labelnames[0] != "service":
            raise ValueError(f"{metric._name}: the first label must be 'service'")
        self._metric = metric
        self.service = service

    def labels(self, *values: str) -> MetricT:
        return self._metric.labels(self.service, *values)


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

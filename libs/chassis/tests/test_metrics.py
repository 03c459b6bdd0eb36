"""Metric definitions, their exposition, and the /metrics server."""

from __future__ import annotations

import http.client
import socket

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool, QueuePool

from confide_chassis import metrics
from confide_chassis.metrics import render_latest, start_metrics_server, track_db_pool

# Python name -> (exposed name, type, labels).
DEFINED = {
    "rpc_requests_total": ("confide_rpc_requests_total", "counter", ("service", "method", "code")),
    "rpc_duration_seconds": ("confide_rpc_duration_seconds", "histogram", ("service", "method")),
    "rpc_in_flight": ("confide_rpc_in_flight_requests", "gauge", ("service",)),
    "outbox_backlog": ("confide_outbox_pending_events", "gauge", ("service",)),
    "outbox_oldest_age_seconds": ("confide_outbox_oldest_pending_age_seconds", "gauge", ("service",)),
    "outbox_published_total": ("confide_outbox_published_events_total", "counter", ("service", "topic")),
    "consumer_events_total": (
        "confide_consumer_records_total",
        "counter",
        ("service", "consumer", "topic", "outcome"),
    ),
    "consumer_lag": ("confide_consumer_lag_records", "gauge", ("service", "consumer", "topic", "partition")),
    "dlq_events_total": ("confide_dlq_records_total", "counter", ("service", "consumer", "topic")),
}
DB_POOL = {
    "confide_db_pool_connections": "gauge",
    "confide_db_pool_size_connections": "gauge",
    "confide_db_pool_max_overflow_connections": "gauge",
    "confide_db_pool_waiting_checkouts": "gauge",
    "confide_db_pool_checkout_timeouts_total": "counter",
}
ALLOWED_LABELS = {"service", "method", "code", "topic", "consumer", "outcome", "partition"}


def _families(text: str) -> dict[str, str]:
    """Family name -> type, parsed the way Prometheus parses the text format."""
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def _exposed_name(name: str) -> str:
    return name.removesuffix("_total")


def _sample(text: str, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def test_definitions_have_the_documented_types_and_only_bounded_labels() -> None:
    for name, (exposed, kind, labels) in DEFINED.items():
        metric = getattr(metrics, name)
        expected = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}[kind]
        assert isinstance(metric, expected), name
        assert metric._labelnames == labels, name
        assert labels[0] == "service", name
        assert set(labels) <= ALLOWED_LABELS, name
        assert exposed.startswith("confide_"), name
        assert exposed.endswith("_total") == (kind == "counter"), name
    assert set(metrics.DB_POOL_METRICS) == set(DB_POOL)


def test_rendered_text_declares_every_metric() -> None:
    text = render_latest().decode()
    families = _families(text)
    for exposed, kind, _ in DEFINED.values():
        assert families.get(_exposed_name(exposed)) == kind, exposed
        assert f"# TYPE {exposed} {kind}" in text, exposed
    for exposed, kind in DB_POOL.items():
        assert families.get(_exposed_name(exposed)) == kind, exposed


def test_a_service_metric_bound_to_its_service_always_carries_the_label() -> None:
    registry = CollectorRegistry()  # not the default one: the naming checks read that
    counter = Counter("confide_metricstest_things_total", "Test.", ["service", "kind"], registry=registry)
    bound = metrics.bind_service(counter, "metricstest")
    bound.labels("a").inc(3)
    text = generate_latest(registry).decode()
    assert _sample(text, "confide_metricstest_things_total", {"service": "metricstest", "kind": "a"}) == 3.0
    without = Counter("confide_metricstest_bad_total", "Test.", ["kind"], registry=registry)
    with pytest.raises(ValueError, match="first label must be 'service'"):
        metrics.bind_service(without, "metricstest")


def test_samples_render_with_their_labels_and_no_created_series() -> None:
    metrics.rpc_requests_total.labels("metrics-test", "/confide.test.v1.Echo/Echo", "OK").inc()
    metrics.rpc_duration_seconds.labels("metrics-test", "/confide.test.v1.Echo/Echo").observe(0.003)
    metrics.consumer_events_total.labels("metrics-test", "billing", "t.v1", "dead_lettered").inc(2)
    metrics.consumer_lag.labels("metrics-test", "billing", "t.v1", "0").set(7)
    metrics.outbox_oldest_age_seconds.labels("metrics-test").set(1.5)
    text = render_latest().decode()

    rpc = {"service": "metrics-test", "method": "/confide.test.v1.Echo/Echo"}
    assert _sample(text, "confide_rpc_requests_total", {**rpc, "code": "OK"}) == 1.0
    assert _sample(text, "confide_rpc_duration_seconds_bucket", {**rpc, "le": "0.001"}) == 0.0
    assert _sample(text, "confide_rpc_duration_seconds_bucket", {**rpc, "le": "0.005"}) == 1.0
    assert _sample(text, "confide_rpc_duration_seconds_bucket", {**rpc, "le": "10.0"}) == 1.0
    assert _sample(text, "confide_rpc_duration_seconds_count", rpc) == 1.0
    consumer = {"service": "metrics-test", "consumer": "billing", "topic": "t.v1"}
    assert _sample(text, "confide_consumer_records_total", {**consumer, "outcome": "dead_lettered"}) == 2.0
    assert _sample(text, "confide_consumer_lag_records", {**consumer, "partition": "0"}) == 7.0
    assert _sample(text, "confide_outbox_oldest_pending_age_seconds", {"service": "metrics-test"}) == 1.5
    assert "_created" not in text


def test_rpc_buckets_span_one_millisecond_to_ten_seconds() -> None:
    assert metrics.RPC_BUCKETS[0] == 0.001
    assert metrics.RPC_BUCKETS[-1] == 10.0
    assert list(metrics.RPC_BUCKETS) == sorted(metrics.RPC_BUCKETS)


def test_db_pool_metrics_read_the_pool_at_scrape_time() -> None:
    engine = create_engine("sqlite://", poolclass=QueuePool, pool_size=3, max_overflow=2)
    track_db_pool("metrics-pool", engine)
    labels = {"service": "metrics-pool"}
    in_use, idle = {**labels, "state": "in_use"}, {**labels, "state": "idle"}
    try:
        with engine.connect():
            text = render_latest().decode()
            assert _sample(text, "confide_db_pool_size_connections", labels) == 3.0
            assert _sample(text, "confide_db_pool_max_overflow_connections", labels) == 2.0
            assert _sample(text, "confide_db_pool_connections", in_use) == 1.0
            assert _sample(text, "confide_db_pool_connections", idle) == 0.0
            assert _sample(text, "confide_db_pool_waiting_checkouts", labels) == 0.0
            assert _sample(text, "confide_db_pool_checkout_timeouts_total", labels) == 0.0
        text = render_latest().decode()
        assert _sample(text, "confide_db_pool_connections", in_use) == 0.0
        assert _sample(text, "confide_db_pool_connections", idle) == 1.0  # returned, kept open
        assert "-" not in "".join(  # nothing reads negative (the old overflow gauge read -2)
            line.split()[-1][0] for line in text.splitlines() if line.startswith("confide_db_pool")
        )
    finally:
        engine.dispose()


def test_db_pool_without_connections_to_keep_is_skipped() -> None:
    engine = create_engine("sqlite://", poolclass=NullPool)
    track_db_pool("metrics-nullpool", engine)
    labels = {"service": "metrics-nullpool"}
    assert _sample(render_latest().decode(), "confide_db_pool_size_connections", labels) is None


def _get(port: int, path: str = "/metrics") -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        conn.close()


def test_metrics_server_serves_text_exposition_on_a_free_port() -> None:
    metrics.outbox_backlog.labels("metrics-server").set(4)
    stop = start_metrics_server("127.0.0.1", 0)
    try:
        assert stop.port > 0
        assert stop.url == f"http://127.0.0.1:{stop.port}/metrics"
        status, content_type, body = _get(stop.port)
        assert status == 200
        assert content_type.startswith("text/plain")
        families = _families(body)
        for exposed, kind, _ in DEFINED.values():
            assert families.get(_exposed_name(exposed)) == kind, exposed
        assert _sample(body, "confide_outbox_pending_events", {"service": "metrics-server"}) == 4.0
    finally:
        stop()
    stop()  # idempotent
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", stop.port), timeout=1):
        pass


def test_metrics_server_refuses_a_port_in_use() -> None:
    first = start_metrics_server("127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="in use"):
            start_metrics_server("127.0.0.1", first.port)
    finally:
        first.stop()

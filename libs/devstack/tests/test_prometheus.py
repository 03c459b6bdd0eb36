"""Prometheus for the local stack: its scrape config, the cluster's rules, the real server, `--prometheus`."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import signal
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from confide_devstack._util import free_port, pid_alive, port_is_free, repo_root
from confide_devstack.kafka import KafkaBroker
from confide_devstack.prometheus import (
    PROMETHEUS_RULE,
    Prometheus,
    ScrapeTarget,
    ensure_prometheus,
    render_config,
    rule_groups,
    targets_from_stack_info,
)
from confide_devstack.stack import READY_BANNER


def test_config_has_one_job_per_service_labelled_as_in_the_cluster(tmp_path: Path) -> None:
    info = {
        "services": {
            "identity": {"metrics": "http://127.0.0.1:9101/metrics", "grpc": "127.0.0.1:50051"},
            "gateway": {"metrics": "http://127.0.0.1:9106/metrics", "grpc": "127.0.0.1:8080"},
        }
    }
    targets = targets_from_stack_info(info)
    assert targets == [ScrapeTarget("identity", "127.0.0.1:9101"), ScrapeTarget("gateway", "127.0.0.1:9106")]
    config = yaml.safe_load(render_config(targets, interval_seconds=1, rule_files=[tmp_path / "rules.yml"]))
    assert config["global"] == {
        "scrape_interval": "1000ms",
        "scrape_timeout": "1000ms",
        "evaluation_interval": "1000ms",
    }
    assert config["rule_files"] == [str(tmp_path / "rules.yml")]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"identity", "gateway"}
    (static,) = jobs["gateway"]["static_configs"]
    assert static["targets"] == ["127.0.0.1:9106"]
    # The alerts select namespace="confide" and group by service and pod, as the ServiceMonitor labels.
    assert static["labels"] == {"namespace": "confide", "service": "gateway", "pod": "gateway-local"}
    assert jobs["gateway"]["metrics_path"] == "/metrics"


def test_rules_are_the_prometheus_rules_groups_evaluated_at_the_local_interval(tmp_path: Path) -> None:
    source = yaml.safe_load((repo_root() / PROMETHEUS_RULE).read_text(encoding="utf-8"))
    groups = rule_groups()
    assert [g["name"] for g in groups] == [g["name"] for g in source["spec"]["groups"]]
    assert [g["rules"] for g in groups] == [g["rules"] for g in source["spec"]["groups"]]
    rule = tmp_path / "rule.yaml"
    rule.write_text(
        yaml.safe_dump(
            {"kind": "PrometheusRule", "spec": {"groups": [{"name": "g", "interval": "5m", "rules": []}]}}
        ),
        encoding="utf-8",
    )
    assert rule_groups(rule) == [{"name": "g", "rules": []}]


class _Metrics(http.server.BaseHTTPRequestHandler):
    """A /metrics endpoint whose request counter grows on every scrape."""

    scrapes = 0

    def do_GET(self) -> None:
        type(self).scrapes += 1
        body = textwrap.dedent(
            f"""\
            # HELP confide_rpc_requests_total gRPC requests handled, by final status code.
            # TYPE confide_rpc_requests_total counter
            confide_rpc_requests_total{{service="fake",method="/fake.v1.Fake/Do",code="OK"}} {self.scrapes}
            """
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain; version=0.0.4")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def metrics_endpoint() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def prometheus_binary() -> Path:
    return ensure_prometheus()


async def _eventually(probe: Any, what: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await asyncio.to_thread(probe)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@pytest.mark.integration
async def test_prometheus_scrapes_the_target_and_records_the_rules(
    prometheus_binary: Path, metrics_endpoint: int, tmp_path: Path
) -> None:
    port = free_port()
    prometheus = Prometheus(
        prometheus_binary,
        tmp_path / "prometheus",
        [ScrapeTarget("fake", f"127.0.0.1:{metrics_endpoint}")],
        port=port,
        interval_seconds=0.5,
    )
    await prometheus.start()
    try:
        (series,) = await _eventually(
            lambda: prometheus.api("query", query='service:rpc_requests:rate5m{service="fake"}')["result"],
            "the recording rule over the scraped counter",
        )
        assert series["metric"] == {
            "__name__": "service:rpc_requests:rate5m",
            "namespace": "confide",
            "service": "fake",
        }
        assert float(series["value"][1]) > 0
        up = prometheus.api("query", query='up{job="fake"}')["result"]
        assert [(s["metric"]["pod"], s["value"][1]) for s in up] == [("fake-local", "1")]
        loaded = {g["name"] for g in prometheus.api("rules")["groups"]}
        assert loaded == {g["name"] for g in rule_groups()}
    finally:
        await prometheus.stop()
    assert prometheus.returncode is not None
    assert port_is_free(port)


FAKE_MAIN = textwrap.dedent(
    '''
    """A stand-in service without a database: /metrics on its metrics port, grpc.health.v1 SERVING."""
    import asyncio
    import os
    import signal
    import sys

    import grpc
    import prometheus_client
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc


    async def serve() -> None:
        prometheus_client.start_http_server(int(os.environ["FAKE_METRICS_PORT"]), addr="127.0.0.1")
        server = grpc.aio.server()
        servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        server.add_insecure_port(f"127.0.0.1:{os.environ['FAKE_GRPC_PORT']}")
        await server.start()
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop(1)


    if sys.argv[1] == "--help":
        print("usage: python -m confide_fake {serve}")
    else:
        asyncio.run(serve())
    '''
)


@pytest.mark.integration
async def test_make_run_with_prometheus_scrapes_every_service_and_stops_it_with_the_stack(
    devstack_run_dir: Path, kafka_broker: KafkaBroker, prometheus_binary: Path, tmp_path: Path
) -> None:
    services_dir = tmp_path / "services"
    package = services_dir / "fake" / "confide_fake"
    package.mkdir(parents=True)
    (services_dir / "fake" / "pyproject.toml").write_text(
        "[project]\nname = 'confide-fake'\n", encoding="utf-8"
    )
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "__main__.py").write_text(FAKE_MAIN, encoding="utf-8")
    run_dir = devstack_run_dir / "stack-prometheus"
    env = {
        **os.environ,
        "CONFIDE_RUN_DIR": str(run_dir),
        "CONFIDE_SERVICES_DIR": str(services_dir),
        "CONFIDE_PG_PORT": str(free_port()),
        "CONFIDE_PROMETHEUS_PORT": str(free_port()),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "FAKE_GRPC_PORT": str(free_port()),
        "FAKE_METRICS_PORT": str(free_port()),
        "PYTHONPATH": str(services_dir / "fake"),
        "PROMETHEUS_BIN": str(prometheus_binary),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "confide_devstack", "run", "--prometheus",
        stdout=asyncio.subprocess.PIPE, stderr=(tmp_path / "stack.log").open("wb"), env=env,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while READY_BANNER not in "".join(lines[-1:]):
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert line, "the stack exited:\n" + "".join(lines) + (tmp_path / "stack.log").read_text()
            lines.append(line.decode())
        url = f"http://127.0.0.1:{env['CONFIDE_PROMETHEUS_PORT']}"
        while row := (await asyncio.wait_for(proc.stdout.readline(), 10)).decode():
            lines.append(row)
            if row.startswith("  prometheus"):
                break
        assert url in lines[-1], "the summary shows where Prometheus listens"
        info = json.loads((run_dir / "stack.json").read_text(encoding="utf-8"))
        assert info["prometheus"]["url"] == url

        def fake_is_up() -> list[dict[str, Any]]:
            with urllib.request.urlopen(f"{url}/api/v1/query?query=up", timeout=5) as reply:  # noqa: S310
                result: list[dict[str, Any]] = json.loads(reply.read())["data"]["result"]
            return [s for s in result if s["metric"]["job"] == "fake" and s["value"][1] == "1"]

        (up,) = await _eventually(fake_is_up, "Prometheus scraping the fake service", within=60)
        assert up["metric"]["instance"] == f"127.0.0.1:{env['FAKE_METRICS_PORT']}"
        prometheus_pid = _pid_listening(int(env["CONFIDE_PROMETHEUS_PORT"]), prometheus_binary)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        code = await asyncio.wait_for(proc.wait(), 90)
    assert code == 0, (tmp_path / "stack.log").read_text()
    assert not pid_alive(prometheus_pid)
    assert port_is_free(int(env["CONFIDE_PROMETHEUS_PORT"]))
    assert not (run_dir / "stack.json").exists()


def _pid_listening(port: int, binary: Path) -> int:
    """The pid of the `binary` process started with ``--web.listen-address=127.0.0.1:<port>``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0] == str(binary).encode() and f"--web.listen-address=127.0.0.1:{port}".encode() in argv:
            return int(entry.name)
    raise AssertionError(f"no {binary} process listens on {port}")

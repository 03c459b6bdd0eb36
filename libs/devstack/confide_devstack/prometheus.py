"""A real Prometheus server scraping the local stack, with the production alert and recording rules.

`make run PROMETHEUS=1` (``python -m confide_devstack run --prometheus``) starts one after every
service is SERVING; the end-to-end tests start one against their platform the same way. The binary
is Debian's (``scripts/ensure_prometheus.sh`` extracts it next to promtool into ``.cache/promtool/``);
``PROMETHEUS_BIN`` points at another one.

Targets are labelled as the Prometheus Operator labels them in the cluster (ServiceMonitor per
Service): ``job`` and ``service`` are the deployable's name, ``namespace`` is ``confide``, ``pod``
is ``<name>-local``. So the chassis' own ``service`` label is kept as ``exported_service`` there
and here alike, and the rules of ``deploy/k8s/base/monitoring/prometheusrule.yaml`` (its
``spec.groups``, written to a plain rules file) evaluate locally exactly as they do in the cluster,
only more often: every group is evaluated at the local interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from confide_devstack._util import LOOPBACK, DevstackError, repo_root, tail

log = logging.getLogger(__name__)

#: Where the cluster's rules live, relative to the repository root.
PROMETHEUS_RULE = Path("deploy/k8s/base/monitoring/prometheusrule.yaml")
#: The namespace label every local target gets, as the cluster's (alerts select on it).
NAMESPACE = "confide"
DEFAULT_PORT = 9090


class PrometheusError(DevstackError):
    """Prometheus could not be found, configured or started; the message says what to do."""


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """One service's metrics endpoint."""

    service: str
    address: str  # host:port
    metrics_path: str = "/metrics"

    @classmethod
    def from_url(cls, service: str, url: str) -> ScrapeTarget:
        """From ``http://127.0.0.1:9101/metrics`` (the form ``stack.json`` lists)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.netloc:
            raise PrometheusError(f"{service}: {url!r} is not an http:// metrics URL")
        return cls(service, parts.netloc, parts.path or "/metrics")


def targets_from_stack_info(info: Mapping[str, Any]) -> list[ScrapeTarget]:
    """Every service of a running stack, from its ``stack.json`` (`LocalStack.endpoints`)."""
    services: Mapping[str, Mapping[str, Any]] = info["services"]
    return [ScrapeTarget.from_url(name, str(entry["metrics"])) for name, entry in services.items()]


def rule_groups(prometheus_rule: Path | None = None) -> list[dict[str, Any]]:
    """The ``spec.groups`` of the PrometheusRule, each without its own ``interval``.

    The local server evaluates every group at its global evaluation interval (seconds, not the
    cluster's minutes), so rates and alert expressions have data soon after start.
    """
    path = prometheus_rule or repo_root() / PROMETHEUS_RULE
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    rules = [d for d in documents if d.get("kind") == "PrometheusRule"]
    if len(rules) != 1:
        raise PrometheusError(f"{path}: expected one PrometheusRule, found {len(rules)}")
    groups: list[dict[str, Any]] = rules[0]["spec"]["groups"]
    return [{k: v for k, v in group.items() if k != "interval"} for group in groups]


def render_config(
    targets: Iterable[ScrapeTarget],
    *,
    interval_seconds: float,
    rule_files: Sequence[Path] = (),
    namespace: str = NAMESPACE,
) -> str:
    """prometheus.yml: one job per service, labelled as the cluster labels it; rules every interval."""
    interval = _duration(interval_seconds)
    jobs = [
        {
            "job_name": target.service,
            "metrics_path": target.metrics_path,
            "static_configs": [
                {
                    "targets": [target.address],
                    "labels": {
                        "namespace": namespace,
                        "service": target.service,
                        "pod": f"{target.service}-local",
                    },
                }
            ],
        }
        for target in targets
    ]
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": jobs,
    }
    return yaml.safe_dump(config, sort_keys=False)


def _duration(seconds: float) -> str:
    if seconds <= 0:
        raise PrometheusError(f"interval {seconds!r} must be positive")
    return f"{round(seconds * 1000)}ms"


def ensure_prometheus(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The Prometheus server binary: ``PROMETHEUS_BIN``, else Debian's, extracted on first use.

    The extraction needs apt (root, or an apt that may download): see ``scripts/ensure_promtool.sh``.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("PROMETHEUS_BIN")
    if explicit:
        binary = Path(explicit)
        if not os.access(binary, os.X_OK):
            raise PrometheusError(f"PROMETHEUS_BIN={explicit!r} is not an executable file")
        return binary
    script = (root or repo_root()) / "scripts" / "ensure_prometheus.sh"
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [str(script)], capture_output=True, text=True, check=False, timeout=600
        )
    except subprocess.TimeoutExpired:
        raise PrometheusError(f"{script} did not finish within 10 minutes") from None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise PrometheusError(
            f"{script} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}\n"
            "It extracts Debian's prometheus package with apt; set PROMETHEUS_BIN to use another binary."
        )
    return Path(lines[-1])


class Prometheus:
    """One Prometheus server over `targets`, its files in `workdir`; `start`, `stop` (idempotent).

    ``workdir`` gets ``prometheus.yml``, ``rules.yml``, ``data/`` (the TSDB, kept between runs of
    the same folder, retention 1 day) and ``prometheus.log``. The server runs in its own process
    group and listens on 127.0.0.1 only.
    """

    def __init__(
        self,
        binary: Path,
        workdir: Path,
        targets: Sequence[ScrapeTarget],
        *,
        port: int = DEFAULT_PORT,
        interval_seconds: float = 5.0,
        groups: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.targets = list(targets)
        self.port = port
        self.interval_seconds = interval_seconds
        self.groups = list(rule_groups() if groups is None else groups)
        self.config_path = workdir / "prometheus.yml"
        self.rules_path = workdir / "rules.yml"
        self.log_path = workdir / "prometheus.log"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def write_files(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rules_path.write_text(
            yaml.safe_dump({"groups": [dict(g) for g in self.groups]}, sort_keys=False), encoding="utf-8"
        )
        self.config_path.write_text(
            render_config(self.targets, interval_seconds=self.interval_seconds, rule_files=[self.rules_path]),
            encoding="utf-8",
        )

    async def start(self, within_s: float = 60.0) -> None:
        """Write the files, start the server, return once it answers ``/-/ready``."""
        self.write_files()
        argv = [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            "--storage.tsdb.retention.time=1d",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            f"--web.external-url={self.url}",
            "--log.level=warn",
        ]
        assets = self.binary.parent / "web"  # the page templates Debian's build reads from disk
        if (assets / "templates").is_dir():
            argv.append(f"--web.local-assets={assets}")
        with self.log_path.open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + within_s
        while not await asyncio.to_thread(self._ready):
            if self.process.returncode is not None:
                raise PrometheusError(
                    f"prometheus exited during startup (exit {self.process.returncode}); "
                    f"log {self.log_path}:\n{tail(self.log_path, 20)}"
                )
            if time.monotonic() > deadline:
                raise PrometheusError(
                    f"prometheus did not become ready within {within_s:.0f}s; log {self.log_path}"
                )
            await asyncio.sleep(0.1)
        log.info("prometheus is ready on %s (%d targets)", self.url, len(self.targets))

    def _ready(self) -> bool:
        with (
            contextlib.suppress(OSError),  # URLError is one: not listening yet
            urllib.request.urlopen(f"{self.url}/-/ready", timeout=1.0) as reply,  # noqa: S310 - http, ours
        ):
            return int(reply.status) == 200
        return False

    async def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM (Prometheus flushes its head block), SIGKILL after `grace_s` seconds."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace_s)
        if process.returncode is None:
            log.warning("prometheus did not stop within %.0fs: killing it", grace_s)
            _signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 5.0)

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` (blocking); the ``data`` of a success, PrometheusError otherwise."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=10.0) as reply:  # noqa: S310 - http, ours
                body = json.loads(reply.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


__all__ = [
    "DEFAULT_PORT",
    "NAMESPACE",
    "PROMETHEUS_RULE",
    "Prometheus",
    "PrometheusError",
    "ScrapeTarget",
    "ensure_prometheus",
    "render_config",
    "rule_groups",
    "targets_from_stack_info",
]

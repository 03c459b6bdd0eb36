"""A real Prometheus scraping the whole platform with the cluster's rules (deploy/k8s/base/monitoring).

promtool proves the rules parse and its unit tests prove the alerts on made-up series; this proves
them on the series the services really export: every target is up, the recording rules produce
data after traffic, every rule evaluates without error, and no alert expression matches on a
healthy platform. Targets are labelled as the cluster's ServiceMonitors label them
(`confide_devstack.prometheus`), and every group is evaluated each second, so even rules over long
windows (1h, 3d) have the two samples a rate needs within seconds.

Which recording rules must have data is derived, not listed: a rule must when every series selector
it reads matches something after the traffic (a sign-in and a directory search). The others cannot,
and the failure message of a missing one names the selector: server-side error codes (a healthy
platform answers none), flows the traffic does not drive (bookings, sessions), kube-state-metrics
(not part of the local stack).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from confide_devstack._util import free_port
from confide_devstack.prometheus import (
    Prometheus,
    ScrapeTarget,
    ensure_prometheus,
    rule_groups,
    targets_from_stack_info,
)
from confide_devstack.stack import discover_services

from .conftest import ROOT, Platform
from .test_metrics_contract import traffic

pytestmark = pytest.mark.integration

WITHIN = 30.0
# A series selector in PromQL: a metric or recorded name (ours, recorded, up, kube-state-metrics'),
# with its label matchers. Label names in `by (...)` have no colon and no known prefix.
SELECTOR = re.compile(r"\b((?:confide_|kube_)\w+|[a-z_]+:[\w:]+|up)\b\s*(\{[^}]*\})?")


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def recorded_selector(rule: dict[str, Any]) -> str:
    """A recording rule's output: its name and static labels (several rules may share a name)."""
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(rule.get("labels", {}).items()))
    return f"{rule['record']}{{{labels}}}" if labels else str(rule["record"])


def input_selectors(expr: str) -> list[str]:
    """The series selectors an expression reads (ranges dropped: each is queried as an instant)."""
    return sorted({name + (matchers or "") for name, matchers in SELECTOR.findall(expr)})


async def until(probe: Callable[[], Any], what: str, within: float = WITHIN) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        last = await asyncio.to_thread(probe)
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


@pytest.fixture(scope="module")
def prometheus_binary() -> Path:
    return ensure_prometheus(ROOT)


@pytest.fixture
async def prometheus(
    platform: Platform, prometheus_binary: Path, tmp_path: Path
) -> AsyncIterator[Prometheus]:
    server = Prometheus(
        prometheus_binary,
        tmp_path / "prometheus",
        targets_from_stack_info(platform.info),
        port=free_port(),
        interval_seconds=1.0,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_prometheus_scrapes_every_service_and_the_rules_hold_on_real_series(
    platform: Platform, prometheus: Prometheus
) -> None:
    services = set(platform.info["services"])

    def all_up() -> bool:
        targets = prometheus.api("targets", state="active")["activeTargets"]
        up = {t["labels"]["job"] for t in targets if t["health"] == "up"}
        return up == services

    await until(all_up, "every service's target to be up")
    await traffic(platform)  # after the first scrapes, so every rate window sees an increase

    recording = {recorded_selector(rule): rule for rule in rules() if "record" in rule}
    missing: dict[str, list[str]] = {}

    def recorded() -> dict[str, list[dict[str, Any]]] | None:
        results = {name: prometheus.api("query", query=name)["result"] for name in recording}
        missing.clear()
        for name, rule in recording.items():
            absent = [
                sel
                for sel in input_selectors(rule["expr"])
                if not prometheus.api("query", query=sel)["result"]
            ]
            if absent:
                missing[name] = absent  # it cannot have data: an input has no series
        # A counter series is born with its first request, and a rate needs two samples of it.
        every_rate = {s["metric"]["service"] for s in results["service:rpc_requests:rate5m"]} == services
        settled = all(series or name in missing for name, series in results.items())
        return results if settled and every_rate else None

    try:
        results = await until(recorded, "every recording rule whose inputs exist to have data")
    except AssertionError:
        last = {name: prometheus.api("query", query=name)["result"] for name in recording}
        empty = [name for name, series in last.items() if not series and name not in missing]
        raise AssertionError(f"recording rules without data though their inputs exist: {empty}") from None
    for name, series in results.items():
        assert {s["metric"]["service"] for s in series if "service" in s["metric"]} <= services, name
    assert "service:rpc_requests:rate5m" not in missing
    rates = results["service:rpc_requests:rate5m"]
    assert {s["metric"]["service"] for s in rates} == services, "an RPC rate for every service"
    # The services' own `service` label is kept as exported_service and agrees with the target's.
    pairs = prometheus.api("query", query='count by (service, exported_service) ({__name__=~"confide_.+"})')
    assert {(s["metric"]["service"], s["metric"].get("exported_service")) for s in pairs["result"]} == {
        (name, name) for name in services
    }

    def evaluated() -> list[dict[str, Any]] | None:
        groups = prometheus.api("rules")["groups"]
        evaluated = [rule for group in groups for rule in group["rules"]]
        return evaluated if all(rule["health"] != "unknown" for rule in evaluated) else None

    evaluated_rules = await until(evaluated, "every rule to be evaluated")
    assert len(evaluated_rules) == len(rules())
    broken = {r.get("name"): r.get("lastError") for r in evaluated_rules if r["health"] != "ok"}
    assert not broken, f"rules that fail to evaluate: {broken}"

    # A healthy platform: no alert expression matches (the `for` durations aside). Some need a first
    # run of a background job (compliance's expiry watch starts 10 s after the service), so allow
    # the ordinary startup time.
    alerts = {rule["alert"]: rule["expr"] for rule in rules() if "alert" in rule}
    matching: dict[str, list[dict[str, Any]]] = {}

    def quiet() -> bool:
        matching.clear()
        for name, expr in alerts.items():
            if matched := prometheus.api("query", query=expr)["result"]:
                matching[name] = matched
        return not matching

    with contextlib.suppress(AssertionError):
        await until(quiet, "no alert expression to match", within=WITHIN)
    if matching:
        involved = {s["metric"].get("service") for series in matching.values() for s in series}
        logs = [line for line in platform.output if line.split("|", 1)[0].strip() in involved][-15:]
        raise AssertionError(f"alerts match on a healthy platform: {matching}\n" + "".join(logs))


async def test_a_service_whose_metrics_cannot_be_scraped_is_what_the_target_down_alert_sees(
    prometheus_binary: Path, tmp_path: Path
) -> None:
    """Every service the stack runs, its metrics port closed: the alerts on `up` cover each one."""
    names = [spec.name for spec in discover_services(ROOT / "services", {})]
    closed = [ScrapeTarget(name, f"127.0.0.1:{free_port()}") for name in names]
    server = Prometheus(
        prometheus_binary, tmp_path / "prometheus", closed, port=free_port(), interval_seconds=0.5
    )
    target_down = [r for r in rules() if "alert" in r and "up{" in r["expr"].replace(" ", "")]
    assert target_down, "no alert watches the scrape targets (`up`)"
    await server.start()
    seen: set[str] = set()

    def every_service_down() -> bool:
        for rule in target_down:
            seen.update(s["metric"]["job"] for s in server.api("query", query=rule["expr"])["result"])
        return seen >= set(names)

    try:
        with contextlib.suppress(AssertionError):
            await until(every_service_down, "the target-down alert to match every service", within=15)
        missed = sorted(set(names) - seen)
        assert not missed, f"{[r['alert'] for r in target_down]} never see these services down: {missed}"
    finally:
        await server.stop()

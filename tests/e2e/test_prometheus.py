"""A real Prometheus scraping the whole platform with the cluster's rules (deploy/k8s/base/monitoring).

promtool proves the rules parse and its unit tests prove the alerts on made-up series; this proves
them on the series the services really export: every target is up, the recording rules produce
data after traffic, every rule evaluates without error, and no alert expression matches on a
healthy platform. Targets are labelled as the cluster's ServiceMonitors label them
(`confide_devstack.prometheus`), and every group is evaluated each second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from confide_devstack._util import free_port
from confide_devstack.prometheus import (
    Prometheus,
    ensure_prometheus,
    rule_groups,
    targets_from_stack_info,
)

from .conftest import ROOT, Platform
from .test_metrics_contract import traffic

pytestmark = pytest.mark.integration

# Recording rules that have no series on a healthy platform, and why. Every other one must have data.
NO_DATA_WHEN_HEALTHY = {
    "service:rpc_server_errors:rate5m": "counts server-side failures (INTERNAL, UNAVAILABLE, ...) only",
}
WITHIN = 30.0


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


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

    def recorded() -> dict[str, list[dict[str, Any]]] | None:
        results = {
            rule["record"]: prometheus.api("query", query=rule["record"])["result"]
            for rule in rules()
            if "record" in rule
        }
        # A counter series is born with its first request, and a rate needs two samples of it.
        every_rate = {s["metric"]["service"] for s in results["service:rpc_requests:rate5m"]} == services
        data = all(results[r] for r in results if r not in NO_DATA_WHEN_HEALTHY)
        return results if data and every_rate else None

    try:
        results = await until(recorded, "every recording rule to have data")
    except AssertionError:
        last = {
            rule["record"]: prometheus.api("query", query=rule["record"])["result"]
            for rule in rules()
            if "record" in rule
        }
        raise AssertionError(f"recording rules without data after traffic: {last}") from None
    for record, series in results.items():
        if record in NO_DATA_WHEN_HEALTHY:
            assert series == [], f"{record} ({NO_DATA_WHEN_HEALTHY[record]}) has series: {series}"
            continue
        assert {s["metric"].get("service") for s in series} <= services, record
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

    # A healthy platform: no alert expression matches (the `for` durations aside).
    for rule in rules():
        if "alert" in rule:
            matched = prometheus.api("query", query=rule["expr"])["result"]
            assert matched == [], f"{rule['alert']} matches on a healthy platform: {matched}"

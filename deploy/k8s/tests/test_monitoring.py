"""Alerts, SLOs, dashboards and runbooks keep their promises (docs/observability.md).

The PrometheusRule and the dashboards' ConfigMaps are built from ``deploy/k8s/base/monitoring`` with
``kubectl kustomize`` (overlays do not change them; test_manifests.py validates them in every overlay).
Rules pass ``promtool check rules`` and the unit tests in alerts_test.yaml / alerts_long_test.yaml
(promtool from ``scripts/ensure_promtool.sh``), where every alert fires when it should and stays quiet
when it should not. Every metric a rule or a dashboard reads is one the code defines; every alert has
a runbook in docs/runbooks/ and every runbook an alert.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

K8S = Path(__file__).resolve().parents[1]
ROOT = K8S.parents[1]
MONITORING = K8S / "base" / "monitoring"
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_BASE = "https://github.com/confide-health/confide/blob/main/docs/runbooks/"
# Runbooks that are not an alert's.
OTHER_RUNBOOKS = {"demo-data.md"}
ALERT_TESTS = ("alerts_test.yaml", "alerts_long_test.yaml")
SEVERITIES = {"page", "ticket"}
METRIC_PREFIX = "confide_"
# The SLOs (docs/observability.md): slo label -> error budget (1 - objective over 30 days), and the
# prefix of its alerts' names.
SLOS = {
    "public-rpc-availability": (0.001, "ConfidePublicRpcAvailability"),
    "public-rpc-latency": (0.01, "ConfidePublicRpcLatency"),
    "booking-to-estimate-freshness": (0.01, "ConfideBookingToEstimateFreshness"),
    "session-to-charge-freshness": (0.01, "ConfideSessionToChargeFreshness"),
}
SLO_WINDOWS = ("5m", "30m", "1h", "6h", "3d")
# Google SRE workbook: (burn rate, long window, short window) and the severity they raise.
FAST_BURNS = ((14.4, "1h", "5m"), (6.0, "6h", "30m"))
SLOW_BURNS = ((1.0, "3d", "6h"),)
SERVICES = ("identity", "scheduling", "messaging", "billing", "compliance", "directory", "gateway")

Doc = dict[str, Any]


# --- building -----------------------------------------------------------------------------------


@cache
def monitoring_docs() -> tuple[Doc, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is required to build the kustomize overlays (it is part of the toolchain)")
    proc = subprocess.run(
        [kubectl, "kustomize", str(MONITORING)], capture_output=True, text=True, check=False, timeout=120
    )
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {MONITORING} failed:\n{proc.stderr}")
    return tuple(d for d in yaml.safe_load_all(proc.stdout) if d)


def rule_groups() -> list[dict[str, Any]]:
    (rule,) = [d for d in monitoring_docs() if d["kind"] == "PrometheusRule"]
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def rules() -> list[dict[str, Any]]:
    return [r for g in rule_groups() for r in g["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in rules() if "alert" in r}


def recorded() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def load_script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"confide_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while the class is created
    spec.loader.exec_module(module)
    return module


# --- the metric contract: what the code defines --------------------------------------------------


@cache
def exported_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every Confide metric the chassis and the services register: exposed name -> (type, labels).

    Read from prometheus_client's registry after importing each ``metrics`` module, so it is what a
    scrape would show (counters with ``_total``), not what a pattern finds in the source.
    """
    from prometheus_client import REGISTRY
    from prometheus_client.metrics import MetricWrapperBase

    importlib.import_module("confide_chassis.metrics")
    for path in sorted((ROOT / "services").glob("*/confide_*/metrics.py")):
        importlib.import_module(f"{path.parent.name}.metrics")
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for collector in list(REGISTRY._collector_to_names):  # no public way to list collectors
        for family in collector.describe() if hasattr(collector, "describe") else collector.collect():
            if family.name.startswith(("python_", "process_")):
                continue  # prometheus_client's own collectors
            name = family.name + ("_total" if family.type == "counter" else "")
            # A metric object knows its label names; a custom collector's families do.
            owner = collector if isinstance(collector, MetricWrapperBase) else family
            found[name] = (family.type, tuple(getattr(owner, "_labelnames", ())))
    return found


def exported_metric_names() -> set[str]:
    return set(exported_metrics())


def used_metric_names(expressions: Iterable[str]) -> set[str]:
    """Confide metric names in PromQL; a histogram's series (_bucket, _sum, _count) map to it."""
    histograms = {name for name, (kind, _) in exported_metrics().items() if kind == "histogram"}
    text = " ".join(expressions)
    return {
        base if (base := re.sub(r"_(bucket|sum|count)$", "", m)) in histograms else m
        for m in re.findall(r"\b([a-z_][a-z0-9_]*)\b(?=\s*[{\[)/+]|\s|$)", text)
        if m.startswith(METRIC_PREFIX)
    }


def used_recordings(expressions: Iterable[str]) -> set[str]:
    """Recording-rule names (level:metric:operations) in PromQL."""
    return set(re.findall(r"\b([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)\b", " ".join(expressions)))


def test_metric_name_helpers_catch_an_unknown_metric() -> None:
    exported = exported_metric_names()
    assert {
        "confide_rpc_requests_total",
        "confide_compliance_expiry_watch_last_success_timestamp_seconds",
        "confide_billing_event_freshness_seconds",
        "confide_messaging_crisis_escalation_failures_total",
    } <= exported
    expressions = [
        'sum(rate(confide_rpc_duration_seconds_bucket{service="x"}[5m]))'
        " / confide_compliance_made_up_total > 0"
        " + confide_billing_event_freshness_seconds_count - slo:sli_error:ratio_rate1h"
    ]
    used = used_metric_names(expressions)
    assert used == {
        "confide_rpc_duration_seconds",
        "confide_compliance_made_up_total",
        "confide_billing_event_freshness_seconds",
    }
    assert used - exported == {"confide_compliance_made_up_total"}
    assert used_recordings(expressions) == {"slo:sli_error:ratio_rate1h"}


def test_every_metric_follows_the_naming_scheme_and_carries_the_service_label() -> None:
    metrics = exported_metrics()
    assert len(metrics) > 15
    for name, (_, labels) in metrics.items():
        assert re.fullmatch(r"confide_[a-z0-9]+(_[a-z0-9]+)+", name), name
        assert labels[:1] == ("service",), f"{name}: labels {labels} do not start with service"
        assert not name.endswith(("_count", "_sum", "_bucket", "_created")), name
        assert "_milliseconds" not in name, f"{name}: base units (seconds) only"


# --- rules: promtool -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def promtool() -> str:
    script = ROOT / "scripts" / "ensure_promtool.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"{script} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": rule_groups()}, sort_keys=False), encoding="utf-8"
    )
    for name in ALERT_TESTS:
        shutil.copy(K8S / "tests" / name, tmp_path / name)
    return tmp_path


def run_promtool(promtool: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=300
    )


def test_rules_pass_promtool_check(promtool: str, rules_dir: Path) -> None:
    proc = run_promtool(promtool, rules_dir, "check", "rules", "rules.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_alerts_pass_their_promtool_unit_tests(promtool: str, rules_dir: Path) -> None:
    proc = run_promtool(promtool, rules_dir, "test", "rules", *ALERT_TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_unit_tests_fail_on_a_wrong_expectation(promtool: str, rules_dir: Path) -> None:
    """The unit tests can fail: the availability fast-burn case, expecting a wrong value, does not pass."""
    tests = yaml.safe_load((rules_dir / "alerts_test.yaml").read_text(encoding="utf-8"))
    (case,) = [
        case
        for case in tests["tests"]
        if any(
            t["alertname"] == "ConfidePublicRpcAvailabilityFastBurn" and t.get("exp_alerts")
            for t in case.get("alert_rule_test", [])
        )
    ]
    text = yaml.safe_dump({**tests, "tests": [case]}, sort_keys=False)
    (rules_dir / "one_test.yaml").write_text(text, encoding="utf-8")
    assert run_promtool(promtool, rules_dir, "test", "rules", "one_test.yaml").returncode == 0
    wrong = text.replace("2% of public RPCs fail server-side", "3% of public RPCs fail server-side")
    assert wrong != text
    (rules_dir / "one_test.yaml").write_text(wrong, encoding="utf-8")
    proc = run_promtool(promtool, rules_dir, "test", "rules", "one_test.yaml")
    assert proc.returncode != 0
    assert "ConfidePublicRpcAvailabilityFastBurn" in proc.stdout + proc.stderr


def unit_tests() -> Iterator[dict[str, Any]]:
    for name in ALERT_TESTS:
        for case in yaml.safe_load((K8S / "tests" / name).read_text(encoding="utf-8"))["tests"]:
            yield from case.get("alert_rule_test", [])


def test_every_alert_has_a_test_where_it_fires_and_one_where_it_stays_quiet() -> None:
    fires = {t["alertname"] for t in unit_tests() if t.get("exp_alerts")}
    quiet = {t["alertname"] for t in unit_tests() if not t.get("exp_alerts")}
    names = set(alerts())
    assert names - fires == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown staying quiet"
    assert (fires | quiet) - names == set(), "unit tests of alerts that do not exist"


def test_every_alert_has_severity_summary_description_and_its_runbook() -> None:
    for name, alert in alerts().items():
        assert alert["labels"]["severity"] in SEVERITIES, name
        annotations = alert["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), name
        assert annotations["runbook_url"] == f"{RUNBOOK_BASE}{kebab(name)}.md", name
        assert (RUNBOOKS / f"{kebab(name)}.md").is_file(), f"{name}: no docs/runbooks/{kebab(name)}.md"


def test_every_runbook_belongs_to_an_alert() -> None:
    runbooks = {p.name for p in RUNBOOKS.glob("*.md")} - OTHER_RUNBOOKS
    assert runbooks == {f"{kebab(name)}.md" for name in alerts()}
    for name in runbooks:  # each says what it is about, in its first heading
        heading = (RUNBOOKS / name).read_text(encoding="utf-8").splitlines()[0]
        assert heading.startswith("# Confide"), f"{name}: starts with {heading!r}"


def test_rules_use_only_defined_metrics_and_cover_what_matters() -> None:
    expressions = [r["expr"] for r in rules()]
    used = used_metric_names(expressions)
    exported = exported_metric_names()
    assert used <= exported, f"rules use metrics the code does not export: {used - exported}"
    assert used_recordings(expressions) <= recorded()
    assert {
        "confide_rpc_requests_total",
        "confide_rpc_duration_seconds",
        "confide_outbox_oldest_pending_age_seconds",
        "confide_consumer_lag_records",
        "confide_dlq_records_total",
        "confide_db_pool_connections",
        "confide_compliance_expiry_watch_last_success_timestamp_seconds",
        "confide_compliance_audit_chain_verifications_total",
        "confide_billing_event_freshness_seconds",
        "confide_messaging_crisis_escalation_failures_total",
    } <= used
    assert {
        "ConfideOutboxStalled",
        "ConfideConsumerLagHigh",
        "ConfideEventDeadLettered",
        "ConfideExpiryWatchStale",
        "ConfideCrisisEscalationFailing",
        "ConfideServiceUnavailable",
    } <= set(alerts())


# --- SLOs ----------------------------------------------------------------------------------------------


def test_each_slo_records_its_windows_and_alerts_at_the_workbook_burn_rates() -> None:
    for slo, (budget, prefix) in SLOS.items():
        (group,) = [g for g in rule_groups() if g["name"] == f"confide.slo.{slo}"]
        records = [r for r in group["rules"] if "record" in r]
        assert {r["record"] for r in records} == {"slo:error_budget:ratio"} | {
            f"slo:sli_error:ratio_rate{w}" for w in SLO_WINDOWS
        }
        assert all(r["labels"] == {"slo": slo} for r in records)
        (budget_rule,) = [r for r in records if r["record"] == "slo:error_budget:ratio"]
        assert budget_rule["expr"] == f"vector({budget})"
        # The alerts come after the recordings in the same group: evaluated on the same timestamp.
        names = [r.get("alert") for r in group["rules"]]
        assert names[-2:] == [f"{prefix}FastBurn", f"{prefix}SlowBurn"]
        for alert, burns, severity in (
            (group["rules"][-2], FAST_BURNS, "page"),
            (group["rules"][-1], SLOW_BURNS, "ticket"),
        ):
            assert alert["labels"]["severity"] == severity
            conditions = re.findall(
                r"slo:sli_error:ratio_rate(\w+)\{slo=\"([^\"]+)\"\} > ([0-9.]+(?: \* [0-9.]+)?)",
                alert["expr"],
            )
            assert {s for _, s, _ in conditions} == {slo}
            found = {
                (window, math.prod(float(f) for f in threshold.split("*")))
                for window, _, threshold in conditions
            }
            expected = {(w, rate * budget) for rate, long, short in burns for w in (long, short)}
            assert {(w, round(t, 9)) for w, t in found} == {(w, round(t, 9)) for w, t in expected}


def test_public_slis_leave_out_exactly_the_streaming_gateway_routes() -> None:
    """A stream lasts until its deadline and ends DEADLINE_EXCEEDED: neither latency nor an error."""
    from confide_gateway.routes import gateway_routes

    streaming = {
        path
        for path, route in gateway_routes([s for s in SERVICES if s != "gateway"]).items()
        if route.server_streaming
    }
    assert streaming, "the gateway serves StreamMessages"
    for rule in rules():
        if (
            rule.get("labels", {}).get("slo") in ("public-rpc-availability", "public-rpc-latency")
            and "record" in rule
        ):
            if rule["record"] == "slo:error_budget:ratio":
                continue
            for selector in re.findall(r"confide_rpc_\w+\{([^}]*)\}", rule["expr"]):
                assert 'service="gateway"' in selector
                assert set(re.findall(r'method!="([^"]+)"', selector)) == streaming, rule["record"]


def test_slis_read_buckets_and_flows_the_code_defines() -> None:
    from confide_billing import metrics as billing_metrics
    from confide_chassis.metrics import RPC_BUCKETS

    expressions = " ".join(r["expr"] for r in rules())
    rpc_le = set(re.findall(r'confide_rpc_duration_seconds_bucket\{[^}]*le="([^"]+)"', expressions))
    fresh_le = set(
        re.findall(r'confide_billing_event_freshness_seconds_bucket\{[^}]*le="([^"]+)"', expressions)
    )
    # prometheus_client writes bucket bounds as Python floats: 0.5 -> "0.5", 60 -> "60.0".
    assert rpc_le == {"0.5"}
    assert {float(le) for le in rpc_le} <= set(RPC_BUCKETS)
    assert fresh_le == {"60.0"}
    assert {float(le) for le in fresh_le} <= set(billing_metrics.FRESHNESS_BUCKETS)
    flows = set(re.findall(r'flow="([^"]+)"', expressions))
    assert flows == set(billing_metrics.FRESHNESS_FLOWS)
    codes = set(re.findall(r'code=~"([^"]+)"', expressions))
    for alternatives in codes:  # server-side failures only, never a client's mistake
        assert not set(alternatives.split("|")) & {
            "INVALID_ARGUMENT",
            "PERMISSION_DENIED",
            "NOT_FOUND",
            "FAILED_PRECONDITION",
            "UNAUTHENTICATED",
            "ALREADY_EXISTS",
            "RESOURCE_EXHAUSTED",
        }


# --- dashboards ----------------------------------------------------------------------------------------


def dashboard_expressions(node: Any) -> Iterator[str]:
    """Every PromQL string in a Grafana dashboard: panel targets and query variables."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, dict) and isinstance(value.get("query"), str):
                yield value["query"]
            else:
                yield from dashboard_expressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from dashboard_expressions(value)


def dashboards() -> dict[str, dict[str, Any]]:
    """ConfigMap name -> dashboard, for every ConfigMap the Grafana sidecar loads."""
    found = {}
    for doc in monitoring_docs():
        if doc["kind"] == "ConfigMap" and doc["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            (text,) = doc["data"].values()
            found[doc["metadata"]["name"]] = json.loads(text)
    return found


def test_generated_dashboards_are_current() -> None:
    gen = load_script(K8S / "gen_dashboards.py")
    assert gen.main(["--check"]) == 0, "run `python deploy/k8s/gen_dashboards.py`"


def test_dashboard_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    gen = load_script(K8S / "gen_dashboards.py")
    for path in MONITORING.glob("dashboard-*.json"):
        shutil.copy(path, tmp_path / path.name)
    assert gen.main(["--check", "--output", str(tmp_path)]) == 0
    stale = tmp_path / "dashboard-billing.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace("billing", "bill"), encoding="utf-8")
    assert gen.main(["--check", "--output", str(tmp_path)]) == 1


def test_every_dashboard_ships_as_a_config_map_and_queries_only_defined_metrics() -> None:
    boards = dashboards()
    files = {
        p.name.removeprefix("dashboard-").removesuffix(".json") for p in MONITORING.glob("dashboard-*.json")
    }
    assert set(boards) == {f"grafana-dashboard-{name}" for name in files}
    assert files == {"confide", "journeys", *SERVICES}
    exported, rules_recorded = exported_metric_names(), recorded()
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids)
    for name, board in boards.items():
        assert board["panels"], name
        assert all(panel.get("targets") for panel in board["panels"]), f"{name}: a panel without queries"
        expressions = list(dashboard_expressions(board))
        used = used_metric_names(expressions)
        assert used <= exported, f"{name} uses metrics the code does not define: {used - exported}"
        assert used_recordings(expressions) <= rules_recorded, name
        # Every query is scoped to Confide's namespace (other tenants' series must not mix in).
        assert all('namespace="confide"' in e for e in expressions), name


def test_each_service_dashboard_shows_its_own_service_and_all_its_metrics() -> None:
    boards = dashboards()
    for service in SERVICES:
        expressions = list(dashboard_expressions(boards[f"grafana-dashboard-{service}"]))
        services = {s for e in expressions for s in re.findall(r'\bservice="([^"]+)"', e)}
        assert services == {service}, f"{service}'s dashboard selects {services}"
        selectors = [sel for e in expressions for sel in re.findall(r"\bconfide_\w+\{([^}]*)\}", e)]
        assert all(f'service="{service}"' in sel for sel in selectors), service
        used = used_metric_names(expressions)
        own = {name for name in exported_metric_names() if name.startswith(f"confide_{service}_")}
        assert own <= used, f"{service}'s dashboard misses {own - used}"
        assert {"confide_rpc_requests_total", "confide_rpc_duration_seconds"} <= used
        if service != "gateway":  # the gateway has no database, outbox or consumer
            assert {"confide_consumer_lag_records", "confide_db_pool_connections"} <= used


def test_the_journeys_dashboard_follows_bookings_sessions_slos_and_crisis_flags() -> None:
    expressions = list(dashboard_expressions(dashboards()["grafana-dashboard-journeys"]))
    text = " ".join(expressions)
    assert 'flow="booking_to_gfe"' in text
    assert 'flow="session_to_charge"' in text
    assert {
        "confide_billing_event_freshness_seconds",
        "confide_messaging_crisis_flags_total",
        "confide_messaging_crisis_escalation_failures_total",
        "confide_scheduling_high_risk_screenings_total",
    } <= used_metric_names(expressions)
    assert {"slo:sli_error:ratio_rate1h", "slo:sli_error:ratio_rate3d", "slo:error_budget:ratio"} <= (
        used_recordings(expressions)
    )


def test_the_overview_dashboard_covers_the_chassis_metrics() -> None:
    used = used_metric_names(dashboard_expressions(dashboards()["grafana-dashboard-confide"]))
    assert {
        "confide_rpc_requests_total",
        "confide_rpc_duration_seconds",
        "confide_outbox_pending_events",
        "confide_outbox_oldest_pending_age_seconds",
        "confide_consumer_lag_records",
        "confide_dlq_records_total",
        "confide_db_pool_connections",
        "confide_db_pool_waiting_checkouts",
        "confide_db_pool_checkout_timeouts_total",
    } <= used

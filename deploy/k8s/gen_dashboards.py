#!/usr/bin/env python3
"""Write the Grafana dashboards: one per deployable and one for the user journeys.

    python deploy/k8s/gen_dashboards.py            # (re)write deploy/k8s/base/monitoring/dashboard-*.json
    python deploy/k8s/gen_dashboards.py --check    # exit 1 if a committed dashboard is out of date

A deployable's dashboard shows the chassis metrics every service exports (RPCs, outbox, consumers,
dead letters, database pool; the gateway has RPCs only) for its own ``service`` label, then one panel
per metric of its own metrics module (``services/<name>/confide_<name>/metrics.py``), read from
prometheus_client's registry: a metric added to a service appears on its dashboard at the next run.
The journeys dashboard follows a booking to its Good Faith Estimate and a session to its charge
(billing's event-freshness histogram), the SLOs' burn rates (recording rules of
base/monitoring/prometheusrule.yaml) and crisis flags from messages and screenings to the care-team
alert. The hand-written "Confide services" overview (dashboard-confide.json) is not generated.

Each file is shipped as a ConfigMap labelled ``grafana_dashboard: "1"`` by base/monitoring's
kustomization (the Grafana sidecar loads it); deploy/k8s/tests/test_monitoring.py checks that every
query uses only metrics the code defines and recording rules the PrometheusRule records.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "deploy" / "k8s" / "base" / "monitoring"
# Deployables with a dashboard; every one but the gateway is a gRPC service on the chassis.
SERVICES = ("identity", "scheduling", "messaging", "billing", "compliance", "directory", "gateway")
NAMESPACE = 'namespace="confide"'
RATE = "[$__rate_interval]"
SERVER_ERRORS = "INTERNAL|UNKNOWN|UNAVAILABLE|DEADLINE_EXCEEDED|DATA_LOSS|UNIMPLEMENTED"
# The SLOs of prometheusrule.yaml (docs/observability.md): slo label -> title.
SLOS = {
    "public-rpc-availability": "Public RPC availability (99.9%)",
    "public-rpc-latency": "Public RPC latency (99% < 500 ms)",
    "booking-to-estimate-freshness": "Booking → Good Faith Estimate (99% < 60 s)",
    "session-to-charge-freshness": "Session → charge (99% < 60 s)",
}
BUDGET = "slo:error_budget:ratio"  # 1 - objective, recorded per SLO
WIDTH, HEIGHT = 12, 8


@dataclass(frozen=True)
class Metric:
    """A metric as a scrape shows it: exposed name (counters with _total), type and labels."""

    name: str
    kind: str  # counter, gauge, histogram
    labels: tuple[str, ...]
    documentation: str


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    targets: tuple[tuple[str, str], ...]  # (expr, legend)
    description: str = ""


def service_metrics(service: str) -> list[Metric]:
    """The metrics `service`'s own metrics module registers (none for a service without one)."""
    from prometheus_client import REGISTRY
    from prometheus_client.metrics import MetricWrapperBase

    try:
        importlib.import_module(f"confide_{service}.metrics")
    except ModuleNotFoundError:
        return []
    prefix = f"confide_{service}_"
    found: dict[str, Metric] = {}
    for collector in list(REGISTRY._collector_to_names):  # no public way to list collectors
        if not isinstance(collector, MetricWrapperBase):
            continue
        name: str = collector._name
        kind = str(collector._type)
        if not name.startswith(prefix):
            continue
        exposed = name + "_total" if kind == "counter" else name
        labels = tuple(label for label in collector._labelnames if label != "service")
        found[exposed] = Metric(exposed, kind, labels, collector._documentation)
    return [found[name] for name in sorted(found)]


def domain_panel(service: str, metric: Metric) -> Panel:
    where = f'{{{NAMESPACE}, service="{service}"}}'
    by = f"sum by ({', '.join(metric.labels)})" if metric.labels else "sum"
    legend = " ".join(f"{{{{{label}}}}}" for label in metric.labels) or service
    title = metric.name.removeprefix(f"confide_{service}_")
    if metric.kind == "counter":
        expr = f"{by} (rate({metric.name}{where}{RATE}))"
        return Panel(f"{title} (per second)", "ops", ((expr, legend),), metric.documentation)
    if metric.kind == "histogram":
        labels = ", ".join((*metric.labels, "le"))
        targets = tuple(
            (
                f"histogram_quantile({q}, sum by ({labels}) (rate({metric.name}_bucket{where}{RATE})))",
                f"p{int(q * 100)} {legend}",
            )
            for q in (0.5, 0.99)
        )
        return Panel(title, "s", targets, metric.documentation)
    # Gauges: every replica reports its own value; timestamps and shared counts read as the max.
    by_max = f"max by ({', '.join(metric.labels)})" if metric.labels else "max"
    unit = "dateTimeAsIso" if metric.name.endswith("_timestamp_seconds") else "short"
    return Panel(title, unit, ((f"{by_max} ({metric.name}{where})", legend),), metric.documentation)


def rpc_panels(service: str) -> list[Panel]:
    where = f'{NAMESPACE}, service="{service}"'
    return [
        Panel(
            "RPC rate by method",
            "reqps",
            ((f"sum by (method) (rate(confide_rpc_requests_total{{{where}}}{RATE}))", "{{method}}"),),
        ),
        Panel(
            "RPC server errors by method and code",
            "reqps",
            (
                (
                    "sum by (method, code) (rate(confide_rpc_requests_total"
                    f'{{{where}, code=~"{SERVER_ERRORS}"}}{RATE}))',
                    "{{method}} {{code}}",
                ),
            ),
            "Codes that are the service's fault; client errors (INVALID_ARGUMENT, PERMISSION_DENIED, ...) "
            "are not.",
        ),
        Panel(
            "RPC answers by code",
            "reqps",
            ((f"sum by (code) (rate(confide_rpc_requests_total{{{where}}}{RATE}))", "{{code}}"),),
        ),
        Panel(
            "RPC latency p50 / p99",
            "s",
            tuple(
                (
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate(confide_rpc_duration_seconds_bucket{{{where}}}{RATE})))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.99)
            ),
        ),
        Panel(
            "RPC p99 latency by method",
            "s",
            (
                (
                    "histogram_quantile(0.99, sum by (method, le) "
                    f"(rate(confide_rpc_duration_seconds_bucket{{{where}}}{RATE})))",
                    "{{method}}",
                ),
            ),
        ),
    ]


def chassis_panels(service: str) -> list[Panel]:
    where = f'{NAMESPACE}, service="{service}"'
    return [
        Panel(
            "RPCs in flight",
            "short",
            ((f"sum by (pod) (confide_rpc_in_flight_requests{{{where}}})", "{{pod}}"),),
        ),
        Panel(
            "Outbox: unpublished events and oldest age",
            "short",
            (
                (f"max by (pod) (confide_outbox_pending_events{{{where}}})", "pending {{pod}}"),
                (
                    f"max by (pod) (confide_outbox_oldest_pending_age_seconds{{{where}}})",
                    "oldest (s) {{pod}}",
                ),
            ),
            "ConfideOutboxStalled fires when the oldest row is over a minute old.",
        ),
        Panel(
            "Events published by topic",
            "ops",
            (
                (
                    f"sum by (topic) (rate(confide_outbox_published_events_total{{{where}}}{RATE}))",
                    "{{topic}}",
                ),
            ),
        ),
        Panel(
            "Consumer lag by consumer and topic",
            "short",
            (
                (
                    "sum by (consumer, topic) (max by (consumer, topic, partition) "
                    f"(confide_consumer_lag_records{{{where}}}))",
                    "{{consumer}} {{topic}}",
                ),
            ),
        ),
        Panel(
            "Consumed records by outcome",
            "ops",
            (
                (
                    f"sum by (consumer, outcome) (rate(confide_consumer_records_total{{{where}}}{RATE}))",
                    "{{consumer}} {{outcome}}",
                ),
            ),
        ),
        Panel(
            "Dead-lettered records",
            "short",
            (
                (
                    f"sum by (consumer, topic) (increase(confide_dlq_records_total{{{where}}}{RATE}))",
                    "{{consumer}} {{topic}}",
                ),
            ),
        ),
        Panel(
            "Database pool",
            "short",
            (
                (f'sum by (pod) (confide_db_pool_connections{{{where}, state="in_use"}})', "in use {{pod}}"),
                (
                    f"sum by (pod) (confide_db_pool_size_connections{{{where}}}"
                    f" + confide_db_pool_max_overflow_connections{{{where}}})",
                    "limit {{pod}}",
                ),
                (f"sum by (pod) (confide_db_pool_waiting_checkouts{{{where}}})", "waiting {{pod}}"),
                (
                    f"sum by (pod) (increase(confide_db_pool_checkout_timeouts_total{{{where}}}{RATE}))",
                    "timeouts {{pod}}",
                ),
            ),
        ),
    ]


def slo_panels() -> list[Panel]:
    return [
        Panel(
            "SLO burn rate over 1 h (1 = on budget; pages at 14.4)",
            "short",
            (
                (
                    f"slo:sli_error:ratio_rate1h{{{NAMESPACE}}} / on (slo) group_left () {BUDGET}",
                    "{{slo}}",
                ),
            ),
            "Error ratio over the error budget (1 - objective). FastBurn pages above 14.4 over 1 h (and "
            "5 m) or 6 over 6 h (and 30 m).",
        ),
        Panel(
            "SLO burn rate over 3 d (tickets above 1)",
            "short",
            (
                (
                    f"slo:sli_error:ratio_rate3d{{{NAMESPACE}}} / on (slo) group_left () {BUDGET}",
                    "{{slo}}",
                ),
            ),
        ),
    ]


def gateway_panels() -> list[Panel]:
    """The public API: what the SLOs measure, per upstream service and code."""
    where = f'{NAMESPACE}, service="gateway"'
    upstream = 'label_replace({expr}, "upstream", "$1", "method", "/confide\\\\.([a-z]+)\\\\..*")'
    return [
        *slo_panels()[:1],
        Panel(
            "Public RPC availability SLI (error ratio, 5 m and 1 h)",
            "percentunit",
            tuple(
                (f'slo:sli_error:ratio_rate{window}{{{NAMESPACE}, slo="public-rpc-availability"}}', window)
                for window in ("5m", "1h")
            ),
        ),
        Panel(
            "Public RPC latency SLI (share over 500 ms, 5 m and 1 h)",
            "percentunit",
            tuple(
                (f'slo:sli_error:ratio_rate{window}{{{NAMESPACE}, slo="public-rpc-latency"}}', window)
                for window in ("5m", "1h")
            ),
        ),
        Panel(
            "Requests by upstream service",
            "reqps",
            (
                (
                    "sum by (upstream) ("
                    + upstream.format(expr=f"rate(confide_rpc_requests_total{{{where}}}{RATE})")
                    + ")",
                    "{{upstream}}",
                ),
            ),
        ),
    ]


def journey_panels() -> list[Panel]:
    fresh = f'{NAMESPACE}, service="billing"'
    scheduling, messaging = f'{NAMESPACE}, service="scheduling"', f'{NAMESPACE}, service="messaging"'
    panels: list[Panel] = [*slo_panels()]
    for flow, title in (
        ("booking_to_gfe", "Booking → Good Faith Estimate"),
        ("session_to_charge", "Session → charge"),
    ):
        selector = f'{fresh}, flow="{flow}"'
        panels.append(
            Panel(
                f"{title}: seconds from the event to billing's commit",
                "s",
                tuple(
                    (
                        f"histogram_quantile({q}, sum by (le) "
                        f"(rate(confide_billing_event_freshness_seconds_bucket{{{selector}}}{RATE})))",
                        f"p{int(q * 100)}",
                    )
                    for q in (0.5, 0.99)
                ),
            )
        )
        panels.append(
            Panel(
                f"{title}: share within 60 s (objective 99%)",
                "percentunit",
                (
                    (
                        "sum(rate(confide_billing_event_freshness_seconds_bucket"
                        f'{{{selector}, le="60.0"}}{RATE}))'
                        f" / sum(rate(confide_billing_event_freshness_seconds_count{{{selector}}}{RATE}))",
                        "within 60 s",
                    ),
                ),
            )
        )
    panels += [
        Panel(
            "Bookings, estimates and charges",
            "ops",
            (
                (
                    f"sum(rate(confide_scheduling_bookings_total{{{scheduling}}}{RATE}))",
                    "bookings",
                ),
                (
                    f"sum(rate(confide_billing_estimates_issued_total{{{fresh}}}{RATE}))",
                    "estimates issued",
                ),
                (
                    f"sum(rate(confide_billing_estimates_blocked_total{{{fresh}}}{RATE}))",
                    "estimates blocked",
                ),
                (
                    f'sum(rate(confide_billing_charges_total{{{fresh}, kind="session"}}{RATE}))',
                    "session charges",
                ),
            ),
        ),
        Panel(
            "Crisis flags and care-team alerts (SAFE-24)",
            "short",
            (
                (
                    f"sum(increase(confide_messaging_crisis_flags_total{{{messaging}}}{RATE}))",
                    "flagged messages",
                ),
                (
                    f"sum(increase(confide_scheduling_high_risk_screenings_total{{{scheduling}}}{RATE}))",
                    "high-risk screenings",
                ),
                (
                    "sum by (reason) (increase(confide_messaging_crisis_escalation_failures_total"
                    f"{{{messaging}}}{RATE}))",
                    "alert failed: {{reason}}",
                ),
            ),
            "ConfideCrisisEscalationFailing pages on any failure.",
        ),
    ]
    return panels


def dashboard(uid: str, title: str, panels: list[Panel], tags: list[str]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["confide", *tags],
        "timezone": "utc",
        "schemaVersion": 39,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}
            ]
        },
        "panels": [panel_json(i, p) for i, p in enumerate(panels)],
    }


def panel_json(index: int, panel: Panel) -> dict[str, Any]:
    refs = "ABCDEFGHIJ"
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": (index % 2) * WIDTH, "y": (index // 2) * HEIGHT, "w": WIDTH, "h": HEIGHT},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [
            {"refId": refs[i], "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }


def dashboards() -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, dashboard) for every generated dashboard."""
    for service in SERVICES:
        panels = rpc_panels(service)
        if service == "gateway":
            panels += gateway_panels()
        else:
            panels += chassis_panels(service)
        panels += [domain_panel(service, m) for m in service_metrics(service)]
        yield (
            f"dashboard-{service}.json",
            dashboard(f"confide-{service}", f"Confide / {service}", panels, ["service", service]),
        )
    yield (
        "dashboard-journeys.json",
        dashboard("confide-journeys", "Confide / journeys", journey_panels(), ["slo"]),
    )


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail if a dashboard file is not up to date")
    args = parser.parse_args(argv)
    stale = []
    for name, board in dashboards():
        path = args.output / name
        text = render(board)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        names = ", ".join(str(p) for p in stale)
        sys.stderr.write(f"gen_dashboards: out of date: {names}; run `python deploy/k8s/gen_dashboards.py`\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Health of a Confide namespace: Deployments, KafkaTopics and CloudNativePG Clusters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confidectl.kube import Cluster
from confidectl.rollout import deployment_problem

KAFKA_TOPIC = ("kafka.strimzi.io/v1beta2", "KafkaTopic")
CNPG_CLUSTER = ("postgresql.cnpg.io/v1", "Cluster")
CNPG_HEALTHY = "Cluster in healthy state"


@dataclass(frozen=True)
class Health:
    kind: str
    name: str
    healthy: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.healthy else 'FAIL'} {self.kind}/{self.name}: {self.detail}"


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def deployment_health(obj: dict[str, Any]) -> Health:
    problem = deployment_problem(obj)
    status = obj.get("status") or {}
    wanted = int((obj.get("spec") or {}).get("replicas", 1))
    detail = problem or f"{status.get('availableReplicas', 0)}/{wanted} available"
    return Health("Deployment", obj["metadata"]["name"], problem is None, detail)


def topic_health(obj: dict[str, Any]) -> Health:
    ready = _condition(obj, "Ready")
    healthy = ready is not None and ready.get("status") == "True"
    detail = "ready" if healthy else (ready or {}).get("message") or "not reconciled yet"
    return Health("KafkaTopic", obj["metadata"]["name"], healthy, str(detail))


def database_health(obj: dict[str, Any]) -> Health:
    status = obj.get("status") or {}
    wanted = int((obj.get("spec") or {}).get("instances", 1))
    ready = int(status.get("readyInstances", 0))
    phase = str(status.get("phase") or "no status yet")
    healthy = phase == CNPG_HEALTHY and ready >= wanted
    return Health("Cluster", obj["metadata"]["name"], healthy, f"{phase}, {ready}/{wanted} instances ready")


def status(cluster: Cluster, namespace: str) -> list[Health]:
    report = [deployment_health(d) for d in cluster.list("apps/v1", "Deployment", namespace)]
    for (api_version, kind), judge in ((KAFKA_TOPIC, topic_health), (CNPG_CLUSTER, database_health)):
        if not cluster.served(api_version, kind):
            report.append(
                Health(kind, "*", False, f"{api_version} is not served: is the operator installed?")
            )
            continue
        report.extend(judge(obj) for obj in cluster.list(api_version, kind, namespace))
    return report

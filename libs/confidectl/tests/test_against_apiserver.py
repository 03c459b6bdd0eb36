"""confidectl against a real Kubernetes API server (conftest.py). No controllers run there, so the
tests play the Job and Deployment controllers: they patch the status subresource the way those
controllers would (or do not, to make a rollout fail)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from confidectl.kube import Cluster
from confidectl.manifests import Manifest, RolloutError, plan
from confidectl.rollout import Outcome, rollout
from confidectl.status import status

LABELS = {"app.kubernetes.io/part-of": "confide", "app.kubernetes.io/name": "app"}


def release(namespace: str, tag: str) -> list[Manifest]:
    """A Confide-shaped release: config with a hashed name, an immutable migration Job, a Deployment."""
    config = f"app-env-{tag}"
    pod = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
        "containers": [
            {
                "name": "server",
                "image": f"ghcr.io/confide-health/app:{tag}",
                "envFrom": [{"configMapRef": {"name": config}}],
            }
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": LABELS}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": config, "namespace": namespace, "labels": LABELS},
            "data": {"APP_RELEASE": tag},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "app", "namespace": namespace, "labels": LABELS},
            "spec": {
                "selector": {"app.kubernetes.io/name": "app"},
                "ports": [{"name": "grpc", "port": 50051}],
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": f"app-migrate-{tag}",
                "namespace": namespace,
                "labels": {**LABELS, "app.kubernetes.io/component": "migration"},
            },
            "spec": {
                "backoffLimit": 0,
                "template": {"spec": {**pod, "restartPolicy": "Never"}},
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app", "namespace": namespace, "labels": LABELS},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "app"}},
                "template": {"metadata": {"labels": LABELS}, "spec": pod},
            },
        },
    ]


def live(cluster: Cluster, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    return cluster.get(api_version, kind, name, namespace)


def eventually(what: str, probe: Callable[[], Any], within: float = 30) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {within} s")


def patch_status(
    cluster: Cluster, api_version: str, kind: str, name: str, namespace: str, status: Any
) -> None:
    resource = cluster.dyn.resources.get(api_version=api_version, kind=kind)
    resource.status.patch(
        name=name, namespace=namespace, body={"status": status}, content_type="application/merge-patch+json"
    )


def finish_job(cluster: Cluster, namespace: str, name: str, *, succeeded: bool) -> None:
    """What the Job controller writes when the migration pod exits 0 (or fails for good)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if succeeded:
        status = {
            "startTime": now,
            "completionTime": now,
            "succeeded": 1,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached"},
            ],
        }
    else:
        status = {
            "startTime": now,
            "failed": 1,
            "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "exit 1"},
            ],
        }
    patch_status(cluster, "batch/v1", "Job", name, namespace, status)


def make_available(cluster: Cluster, namespace: str, name: str) -> None:
    """What the Deployment controller writes once every new pod is ready."""
    deployment = live(cluster, "apps/v1", "Deployment", name, namespace)
    assert deployment is not None
    replicas = deployment["spec"]["replicas"]
    status = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
    }
    patch_status(cluster, "apps/v1", "Deployment", name, namespace, status)


def image_of(cluster: Cluster, namespace: str) -> str:
    deployment = live(cluster, "apps/v1", "Deployment", "app", namespace)
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def start_rollout(cluster: Cluster, docs: list[Manifest], deployment_timeout: float = 60) -> Future[Outcome]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(rollout, cluster, plan(docs), deployment_timeout=deployment_timeout)
    pool.shutdown(wait=False)
    return future


def deploy(cluster: Cluster, namespace: str, tag: str) -> Outcome:
    """A rollout that succeeds: the migration completes, then the new pods become available."""
    future = start_rollout(cluster, release(namespace, tag))
    job = f"app-migrate-{tag}"
    eventually("the migration Job", lambda: live(cluster, "batch/v1", "Job", job, namespace))
    finish_job(cluster, namespace, job, succeeded=True)
    eventually("the new template", lambda: tag in image_of_or_empty(cluster, namespace))
    make_available(cluster, namespace, "app")
    return future.result(timeout=60)


def image_of_or_empty(cluster: Cluster, namespace: str) -> str:
    return image_of(cluster, namespace) if live(cluster, "apps/v1", "Deployment", "app", namespace) else ""


def test_rollout_migrates_before_it_changes_the_deployment(cluster: Cluster) -> None:
    namespace = "rollout-ok"
    future = start_rollout(cluster, release(namespace, "1-0-0"))
    job = eventually(
        "the migration Job", lambda: live(cluster, "batch/v1", "Job", "app-migrate-1-0-0", namespace)
    )
    # While the migration runs, the Deployment is not touched; its config is already there.
    time.sleep(0.5)
    assert live(cluster, "apps/v1", "Deployment", "app", namespace) is None
    assert live(cluster, "v1", "ConfigMap", "app-env-1-0-0", namespace) is not None
    assert {f["manager"] for f in job["metadata"]["managedFields"]} == {"confidectl"}
    assert {f["operation"] for f in job["metadata"]["managedFields"]} == {"Apply"}
    finish_job(cluster, namespace, "app-migrate-1-0-0", succeeded=True)
    eventually("the Deployment", lambda: live(cluster, "apps/v1", "Deployment", "app", namespace))
    assert not future.done(), "the rollout must wait until the Deployment is available"
    make_available(cluster, namespace, "app")
    outcome = future.result(timeout=30)
    assert outcome.migrated == [f"Job/app-migrate-1-0-0 (namespace {namespace})"]
    assert outcome.rolled_back == []
    assert status(cluster, namespace)[0].healthy


def test_a_deployment_that_does_not_become_available_is_rolled_back(cluster: Cluster) -> None:
    namespace = "rollout-rollback"
    deploy(cluster, namespace, "1-0-0")
    future = start_rollout(cluster, release(namespace, "1-1-0"), deployment_timeout=3)
    eventually("the migration Job", lambda: live(cluster, "batch/v1", "Job", "app-migrate-1-1-0", namespace))
    finish_job(cluster, namespace, "app-migrate-1-1-0", succeeded=True)
    eventually("the new template", lambda: image_of(cluster, namespace).endswith(":1-1-0"))
    # No controller makes the new pods available: the rollout times out and restores 1-0-0.
    with pytest.raises(RolloutError, match=r"rolled back: Deployment/app"):
        future.result(timeout=60)
    assert image_of(cluster, namespace) == "ghcr.io/confide-health/app:1-0-0"
    deployment = live(cluster, "apps/v1", "Deployment", "app", namespace)
    assert deployment is not None
    env_from = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert env_from == [{"configMapRef": {"name": "app-env-1-0-0"}}]
    # The previous release's config is still there for the restored pods.
    assert live(cluster, "v1", "ConfigMap", "app-env-1-0-0", namespace) is not None


def test_a_failed_migration_stops_the_rollout_before_the_deployment(cluster: Cluster) -> None:
    namespace = "rollout-migration-fails"
    deploy(cluster, namespace, "1-0-0")
    future = start_rollout(cluster, release(namespace, "2-0-0"))
    eventually("the migration Job", lambda: live(cluster, "batch/v1", "Job", "app-migrate-2-0-0", namespace))
    finish_job(cluster, namespace, "app-migrate-2-0-0", succeeded=False)
    with pytest.raises(RolloutError, match=r"app-migrate-2-0-0.*failed \(BackoffLimitExceeded"):
        future.result(timeout=60)
    assert image_of(cluster, namespace) == "ghcr.io/confide-health/app:1-0-0"


def test_kinds_the_cluster_does_not_serve_stop_the_rollout_before_any_change(cluster: Cluster) -> None:
    namespace = "rollout-no-operator"
    topic = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": "confide.app.events.v1", "namespace": namespace, "labels": LABELS},
        "spec": {"partitions": 6, "replicas": 3},
    }
    with pytest.raises(RolloutError, match=r"does not serve KafkaTopic \(kafka.strimzi.io/v1beta2\)"):
        rollout(cluster, plan([*release(namespace, "1-0-0"), topic]))
    assert live(cluster, "v1", "Namespace", namespace, "") is None


def crd(group: str, kind: str, plural: str) -> Manifest:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1beta2" if "strimzi" in group else "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def test_status_reports_deployments_topics_and_databases(cluster: Cluster) -> None:
    namespace = "status"
    deploy(cluster, namespace, "1-0-0")
    report = {(h.kind, h.name): h for h in status(cluster, namespace)}
    assert report["Deployment", "app"].healthy
    # Without the operators' CRDs the report says so, and is not healthy.
    assert not report["KafkaTopic", "*"].healthy
    assert "not served" in report["Cluster", "*"].detail

    for definition in (
        crd("kafka.strimzi.io", "KafkaTopic", "kafkatopics"),
        crd("postgresql.cnpg.io", "Cluster", "clusters"),
    ):
        cluster.apply(definition)
    cluster.dyn.resources.invalidate_cache()  # discovery is cached; the new kinds must be found
    eventually("the CRDs to be served", lambda: cluster.served("postgresql.cnpg.io/v1", "Cluster"))
    eventually("the CRDs to be served", lambda: cluster.served("kafka.strimzi.io/v1beta2", "KafkaTopic"))
    for name, ready in (("confide.app.events.v1", "True"), ("confide.app.dlq.v1", "False")):
        cluster.apply(
            {
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaTopic",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"partitions": 6},
            }
        )
        condition = {"type": "Ready", "status": ready, "message": "" if ready == "True" else "Not authorized"}
        patch_status(
            cluster, "kafka.strimzi.io/v1beta2", "KafkaTopic", name, namespace, {"conditions": [condition]}
        )
    cluster.apply(
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "app-db", "namespace": namespace},
            "spec": {"instances": 3},
        }
    )
    patch_status(
        cluster,
        "postgresql.cnpg.io/v1",
        "Cluster",
        "app-db",
        namespace,
        {"phase": "Waiting for the instances to become active", "readyInstances": 2},
    )
    report = {(h.kind, h.name): h for h in status(cluster, namespace)}
    assert report["KafkaTopic", "confide.app.events.v1"].healthy
    assert not report["KafkaTopic", "confide.app.dlq.v1"].healthy
    assert report["KafkaTopic", "confide.app.dlq.v1"].detail == "Not authorized"
    database = report["Cluster", "app-db"]
    assert not database.healthy
    assert "2/3 instances ready" in database.detail
    assert ("KafkaTopic", "*") not in report

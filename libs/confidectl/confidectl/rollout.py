"""Roll out a rendered overlay: foundation, migrations, Deployments; roll back if they do not come up.

Order and rules (docs/adr/0020-kubernetes-kafka-auth-sites-confidectl.md, docs/deploy.md):
1. Every kind must be served: an operator that is not installed stops the rollout before any change.
2. Everything but the Deployments and the migration Jobs is applied server-side (namespace, config,
   policies, Kafka, topics, users, databases, monitoring, route).
3. The release's migration Jobs are applied and must complete; a failed Job stops the rollout with the
   running release untouched (migrations are expand/contract, so it keeps working on the new schema).
4. The Deployments are applied and must become available. If one does not, every Deployment the
   rollout changed gets its previous pod template back: the previous ReplicaSet's where the controller
   kept one, else the template read before the rollout. ConfigMaps carry a content hash in their
   name and are never pruned here, so the previous template's ConfigMaps still exist.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confidectl.kube import Cluster
from confidectl.manifests import Manifest, Plan, RolloutError, kinds, ref

REVISION = "deployment.kubernetes.io/revision"


@dataclass
class Outcome:
    applied: list[str] = field(default_factory=list)
    migrated: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)


def job_done(cluster: Cluster, job: Manifest) -> Callable[[], bool | str]:
    def probe() -> bool | str:
        live = cluster.get("batch/v1", "Job", job["metadata"]["name"], job["metadata"]["namespace"])
        for condition in ((live or {}).get("status") or {}).get("conditions") or []:
            if condition.get("status") != "True":
                continue
            if condition["type"] == "Complete":
                return True
            if condition["type"] == "Failed":
                return f"failed ({condition.get('reason')}: {condition.get('message')})"
        return False

    return probe


def deployment_problem(live: dict[str, Any] | None) -> str | None:
    """None when the Deployment's current template is fully rolled out and available."""
    if live is None:
        return "missing"
    spec, status = live.get("spec") or {}, live.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(live["metadata"].get("generation", 0)):
        return "the controller has not seen the new template yet"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return f"progress deadline exceeded: {condition.get('message')}"
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    if updated < wanted or available < wanted or int(status.get("unavailableReplicas", 0)) > 0:
        return f"{updated}/{wanted} updated, {available}/{wanted} available"
    return None


def deployment_available(cluster: Cluster, deployment: Manifest) -> Callable[[], bool | str]:
    def probe() -> bool | str:
        meta = deployment["metadata"]
        live = cluster.get("apps/v1", "Deployment", meta["name"], meta["namespace"])
        problem = deployment_problem(live)
        if problem is not None and problem.startswith("progress deadline"):
            return problem
        return problem is None

    return probe


def previous_template(cluster: Cluster, before: dict[str, Any]) -> dict[str, Any]:
    """The pod template to go back to: the previous ReplicaSet's if the controller kept it."""
    meta = before["metadata"]
    revision = (meta.get("annotations") or {}).get(REVISION)
    if revision is not None and cluster.served("apps/v1", "ReplicaSet"):
        for rs in cluster.list("apps/v1", "ReplicaSet", meta["namespace"]):
            owners = {o.get("uid") for o in rs["metadata"].get("ownerReferences") or []}
            if (
                meta.get("uid") in owners
                and (rs["metadata"].get("annotations") or {}).get(REVISION) == revision
            ):
                template = copy.deepcopy(rs["spec"]["template"])
                template["metadata"].get("labels", {}).pop("pod-template-hash", None)
                return dict(template)
    return dict(before["spec"]["template"])


def roll_back(
    cluster: Cluster, plan: Plan, before: dict[str, dict[str, Any] | None], outcome: Outcome
) -> None:
    for deployment in plan.deployments:
        meta = deployment["metadata"]
        previous = before.get(meta["name"])
        if previous is None:
            continue  # first install of this Deployment: nothing to go back to
        template = previous_template(cluster, previous)
        resource = cluster.dyn.resources.get(api_version="apps/v1", kind="Deployment")
        resource.patch(
            name=meta["name"],
            namespace=meta["namespace"],
            body=[{"op": "replace", "path": "/spec/template", "value": template}],
            content_type="application/json-patch+json",
        )
        outcome.rolled_back.append(ref(deployment))


def rollout(
    cluster: Cluster,
    plan: Plan,
    *,
    migration_timeout: float = 1200,
    deployment_timeout: float = 600,
    say: Callable[[str], object] = lambda line: None,
) -> Outcome:
    outcome = Outcome()
    missing = sorted(f"{kind} ({api})" for api, kind in kinds(plan.all) if not cluster.served(api, kind))
    if missing:
        raise RolloutError(
            "the cluster does not serve " + ", ".join(missing) + ": install the operators first "
            "(docs/deploy.md, Prerequisites); nothing was changed"
        )
    namespace = plan.namespace
    before = {
        d["metadata"]["name"]: cluster.get("apps/v1", "Deployment", d["metadata"]["name"], namespace)
        for d in plan.deployments
    }
    for doc in plan.foundation:
        cluster.apply(doc)
        outcome.applied.append(ref(doc))
    say(f"applied {len(plan.foundation)} objects")
    for job in plan.migrations:
        cluster.apply(job)
        outcome.applied.append(ref(job))
    for job in plan.migrations:
        say(f"waiting for {ref(job)}")
        cluster.wait(ref(job), job_done(cluster, job), migration_timeout)
        outcome.migrated.append(ref(job))
    changed = []
    for deployment in plan.deployments:
        cluster.apply(deployment)
        outcome.applied.append(ref(deployment))
        changed.append(deployment)
    try:
        for deployment in changed:
            say(f"waiting for {ref(deployment)}")
            cluster.wait(ref(deployment), deployment_available(cluster, deployment), deployment_timeout)
    except RolloutError as exc:
        roll_back(cluster, plan, before, outcome)
        back = ", ".join(outcome.rolled_back) or "nothing (first install)"
        raise RolloutError(f"{exc}; rolled back: {back}") from exc
    return outcome

"""The Kubernetes manifests keep their promises: they build, they are secure, they fit together.

Every overlay is built with ``kubectl kustomize`` (a missing kubectl fails the run: it never skips) and
its output is checked against the security policy, the wiring between resources (Service → pod ports,
NetworkPolicy → pods, HPA/PDB/ServiceMonitor → targets) and the topic registry; the alert rules,
dashboards and runbooks are test_monitoring.py's.
Core resources are schema-validated with kubernetes-validate ``--strict``, operator resources against
their CRDs' schemas (fetched as Go modules; Strimzi's by policy only); YAML is linted by yamllint.

Checks are functions that return a list of problems, so one test shows every problem at once and the
"add a service by copying a folder" test can run all of them on a copied tree.

    python deploy/k8s/tests/test_manifests.py rules < built.yaml   # print the PrometheusRule's groups
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from yamllint import linter  # type: ignore[import-untyped]
from yamllint.config import YamlLintConfig  # type: ignore[import-untyped]

from confide_chassis.revocation import USERS_TOPIC
from confide_devstack.topics import load_topics

K8S = Path(__file__).resolve().parents[1]
ROOT = K8S.parents[1]
OVERLAYS = ("local", "staging", "production")
NAMESPACE = "confide"
IMAGE_REPO = "ghcr.io/confide-health"

# docs/architecture.md, "Local stack and ports": gRPC (HTTP for the gateway) and metrics per deployable.
PORTS: dict[str, tuple[int, int]] = {
    "identity": (50051, 9101),
    "scheduling": (50052, 9102),
    "messaging": (50053, 9103),
    "billing": (50054, 9104),
    "compliance": (50055, 9105),
    "gateway": (8080, 9106),
    "directory": (50056, 9107),
}


# Synchronous gRPC calls (docs/architecture.md): the gateway calls every service; scheduling asks compliance
# CheckAuthorization; directory asks compliance (licenses) and scheduling (availability); every service
# fetches identity's JWKS (AuthService/GetJwks, JWKS_GRPC_TARGET). Nothing else may reach a gRPC port.
def calls() -> set[tuple[str, str]]:
    return (
        {("gateway", name) for name in PORTS if name != "gateway"}
        | {("scheduling", "compliance"), ("directory", "compliance"), ("directory", "scheduling")}
        | {(name, "identity") for name in PORTS if name != "identity"}
    )


# Keys of the Secret CloudNativePG creates for the application owner (<cluster>-app).
CNPG_APP_SECRET_KEYS = {"username", "password", "host", "port", "dbname", "uri", "jdbc-uri", "pgpass"}
CORE_API_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
}
# Oldest and newest Kubernetes minors the manifests are validated against (ADR 0005: >= 1.31 for
# PDB unhealthyPodEvictionPolicy GA and the preStop sleep action).
KUBERNETES_VERSIONS = ("1.31", "1.32")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
VAR_REF_RE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

Doc = dict[str, Any]


# --- building -----------------------------------------------------------------------------------


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl is required to build the kustomize overlays (it is part of the toolchain)")
    return path


def kustomize(path: Path) -> list[Doc]:
    proc = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {path} failed:\n{proc.stderr}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@cache
def _built(overlay: str) -> tuple[Doc, ...]:
    return tuple(kustomize(K8S / "overlays" / overlay))


def built(overlay: str) -> list[Doc]:
    return list(_built(overlay))


def release_tag(overlay_dir: Path) -> str:
    doc = yaml.safe_load((overlay_dir / "release.yaml").read_text(encoding="utf-8"))
    return str(doc["spec"]["tag"])


def load_gen_topics() -> ModuleType:
    spec = importlib.util.spec_from_file_location("confide_gen_topics", K8S / "gen_topics.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while the class is created
    spec.loader.exec_module(module)
    return module


# --- model of the built manifests ---------------------------------------------------------------


def of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind]


def name_of(doc: Mapping[str, Any]) -> str:
    return str(doc["metadata"]["name"])


def ref(doc: Mapping[str, Any]) -> str:
    return f"{doc['kind']}/{name_of(doc)}"


def api_group(doc: Mapping[str, Any]) -> str:
    api_version = str(doc["apiVersion"])
    return api_version.split("/")[0] if "/" in api_version else ""


def workloads(docs: Iterable[Doc]) -> list[Doc]:
    return [d for d in docs if d.get("kind") in ("Deployment", "Job")]


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def service_name(workload: Mapping[str, Any]) -> str:
    return str(workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"])


def env_list(container: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(container.get("env", []))


def env_values(container: Mapping[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in env_list(container)}


def config_env(docs: Iterable[Doc], container: Mapping[str, Any]) -> dict[str, str]:
    """Environment a container gets from its envFrom ConfigMaps, then its own env values."""
    maps = {name_of(d): d.get("data", {}) for d in of_kind(docs, "ConfigMap")}
    merged: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref_ = source.get("configMapRef")
        if ref_:
            merged.update(maps.get(ref_["name"], {}))
    merged.update({k: v for k, v in env_values(container).items() if v is not None})
    return merged


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics; an empty selector selects everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


@dataclass(frozen=True)
class Pod:
    """A pod as NetworkPolicies see it: namespace (with its labels), labels, named ports."""

    name: str
    labels: Mapping[str, str]
    ports: Mapping[str, int] = field(default_factory=dict)
    namespace: str = NAMESPACE

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace}


def workload_pods(docs: Iterable[Doc]) -> list[Pod]:
    pods = []
    for w in workloads(docs):
        ports = {
            p["name"]: int(p["containerPort"])
            for c in containers(pod_spec(w))
            for p in c.get("ports", [])
            if "name" in p
        }
        pods.append(Pod(ref(w), dict(w["spec"]["template"]["metadata"]["labels"]), ports))
    return pods


def operator_pods(docs: Iterable[Doc]) -> list[Pod]:
    """Pods the Strimzi and CloudNativePG operators create, with the labels they put on them."""
    pods = []
    for cluster in of_kind(docs, "Cluster"):
        labels = {"cnpg.io/cluster": name_of(cluster), "cnpg.io/podRole": "instance"}
        pods.append(
            Pod(f"cnpg/{name_of(cluster)}", labels, {"postgresql": 5432, "metrics": 9187, "status": 8000})
        )
    for pool in of_kind(docs, "KafkaNodePool"):
        cluster = pool["metadata"]["labels"]["strimzi.io/cluster"]
        roles = pool["spec"]["roles"]
        labels = {
            "strimzi.io/cluster": cluster,
            "strimzi.io/kind": "Kafka",
            "strimzi.io/name": f"{cluster}-kafka",
            "strimzi.io/pool-name": name_of(pool),
            "strimzi.io/broker-role": str("broker" in roles).lower(),
            "strimzi.io/controller-role": str("controller" in roles).lower(),
        }
        pods.append(Pod(f"strimzi/{name_of(pool)}", labels))
    for kafka in of_kind(docs, "Kafka"):
        labels = {
            "strimzi.io/cluster": name_of(kafka),
            "strimzi.io/kind": "Kafka",
            "strimzi.io/name": f"{name_of(kafka)}-entity-operator",
        }
        pods.append(Pod(f"strimzi/{name_of(kafka)}-entity-operator", labels))
    return pods


def all_pods(docs: Iterable[Doc]) -> list[Pod]:
    docs = list(docs)
    return workload_pods(docs) + operator_pods(docs)


def planned_pod(name: str) -> Pod:
    """A server pod of a deployable that is not deployed yet (policies may already admit it)."""
    grpc, metrics = PORTS[name]
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/part-of": "confide",
    }
    return Pod(f"planned/{name}", labels, {"grpc": grpc, "metrics": metrics})


# --- NetworkPolicy evaluation -------------------------------------------------------------------


def _peer_matches(peer: Mapping[str, Any], other: Pod, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return other.namespace == "<external>"
    ns_selector = peer.get("namespaceSelector")
    if ns_selector is None:
        if other.namespace != policy_namespace:
            return False
    elif not selects(ns_selector, other.namespace_labels):
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], other.labels)


def _port_matches(
    rule_ports: Sequence[Mapping[str, Any]] | None, port: int | str, dst: Pod, proto: str
) -> bool:
    if not rule_ports:
        return True
    number = dst.ports.get(port) if isinstance(port, str) else port
    for p in rule_ports:
        if p.get("protocol", "TCP") != proto:
            continue
        if "port" not in p:
            return True
        want = p["port"]
        want_number = dst.ports.get(want) if isinstance(want, str) else want
        if want_number is None or number is None:
            continue
        if want_number <= number <= p.get("endPort", want_number):
            return True
    return False


def _policies(docs: Iterable[Doc], pod: Pod, direction: str) -> list[Doc]:
    if pod.namespace != NAMESPACE:
        return []
    return [
        np
        for np in of_kind(docs, "NetworkPolicy")
        if direction in np["spec"].get("policyTypes", ["Ingress"])
        and selects(np["spec"]["podSelector"], pod.labels)
    ]


def allowed(docs: Sequence[Doc], src: Pod, dst: Pod, port: int | str, proto: str = "TCP") -> bool:
    """Would the namespace's NetworkPolicies let `src` open `port` on `dst` (both directions)?

    Pods outside the namespace are governed by no policy of ours (their side is allowed).
    """
    egress = _policies(docs, src, "Egress")
    if egress and not any(
        (not rule.get("to") or any(_peer_matches(peer, dst, NAMESPACE) for peer in rule["to"]))
        and _port_matches(rule.get("ports"), port, dst, proto)
        for np in egress
        for rule in np["spec"].get("egress", [])
    ):
        return False
    ingress = _policies(docs, dst, "Ingress")
    return not ingress or any(
        (not rule.get("from") or any(_peer_matches(peer, src, NAMESPACE) for peer in rule["from"]))
        and _port_matches(rule.get("ports"), port, dst, proto)
        for np in ingress
        for rule in np["spec"].get("ingress", [])
    )


# --- checks: each returns the problems it found -------------------------------------------------


def check_no_placeholders(docs: Sequence[Doc]) -> list[str]:
    problems: list[str] = []

    def walk(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(k, where)
                yield from walk(v, where)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v, where)
        elif isinstance(node, str) and ("SERVICE" in node or "SITE_" in node):
            yield f"{where}: template placeholder left in {node!r}"

    for d in docs:
        problems.extend(walk(d, ref(d)))
        if d["kind"] in ("ServiceParams", "Release"):
            problems.append(f"{ref(d)}: local-config resource reached the output")
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{ref(d)}: not in namespace {NAMESPACE}")
        # `kubectl apply --prune -l app.kubernetes.io/part-of=confide` (runbook) must see everything.
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") != "confide":
            problems.append(f"{ref(d)}: needs the label app.kubernetes.io/part-of: confide")
    return problems


def check_pod_security(docs: Sequence[Doc]) -> list[str]:
    problems = []
    accounts = {name_of(sa): sa for sa in of_kind(docs, "ServiceAccount")}
    for w in workloads(docs):
        where = ref(w)
        spec = pod_spec(w)
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            problems.append(f"{where}: pod securityContext.runAsNonRoot must be true")
        if not isinstance(psc.get("runAsUser"), int) or psc["runAsUser"] < 1000:
            problems.append(f"{where}: pod securityContext.runAsUser must be a non-system uid (>= 1000)")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: pod seccompProfile must be RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken must be false")
        account = spec.get("serviceAccountName")
        if account not in accounts:
            problems.append(f"{where}: serviceAccountName {account!r} has no ServiceAccount")
        elif accounts[account].get("automountServiceAccountToken") is not False:
            problems.append(f"ServiceAccount/{account}: automountServiceAccountToken must be false")
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key):
                problems.append(f"{where}: {key} is not allowed")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            if "hostPath" in v:
                problems.append(f"{where}: hostPath volume {v['name']} is not allowed")
        for c in containers(spec):
            cw = f"{where} container {c['name']}"
            sc = c.get("securityContext", {})
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cw}: readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{cw}: allowPrivilegeEscalation must be false")
            if sc.get("privileged"):
                problems.append(f"{cw}: privileged is not allowed")
            caps = sc.get("capabilities", {})
            if "ALL" not in caps.get("drop", []) or caps.get("add"):
                problems.append(f"{cw}: must drop ALL capabilities and add none")
            if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
                problems.append(f"{cw}: runAsNonRoot must be true")
            if sc.get("runAsUser", psc.get("runAsUser")) in (None, 0):
                problems.append(f"{cw}: runAsUser must be set and non-zero")
            if sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") != "RuntimeDefault":
                problems.append(f"{cw}: seccompProfile must be RuntimeDefault")
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    if res not in resources.get(kind, {}):
                        problems.append(f"{cw}: resources.{kind}.{res} is missing")
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]  # noqa: S108
            if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
                problems.append(f"{cw}: /tmp must be an emptyDir (the root filesystem is read-only)")
            if c.get("image", "").endswith(":latest") or ":" not in c.get("image", ""):
                problems.append(f"{cw}: image {c.get('image')!r} must carry an explicit release tag")
    return problems


def check_servers(docs: Sequence[Doc], tag: str) -> list[str]:
    """Deployments: command, env per confide_chassis.settings, probes, shutdown, spreading, image."""
    problems = []
    for d in of_kind(docs, "Deployment"):
        name = service_name(d)
        where = ref(d)
        spec = pod_spec(d)
        (c,) = [c for c in spec["containers"] if c["name"] == "server"]
        prefix = name.upper()
        if name_of(d) != name:
            problems.append(f"{where}: Deployment must be named after its app.kubernetes.io/name {name!r}")
        if c.get("image") != f"{IMAGE_REPO}/{name}:{tag}":
            problems.append(f"{where}: image {c.get('image')!r} != {IMAGE_REPO}/{name}:{tag}")
        if c.get("command") != ["python", "-m", f"confide_{name}", "serve"]:
            problems.append(f"{where}: command must be python -m confide_{name} serve")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if name in PORTS and (ports.get("grpc"), ports.get("metrics")) != PORTS[name]:
            problems.append(f"{where}: ports {ports} differ from docs/architecture.md {PORTS[name]}")
        env = config_env(docs, c)
        expected = {
            f"{prefix}_GRPC_HOST": "0.0.0.0",
            f"{prefix}_GRPC_PORT": str(ports.get("grpc")),
            f"{prefix}_METRICS_HOST": "0.0.0.0",
            f"{prefix}_METRICS_PORT": str(ports.get("metrics")),
            "LOG_FORMAT": "json",
        }
        for key, value in expected.items():
            if env.get(key) != value:
                problems.append(f"{where}: {key}={env.get(key)!r}, expected {value!r}")
        for key in ("KAFKA_BOOTSTRAP_SERVERS", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            if not env.get(key):
                problems.append(f"{where}: {key} is not set")
        jwks = env.get("JWKS_GRPC_TARGET")
        if jwks is not None and jwks != f"identity:{PORTS['identity'][0]}":
            problems.append(f"{where}: JWKS_GRPC_TARGET={jwks!r} is not identity's gRPC Service")
        if not (jwks or env.get("JWKS_FILE") or env.get("JWKS_URL", "").startswith("https://")):
            problems.append(f"{where}: no JWKS source: every authenticated RPC would be refused")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            grpc = c.get(probe, {}).get("grpc")
            if grpc is None:
                problems.append(f"{where}: {probe} must be a gRPC probe")
                continue
            if grpc.get("port") != ports.get("grpc"):
                problems.append(f"{where}: {probe} port {grpc.get('port')} is not the gRPC port")
            want = "" if probe == "readinessProbe" else "liveness"
            if grpc.get("service", "") != want:
                problems.append(
                    f"{where}: {probe} must check health service {want!r} (confide_chassis.health)"
                )
        grace = float(env.get("SHUTDOWN_GRACE_SECONDS", "10"))
        pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        if not spec.get("terminationGracePeriodSeconds", 30) > grace + pre_stop:
            problems.append(
                f"{where}: terminationGracePeriodSeconds must exceed preStop + SHUTDOWN_GRACE_SECONDS"
            )
        keys = set()
        for tsc in spec.get("topologySpreadConstraints", []):
            keys.add(tsc["topologyKey"])
            if not selects(tsc.get("labelSelector"), d["spec"]["template"]["metadata"]["labels"]):
                problems.append(
                    f"{where}: topologySpreadConstraint on {tsc['topologyKey']} selects other pods"
                )
        if keys != {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}:
            problems.append(f"{where}: must spread across zones and hosts, got {sorted(keys)}")
        if not selects(d["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"]):
            problems.append(f"{where}: selector does not select its own pods")
    return problems


def check_database_env(docs: Sequence[Doc]) -> list[str]:
    """<PREFIX>_DATABASE_URL: postgresql+asyncpg://, composed from the service's own CNPG secret."""
    problems = []
    clusters = {name_of(c) for c in of_kind(docs, "Cluster")}
    for w in workloads(docs):
        name = service_name(w)
        for c in pod_spec(w)["containers"]:
            env = env_list(c)
            defined: set[str] = set()
            url = None
            for e in env:
                for var in VAR_REF_RE.findall(e.get("value", "")):
                    if var not in defined:
                        problems.append(f"{ref(w)}: {e['name']} uses $({var}) before it is defined")
                secret = e.get("valueFrom", {}).get("secretKeyRef")
                if secret and secret["name"].endswith("-db-app"):
                    if secret["name"] != f"{name}-db-app":
                        problems.append(f"{ref(w)}: {e['name']} reads another service's database secret")
                    if secret["key"] not in CNPG_APP_SECRET_KEYS:
                        problems.append(f"{ref(w)}: {secret['name']} has no key {secret['key']!r}")
                    if secret["name"].removesuffix("-app") not in clusters:
                        problems.append(f"{ref(w)}: no CNPG Cluster creates {secret['name']}")
                if e["name"] == f"{name.upper()}_DATABASE_URL":
                    url = e.get("value", "")
                defined.add(e["name"])
            if url is not None and not url.startswith("postgresql+asyncpg://"):
                problems.append(f"{ref(w)}: {name.upper()}_DATABASE_URL must be a postgresql+asyncpg:// URL")
            if w["kind"] == "Job" and url is None:
                problems.append(f"{ref(w)}: migration Job has no {name.upper()}_DATABASE_URL")
    return problems


def check_migration_jobs(docs: Sequence[Doc], tag: str) -> list[str]:
    problems = []
    deployments = {name_of(d) for d in of_kind(docs, "Deployment")}
    jobs = {service_name(j): j for j in of_kind(docs, "Job")}
    for d in of_kind(docs, "Deployment"):
        has_database = any(
            e["name"].endswith("_DATABASE_URL") for e in env_list(pod_spec(d)["containers"][0])
        )
        if has_database and service_name(d) not in jobs:
            problems.append(f"{ref(d)}: has a database but no migration Job")
    for name, job in jobs.items():
        where = ref(job)
        if name_of(job) != f"{name}-migrate-{tag}":
            problems.append(f"{where}: must be named {name}-migrate-{tag} (one immutable Job per release)")
        if len(name_of(job)) > 63 or not DNS_LABEL_RE.match(name_of(job)):
            problems.append(f"{where}: name must be <= 63 lowercase characters (it becomes a label value)")
        if name not in deployments:
            problems.append(f"{where}: migrates a service that is not deployed")
        spec = pod_spec(job)
        (c,) = spec["containers"]
        if c.get("command") != ["python", "-m", f"confide_{name}", "migrate"]:
            problems.append(f"{where}: command must be python -m confide_{name} migrate")
        if c.get("image") != f"{IMAGE_REPO}/{name}:{tag}":
            problems.append(f"{where}: image must be the release's {IMAGE_REPO}/{name}:{tag}")
        if spec.get("restartPolicy") not in ("Never", "OnFailure"):
            problems.append(f"{where}: restartPolicy must be Never or OnFailure")
        if "backoffLimit" not in job["spec"] or "activeDeadlineSeconds" not in job["spec"]:
            problems.append(f"{where}: backoffLimit and activeDeadlineSeconds bound the retries")
    return problems


def check_services(docs: Sequence[Doc]) -> list[str]:
    problems = []
    pods = workload_pods(docs)
    for svc in of_kind(docs, "Service"):
        where = ref(svc)
        selected = [
            p
            for p in pods
            if svc["spec"].get("selector") and selects({"matchLabels": svc["spec"]["selector"]}, p.labels)
        ]
        if not selected:
            problems.append(f"{where}: selector matches no pod")
            continue
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for pod in selected:
                number = pod.ports.get(target) if isinstance(target, str) else target
                if number is None or number not in pod.ports.values():
                    problems.append(
                        f"{where}: port {port['name']} → {target!r} has no container port in {pod.name}"
                    )
                elif number != port["port"]:
                    problems.append(
                        f"{where}: port {port['name']} is {port['port']} but the container's is {number}"
                    )
            if port["name"] == "grpc" and port.get("appProtocol") != "grpc":
                problems.append(f"{where}: the grpc port needs appProtocol: grpc")
    names = {name_of(s) for s in of_kind(docs, "Service")}
    for d in of_kind(docs, "Deployment"):
        if name_of(d) not in names:
            problems.append(f"{ref(d)}: has no Service")
    return problems


def check_scaling(docs: Sequence[Doc], overlay: str) -> list[str]:
    problems = []
    deployments = {name_of(d): d for d in of_kind(docs, "Deployment")}
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(docs, "HorizontalPodAutoscaler")}
    pdbs = of_kind(docs, "PodDisruptionBudget")
    for h in hpas.values():
        target = h["spec"]["scaleTargetRef"]
        if (
            h["apiVersion"] != "autoscaling/v2"
            or target["kind"] != "Deployment"
            or target["name"] not in deployments
        ):
            problems.append(f"{ref(h)}: must be autoscaling/v2 on an existing Deployment")
        if not any(m.get("resource", {}).get("name") == "cpu" for m in h["spec"].get("metrics", [])):
            problems.append(f"{ref(h)}: must scale on CPU")
        if not 1 <= h["spec"].get("minReplicas", 1) <= h["spec"]["maxReplicas"]:
            problems.append(f"{ref(h)}: needs 1 <= minReplicas <= maxReplicas")
    for name, d in deployments.items():
        hpa = hpas.get(name)
        if hpa is not None and "replicas" in d["spec"]:
            problems.append(f"{ref(d)}: spec.replicas fights the HPA; leave it out")
        minimum = int(hpa["spec"].get("minReplicas", 1) if hpa else d["spec"].get("replicas", 1))
        covering = [
            p for p in pdbs if selects(p["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        if len(covering) != 1:
            problems.append(f"{ref(d)}: needs exactly one PodDisruptionBudget, has {len(covering)}")
            continue
        pdb = covering[0]["spec"]
        if overlay == "production":
            if minimum < 2:
                problems.append(f"{ref(d)}: production needs >= 2 replicas, has {minimum}")
            if not isinstance(pdb.get("minAvailable"), int) or pdb["minAvailable"] < 1:
                problems.append(f"{ref(d)}: production PDB needs minAvailable >= 1")
        if isinstance(pdb.get("minAvailable"), int) and pdb["minAvailable"] >= minimum:
            problems.append(
                f"{ref(d)}: PDB minAvailable {pdb['minAvailable']} >= {minimum} replicas blocks every drain"
            )
        if overlay != "local" and hpa is None:
            problems.append(f"{ref(d)}: has no HorizontalPodAutoscaler")
    return problems


def check_network_policies(docs: Sequence[Doc]) -> list[str]:
    problems = []
    pods = all_pods(docs)
    planned = [planned_pod(n) for n in PORTS]
    policies = of_kind(docs, "NetworkPolicy")
    if not any(
        np["spec"]["podSelector"] == {}
        and set(np["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not np["spec"].get("ingress")
        and not np["spec"].get("egress")
        for np in policies
    ):
        problems.append("no default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)")
    for np in policies:
        if not any(selects(np["spec"]["podSelector"], p.labels) for p in pods):
            problems.append(f"{ref(np)}: podSelector selects no pod")
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for rule in np["spec"].get(direction, []):
                for peer in rule.get(key, []):
                    if (
                        "podSelector" in peer
                        and "namespaceSelector" not in peer
                        and not any(selects(peer["podSelector"], p.labels) for p in pods + planned)
                    ):
                        problems.append(f"{ref(np)}: {direction} peer {peer['podSelector']} selects no pod")
    for kafka in of_kind(docs, "Kafka"):
        for listener in kafka["spec"]["kafka"]["listeners"]:
            for peer in listener.get("networkPolicyPeers", []):
                if not any(selects(peer.get("podSelector"), p.labels) for p in pods):
                    problems.append(f"{ref(kafka)}: listener {listener['name']} peer selects no pod")
    return problems


def strimzi_network_policies(docs: Iterable[Doc]) -> list[Doc]:
    """The ingress NetworkPolicy Strimzi generates for a Kafka's broker and controller pods.

    Listeners admit their ``networkPolicyPeers`` (anyone when unset); the control plane (9090) and
    replication (9091) ports admit the cluster's own pods (and the operator, not modelled here).
    """
    policies = []
    for kafka in of_kind(docs, "Kafka"):
        cluster = name_of(kafka)
        own = [{"podSelector": {"matchLabels": {"strimzi.io/cluster": cluster}}}]
        rules: list[dict[str, Any]] = [{"from": own, "ports": [{"port": 9090}, {"port": 9091}]}]
        for listener in kafka["spec"]["kafka"]["listeners"]:
            rule: dict[str, Any] = {"ports": [{"port": listener["port"]}]}
            if listener.get("networkPolicyPeers"):
                rule["from"] = listener["networkPolicyPeers"]
            rules.append(rule)
        policies.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"{cluster}-network-policy-kafka", "namespace": NAMESPACE},
                "spec": {
                    "podSelector": {"matchLabels": {"strimzi.io/name": f"{cluster}-kafka"}},
                    "policyTypes": ["Ingress"],
                    "ingress": rules,
                },
            }
        )
    return policies


def check_flows(docs: Sequence[Doc]) -> list[str]:
    """The traffic docs/architecture.md needs is allowed; everything else between our pods is not."""
    problems = []
    docs = [*docs, *strimzi_network_policies(docs)]
    pods = workload_pods(docs)
    servers = {
        p.labels["app.kubernetes.io/name"]: p
        for p in pods
        if p.labels.get("app.kubernetes.io/component") == "server"
    }
    jobs = [p for p in pods if p.labels.get("app.kubernetes.io/component") == "migration"]
    dbs = {p.labels["cnpg.io/cluster"]: p for p in operator_pods(docs) if "cnpg.io/cluster" in p.labels}
    brokers = [p for p in operator_pods(docs) if p.labels.get("strimzi.io/broker-role") == "true"]
    dns = Pod("kube-dns", {"k8s-app": "kube-dns"}, namespace="kube-system")
    otel = Pod(
        "otel-collector", {"app.kubernetes.io/name": "opentelemetry-collector"}, namespace="observability"
    )
    prometheus = Pod("prometheus", {"app.kubernetes.io/name": "prometheus"}, namespace="monitoring")
    outsider = Pod("stranger", {"app": "stranger"}, namespace="default")
    neighbour = Pod("neighbour", {"app": "debug"})
    external = Pod("internet", {}, namespace="<external>")

    def expect(ok: bool, src: Pod, dst: Pod, port: int | str, proto: str = "TCP") -> None:
        if allowed(docs, src, dst, port, proto) != ok:
            problems.append(
                f"{src.name} → {dst.name}:{port}/{proto} should be {'allowed' if ok else 'denied'}"
            )

    callers = {**servers, **{n: planned_pod(n) for n in PORTS if n not in servers}}
    for name, server in servers.items():
        for caller_name, caller in callers.items():
            if caller_name == name:
                continue
            ok = (caller_name, name) in calls()
            if caller_name in servers:
                expect(ok, caller, server, "grpc")
            elif not ok and allowed(docs, caller, server, "grpc"):
                problems.append(f"{caller.name} could reach {name}:grpc")
            elif ok and not any(
                _peer_matches(peer, caller, NAMESPACE)
                for np in _policies(docs, server, "Ingress")
                for rule in np["spec"].get("ingress", [])
                if _port_matches(rule.get("ports"), "grpc", server, "TCP")
                for peer in rule.get("from", [])
            ):
                problems.append(f"{name}:grpc does not admit its caller {caller_name}")
        expect(True, prometheus, server, "metrics")
        expect(False, outsider, server, "metrics")
        expect(False, neighbour, server, "grpc")
        expect(True, server, dns, 53, "UDP")
        expect(True, server, otel, 4317)
        expect(False, server, external, 5432)
        for broker in brokers:
            for listener in client_listeners(docs):
                expect(True, server, broker, listener["port"])
        for cluster, db in dbs.items():
            expect(cluster == f"{name}-db", server, db, 5432)
    # Outside the cluster: only messaging's SMTP relay (587) and billing's Stripe API (443).
    for name, server in servers.items():
        expect(name == "messaging", server, external, 587)
        expect(name == "billing", server, external, 443)
    # The public edge: the Gateway API data plane reaches the gateway, and nothing else.
    edge = Pod("gateway-proxy", {"app.kubernetes.io/name": "envoy"}, namespace="gateway-system")
    for name, server in servers.items():
        expect(name == "gateway", edge, server, "grpc")
    for job in jobs:
        name = job.labels["app.kubernetes.io/name"]
        expect(True, job, dbs[f"{name}-db"], 5432)
        expect(True, job, dns, 53, "UDP")
        for server in servers.values():
            expect(False, job, server, "grpc")
    cnpg_operator = Pod(
        "cnpg-operator", {"app.kubernetes.io/name": "cloudnative-pg"}, namespace="cnpg-system"
    )
    for db in dbs.values():
        expect(True, cnpg_operator, db, 8000)
        expect(True, db, db, 5432)
        expect(True, prometheus, db, 9187)
        expect(True, db, external, 443)
    for broker in brokers:
        for other in brokers:
            expect(True, broker, other, 9091)
    return problems


def check_monitoring(docs: Sequence[Doc]) -> list[str]:
    problems = []
    services = of_kind(docs, "Service")
    for sm in of_kind(docs, "ServiceMonitor"):
        matched = [s for s in services if selects(sm["spec"]["selector"], s["metadata"].get("labels", {}))]
        if len(matched) != 1:
            problems.append(f"{ref(sm)}: selects {len(matched)} Services, expected 1")
            continue
        ports = {p["name"] for p in matched[0]["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            if ep.get("port") not in ports:
                problems.append(
                    f"{ref(sm)}: endpoint port {ep.get('port')!r} is not a port of {ref(matched[0])}"
                )
    if not any(api_group(d) == "monitoring.coreos.com" for d in docs):
        return problems  # an overlay without the Prometheus Operator (local)
    monitored = {
        name_of(s)
        for s in services
        if any(
            selects(sm["spec"]["selector"], s["metadata"].get("labels", {}))
            for sm in of_kind(docs, "ServiceMonitor")
        )
    }
    for d in of_kind(docs, "Deployment"):
        if name_of(d) not in monitored:
            problems.append(f"{ref(d)}: no ServiceMonitor scrapes it")
    pods = operator_pods(docs)
    for pm in of_kind(docs, "PodMonitor"):
        if not any(selects(pm["spec"]["selector"], p.labels) for p in pods):
            problems.append(f"{ref(pm)}: selects no pod")
    return problems


def check_databases(docs: Sequence[Doc], overlay: str) -> list[str]:
    problems = []
    clusters = {name_of(c): c for c in of_kind(docs, "Cluster")}
    for name, cluster in clusters.items():
        service = name.removesuffix("-db")
        initdb = cluster["spec"]["bootstrap"]["initdb"]
        if (initdb.get("database"), initdb.get("owner")) != (service, service):
            problems.append(f"{ref(cluster)}: initdb database/owner must be {service!r}")
        if not str(cluster["spec"].get("imageName", "")).split(":")[-1].startswith("15"):
            problems.append(f"{ref(cluster)}: PostgreSQL 15 (docs/architecture.md)")
        if overlay == "production":
            if cluster["spec"]["instances"] < 3:
                problems.append(f"{ref(cluster)}: production needs 3 instances")
            if "backup" not in cluster["spec"]:
                problems.append(f"{ref(cluster)}: production needs backups")
    for sb in of_kind(docs, "ScheduledBackup"):
        if sb["spec"]["cluster"]["name"] not in clusters:
            problems.append(f"{ref(sb)}: backs up a Cluster that does not exist")
        if overlay == "production" and sb["spec"].get("suspend"):
            problems.append(f"{ref(sb)}: suspended in production")
    return problems


def client_listeners(docs: Iterable[Doc]) -> list[dict[str, Any]]:
    (kafka,) = of_kind(docs, "Kafka")
    listeners: list[dict[str, Any]] = kafka["spec"]["kafka"]["listeners"]
    return listeners


def check_kafka(docs: Sequence[Doc], overlay: str) -> list[str]:
    problems = []
    (kafka,) = of_kind(docs, "Kafka")
    cluster = name_of(kafka)
    pools = [
        p
        for p in of_kind(docs, "KafkaNodePool")
        if p["metadata"]["labels"].get("strimzi.io/cluster") == cluster
    ]
    if len(pools) != len(of_kind(docs, "KafkaNodePool")):
        problems.append("a KafkaNodePool belongs to no Kafka")
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    if controllers % 2 != 1:
        problems.append(f"{ref(kafka)}: KRaft needs an odd number of controllers, has {controllers}")
    config = kafka["spec"]["kafka"]["config"]
    rf, isr = config["default.replication.factor"], config["min.insync.replicas"]
    if not 1 <= isr <= rf <= brokers:
        problems.append(f"{ref(kafka)}: needs min.insync.replicas <= default.replication.factor <= brokers")
    if config.get("auto.create.topics.enable") is not False:
        problems.append(
            f"{ref(kafka)}: topics come from the registry only (auto.create.topics.enable: false)"
        )
    if overlay != "local" and (controllers < 3 or brokers < 3 or isr >= rf):
        problems.append(f"{ref(kafka)}: {overlay} needs 3 controllers, 3 brokers and one broker of slack")
    kafka_env = {
        config_env(docs, c).get("KAFKA_BOOTSTRAP_SERVERS")
        for w in workloads(docs)
        for c in pod_spec(w)["containers"]
    }
    kafka_env.discard(None)
    ports = {listener["port"] for listener in client_listeners(docs)}
    if kafka_env != {f"{cluster}-kafka-bootstrap:{port}" for port in ports} or len(ports) != 1:
        problems.append(
            f"KAFKA_BOOTSTRAP_SERVERS {kafka_env} is not the bootstrap of the one listener {ports}"
        )
    for topic in of_kind(docs, "KafkaTopic"):
        spec = topic["spec"]
        if topic["metadata"]["labels"].get("strimzi.io/cluster") != cluster:
            problems.append(f"{ref(topic)}: not labelled for cluster {cluster}")
        if not spec["config"]["min.insync.replicas"] <= spec["replicas"] <= brokers:
            problems.append(f"{ref(topic)}: needs min.insync.replicas <= replicas <= {brokers} brokers")
        if overlay == "production" and (spec["replicas"] < 3 or spec["config"]["min.insync.replicas"] < 2):
            problems.append(f"{ref(topic)}: production topics need 3 replicas, min.insync.replicas 2")
    return problems


def check_topics(docs: Sequence[Doc]) -> list[str]:
    """Every registry topic, and nothing else, as a KafkaTopic with its partitions and retention."""
    problems = []
    registry = load_topics()
    topics = {t["spec"].get("topicName", name_of(t)): t for t in of_kind(docs, "KafkaTopic")}
    for t in registry:
        kt = topics.pop(t.name, None)
        if kt is None:
            problems.append(f"topic {t.name} has no KafkaTopic")
            continue
        spec = kt["spec"]
        if spec["partitions"] != t.partitions:
            problems.append(f"{t.name}: partitions {spec['partitions']} != registry {t.partitions}")
        if int(spec["config"]["retention.ms"]) != t.retention_ms:
            problems.append(
                f"{t.name}: retention.ms {spec['config']['retention.ms']} != registry {t.retention_ms}"
            )
        if spec["config"]["cleanup.policy"] != t.cleanup_policy:
            problems.append(f"{t.name}: cleanup.policy differs from the registry")
    problems.extend(f"KafkaTopic {name} is not in protos/topics.yaml" for name in topics)
    return problems


def check_gateway_route(docs: Sequence[Doc]) -> list[str]:
    routes = of_kind(docs, "HTTPRoute")
    if len(routes) != 1:
        return [f"expected one HTTPRoute for the gateway, found {len(routes)}"]
    refs = [b for rule in routes[0]["spec"]["rules"] for b in rule["backendRefs"]]
    if [(b["name"], b["port"]) for b in refs] != [("gateway", 8080)]:
        return [f"{ref(routes[0])}: must route to Service gateway port 8080, got {refs}"]
    return []


def all_problems(docs: Sequence[Doc], overlay: str, tag: str) -> list[str]:
    checks: list[Callable[[], list[str]]] = [
        lambda: check_no_placeholders(docs),
        lambda: check_pod_security(docs),
        lambda: check_servers(docs, tag),
        lambda: check_database_env(docs),
        lambda: check_migration_jobs(docs, tag),
        lambda: check_services(docs),
        lambda: check_scaling(docs, overlay),
        lambda: check_network_policies(docs),
        lambda: check_flows(docs),
        lambda: check_monitoring(docs),
        lambda: check_databases(docs, overlay),
        lambda: check_kafka(docs, overlay),
        lambda: check_topics(docs),
    ]
    return [p for check in checks for p in check()]


# --- tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds(overlay: str) -> None:
    docs = built(overlay)
    kinds = {d["kind"] for d in docs}
    assert {
        "Namespace",
        "Deployment",
        "Service",
        "Job",
        "NetworkPolicy",
        "Kafka",
        "KafkaTopic",
        "Cluster",
    } <= kinds
    assert check_no_placeholders(docs) == []
    if overlay != "local":
        assert {"ServiceMonitor", "PodMonitor", "PrometheusRule", "HTTPRoute"} <= kinds


def test_base_and_every_service_folder_build_alone() -> None:
    kustomize(K8S / "base")
    folders = sorted(p for p in (K8S / "base" / "services").iterdir() if p.is_dir())
    listed = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
    for folder in folders:
        assert f"services/{folder.name}" in listed, f"base/kustomization.yaml does not list {folder.name}"
        params = yaml.safe_load((folder / "params.yaml").read_text(encoding="utf-8"))["spec"]
        assert params["name"] == folder.name
        assert params["envPrefix"] == folder.name.upper()
        assert (params["grpcPort"], params["metricsPort"]) == PORTS[folder.name]
        docs = kustomize(folder)
        assert {name_of(d) for d in of_kind(docs, "Deployment")} == {folder.name}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize(
    "check",
    [
        check_pod_security,
        check_database_env,
        check_services,
        check_network_policies,
        check_flows,
        check_monitoring,
        check_topics,
    ],
    ids=lambda f: f.__name__.removeprefix("check_"),
)
def test_policy(overlay: str, check: Callable[[Sequence[Doc]], list[str]]) -> None:
    assert check(built(overlay)) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servers_and_migrations_run_the_release(overlay: str) -> None:
    tag = release_tag(K8S / "overlays" / overlay)
    docs = built(overlay)
    assert check_servers(docs, tag) + check_migration_jobs(docs, tag) == []
    if overlay == "production":
        assert re.fullmatch(r"\d+\.\d+\.\d+", tag), "production runs a released version"
    assert tag != "latest"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sizing(overlay: str) -> None:
    docs = built(overlay)
    assert check_scaling(docs, overlay) + check_databases(docs, overlay) + check_kafka(docs, overlay) == []


def test_overlays_differ_sensibly() -> None:
    def min_replicas(overlay: str) -> int:
        docs = built(overlay)
        hpas = of_kind(docs, "HorizontalPodAutoscaler")
        if hpas:
            return min(int(h["spec"]["minReplicas"]) for h in hpas)
        return min(int(d["spec"]["replicas"]) for d in of_kind(docs, "Deployment"))

    def pg_instances(overlay: str) -> int:
        return min(int(c["spec"]["instances"]) for c in of_kind(built(overlay), "Cluster"))

    def kafka_nodes(overlay: str) -> int:
        return sum(p["spec"]["replicas"] for p in of_kind(built(overlay), "KafkaNodePool"))

    for measure in (min_replicas, pg_instances, kafka_nodes):
        local, staging, production = (measure(o) for o in OVERLAYS)
        assert local < staging <= production, measure.__name__
        assert local == 1
    assert min_replicas("production") >= 2
    assert kafka_nodes("production") > kafka_nodes("staging")


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_gateway_route_placeholder(overlay: str) -> None:
    assert check_gateway_route(built(overlay)) == []


def test_network_policy_model_catches_a_missing_rule() -> None:
    """The flow checks are live: removing the scheduling → compliance rule is detected."""
    docs = [d for d in built("production") if name_of(d) != "scheduling-to-compliance"]
    problems = check_flows(docs)
    assert "Deployment/scheduling → Deployment/compliance:grpc/TCP should be allowed" in problems


# --- kubernetes-validate and yamllint -----------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_resources_match_the_kubernetes_schema(overlay: str, version: str) -> None:
    problems = []
    core = [d for d in built(overlay) if api_group(d) in CORE_API_GROUPS]
    assert {"Deployment", "Service", "Job", "NetworkPolicy"} <= {d["kind"] for d in core}
    for d in core:
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{ref(d)}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert problems == []


def test_schema_validation_rejects_unknown_fields() -> None:
    (deployment, *_) = of_kind(built("production"), "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_yaml_is_lint_clean() -> None:
    config = YamlLintConfig(file=str(K8S / ".yamllint.yaml"))
    problems = []
    files = sorted(p for p in K8S.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))
    assert len(files) > 10
    for path in files:
        for problem in linter.run(path.read_text(encoding="utf-8"), config, str(path)):
            problems.append(f"{path.relative_to(ROOT)}:{problem.line}:{problem.column}: {problem.message}")
    assert problems == []


# --- topics -------------------------------------------------------------------------------------


def test_committed_topics_file_is_current() -> None:
    gen = load_gen_topics()
    committed = (K8S / "base" / "kafka" / "topics.yaml").read_text(encoding="utf-8")
    assert committed == gen.render(), "run: python deploy/k8s/gen_topics.py"
    proc = subprocess.run(
        [sys.executable, str(K8S / "gen_topics.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_gen_topics_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "topics.yaml"
    stale.write_text(
        (K8S / "base" / "kafka" / "topics.yaml")
        .read_text(encoding="utf-8")
        .replace("partitions: 12", "partitions: 6")
    )
    cmd = [sys.executable, str(K8S / "gen_topics.py"), "--check", "--output", str(stale)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "stale" in proc.stderr


def test_generated_topics_keep_the_registry_overrides() -> None:
    """The audit stream keeps records forever and has more partitions than the default."""
    docs = list(yaml.safe_load_all((K8S / "base" / "kafka" / "topics.yaml").read_text(encoding="utf-8")))
    (audit,) = [d for d in docs if d and d["metadata"]["name"] == "confide.audit.events.v1"]
    assert audit["spec"]["partitions"] == 12
    assert audit["spec"]["config"]["retention.ms"] == -1
    assert audit["metadata"]["annotations"]["confide.dev/producer"] == "*"


def test_committed_users_file_is_current() -> None:
    gen = load_gen_topics()
    committed = (K8S / "base" / "kafka" / "users.yaml").read_text(encoding="utf-8")
    assert committed == gen.render_users(), "run: python deploy/k8s/gen_topics.py"


def acls_of(docs: Iterable[Doc], user: str) -> dict[str, set[str]]:
    """Topic name -> operations the KafkaUser may perform on it."""
    (found,) = [u for u in of_kind(docs, "KafkaUser") if name_of(u) == user]
    return {
        acl["resource"]["name"]: set(acl["operations"])
        for acl in found["spec"]["authorization"]["acls"]
        if acl["resource"]["type"] == "topic"
    }


def test_kafka_users_may_use_exactly_their_registry_topics() -> None:
    docs = built("production")
    scheduling = acls_of(docs, "scheduling")
    assert {"Read", "Describe"} <= scheduling["confide.compliance.authorizations.v1"]
    assert "Write" not in scheduling["confide.compliance.authorizations.v1"]
    assert {"Write", "Describe"} <= scheduling["confide.scheduling.appointments.v1"]
    assert {"Write", "Read"} <= scheduling["confide.scheduling.dlq.v1"]  # dead-letter, inspect, replay
    assert "Write" in scheduling["confide.audit.events.v1"]  # producer "*"
    assert "confide.identity.users.v1" in scheduling
    assert "Write" not in scheduling["confide.identity.users.v1"]
    assert "confide.billing.payments.v1" not in scheduling
    assert "confide.billing.dlq.v1" not in scheduling
    # Every service but identity follows identity's users topic (revoked tokens), without a group.
    gen = load_gen_topics()
    assert gen.REVOCATION_TOPIC == USERS_TOPIC
    followers = {
        name_of(u)
        for u in of_kind(docs, "KafkaUser")
        if "Read" in acls_of(docs, name_of(u)).get(USERS_TOPIC, set())
    }
    assert followers == {name_of(u) for u in of_kind(docs, "KafkaUser")} - {"identity"}
    # Only compliance reads the audit stream.
    readers = {
        name_of(u)
        for u in of_kind(docs, "KafkaUser")
        if "Read" in acls_of(docs, name_of(u)).get("confide.audit.events.v1", set())
    }
    assert readers == {"compliance"}
    for user in of_kind(docs, "KafkaUser"):
        groups = [a for a in user["spec"]["authorization"]["acls"] if a["resource"]["type"] == "group"]
        assert [(g["resource"]["name"], g["resource"]["patternType"]) for g in groups] == [
            (f"{name_of(user)}.", "prefix")
        ], "consumer groups are <service>.<consumer> (confide_chassis.consumer)"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_server_authenticates_to_kafka_as_its_own_user(overlay: str) -> None:
    docs = built(overlay)
    users = {name_of(u): u for u in of_kind(docs, "KafkaUser")}
    (kafka,) = of_kind(docs, "Kafka")
    (listener,) = client_listeners(docs)
    for d in of_kind(docs, "Deployment"):
        name = name_of(d)
        (c,) = [c for c in pod_spec(d)["containers"] if c["name"] == "server"]
        env = {e["name"]: e for e in env_list(c)}
        assert name in users, f"{name} has no KafkaUser"
        assert users[name]["spec"]["authentication"]["type"] == "scram-sha-512"
        secret = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert (secret["name"], secret["key"]) == (name, "password"), (
            "Strimzi's Secret is named after the user"
        )
        field = env["KAFKA_SASL_USERNAME"]["valueFrom"]["fieldRef"]["fieldPath"]
        assert field == "metadata.labels['app.kubernetes.io/name']"
        assert d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == name
        settings = config_env(docs, c)
        if overlay == "local":
            assert settings.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") == "PLAINTEXT"
            assert listener["tls"] is False
            continue
        # Staging and production: TLS + SCRAM only, ACLs enforced, brokers verified against the CA.
        assert settings["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert settings["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert listener["tls"] is True
        assert listener["authentication"]["type"] == "scram-sha-512"
        assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(d)["volumes"]}
        ca_dir = mounts["kafka-ca"]
        assert settings["KAFKA_SSL_CAFILE"] == f"{ca_dir}/ca.crt"
        assert volumes["kafka-ca"]["secret"]["secretName"] == f"{name_of(kafka)}-cluster-ca-cert"


# --- per-service configuration ------------------------------------------------------------------


def deployment(docs: Iterable[Doc], name: str) -> Doc:
    (found,) = [d for d in of_kind(docs, "Deployment") if name_of(d) == name]
    return found


def server_env(docs: Sequence[Doc], name: str) -> dict[str, str]:
    (c,) = [c for c in pod_spec(deployment(docs, name))["containers"] if c["name"] == "server"]
    return config_env(docs, c)


# Services that cannot work without their Secret (messaging: key-encryption keys; billing: the Stripe
# key): the pod waits for it rather than start half-working. The others' Secret is optional.
REQUIRED_SECRETS = {"messaging", "billing"}
# Environment variables the gateway reads for its upstreams (confide_gateway.settings).
UPSTREAM_KEYS = {
    f"{name.upper()}_GRPC_{part}" for name in PORTS if name != "gateway" for part in ("HOST", "PORT")
}
SECRET_SUFFIXES = ("_SECRET", "_KEY", "_KEYS", "_KEKS", "_PASSWORD", "_TOKEN")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_server_loads_its_own_config_map_and_its_secret(overlay: str) -> None:
    docs = built(overlay)
    maps = {name_of(m) for m in of_kind(docs, "ConfigMap")}
    for d in of_kind(docs, "Deployment"):
        name = service_name(d)
        (c,) = [c for c in pod_spec(d)["containers"] if c["name"] == "server"]
        sources = c.get("envFrom", [])
        config_maps = [s["configMapRef"]["name"] for s in sources if "configMapRef" in s]
        secrets = [s["secretRef"] for s in sources if "secretRef" in s]
        assert all(m in maps for m in config_maps), f"{ref(d)}: envFrom names a missing ConfigMap"
        assert [m.rsplit("-", 1)[0] for m in config_maps] == ["confide-env", f"{name}-env"], ref(d)
        assert all(not m.get("optional") for s in sources for m in [s.get("configMapRef", {})])
        optional = name not in REQUIRED_SECRETS
        assert secrets == [{"name": f"{name}-secrets", "optional": optional}], ref(d)
        env = config_env(docs, c)
        prefix = f"{name.upper()}_"
        own = {
            k for m in of_kind(docs, "ConfigMap") if name_of(m).startswith(f"{name}-env-") for k in m["data"]
        }
        assert own, f"{name}-env is empty"
        foreign = {k for k in own if not k.startswith(prefix)}
        assert foreign <= (UPSTREAM_KEYS if name == "gateway" else set()), f"{name}-env holds {foreign}"
        assert own <= set(env)


def grpc_service_address(docs: Sequence[Doc], name: str) -> tuple[str, int]:
    (svc,) = [
        s
        for s in of_kind(docs, "Service")
        if s["spec"].get("selector", {}).get("app.kubernetes.io/name") == name
    ]
    (grpc,) = [p for p in svc["spec"]["ports"] if p["name"] == "grpc"]
    return name_of(svc), int(grpc["port"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scheduling_reaches_compliance_service(overlay: str) -> None:
    """scheduling's compliance address is compliance's Service and gRPC port, which the policy admits."""
    docs = built(overlay)
    env = server_env(docs, "scheduling")
    host, port = grpc_service_address(docs, "compliance")
    assert env.get("SCHEDULING_COMPLIANCE_TARGET") == f"{host}:{port}"
    # COMPLIANCE_GRPC_HOST/_PORT are compliance's own listen settings; the target must win alone.
    assert "COMPLIANCE_GRPC_HOST" not in env
    assert "COMPLIANCE_GRPC_PORT" not in env
    compliance_env = server_env(docs, "compliance")
    assert compliance_env["COMPLIANCE_GRPC_PORT"] == str(port)
    pods = {p.name: p for p in workload_pods(docs)}
    assert allowed(docs, pods["Deployment/scheduling"], pods["Deployment/compliance"], port)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_directory_reaches_compliance_and_scheduling(overlay: str) -> None:
    docs = built(overlay)
    env = server_env(docs, "directory")
    pods = {p.name: p for p in workload_pods(docs)}
    for target in ("compliance", "scheduling"):
        host, port = grpc_service_address(docs, target)
        assert env.get(f"DIRECTORY_{target.upper()}_TARGET") == f"{host}:{port}"
        assert allowed(docs, pods["Deployment/directory"], pods[f"Deployment/{target}"], port)
    assert not allowed(docs, pods["Deployment/directory"], pods["Deployment/billing"], "grpc")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_upstreams_are_the_services(overlay: str) -> None:
    """Every upstream the gateway dials (<SERVICE>_GRPC_HOST/_PORT) is that Service's gRPC port, admitted."""
    docs = built(overlay)
    env = server_env(docs, "gateway")
    pods = {p.name: p for p in workload_pods(docs)}
    for name in PORTS:
        if name == "gateway":
            continue
        host, port = grpc_service_address(docs, name)
        assert (env[f"{name.upper()}_GRPC_HOST"], env[f"{name.upper()}_GRPC_PORT"]) == (host, str(port))
        assert allowed(docs, pods["Deployment/gateway"], pods[f"Deployment/{name}"], port), name
    # Its own listen address is the pod's, and the HTTPRoute's backend is that port.
    assert env["GATEWAY_GRPC_HOST"] == "0.0.0.0"
    assert env["GATEWAY_GRPC_PORT"] == str(PORTS["gateway"][0])


def site(overlay: str) -> dict[str, str]:
    doc = yaml.safe_load((K8S / "overlays" / overlay / "site.yaml").read_text(encoding="utf-8"))
    spec: dict[str, str] = doc["spec"]
    return spec


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_environment_specific_settings_come_from_the_site_file(overlay: str) -> None:
    docs = built(overlay)
    values = site(overlay)
    identity, scheduling = server_env(docs, "identity"), server_env(docs, "scheduling")
    gateway, messaging = server_env(docs, "gateway"), server_env(docs, "messaging")
    assert identity["IDENTITY_PUBLIC_BASE_URL"] == values["appUrl"]
    assert scheduling["SCHEDULING_JITSI_DOMAIN"] == values["jitsiDomain"]
    assert gateway["GATEWAY_CORS_ORIGINS"] == values["corsOrigins"]
    assert messaging["MESSAGING_PORTAL_URL"] == values["messagesUrl"]
    assert messaging["MESSAGING_SMTP_HOST"] == values["smtpHost"]
    assert messaging["MESSAGING_MAIL_FROM"] == values["mailFrom"]
    routes = of_kind(docs, "HTTPRoute")
    if overlay != "local":
        assert [r["spec"]["hostnames"] for r in routes] == [[values["apiHost"]]]
    assert scheduling["SCHEDULING_JITSI_APP_ID"]
    url, jitsi = values["appUrl"], values["jitsiDomain"]
    origins = values["corsOrigins"].split(",")
    if overlay == "local":
        assert url.startswith("http://")
    else:
        # Real deployments are reached over https; the Jitsi setting and API host are bare domains.
        assert url.startswith("https://"), url
        assert all(o.startswith("https://") and o.count("/") == 2 for o in origins), origins
        for host in (jitsi, values["apiHost"], values["smtpHost"], url.removeprefix("https://").rstrip("/")):
            assert DNS_LABEL_RE.match(host), host
    for d in of_kind(docs, "Deployment"):
        env = server_env(docs, name_of(d))
        assert not {k for k in env if k.endswith(SECRET_SUFFIXES)}, (
            f"{name_of(d)}: secret-looking settings belong in {name_of(d)}-secrets, not a ConfigMap"
        )


def test_site_values_reach_the_output_and_roll_the_pods(tmp_path: Path) -> None:
    """Editing site.yaml changes the rendered hostnames and the ConfigMap names (hash), so pods roll."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    site_file = tree / "overlays" / "staging" / "site.yaml"
    before = {name_of(m) for m in of_kind(kustomize(tree / "overlays" / "staging"), "ConfigMap")}
    text = site_file.read_text(encoding="utf-8")
    text = text.replace("apiHost: api.staging.confide.example", "apiHost: api.staging.therapy.test")
    text = text.replace(
        "corsOrigins: https://app.staging.confide.example", "corsOrigins: https://app.therapy.test"
    )
    site_file.write_text(text, encoding="utf-8")
    docs = kustomize(tree / "overlays" / "staging")
    (route,) = of_kind(docs, "HTTPRoute")
    assert route["spec"]["hostnames"] == ["api.staging.therapy.test"]
    assert server_env(docs, "gateway")["GATEWAY_CORS_ORIGINS"] == "https://app.therapy.test"
    after = {name_of(m) for m in of_kind(docs, "ConfigMap")}
    changed = {n.rsplit("-", 1)[0] for n in before ^ after}
    assert changed == {"gateway-env"}


# --- alert rules --------------------------------------------------------------------------------
# Rules, their promtool tests, dashboards and runbooks are checked by test_monitoring.py.


def prometheus_rule_groups(docs: Iterable[Doc]) -> list[dict[str, Any]]:
    (rule,) = of_kind(docs, "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


# --- adding a service by copying a folder ----------------------------------------------------------


def test_a_copied_service_folder_is_a_complete_deployable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR 0005's promise: a new deployable is added by copying a folder and changing its values."""
    monkeypatch.setitem(PORTS, "reports", (50057, 9108))  # docs/architecture.md would list it
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    source, target = tree / "base" / "services" / "scheduling", tree / "base" / "services" / "reports"
    shutil.copytree(source, target)
    for path in target.iterdir():
        text = path.read_text(encoding="utf-8")
        if path.name == "networkpolicy.yaml":  # reports' callers: the gateway; it calls no one
            text = text.split("\n---\n")[0] + "\n"
        text = text.replace("scheduling", "reports").replace("SCHEDULING", "REPORTS")
        text = text.replace("50052", "50057").replace("9102", "9108")
        path.write_text(text, encoding="utf-8")
    base = tree / "base" / "kustomization.yaml"
    base.write_text(
        base.read_text(encoding="utf-8").replace(
            "  - services/gateway\n", "  - services/gateway\n  - services/reports\n"
        )
    )

    docs = kustomize(tree / "overlays" / "production")
    tag = release_tag(tree / "overlays" / "production")
    reports = {ref(d) for d in docs if "reports" in name_of(d)}
    assert {
        "Deployment/reports",
        "Service/reports",
        "ServiceAccount/reports",
        "HorizontalPodAutoscaler/reports",
        "PodDisruptionBudget/reports",
        "ServiceMonitor/reports",
        "Cluster/reports-db",
        f"Job/reports-migrate-{tag}",
        "NetworkPolicy/reports-callers",
    } <= reports
    (deployment,) = [d for d in of_kind(docs, "Deployment") if name_of(d) == "reports"]
    env = env_values(pod_spec(deployment)["containers"][0])
    assert env["REPORTS_GRPC_PORT"] == "50057"
    assert env["REPORTS_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert all_problems(docs, "production", tag) == []


# --- CRD schemas -----------------------------------------------------------------------------------
# Operator resources (CloudNativePG, Prometheus Operator, Gateway API) against their CRDs' schemas.
#
# The CRD YAML comes from the projects' Go modules (``go mod download`` through the Go module proxy,
# cached in the module cache): Gateway API's ``config/crd/standard``, CloudNativePG's
# ``config/crd/bases`` and the Prometheus Operator's ``example/prometheus-operator-crd``. Each
# resource is validated against its version's ``openAPIV3Schema`` strictly, like the API server does
# for structural schemas: unknown fields are errors unless the schema preserves them.
#
# Strimzi (Kafka, KafkaNodePool, KafkaTopic, KafkaUser) publishes no Go module or Python/npm package
# with its CRDs in the registries we use; test_manifests.py checks those resources by policy instead.

# Versions of the operators the runbook installs (docs/deploy.md, "Prerequisites").
CRD_MODULES = {
    "sigs.k8s.io/gateway-api@v1.4.1": "config/crd/standard",
    "github.com/cloudnative-pg/cloudnative-pg@v1.27.0": "config/crd/bases",
    "github.com/prometheus-operator/prometheus-operator@v0.85.0": "example/prometheus-operator-crd",
}
# Kinds that must be covered by a CRD schema here (Strimzi's are not: see the module docstring).
CHECKED = {"HTTPRoute", "Cluster", "ScheduledBackup", "PodMonitor", "ServiceMonitor", "PrometheusRule"}
CRD_FILES = tuple(
    f"_{plural}.yaml"
    for plural in (
        "httproutes",
        "clusters",
        "scheduledbackups",
        "podmonitors",
        "servicemonitors",
        "prometheusrules",
    )
)


class _CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading; a bare ``=`` in an enum is YAML 1.1's value tag, read as the string it is."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def module_dir(module: str) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is required to fetch the CRDs (it is part of the toolchain)")
    proc = subprocess.run(
        [go, "mod", "download", "-json", module], capture_output=True, text=True, check=False, timeout=600
    )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        pytest.fail(f"go mod download {module} failed: {info.get('Error') or proc.stderr}")
    return Path(info["Dir"])


@cache
def crd_schemas() -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> openAPIV3Schema."""
    schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
    for module, folder in CRD_MODULES.items():
        for path in sorted((module_dir(module) / folder).glob("*.yaml")):
            if not path.name.endswith(CRD_FILES):
                continue
            for crd in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_CrdLoader):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec["versions"]:
                    key = (spec["group"], version["name"], spec["names"]["kind"])
                    schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def strict(schema: Any) -> Any:
    """Unknown fields are errors where the structural schema lists properties and keeps no unknowns."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@cache
def validator(group: str, version: str, kind: str) -> Any:
    schema = crd_schemas().get((group, version, kind))
    if schema is None:
        return None
    strict_schema = strict(copy.deepcopy(schema))
    # ObjectMeta is validated by the API server itself, not by the CRD schema.
    strict_schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(strict_schema)


def problems(doc: Doc) -> Iterator[str]:
    group, _, version = str(doc["apiVersion"]).rpartition("/")
    check = validator(group, version, doc["kind"])
    if check is None:
        return
    for error in check.iter_errors(doc):
        where = "/".join(str(p) for p in error.absolute_path)
        yield f"{ref(doc)} {where}: {error.message}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_resources_match_their_crds(overlay: str) -> None:
    docs = built(overlay)
    checked = {d["kind"] for d in docs if d["kind"] in CHECKED}
    if overlay != "local":  # local has no Prometheus Operator or Gateway API objects
        assert checked == CHECKED
    for d in docs:
        if d["kind"] in CHECKED:
            group, _, version = str(d["apiVersion"]).rpartition("/")
            assert validator(group, version, d["kind"]) is not None, f"no CRD schema for {d['apiVersion']}"
    assert [p for d in docs for p in problems(d)] == []


def test_crd_validation_rejects_a_misspelt_field_and_a_wrong_type() -> None:
    (route,) = [d for d in built("production") if d["kind"] == "HTTPRoute"]
    broken = copy.deepcopy(route)
    broken["spec"]["hostname"] = broken["spec"].pop("hostnames")
    assert any("hostname" in p for p in problems(broken))
    (cluster, *_) = [d for d in built("production") if d["kind"] == "Cluster"]
    broken = copy.deepcopy(cluster)
    broken["spec"]["instances"] = "three"
    assert any("instances" in p for p in problems(broken))


# --- CLI: print the PrometheusRule's groups as a Prometheus rule file ---------------------------------

if __name__ == "__main__":
    if sys.argv[1:] != ["rules"]:
        sys.exit("usage: kubectl kustomize deploy/k8s/overlays/production | python test_manifests.py rules")
    sys.stdout.write(
        yaml.safe_dump({"groups": prometheus_rule_groups(yaml.safe_load_all(sys.stdin))}, sort_keys=False)
    )

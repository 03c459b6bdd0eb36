"""Rendering an overlay and sorting its objects into the order a rollout applies them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]
MIGRATION = "migration"
PLACEHOLDER_SUFFIX = ".example"


class RolloutError(RuntimeError):
    """The rollout stopped; the message says where and why."""


def render(overlay: Path) -> list[Manifest]:
    """``kubectl kustomize <overlay>``: the objects exactly as CI tested them."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RolloutError("kubectl is needed to render the overlay (kubectl kustomize)")
    command = [kubectl, "kustomize", str(overlay)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise RolloutError(f"kubectl kustomize {overlay} failed:\n{proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def placeholder_values(overlay: Path) -> list[str]:
    """Values of the overlay's site.yaml that are still ``*.example`` placeholders."""
    site = overlay / "site.yaml"
    if not site.exists():
        return []
    spec = (yaml.safe_load(site.read_text(encoding="utf-8")) or {}).get("spec", {})
    return [f"{key}={value}" for key, value in spec.items() if PLACEHOLDER_SUFFIX in str(value)]


def ref(doc: Manifest) -> str:
    namespace = doc["metadata"].get("namespace")
    return f"{doc['kind']}/{doc['metadata']['name']}" + (f" (namespace {namespace})" if namespace else "")


def is_migration(doc: Manifest) -> bool:
    labels = doc["metadata"].get("labels", {})
    return bool(doc["kind"] == "Job" and labels.get("app.kubernetes.io/component") == MIGRATION)


@dataclass(frozen=True)
class Plan:
    """What a rollout applies, in order: the foundation, the migrations, then the Deployments."""

    foundation: list[Manifest]
    migrations: list[Manifest]
    deployments: list[Manifest]

    @property
    def namespace(self) -> str:
        namespaces = {d["metadata"]["namespace"] for d in self.all if "namespace" in d["metadata"]}
        if len(namespaces) != 1:
            raise RolloutError(f"an overlay deploys into one namespace, this one into {sorted(namespaces)}")
        return str(namespaces.pop())

    @property
    def all(self) -> list[Manifest]:
        return [*self.foundation, *self.migrations, *self.deployments]


# Cluster-scoped and referenced objects first, so that what references them finds them.
_FIRST = ("Namespace", "CustomResourceDefinition", "ServiceAccount", "ConfigMap", "Secret")


def plan(docs: Iterable[Manifest]) -> Plan:
    docs = list(docs)
    foundation = [d for d in docs if d["kind"] != "Deployment" and not is_migration(d)]
    foundation.sort(key=lambda d: _FIRST.index(d["kind"]) if d["kind"] in _FIRST else len(_FIRST))
    return Plan(
        foundation=foundation,
        migrations=[d for d in docs if is_migration(d)],
        deployments=[d for d in docs if d["kind"] == "Deployment"],
    )


def kinds(docs: Sequence[Manifest]) -> set[tuple[str, str]]:
    return {(str(d["apiVersion"]), str(d["kind"])) for d in docs}

"""confidectl without a cluster: the plan's order and the placeholder guard."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from confidectl.__main__ import main
from confidectl.manifests import is_migration, placeholder_values, plan, render

OVERLAYS = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "overlays"


def test_the_plan_puts_the_namespace_first_and_separates_migrations_and_deployments() -> None:
    rollout = plan(render(OVERLAYS / "production"))
    assert rollout.foundation[0]["kind"] == "Namespace"
    assert rollout.namespace == "confide"
    assert {d["metadata"]["name"] for d in rollout.deployments} >= {"identity", "gateway", "billing"}
    assert all(is_migration(j) for j in rollout.migrations)
    assert {j["metadata"]["labels"]["app.kubernetes.io/name"] for j in rollout.migrations} == {
        "identity",
        "scheduling",
        "compliance",
        "messaging",
        "billing",
        "directory",
    }
    assert not any(d["kind"] == "Deployment" or is_migration(d) for d in rollout.foundation)
    # Config the Deployments reference exists before them.
    kinds = [d["kind"] for d in rollout.foundation]
    assert kinds.index("ConfigMap") < kinds.index("Service")


def test_rollout_refuses_placeholder_names_outside_local(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(OVERLAYS.parent, tree, ignore=shutil.ignore_patterns("tests"))
    site = tree / "overlays" / "production" / "site.yaml"
    text = site.read_text(encoding="utf-8")
    site.write_text(re.sub(r"apiHost: .*", "apiHost: api.confide.example", text), encoding="utf-8")
    assert "apiHost=api.confide.example" in placeholder_values(tree / "overlays" / "production")
    code = main(
        ["--kubeconfig", "/nonexistent", "rollout", "--overlay", str(tree / "overlays" / "production")]
    )
    assert code == 1
    assert "placeholder names" in capsys.readouterr().err


def test_an_overlay_with_real_names_passes_the_guard(tmp_path: Path) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(OVERLAYS.parent, tree, ignore=shutil.ignore_patterns("tests"))
    site = tree / "overlays" / "staging" / "site.yaml"
    site.write_text(
        site.read_text(encoding="utf-8").replace("confide.example", "therapy.test"), encoding="utf-8"
    )
    assert placeholder_values(tree / "overlays" / "staging") == []
    assert placeholder_values(OVERLAYS / "staging")

"""The one image recipe (deploy/docker/Dockerfile) and the locks it installs.

No Docker engine runs here, so the Dockerfile is read instruction by instruction and checked for
what the image must be (multi-stage, slim, non-root as deploy/k8s expects, only the runtime lock,
hash-checked, no build tools, OCI labels, a health check that exists); its entrypoint is run
for real against the dev virtualenv. The locks are checked against what each package declares
and imports.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
REQUIREMENTS = ROOT / "requirements"
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
# Packages whose code runs in an image; the devstack is a development tool.
IMAGE_PROJECTS = ["libs/protos", "libs/chassis", *(f"services/{name}" for name in SERVICES)]
DEV_TOOLS = {
    "pytest",
    "pytest-asyncio",
    "hypothesis",
    "mypy",
    "mypy-protobuf",
    "ruff",
    "import-linter",
    "grpcio-tools",
    "yamllint",
    "kubernetes-validate",
    "pip-tools",
}
RUN_AS = 10001  # deploy/k8s securityContext.runAsUser


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with continuations joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    result = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        result.append(Instruction(keyword.upper(), args.strip()))
    return result


def stages() -> list[list[Instruction]]:
    """Instructions per stage (index 0: before the first FROM)."""
    result: list[list[Instruction]] = [[]]
    for ins in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if ins.keyword == "FROM":
            result.append([])
        result[-1].append(ins)
    return result


def _text(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in stage if i.keyword == keyword]


def test_one_parameterized_dockerfile_replaces_the_per_service_ones() -> None:
    assert DOCKERFILE.is_file()
    assert sorted(ROOT.glob("services/*/Dockerfile")) == []
    preamble, build, final = stages()
    assert _text(preamble, "ARG") == ["PYTHON_IMAGE=python:3.11-slim-bookworm"]
    assert _text(build, "FROM") == ["${PYTHON_IMAGE} AS build"]
    assert _text(final, "FROM") == ["${PYTHON_IMAGE}"]  # slim, like the build stage: no compilers
    assert "SERVICE" in _text(build, "ARG")
    assert "SERVICE" in _text(final, "ARG")


def test_every_file_the_build_copies_exists_for_every_service() -> None:
    _, build, _ = stages()
    assert SERVICES
    for service in SERVICES:
        for args in _text(build, "COPY"):
            *sources, _ = shlex.split(args.replace("${SERVICE}", service))
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source} (SERVICE={service})"
        assert (
            ROOT / "services" / service / f"confide_{service.replace('-', '_')}" / "__main__.py"
        ).is_file()


def test_the_image_installs_only_the_runtime_lock_hash_checked() -> None:
    _, build, final = stages()
    runs = " ; ".join(_text(build, "RUN"))
    venv_installs = re.findall(r"/opt/venv/bin/pip install ([^&;]*)", runs)
    lock_installs = [i.split() for i in venv_installs if "-r " in i]
    assert lock_installs == [["--require-hashes", "-r", "requirements/runtime.lock"]]
    assert len(venv_installs) == 1, "the runtime lock is all that is installed"
    # Our own code is used in place through a .pth entry: no build step, no metadata to install.
    assert "printf '%s\\n' /src/libs/protos /src/libs/chassis \"/src/services/${SERVICE}\"" in runs
    # The dev lock (code generators, test tools) only ever goes into the build stage's /opt/tools.
    assert re.search(r"/opt/tools/bin/pip install --require-hashes -r requirements/runtime.lock", runs)
    assert "pip uninstall -y pip setuptools" in runs  # no installer left in the runtime venv
    copied = [shlex.split(a) for a in _text(final, "COPY")]
    assert all(c[0] == "--from=build" for c in copied)
    assert {c[1] for c in copied} == {
        "/opt/venv",
        "/src/libs/protos",
        "/src/libs/chassis",
        "/src/services/${SERVICE}",
    }, "the final image takes the runtime venv and the sources: never /opt/tools"
    final_runs = " ".join(_text(final, "RUN"))
    assert "install" not in final_runs.replace("pip uninstall", ""), "nothing is installed in the final image"
    assert not re.search(r"apt-get|gcc|build-essential|\bmake\b", final_runs)


def test_the_image_runs_as_the_user_kubernetes_expects() -> None:
    _, _, final = stages()
    assert _text(final, "USER") == [f"{RUN_AS}:{RUN_AS}"]  # numeric: runAsNonRoot can verify it
    assert f"--uid {RUN_AS}" in " ".join(_text(final, "RUN"))
    k8s = ROOT / "deploy" / "k8s" / "components"
    for manifest in (
        k8s / "grpc-service" / "deployment.yaml",
        k8s / "postgres-database" / "migrate-job.yaml",
    ):
        doc = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        assert doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == RUN_AS, manifest


def test_the_image_carries_oci_labels() -> None:
    _, _, final = stages()
    labels = dict(
        re.findall(r'(org\.opencontainers\.image\.[a-z]+)="([^"]*)"', " ".join(_text(final, "LABEL")))
    )
    for key in ("title", "description", "source", "version", "revision", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert labels["org.opencontainers.image.revision"] == "${REVISION}"


def test_the_health_check_is_the_chassis_grpc_probe() -> None:
    _, _, final = stages()
    (healthcheck,) = _text(final, "HEALTHCHECK")
    assert healthcheck.endswith('CMD ["python", "-m", "confide_chassis.probe"]')
    assert importlib.util.find_spec("confide_chassis.probe") is not None
    env = " ".join(_text(final, "ENV"))
    assert "CONFIDE_SERVICE=${SERVICE}" in env  # whom the probe asks about


@pytest.mark.parametrize("service", SERVICES)
def test_the_entrypoint_starts_the_service_module(service: str) -> None:
    _, _, final = stages()
    (entrypoint,) = _text(final, "ENTRYPOINT")
    (cmd,) = _text(final, "CMD")
    assert yaml.safe_load(cmd) == ["serve"]
    argv = yaml.safe_load(entrypoint)  # JSON (exec form) is YAML
    # Run it as the image would, with `--help` instead of `serve`, on the dev virtualenv's python.
    bin_dir = str(Path(sys.executable).parent)
    proc = subprocess.run(
        [*argv, "--help"],
        env={"CONFIDE_SERVICE": service, "PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "serve" in proc.stdout
    if (ROOT / "services" / service / "migrations").is_dir():  # the migration Job runs `migrate`
        assert "migrate" in proc.stdout


def test_the_build_context_leaves_out_generated_code_and_caches() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", ".cache", ".run", "node_modules", "**/__pycache__", "libs/protos/confide"):
        assert entry in ignored, entry


# --- locks and declared dependencies -------------------------------------------------------------


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0]).lower()


def lock_pins(path: Path) -> dict[str, str]:
    """name -> version of a pip-compile lock; every entry must be pinned and carry hashes."""
    text = path.read_text(encoding="utf-8")
    pins: dict[str, str] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        first = entry.split("\n", 1)[0]
        if not first or first.startswith(("#", "-")):
            continue
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", first)
        assert match, f"{path.name}: not pinned: {first}"
        assert "--hash=sha256:" in entry, f"{path.name}: {first} has no hash"
        pins[_name(match.group(1))] = match.group(2)
    return pins


def declared(project: str) -> list[str]:
    data = tomllib.loads((ROOT / project / "pyproject.toml").read_text(encoding="utf-8"))
    return [_name(d) for d in data["project"].get("dependencies", [])]


def test_locks_are_pinned_with_hashes_and_agree_where_they_overlap() -> None:
    runtime = lock_pins(REQUIREMENTS / "runtime.lock")
    dev = lock_pins(REQUIREMENTS / "dev.lock")
    assert runtime
    assert DEV_TOOLS - {"pip-tools"} <= set(dev)
    assert not DEV_TOOLS & set(runtime), f"dev tools in the runtime lock: {DEV_TOOLS & set(runtime)}"
    clashes = {n: (runtime[n], dev[n]) for n in set(runtime) & set(dev) if runtime[n] != dev[n]}
    assert not clashes


def test_the_virtualenv_has_exactly_the_locked_versions() -> None:
    pins = {**lock_pins(REQUIREMENTS / "dev.lock"), **lock_pins(REQUIREMENTS / "runtime.lock")}
    installed = {_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    wrong = {n: (v, installed.get(n)) for n, v in pins.items() if installed.get(n) != v}
    assert not wrong, "run `make venv` (the locks changed)"


def test_the_runtime_lock_is_the_union_of_what_the_image_packages_declare() -> None:
    union = {d for p in IMAGE_PROJECTS for d in declared(p) if not d.startswith("confide-")}
    inputs = {
        _name(line)
        for line in (REQUIREMENTS / "runtime.in").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    }
    assert inputs == union, f"runtime.in only: {inputs - union}; pyproject only: {union - inputs}"
    assert union <= set(lock_pins(REQUIREMENTS / "runtime.lock"))
    every_lock = {**lock_pins(REQUIREMENTS / "runtime.lock"), **lock_pins(REQUIREMENTS / "dev.lock")}
    devstack = {d for d in declared("libs/devstack") if not d.startswith("confide-")}
    assert devstack <= set(every_lock)


def _module_owners() -> dict[str, str]:
    """Importable module (dotted) -> the distribution that installs it."""
    owners: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            parts = file.parts
            if file.suffix != ".py" or ".." in parts or parts[0].endswith((".dist-info", ".data")):
                continue
            module = ".".join(parts)[: -len(".py")].removesuffix(".__init__")
            owners.setdefault(module, _name(dist.metadata["Name"]))
    return owners


def _imports(package_dir: Path) -> set[str]:
    found: set[str] = set()
    for path in package_dir.rglob("*.py"):
        if "tests" in path.relative_to(package_dir).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # module.name: a namespace package (google.rpc) has no file, its modules do.
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


LOCAL = {
    "confide": "confide-protos",
    "confide_chassis": "confide-chassis",
    "confide_devstack": "confide-devstack",
}


@pytest.mark.parametrize("project", ["libs/chassis", "libs/devstack", *(f"services/{s}" for s in SERVICES)])
def test_each_package_declares_what_it_imports(project: str) -> None:
    owners = _module_owners()
    own = Path(project).name.replace("-", "_")
    package = ROOT / project / f"confide_{own}"
    needed: set[str] = set()
    for module in _imports(package):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top == package.name:
            continue
        if top in LOCAL:
            needed.add(LOCAL[top])
            continue
        parts = module.split(".")
        owner = next(
            (owners[".".join(parts[:n])] for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in owners),
            None,
        )
        assert owner is not None, f"{project}: cannot tell which distribution provides {module}"
        needed.add(owner)
    missing = needed - set(declared(project))
    assert not missing, f"{project}/pyproject.toml does not declare {sorted(missing)}"


def test_every_run_step_is_valid_shell() -> None:
    runs = [args for stage in stages() for args in _text(stage, "RUN")]
    assert len(runs) >= 4
    for args in runs:
        proc = subprocess.run(["sh", "-n", "-c", args], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{args}\n{proc.stderr}"

#!/usr/bin/env python3
"""Generate Python code and type stubs from `protos/` into `libs/protos/confide/` (`make proto`).

Runs grpc_tools' bundled protoc once over every `.proto` file with four outputs: messages
(`*_pb2.py`), gRPC stubs (`*_pb2_grpc.py`) and mypy-protobuf stubs for both (`*.pyi`). The result is
the `confide` namespace package of the confide-protos distribution, e.g.
`confide.common.v1.money_pb2` and `confide.devtest.v1.devtest_pb2_grpc`. The tree is git-ignored and
always rebuilt from `protos/`.

- Deterministic: same inputs and tool versions give byte-identical files.
- Complete: files that no longer come out of protoc (a deleted or renamed .proto) are removed.
- Cheap when nothing changed: a hash of the inputs (every .proto, this script and the tool versions)
  and of the outputs is kept in a stamp file; if both still match, nothing runs.

Usage: scripts/protogen.py [--force] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
PACKAGE_DIR = ROOT / "libs" / "protos"  # the confide-protos project; generated tree goes in here
NAMESPACE = "confide"  # every proto lives in protos/confide/<area>/v<N>/ (package confide.<area>.v<N>)
STAMP_NAME = ".protogen-stamp.json"
# Bump when the layout of the generated tree changes, so existing stamps are invalidated.
LAYOUT_VERSION = "1"
TOOLS = ("grpcio-tools", "protobuf", "mypy-protobuf")
PLUGINS = ("protoc-gen-mypy", "protoc-gen-mypy_grpc")


class ProtogenError(Exception):
    """A problem the user must fix; printed without a traceback."""


def say(message: str) -> None:
    """This script's report on stdout (a CLI, so printing is its job)."""
    print(f"protogen: {message}", flush=True)  # noqa: T201


def rel(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def find_protos() -> list[Path]:
    """Every .proto under protos/, as paths relative to protos/, in a stable order."""
    protos = sorted(p.relative_to(PROTO_DIR) for p in PROTO_DIR.rglob("*.proto"))
    if not protos:
        raise ProtogenError(f"no .proto files under {rel(PROTO_DIR)}/")
    outside = [p.as_posix() for p in protos if p.parts[0] != NAMESPACE]
    if outside:
        raise ProtogenError(
            f"every .proto must live under protos/{NAMESPACE}/<area>/v<N>/; not: {', '.join(outside)}"
        )
    return protos


def well_known_include() -> Path:
    """grpc_tools ships google/protobuf/*.proto (Timestamp, descriptor, ...) next to its protoc."""
    spec = importlib.util.find_spec("grpc_tools")
    if spec is None or not spec.submodule_search_locations:
        raise ProtogenError("grpcio-tools is not installed in this Python; run `make venv`")
    include = Path(next(iter(spec.submodule_search_locations))) / "_proto"
    if not (include / "google" / "protobuf" / "timestamp.proto").is_file():
        raise ProtogenError(f"grpc_tools has no well-known .proto files in {include}")
    return include


def plugin_path(name: str) -> Path:
    """mypy-protobuf's protoc plugins are scripts beside this interpreter (the venv's bin/)."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found is None:
        raise ProtogenError(
            f"{name} not found beside {sys.executable} or on PATH; is mypy-protobuf installed?"
        )
    return Path(found)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inputs_hash(protos: Iterable[Path]) -> str:
    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    add("layout", LAYOUT_VERSION.encode())
    add("script", Path(__file__).read_bytes())
    for tool in TOOLS:
        add(f"tool:{tool}", importlib.metadata.version(tool).encode())
    for proto in protos:
        add(f"proto:{proto.as_posix()}", (PROTO_DIR / proto).read_bytes())
    return h.hexdigest()


def tree_files(root: Path) -> dict[str, Path]:
    """Files of a generated tree by relative path, ignoring bytecode caches and the stamp."""
    files: dict[str, Path] = {}
    if not root.is_dir():
        return files
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            path = Path(dirpath) / name
            key = path.relative_to(root).as_posix()
            if key != STAMP_NAME:
                files[key] = path
    return files


def read_stamp(gen_root: Path) -> dict[str, object] | None:
    try:
        data = json.loads((gen_root / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def up_to_date(gen_root: Path, digest: str) -> bool:
    stamp = read_stamp(gen_root)
    if stamp is None or stamp.get("inputs") != digest:
        return False
    outputs = stamp.get("outputs")
    if not isinstance(outputs, dict):
        return False
    on_disk = tree_files(gen_root)
    if set(on_disk) != set(outputs):
        return False
    return all(sha256(path.read_bytes()) == outputs[key] for key, path in on_disk.items())


def run_protoc(protos: list[Path], out: Path) -> None:
    descriptor_set = out / "descriptors.binpb"
    args = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={rel(PROTO_DIR)}",
        f"--proto_path={well_known_include()}",
        *(f"--plugin={name}={plugin_path(name)}" for name in PLUGINS),
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        f"--descriptor_set_out={descriptor_set}",
        *(f"{rel(PROTO_DIR)}/{p.as_posix()}" for p in protos),
    ]
    # The mypy plugins chat on stderr ("Writing mypy to ..."): show protoc's output only on failure.
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise ProtogenError(f"protoc failed with exit code {result.returncode}")

    # grpc_tools writes a *_pb2_grpc module for every file; keep it only where a service is defined.
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    descriptor_set.unlink()
    for file in files.file:
        if not file.service:
            stem = out / file.name.removesuffix(".proto")
            for suffix in ("_pb2_grpc.py", "_pb2_grpc.pyi"):
                Path(f"{stem}{suffix}").unlink(missing_ok=True)

    # PEP 561: mark each area package as typed so mypy uses the generated .pyi stubs. The `confide`
    # directory itself stays a bare namespace (PEP 420), like the <area> and v<N> directories.
    for area in sorted(p for p in (out / NAMESPACE).iterdir() if p.is_dir()):
        (area / "py.typed").write_bytes(b"")


def sync(src: Path, dst: Path) -> tuple[list[str], list[str], list[str], int]:
    """Make dst hold exactly the files of src; untouched files keep their mtime (cheap for mypy)."""
    new, old = tree_files(src), tree_files(dst)
    added, changed, removed, unchanged = [], [], [], 0
    for key in sorted(old.keys() - new.keys()):
        old[key].unlink()
        removed.append(key)
    for key in sorted(new):
        data = new[key].read_bytes()
        target = dst / key
        if key in old:
            if old[key].read_bytes() == data:
                unchanged += 1
                continue
            changed.append(key)
        else:
            added.append(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    # Drop directories left with nothing but bytecode caches.
    for dirpath, _dirnames, _filenames in sorted(os.walk(dst), key=lambda w: -len(Path(w[0]).parts)):
        directory = Path(dirpath)
        if directory != dst and not tree_files(directory):
            shutil.rmtree(directory)
    return added, changed, removed, unchanged


def write_stamp(gen_root: Path, digest: str) -> None:
    outputs: Mapping[str, str] = {k: sha256(p.read_bytes()) for k, p in sorted(tree_files(gen_root).items())}
    text = json.dumps({"inputs": digest, "outputs": outputs}, indent=1, sort_keys=True) + "\n"
    (gen_root / STAMP_NAME).write_text(text, encoding="utf-8")


def generate(out_dir: Path, *, force: bool) -> None:
    started = time.perf_counter()
    gen_root = out_dir / NAMESPACE
    protos = find_protos()
    digest = inputs_hash(protos)
    if not force and up_to_date(gen_root, digest):
        n_files = len(tree_files(gen_root))
        say(f"{rel(gen_root)}/ is up to date ({len(protos)} protos, {n_files} files)")
        return

    out_dir.mkdir(parents=True, exist_ok=True)
    (gen_root / STAMP_NAME).unlink(missing_ok=True)  # an interrupted run must not look up to date
    with tempfile.TemporaryDirectory(prefix="confide-protogen-") as tmp:
        run_protoc(protos, Path(tmp))
        gen_root.mkdir(exist_ok=True)
        added, changed, removed, unchanged = sync(Path(tmp) / NAMESPACE, gen_root)
    write_stamp(gen_root, digest)

    elapsed = time.perf_counter() - started
    for label, keys in (("added", added), ("updated", changed), ("removed", removed)):
        for key in keys:
            say(f"  {label:<7} {rel(gen_root)}/{key}")
    say(
        f"compiled {len(protos)} protos into {rel(gen_root)}/ in {elapsed:.2f}s: "
        f"{len(added)} added, {len(changed)} updated, {len(removed)} removed, {unchanged} unchanged"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if the stamp says up to date")
    parser.add_argument(
        "--out",
        type=Path,
        default=PACKAGE_DIR,
        help=f"directory that receives the `{NAMESPACE}/` tree (default: {rel(PACKAGE_DIR)})",
    )
    args = parser.parse_args(argv)
    try:
        generate(args.out.resolve(), force=args.force)
    except ProtogenError as exc:
        sys.stderr.write(f"protogen: error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

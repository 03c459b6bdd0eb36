"""The generated `confide` package: it imports, carries the event conventions, and is reproducible."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from confide.audit.v1 import events_pb2
from confide.common.v1 import event_pb2, jurisdiction_pb2
from confide.devtest.v1 import devtest_pb2, devtest_pb2_grpc

ROOT = Path(__file__).resolve().parents[3]
PROTOGEN = ROOT / "scripts" / "protogen.py"
GENERATED = ROOT / "libs" / "protos" / "confide"
STAMP = ".protogen-stamp.json"

STATES = {
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
    "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
}  # fmt: skip
TERRITORIES = {"PR", "GU", "VI", "AS", "MP"}

EXPECTED_MODULES = [
    "confide.common.v1.money_pb2",
    "confide.common.v1.time_pb2",
    "confide.common.v1.jurisdiction_pb2",
    "confide.common.v1.paging_pb2",
    "confide.common.v1.errors_pb2",
    "confide.common.v1.event_pb2",
    "confide.audit.v1.events_pb2",
    "confide.devtest.v1.devtest_pb2",
    "confide.devtest.v1.devtest_pb2_grpc",
]


def run_protogen(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(PROTOGEN), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def tree(root: Path) -> dict[str, bytes]:
    """Every file of a generated tree (bytecode caches aside) by relative path."""
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            path = Path(dirpath) / name
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def generated_modules() -> Iterator[ModuleType]:
    for path in sorted(GENERATED.rglob("*_pb2.py")):
        parts = path.relative_to(GENERATED.parent).with_suffix("").parts
        yield importlib.import_module(".".join(parts))


def all_messages(descriptors: list[Descriptor]) -> Iterator[Descriptor]:
    for descriptor in descriptors:
        yield descriptor
        yield from all_messages(list(descriptor.nested_types))


def annotated_events() -> list[tuple[Descriptor, event_pb2.EventSpec]]:
    events = []
    for module in generated_modules():
        for message in all_messages(list(module.DESCRIPTOR.message_types_by_name.values())):
            options = message.GetOptions()
            if options.HasExtension(event_pb2.event):
                events.append((message, options.Extensions[event_pb2.event]))
    return events


@pytest.mark.parametrize("name", EXPECTED_MODULES)
def test_generated_module_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert Path(str(module.__file__)).with_suffix(".pyi").is_file(), f"{name} has no mypy stub"


def test_every_generated_module_has_a_stub_and_every_area_is_typed() -> None:
    for path in GENERATED.rglob("*.py"):
        assert path.with_suffix(".pyi").is_file(), path
    for area in (p for p in GENERATED.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert (area / "py.typed").is_file(), f"{area} lacks the PEP 561 marker"


def test_grpc_module_offers_stub_servicer_and_registration() -> None:
    assert hasattr(devtest_pb2_grpc, "SampleServiceStub")
    assert hasattr(devtest_pb2_grpc, "SampleServiceServicer")
    assert hasattr(devtest_pb2_grpc, "add_SampleServiceServicer_to_server")
    service = devtest_pb2.DESCRIPTOR.services_by_name["SampleService"]
    assert [m.name for m in service.methods] == ["Echo", "Fail", "Count"]


def test_grpc_modules_exist_only_for_files_with_services() -> None:
    for path in GENERATED.rglob("*_pb2_grpc.py"):
        module = importlib.import_module(".".join(path.relative_to(GENERATED.parent).with_suffix("").parts))
        pb2 = importlib.import_module(module.__name__.removesuffix("_grpc"))
        assert pb2.DESCRIPTOR.services_by_name, f"{module.__name__} generated for a file without services"


def test_event_option_on_audit_event() -> None:
    spec = events_pb2.AuditEvent.DESCRIPTOR.GetOptions().Extensions[event_pb2.event]
    assert spec.topic == "confide.audit.events.v1"
    assert spec.aggregate_field == "subject_person_id"


def test_event_option_on_sample_happened() -> None:
    spec = devtest_pb2.SampleHappened.DESCRIPTOR.GetOptions().Extensions[event_pb2.event]
    assert spec.topic == "confide.devtest.samples.v1"
    assert spec.aggregate_field == "sample_id"


def test_plain_messages_are_not_events() -> None:
    assert not devtest_pb2.EchoRequest.DESCRIPTOR.GetOptions().HasExtension(event_pb2.event)


def test_every_event_keys_on_a_top_level_string_field() -> None:
    events = annotated_events()
    names = {message.full_name for message, _ in events}
    assert names >= {"confide.audit.v1.AuditEvent", "confide.devtest.v1.SampleHappened"}
    for message, spec in events:
        assert spec.topic, f"{message.full_name} declares no topic"
        field = message.fields_by_name.get(spec.aggregate_field)
        assert field is not None, f"{message.full_name}: no field named {spec.aggregate_field!r}"
        assert field.type == FieldDescriptor.TYPE_STRING, f"{message.full_name}.{field.name} is not a string"
        assert not field.is_repeated, f"{message.full_name}.{field.name} is repeated"


def test_every_event_is_registered_under_its_topic() -> None:
    registry = yaml.safe_load((ROOT / "protos" / "topics.yaml").read_text(encoding="utf-8"))
    event_types = {t["name"]: set(t.get("event_types") or []) for t in registry["topics"]}
    for message, spec in annotated_events():
        if message.full_name.startswith("confide.devtest."):
            continue  # test-only topic, created by the tests themselves
        assert spec.topic in event_types, f"{message.full_name}: topic {spec.topic} is not in topics.yaml"
        assert message.full_name in event_types[spec.topic], (
            f"{message.full_name} is not listed in event_types of {spec.topic} in topics.yaml"
        )


def test_jurisdiction_covers_every_state_dc_and_the_territories() -> None:
    values = jurisdiction_pb2.Jurisdiction.DESCRIPTOR.values_by_name
    assert values["JURISDICTION_UNSPECIFIED"].number == 0
    codes = {name.removeprefix("JURISDICTION_") for name in values} - {"UNSPECIFIED"}
    assert len(STATES) == 50
    assert codes == STATES | {"DC"} | TERRITORIES


def test_jurisdiction_numbers_are_the_fips_state_codes() -> None:
    enum = jurisdiction_pb2.Jurisdiction
    fips = {"AL": 1, "CA": 6, "DC": 11, "NY": 36, "TX": 48, "WY": 56, "AS": 60, "GU": 66, "PR": 72, "VI": 78}
    for code, number in fips.items():
        assert enum.Value(f"JURISDICTION_{code}") == number


def test_protogen_is_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    run_protogen("--out", str(first))
    run_protogen("--out", str(second))
    generated = tree(first / "confide")
    assert generated, "protogen generated nothing"
    assert generated == tree(second / "confide")


def test_generated_tree_is_current(tmp_path: Path) -> None:
    run_protogen("--out", str(tmp_path))
    fresh, live = tree(tmp_path / "confide"), tree(GENERATED)
    assert fresh.keys() == live.keys(), "libs/protos/confide is stale: run `make proto`"
    stale = sorted(k for k in fresh if fresh[k] != live[k])
    assert not stale, f"libs/protos/confide is stale ({', '.join(stale)}): run `make proto`"


def test_protogen_skips_when_nothing_changed_and_repairs_the_tree(tmp_path: Path) -> None:
    run_protogen("--out", str(tmp_path))
    gen = tmp_path / "confide"
    before = tree(gen)

    assert "up to date" in run_protogen("--out", str(tmp_path))

    stale = gen / "common" / "v1" / "removed_pb2.py"
    stale.write_text("# left over from a deleted proto\n")
    (gen / "common" / "v1" / "money_pb2.py").unlink()
    report = run_protogen("--out", str(tmp_path))
    assert "common/v1/removed_pb2.py" in report
    assert "1 added, 0 updated, 1 removed" in report
    assert not stale.exists()
    assert tree(gen) == before


def test_protogen_force_regenerates(tmp_path: Path) -> None:
    run_protogen("--out", str(tmp_path))
    report = run_protogen("--force", "--out", str(tmp_path))
    assert "compiled" in report
    assert "0 added, 0 updated, 0 removed" in report
    assert STAMP in tree(tmp_path / "confide")

"""Topic registry: the real registry loads, and every kind of mistake fails naming the topic."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from confide_devstack.topics import TopicRegistryError, default_registry_path, load_topics, parse_topics


def _registry() -> dict[str, Any]:
    return {
        "defaults": {"partitions": 6, "retention_ms": 604800000, "cleanup_policy": "delete"},
        "topics": [
            {
                "name": "confide.identity.users.v1",
                "producer": "identity",
                "consumers": ["billing"],
                "event_types": ["confide.identity.v1.UserRegistered"],
            },
            {
                "name": "confide.billing.dlq.v1",
                "kind": "dlq",
                "producer": "billing",
                "consumers": [],
                "retention_ms": 2592000000,
            },
        ],
    }


def test_repository_registry_loads_with_defaults_applied() -> None:
    specs = {s.name: s for s in load_topics()}
    users = specs["confide.identity.users.v1"]
    assert users.partitions == 6
    assert users.retention_ms == 604_800_000
    assert users.cleanup_policy == "delete"
    assert users.kind == "events"
    assert users.service == "identity"
    assert users.stream == "users"
    assert "confide.identity.v1.UserRegistered" in users.event_types
    audit = specs["confide.audit.events.v1"]
    assert (audit.partitions, audit.retention_ms, audit.producer) == (12, -1, "*")
    assert audit.configs() == {"retention.ms": "-1", "cleanup.policy": "delete"}
    dlqs = {s.service for s in specs.values() if s.kind == "dlq"}
    consumers = {c for s in specs.values() for c in s.consumers}
    assert consumers <= dlqs


def test_specs_are_frozen() -> None:
    spec = load_topics()[0]
    with pytest.raises(AttributeError):
        spec.partitions = 99  # type: ignore[misc]


def test_minimal_registry_parses_in_file_order() -> None:
    specs = parse_topics(_registry())
    assert [s.name for s in specs] == ["confide.identity.users.v1", "confide.billing.dlq.v1"]
    assert specs[1].retention_ms == 2592000000
    assert specs[1].partitions == 6


def _mutate(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(_registry())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("topics", 0, "name"), "confide.identity.Users.v1", "confide.<service>.<stream>.v1"),
        (("topics", 0, "name"), "identity.users.v1", "confide.<service>.<stream>.v1"),
        (("topics", 0, "name"), "confide.identity.users.v2", "confide.<service>.<stream>.v1"),
        (("topics", 0, "partitions"), 0, "partitions must be an integer >= 1"),
        (("topics", 0, "partitions"), "6", "partitions must be an integer >= 1"),
        (("topics", 0, "partitions"), True, "partitions must be an integer >= 1"),
        (("topics", 0, "retention_ms"), 0, "retention_ms must be -1"),
        (("topics", 0, "cleanup_policy"), "remove", "cleanup_policy must be one of"),
        (("topics", 0, "kind"), "stream", "kind must be one of"),
        (("topics", 0, "producer"), "billing", "named after its producer"),
        (("topics", 0, "event_types"), [], "event_types"),
        (("topics", 0, "event_types"), ["UserRegistered"], "invalid `event_types`"),
        (("topics", 0, "consumers"), ["messaging"], "has no dead-letter topic"),
        (("topics", 0, "consumers"), "billing", "must be a list of strings"),
        (("topics", 0, "partition"), 3, "unknown key(s) ['partition']"),
    ],
)
def test_bad_topic_entries_fail_naming_the_topic(path: tuple[Any, ...], value: Any, expected: str) -> None:
    data = _mutate(path, value)
    with pytest.raises(TopicRegistryError) as excinfo:
        parse_topics(data, source="topics.yaml")
    message = str(excinfo.value)
    assert expected in message
    assert "topics.yaml" in message
    assert repr(data["topics"][0]["name"]) in message or "topic #1" in message


def test_duplicate_names_are_rejected() -> None:
    data = _registry()
    data["topics"].append(copy.deepcopy(data["topics"][0]))
    with pytest.raises(TopicRegistryError, match=r"'confide.identity.users.v1' \(#3\) is declared twice"):
        parse_topics(data)


def test_dlq_must_be_named_after_its_consumer() -> None:
    data = _registry()
    data["topics"][1]["name"] = "confide.billing.dead.v1"
    with pytest.raises(TopicRegistryError, match=re.escape("confide.billing.dead.v1")):
        parse_topics(data)


def test_bad_defaults_and_top_level_keys_are_rejected() -> None:
    with pytest.raises(TopicRegistryError, match="defaults"):
        parse_topics(_mutate(("defaults", "partitions"), -1))
    with pytest.raises(TopicRegistryError, match="unknown key"):
        parse_topics(_mutate(("defaults", "replicas"), 3))
    with pytest.raises(TopicRegistryError, match="unknown top-level"):
        parse_topics({**_registry(), "topic": []})
    with pytest.raises(TopicRegistryError, match="non-empty list"):
        parse_topics({"topics": []})


def test_load_reports_the_file_on_yaml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "topics.yaml"
    bad.write_text("topics: [\n", encoding="utf-8")
    with pytest.raises(TopicRegistryError, match=str(bad)):
        load_topics(bad)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(_registry()), encoding="utf-8")
    assert len(load_topics(good)) == 2


def test_default_registry_is_the_repository_file() -> None:
    assert default_registry_path().parts[-2:] == ("protos", "topics.yaml")

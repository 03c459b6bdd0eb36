"""Every identity event is registered under its declared topic in protos/topics.yaml, is keyed by an id field,
and has no field that could carry PHI or secrets (names, e-mail, phone, date of birth, tokens, free text)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import descriptor

from confide.identity.v1 import events_pb2
from confide_chassis.events import event_spec

TOPICS = Path(__file__).resolve().parents[4] / "protos" / "topics.yaml"
EVENTS = [
    message
    for message in events_pb2.DESCRIPTOR.message_types_by_name.values()
    if message.GetOptions().ListFields()
]
FORBIDDEN = re.compile(r"name|email|phone|birth|dob|password|token|secret|note|text|reason_text|address")


def registry() -> dict[str, set[str]]:
    document = yaml.safe_load(TOPICS.read_text(encoding="utf-8"))
    return {topic["name"]: set(topic.get("event_types", [])) for topic in document["topics"]}


def test_all_seven_events_are_declared() -> None:
    assert sorted(message.name for message in EVENTS) == sorted(
        [
            "UserRegistered",
            "UserDeactivated",
            "RoleChanged",
            "ClientProfileChanged",
            "ConsentSigned",
            "CareTeamAssigned",
            "CareTeamRemoved",
        ]
    )


@pytest.mark.parametrize("message", EVENTS, ids=lambda m: m.name)
def test_event_is_registered_under_its_topic_and_keyed_by_an_id(message: descriptor.Descriptor) -> None:
    cls = getattr(events_pb2, message.name)
    spec = event_spec(cls)
    assert message.full_name in registry()[spec.topic]
    assert spec.aggregate_field.endswith("_id")
    assert message.fields_by_name[spec.aggregate_field].type == descriptor.FieldDescriptor.TYPE_STRING


@pytest.mark.parametrize("message", EVENTS, ids=lambda m: m.name)
def test_event_fields_carry_no_phi_or_free_text(message: descriptor.Descriptor) -> None:
    for field in message.fields:
        assert not FORBIDDEN.search(field.name), f"{message.name}.{field.name}"
        if field.type == descriptor.FieldDescriptor.TYPE_STRING:
            coded = field.name.endswith(("_id", "_by")) or field.name == "time_zone"
            assert coded, f"{message.name}.{field.name}"

"""Wire validation at the edge: every bad field of a request is named at once, with its path, and no
description quotes a value whole."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor

from confide.common.v1 import validation_pb2
from confide.devtest.v1 import devtest_pb2 as pb
from confide_chassis import errors
from confide_chassis.grpc import validation
from confide_chassis.grpc.status import MAX_MESSAGE_CHARS, to_status
from confide_chassis.grpc.validation import is_time_zone, quote, validate_request, violations_of
from confide_chassis.logging import MAX_LOG_VALUE_CHARS, cap_text, redact

# 2100-01-01T00:00:00Z and the window's edges, in Unix seconds.
YEAR_2100 = 4102444800
WINDOW_START = -2208988800  # 1900-01-01
WINDOW_END = 7258118400  # 2200-01-01
YEAR_1 = -62135596800
LAST_SECOND_OF_9999 = 253402300799


def valid() -> pb.ValidationProbe:
    return pb.ValidationProbe(required_id="x")


def fields(message: pb.ValidationProbe) -> dict[str, str]:
    return {v.field: v.description for v in violations_of(message)}


def test_a_clean_request_passes() -> None:
    probe = valid()
    probe.text = "plain text\twith\ttabs\nand lines"
    probe.time_zone = "America/Denver"
    probe.version = 1000
    probe.at.seconds = YEAR_2100
    probe.on.year, probe.on.month, probe.on.day = 2024, 2, 29
    probe.colour = pb.PROBE_COLOUR_RED
    probe.counters["a"] = 1
    validate_request(probe)


def test_every_violation_is_reported_at_once_with_its_path() -> None:
    probe = pb.ValidationProbe(
        text="x" * 1025,
        code="toolong",
        version=1001,
        tags=["a", "b", "c", "d"],
        colour=7,  # type: ignore[arg-type]
        ratio=float("nan"),
    )
    probe.children.add(required_id="ok")
    probe.children.add(required_id="ok").at.nanos = -1
    with pytest.raises(errors.InvalidArgument) as caught:
        validate_request(probe)
    assert {v.field for v in caught.value.violations} == {
        "required_id",
        "text",
        "code",
        "version",
        "tags",
        "colour",
        "ratio",
        "children[1].at",
    }


def test_string_defaults_bound_length_and_refuse_control_characters() -> None:
    assert "text" not in fields(pb.ValidationProbe(text="x" * validation.DEFAULT_MAX_STRING_LENGTH))
    assert "at most 1024" in fields(pb.ValidationProbe(text="x" * 1025))["text"]
    assert "control" in fields(pb.ValidationProbe(text="a\x00b"))["text"]
    assert "control" in fields(pb.ValidationProbe(tags=["ok", "\x1b[31m"]))["tags[1]"]


def test_bytes_lists_and_maps_are_bounded() -> None:
    assert "blob" in fields(pb.ValidationProbe(blob=b"x" * (validation.DEFAULT_MAX_BYTES + 1)))
    assert "at most 3 items" in fields(pb.ValidationProbe(tags=["a"] * 4))["tags"]
    assert "counters" in fields(pb.ValidationProbe(counters={"a": 1, "b": 2, "c": 3}))
    many = pb.ValidationProbe()
    for _ in range(validation.DEFAULT_MAX_ITEMS + 1):
        many.children.add()
    assert set(fields(many)) == {"required_id", "children"}  # the items of an oversized list are not walked


@pytest.mark.parametrize(
    ("seconds", "nanos", "ok"),
    [
        (WINDOW_START, 0, True),
        (WINDOW_END - 1, 999_999_999, True),
        (WINDOW_START - 1, 0, False),
        (WINDOW_END, 0, False),
        (YEAR_1, 0, False),
        (LAST_SECOND_OF_9999, 0, False),
        (YEAR_2100, -1, False),
        (YEAR_2100, 1_000_000_000, False),
    ],
)
def test_timestamps_must_be_valid_and_inside_the_window(seconds: int, nanos: int, ok: bool) -> None:
    probe = pb.ValidationProbe()
    probe.range.start.seconds, probe.range.start.nanos = seconds, nanos
    assert ("range.start" not in fields(probe)) is ok


@pytest.mark.parametrize(
    ("year", "month", "day", "ok"),
    [
        (1900, 1, 1, True),
        (2199, 12, 31, True),
        (2024, 2, 29, True),
        (2023, 2, 29, False),
        (1, 1, 1, False),
        (9999, 12, 31, False),
        (2024, 13, 1, False),
        (2024, 4, 31, False),
        (0, 0, 0, False),  # present but empty is not a date
        (-5, 1, 1, False),
    ],
)
def test_local_dates_must_be_calendar_dates_inside_the_window(
    year: int, month: int, day: int, ok: bool
) -> None:
    probe = pb.ValidationProbe()
    probe.on.year, probe.on.month, probe.on.day = year, month, day
    assert ("on" not in fields(probe)) is ok


@pytest.mark.parametrize(
    "name",
    [
        "x" * 4096,
        "x" * 1_000_000,
        "../../etc/passwd",
        "America/../UTC",
        "Not/AZone",
        "America/denver ",
        "localtime",
        "Factory",
    ],
)
def test_time_zones_are_iana_names_and_odd_strings_never_reach_the_zone_database(name: str) -> None:
    assert not is_time_zone(name)
    description = fields(pb.ValidationProbe(time_zone=name))["time_zone"]
    assert len(description) < 200


def test_known_time_zones_pass_and_empty_is_left_to_the_service() -> None:
    for name in ("UTC", "America/Denver", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Pacific/Honolulu"):
        assert is_time_zone(name), name
    assert "time_zone" not in fields(pb.ValidationProbe(time_zone=""))


def test_integer_bounds_apply_to_set_values() -> None:
    assert "version" not in fields(pb.ValidationProbe(version=0))  # zero is "unset" in proto3
    assert "at least 1" in fields(pb.ValidationProbe(version=-1))["version"]
    assert "at most 1000" in fields(pb.ValidationProbe(version=2_147_483_647))["version"]


def test_a_flood_of_problems_is_reported_with_the_first_ones_only() -> None:
    probe = valid()
    for _ in range(validation.DEFAULT_MAX_ITEMS):
        probe.children.add(text="\x00")
    assert len(violations_of(probe)) == validation.MAX_VIOLATIONS


def test_quotes_are_short_prefixes() -> None:
    assert quote("UTC") == "'UTC'"
    quoted = quote("y" * 1_000_000)
    assert len(quoted) < 64
    assert quoted.startswith("'" + "y" * 32 + "'…")


def test_statuses_stay_small_whatever_a_service_puts_in_an_error() -> None:
    huge = "z" * 1_000_000
    error = errors.InvalidArgument([errors.FieldViolation(huge, huge)] * 500, message=huge)
    _, status = to_status(error)
    assert len(status.message) <= MAX_MESSAGE_CHARS
    assert len(status.SerializeToString()) < 32 * 1024


def test_log_values_are_capped_with_head_and_tail_kept() -> None:
    text = "head" + "m" * 1_000_000 + "tail"
    capped = cap_text(text)
    assert len(capped) < MAX_LOG_VALUE_CHARS + 64
    assert capped.startswith("head")
    assert capped.endswith("tail")
    assert len(redact({"error": text})["error"]) < MAX_LOG_VALUE_CHARS + 64
    assert len(redact({"items": list(range(10_000))})["items"]) <= 101


def _request_types() -> list[str]:
    names: list[str] = []
    for file_name in (
        "confide/identity/v1/identity.proto",
        "confide/scheduling/v1/scheduling.proto",
        "confide/compliance/v1/registry.proto",
        "confide/compliance/v1/authorization.proto",
        "confide/compliance/v1/audit.proto",
    ):
        for service in descriptor_pool.Default().FindFileByName(file_name).services_by_name.values():
            names.extend(method.input_type.full_name for method in service.methods)
    return names


def test_every_time_zone_field_of_every_request_is_declared_one() -> None:
    # Imported for its side effect: the services' protos must be in the default pool.
    from confide.compliance.v1 import audit_pb2, authorization_pb2, registry_pb2  # noqa: F401
    from confide.identity.v1 import identity_pb2  # noqa: F401
    from confide.scheduling.v1 import scheduling_pb2  # noqa: F401

    undeclared = []
    for name in _request_types():
        message_type = descriptor_pool.Default().FindMessageTypeByName(name)
        for path, field in validation.annotated_fields(message_type):
            if field.type == FieldDescriptor.TYPE_STRING and field.name.endswith("time_zone"):
                rules = field.GetOptions().Extensions[validation_pb2.field]
                if not rules.time_zone:
                    undeclared.append(f"{name}.{path}")
    assert not undeclared

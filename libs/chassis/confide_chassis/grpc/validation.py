"""Wire validation at the edge: every request is checked by its descriptor before a handler runs.

The rules are those of `protos/confide/common/v1/validation.proto`: type defaults (bounded strings,
bytes and lists; defined enum values; finite floats; Timestamps and LocalDates inside the supported
window) plus per-field `(confide.common.v1.field)` options (lengths, counts, integer bounds, IANA time
zones, required). Every violation of a request is collected, with its path (``slots[2].start``), into
one `InvalidArgument`, so a caller fixes everything in one round trip and no handler ever sees a value
that would make date arithmetic overflow or a file-system lookup fail.

Descriptions never quote a value whole: at most a short prefix (`quote`), so the status stays small
whatever was sent. Values of free-text fields are not quoted at all (they may be PHI).
"""

from __future__ import annotations

import calendar
import functools
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from confide.common.v1 import validation_pb2
from confide_chassis.errors import FieldViolation, InvalidArgument

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_STRING_LENGTH",
    "MAX_VIOLATIONS",
    "WINDOW_END",
    "WINDOW_START",
    "is_time_zone",
    "quote",
    "validate_request",
    "violations_of",
]

DEFAULT_MAX_STRING_LENGTH = 1024
DEFAULT_MAX_BYTES = 64 * 1024
DEFAULT_MAX_ITEMS = 1000
# Instants and dates the platform accepts: [WINDOW_START, WINDOW_END). Wide enough for any date of
# birth or booking, far enough from year 1 and 9999 that adding a year, 90 days or a series of
# occurrences never overflows `datetime`.
WINDOW_START = datetime(1900, 1, 1, tzinfo=UTC)
WINDOW_END = datetime(2200, 1, 1, tzinfo=UTC)
# A request with more problems than this is reported with the first ones only.
MAX_VIOLATIONS = 50
MAX_NESTING = 32
QUOTE_PREFIX_CHARS = 32
MAX_TIME_ZONE_LENGTH = 64

_WINDOW_START_SECONDS = int(WINDOW_START.timestamp())
_WINDOW_END_SECONDS = int(WINDOW_END.timestamp())
_MAX_NANOS = 999_999_999
_TIMESTAMP = "google.protobuf.Timestamp"
_LOCAL_DATE = "confide.common.v1.LocalDate"
# NUL cannot be stored in PostgreSQL text; the other C0 controls have no place in any field either.
# Tab, line feed and carriage return are ordinary text.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# The shape of an IANA zone name ("America/Argentina/Buenos_Aires", "Etc/GMT+5", "UTC"): checked
# before the set lookup so no odd string ever reaches the time-zone database.
_TIME_ZONE_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")

_INTEGER_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})
_STRING = FieldDescriptor.TYPE_STRING
_BYTES = FieldDescriptor.TYPE_BYTES
_ENUM = FieldDescriptor.TYPE_ENUM
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


def quote(value: object, limit: int = QUOTE_PREFIX_CHARS) -> str:
    """A bad value for an error message: its first `limit` characters, then "…" if there were more."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"… ({len(text)} characters)"


# Entries of a system zoneinfo directory that are not places (host-specific or placeholders).
_NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_PLACES


def is_time_zone(name: str) -> bool:
    """Whether `name` is an IANA zone the server knows. Never touches the file system with an odd
    string: length and shape are checked first, then membership in the zone list read once."""
    return (
        0 < len(name) <= MAX_TIME_ZONE_LENGTH
        and _TIME_ZONE_SHAPE.fullmatch(name) is not None
        and name in _known_time_zones()
    )


@dataclass(frozen=True, slots=True)
class _Rules:
    max_length: int
    max_items: int
    max_bytes: int
    min: int | None
    max: int | None
    time_zone: bool
    required: bool


def _rules_of(field: FieldDescriptor) -> _Rules:
    options = field.GetOptions()
    declared = (
        options.Extensions[validation_pb2.field]
        if options.HasExtension(validation_pb2.field)
        else validation_pb2.FieldRules()
    )
    return _Rules(
        max_length=declared.max_length or DEFAULT_MAX_STRING_LENGTH,
        max_items=declared.max_items or DEFAULT_MAX_ITEMS,
        max_bytes=declared.max_bytes or DEFAULT_MAX_BYTES,
        min=declared.min if declared.HasField("min") else None,
        max=declared.max if declared.HasField("max") else None,
        time_zone=declared.time_zone,
        required=declared.required,
    )


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    """What checking one field takes, read once from its descriptor (descriptor attribute reads are
    slow enough to matter on every request)."""

    name: str
    kind: int
    repeated: bool
    has_presence: bool
    rules: _Rules
    enum_name: str = ""
    enum_numbers: frozenset[int] = frozenset()
    special: Callable[[Any], str | None] | None = None
    map_key: _FieldPlan | None = None
    map_value: _FieldPlan | None = None


@dataclass(frozen=True, slots=True)
class _MessagePlan:
    fields: dict[int, _FieldPlan]
    required: tuple[_FieldPlan, ...]


_plans: dict[str, _MessagePlan] = {}


def _field_plan(field: FieldDescriptor, rules: _Rules | None = None) -> _FieldPlan:
    rules = rules or _rules_of(field)
    enum_type = field.enum_type
    message_type = field.message_type
    map_key = map_value = None
    special = None
    if message_type is not None:
        special = _SPECIAL_MESSAGES.get(message_type.full_name)
        if message_type.GetOptions().map_entry:
            # A map's rules (count, lengths) apply to its keys and values too.
            map_key = _field_plan(message_type.fields_by_name["key"], rules)
            map_value = _field_plan(message_type.fields_by_name["value"], rules)
    return _FieldPlan(
        name=field.name,
        kind=field.type,
        repeated=field.is_repeated,
        has_presence=message_type is not None and not field.is_repeated,
        rules=rules,
        enum_name=enum_type.full_name if enum_type is not None else "",
        enum_numbers=frozenset(enum_type.values_by_number) if enum_type is not None else frozenset(),
        special=special,
        map_key=map_key,
        map_value=map_value,
    )


def _plan_of(descriptor: Any) -> _MessagePlan:
    plan = _plans.get(descriptor.full_name)
    if plan is None:
        fields = {field.number: _field_plan(field) for field in descriptor.fields}
        plan = _MessagePlan(fields, tuple(f for f in fields.values() if f.rules.required))
        _plans[descriptor.full_name] = plan
    return plan


class _Collector:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []
        self.full = False

    def add(self, path: str, description: str) -> None:
        if self.full:
            return
        self.violations.append(FieldViolation(path, description))
        self.full = len(self.violations) >= MAX_VIOLATIONS


def violations_of(message: Message) -> list[FieldViolation]:
    """Every wire-rule violation of `message` (at most MAX_VIOLATIONS), with field paths."""
    out = _Collector()
    _check_message(message, "", out, 0)
    return out.violations


def validate_request(message: Message) -> None:
    """Raise InvalidArgument listing every violation of `message`; return if it is clean."""
    violations = violations_of(message)
    if violations:
        raise InvalidArgument(violations)


def _check_message(message: Message, prefix: str, out: _Collector, depth: int) -> None:
    if depth > MAX_NESTING:
        out.add(prefix, f"nested more than {MAX_NESTING} levels deep")
        return
    plan = _plan_of(message.DESCRIPTOR)
    for required in plan.required:
        if not _is_set(message, required):
            out.add(prefix + required.name, "required")
    for field, value in message.ListFields():
        if out.full:
            return
        fp = plan.fields.get(field.number)
        if fp is None:  # an extension
            continue
        path = prefix + fp.name
        if fp.repeated:
            count = len(value)
            if count > fp.rules.max_items:
                out.add(path, f"at most {fp.rules.max_items} items allowed (got {count})")
            elif fp.map_key is not None and fp.map_value is not None:
                _check_map(fp.map_key, fp.map_value, value, path, out, depth)
            else:
                for index, item in enumerate(value):
                    _check_value(fp, item, f"{path}[{index}]", out, depth)
                    if out.full:
                        return
        else:
            _check_value(fp, value, path, out, depth)


def _is_set(message: Message, fp: _FieldPlan) -> bool:
    if fp.has_presence:
        return message.HasField(fp.name)
    value = getattr(message, fp.name)
    return len(value) > 0 if fp.repeated else bool(value)


def _check_map(key: _FieldPlan, item: _FieldPlan, value: Any, path: str, out: _Collector, depth: int) -> None:
    for k in value:
        entry_path = f"{path}[{quote(k) if isinstance(k, str) else k}]"
        _check_value(key, k, entry_path, out, depth)
        _check_value(item, value[k], entry_path, out, depth)
        if out.full:
            return


def _check_value(fp: _FieldPlan, value: Any, path: str, out: _Collector, depth: int) -> None:
    kind = fp.kind
    rules = fp.rules
    if kind == _STRING:
        _check_string(rules, value, path, out)
    elif kind == _MESSAGE:
        if fp.special is not None:
            problem = fp.special(value)
            if problem:
                out.add(path, problem)
        else:
            _check_message(value, path + ".", out, depth + 1)
    elif kind == _ENUM:
        if value not in fp.enum_numbers:
            out.add(path, f"{value} is not a value of {fp.enum_name}")
    elif kind in _INTEGER_TYPES:
        if rules.min is not None and value < rules.min:
            out.add(path, f"must be at least {rules.min} (got {value})")
        elif rules.max is not None and value > rules.max:
            out.add(path, f"must be at most {rules.max} (got {value})")
    elif kind == _BYTES:
        if len(value) > rules.max_bytes:
            out.add(path, f"at most {rules.max_bytes} bytes allowed (got {len(value)})")
    elif kind in _FLOAT_TYPES and not math.isfinite(value):
        out.add(path, "must be a finite number")


def _check_string(rules: _Rules, value: str, path: str, out: _Collector) -> None:
    if len(value) > rules.max_length:
        out.add(path, f"at most {rules.max_length} characters allowed (got {len(value)})")
        return
    if _CONTROL_CHARS.search(value) is not None:
        out.add(path, "must not contain control characters")
        return
    if rules.time_zone and value and not is_time_zone(value):
        out.add(path, f"{quote(value)} is not an IANA time zone name (e.g. 'America/Denver')")


def _timestamp_problem(stamp: Any) -> str | None:
    if not 0 <= stamp.nanos <= _MAX_NANOS:
        return f"nanos must be between 0 and {_MAX_NANOS} (got {stamp.nanos})"
    if not _WINDOW_START_SECONDS <= stamp.seconds < _WINDOW_END_SECONDS:
        return f"must be on or after {_iso(WINDOW_START)} and before {_iso(WINDOW_END)}"
    return None


def _local_date_problem(day: Any) -> str | None:
    year, month, dom = day.year, day.month, day.day
    if not WINDOW_START.year <= year < WINDOW_END.year:
        return f"year must be between {WINDOW_START.year} and {WINDOW_END.year - 1} (got {year})"
    if not 1 <= month <= 12:
        return f"month must be between 1 and 12 (got {month})"
    last = calendar.monthrange(year, month)[1]
    if not 1 <= dom <= last:
        return f"day must be between 1 and {last} for {year:04d}-{month:02d} (got {dom})"
    return None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_SPECIAL_MESSAGES: dict[str, Callable[[Any], str | None]] = {
    _TIMESTAMP: _timestamp_problem,
    _LOCAL_DATE: _local_date_problem,
}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def annotated_fields(message_type: Descriptor) -> Iterable[tuple[str, FieldDescriptor]]:
    """Every field reachable from `message_type`, with its path (repeated as ``name[]``); each
    message type is entered once per path, so recursive types terminate. For checks over protos."""
    stack: list[tuple[Descriptor, str, frozenset[str]]] = [(message_type, "", frozenset())]
    while stack:
        current, prefix, seen = stack.pop()
        for field in current.fields:
            path = _join(prefix, field.name) + ("[]" if field.is_repeated else "")
            yield path, field
            nested = field.message_type
            if (
                nested is not None
                and nested.full_name not in seen
                and nested.full_name not in _SPECIAL_MESSAGES
                and not nested.GetOptions().map_entry
            ):
                stack.append((nested, path, seen | {current.full_name}))

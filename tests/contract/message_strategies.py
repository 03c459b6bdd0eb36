"""Hypothesis strategies for any protobuf request, built from its message descriptor alone.

`messages(descriptor)` draws a message of that type with every field optionally set to a value picked
to break things: strings with control characters, any Unicode, or a length around the field's limit;
bytes around theirs; integers at the type's and the declared bounds; enum numbers that do not exist;
non-finite floats; Timestamps and LocalDates outside the supported window; lists and maps empty,
small or one item over their limit; one member of each oneof; nested messages to a bounded depth.
A caller's `plausible` strings (demo ids, a time zone) are mixed in so that a share of the requests
gets past the edge to the handlers. `payloads` adds what no message can express: random bytes,
truncated or bit-flipped encodings, invalid UTF-8 in a string.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from confide.common.v1 import validation_pb2
from confide_chassis.grpc import validation

Plausible = Callable[[FieldDescriptor], list[str]]

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)
YEAR_1 = -62135596800
LAST_SECOND_OF_9999 = 253402300799
WINDOW_FIRST = int(validation.WINDOW_START.timestamp())
WINDOW_END = int(validation.WINDOW_END.timestamp())
# An instant near the test run (2026-12): requests about "now" reach the domain's own rules.
AROUND_NOW = 1_796_000_000
DEFAULT_DEPTH = 3
# Never more than this many items in a drawn list (besides the one-over-the-limit case).
SMALL_LIST = 3

_ZEROS: dict[int, Any] = {
    FieldDescriptor.TYPE_STRING: "",
    FieldDescriptor.TYPE_BYTES: b"",
    FieldDescriptor.TYPE_BOOL: False,
    FieldDescriptor.TYPE_FLOAT: 0.0,
    FieldDescriptor.TYPE_DOUBLE: 0.0,
}
_RANGES = {
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_SFIXED32: INT32,
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
    FieldDescriptor.TYPE_SFIXED64: INT64,
    FieldDescriptor.TYPE_UINT32: UINT32,
    FieldDescriptor.TYPE_FIXED32: UINT32,
    FieldDescriptor.TYPE_UINT64: UINT64,
    FieldDescriptor.TYPE_FIXED64: UINT64,
}


def rules_of(f: FieldDescriptor) -> validation_pb2.FieldRules:
    return f.GetOptions().Extensions[validation_pb2.field]


def _no_plausible(f: FieldDescriptor) -> list[str]:
    return []


def _strings(f: FieldDescriptor, plausible: Plausible) -> st.SearchStrategy[str]:
    longest = rules_of(f).max_length or validation.DEFAULT_MAX_STRING_LENGTH
    options: list[st.SearchStrategy[str]] = [
        st.text(max_size=24),  # any code point but surrogates, control characters included
        st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=4),
        st.integers(longest - 1, longest + 2).map(lambda n: "x" * n),
        # One character over the limit, in multi-byte characters.
        st.sampled_from(["é", "\U0001f600"]).map(lambda c: c * (longest + 1)),
        st.sampled_from(["a\x00b", " ", "\u202e", "../" * 8]),
    ]
    known = plausible(f)
    if known:
        options.insert(0, st.sampled_from(known))
    return st.one_of(options)


def _integers(f: FieldDescriptor) -> st.SearchStrategy[int]:
    low, high = _RANGES[f.type]
    rules = rules_of(f)
    edges = {low, high, 0, 1, max(low, -1)}
    for bound in (rules.min if rules.HasField("min") else None, rules.max if rules.HasField("max") else None):
        if bound is not None:
            edges |= {b for b in (bound - 1, bound, bound + 1) if low <= b <= high}
    return st.one_of(st.sampled_from(sorted(edges)), st.integers(low, high))


def _enums(f: FieldDescriptor) -> st.SearchStrategy[int]:
    assert f.enum_type is not None
    defined = sorted(v.number for v in f.enum_type.values)
    return st.one_of(st.sampled_from(defined), st.integers(*INT32))


def _timestamps(cls: type[Message]) -> st.SearchStrategy[Message]:
    seconds = st.one_of(
        st.integers(AROUND_NOW - 86_400 * 30, AROUND_NOW + 86_400 * 120),
        st.sampled_from(
            [YEAR_1, LAST_SECOND_OF_9999, WINDOW_FIRST - 1, WINDOW_FIRST, WINDOW_END - 1, WINDOW_END]
        ),
        st.integers(*INT64),
    )
    nanos = st.one_of(st.just(0), st.integers(0, 999_999_999), st.integers(*INT32))
    return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos)


def _local_dates(cls: type[Message]) -> st.SearchStrategy[Message]:
    years = st.one_of(st.integers(1899, 2201), st.sampled_from([0, 1, 9999]), st.integers(*INT32))
    months = st.one_of(st.integers(0, 13), st.integers(*INT32))
    days = st.one_of(st.integers(0, 32), st.integers(*INT32))
    return st.builds(lambda y, m, d: cls(year=y, month=m, day=d), years, months, days)


class _Builder:
    def __init__(self, plausible: Plausible, max_depth: int) -> None:
        self._plausible = plausible
        self._max_depth = max_depth
        self._cache: dict[tuple[str, int], st.SearchStrategy[Message]] = {}

    def message(self, descriptor: Descriptor, depth: int) -> st.SearchStrategy[Message]:
        key = (descriptor.full_name, depth)
        if key not in self._cache:
            self._cache[key] = self._build(descriptor, depth)
        return self._cache[key]

    def _build(self, descriptor: Descriptor, depth: int) -> st.SearchStrategy[Message]:
        cls = GetMessageClass(descriptor)
        if descriptor.full_name == "google.protobuf.Timestamp":
            return _timestamps(cls)
        if descriptor.full_name == "confide.common.v1.LocalDate":
            return _local_dates(cls)
        optional: dict[str, st.SearchStrategy[Any]] = {}
        for oneof in descriptor.oneofs:
            members = [(f, self._value(f, depth)) for f in oneof.fields]
            if members:
                optional[f"oneof:{oneof.name}"] = st.one_of(
                    [st.tuples(st.just(f.name), value) for f, value in members if value is not None]
                )
        for f in descriptor.fields:
            if f.containing_oneof is not None:
                continue
            value = self._value(f, depth)
            if value is not None:
                optional[f.name] = value
        fields = st.fixed_dictionaries({}, optional=optional)
        return fields.map(lambda drawn: _assemble(cls, drawn))

    def _value(self, f: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key_field = f.message_type.fields_by_name["key"]
            value_field = f.message_type.fields_by_name["value"]
            keys, values = self._single(key_field, depth), self._single(value_field, depth)
            if keys is None or values is None:
                return None
            return st.dictionaries(keys, values, max_size=SMALL_LIST)
        single = self._single(f, depth)
        if single is None or not f.is_repeated:
            return single
        most = rules_of(f).max_items or validation.DEFAULT_MAX_ITEMS
        # One item over the limit: empty items (the count alone must be refused, and cheaply).
        empty = GetMessageClass(f.message_type)() if f.message_type is not None else _ZEROS.get(f.type, 0)
        return st.one_of(st.lists(single, max_size=SMALL_LIST), st.just([empty] * (most + 1)))

    def _single(self, f: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
        kind = f.type
        if kind == FieldDescriptor.TYPE_MESSAGE:
            assert f.message_type is not None
            special = f.message_type.full_name in ("google.protobuf.Timestamp", "confide.common.v1.LocalDate")
            if depth >= self._max_depth and not special:
                return None
            return self.message(f.message_type, depth + 1)
        if kind == FieldDescriptor.TYPE_STRING:
            return _strings(f, self._plausible)
        if kind == FieldDescriptor.TYPE_BYTES:
            longest = rules_of(f).max_bytes or validation.DEFAULT_MAX_BYTES
            return st.one_of(
                st.binary(max_size=16), st.integers(longest, longest + 1).map(lambda n: b"\xff" * n)
            )
        if kind == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind == FieldDescriptor.TYPE_ENUM:
            return _enums(f)
        if kind == FieldDescriptor.TYPE_FLOAT:
            return st.floats(width=32)
        if kind == FieldDescriptor.TYPE_DOUBLE:
            return st.floats()
        return _integers(f)


def _assemble(cls: type[Message], drawn: dict[str, Any]) -> Message:
    message = cls()
    fields: Any = message.DESCRIPTOR.fields_by_name
    for name, value in drawn.items():
        if name.startswith("oneof:"):
            member, member_value = value
            _set(message, fields[member], member_value)
        else:
            _set(message, fields[name], value)
    return message


def _set(message: Message, f: FieldDescriptor, value: Any) -> None:
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        container = getattr(message, f.name)
        for k, v in value.items():
            if isinstance(v, Message):
                container[k].CopyFrom(v)
            else:
                container[k] = v
    elif f.is_repeated:
        container = getattr(message, f.name)
        if f.message_type is not None:
            for item in value:
                container.add().CopyFrom(item)
        else:
            container.extend(value)
    elif f.message_type is not None:
        getattr(message, f.name).CopyFrom(value)
    else:
        setattr(message, f.name, value)


def messages(
    descriptor: Descriptor, *, plausible: Plausible = _no_plausible, max_depth: int = DEFAULT_DEPTH
) -> st.SearchStrategy[Message]:
    """Messages of `descriptor` with fuzzed values in any subset of their fields."""
    return _Builder(plausible, max_depth).message(descriptor, 0)


def overlaid(base: Message, fuzzed: st.SearchStrategy[Message]) -> st.SearchStrategy[Message]:
    """A plausible request `base` with the fields a fuzzed message sets replaced by its values: one or
    two bad fields in an otherwise good request reach deeper. A request with an idempotency key gets a
    new key each time unless the fuzzed message sets one."""
    keys = itertools.count()
    run = uuid.uuid4().hex[:8]  # keys of this run only (a retry with an old key would replay)

    def overlay(patch: Message) -> Message:
        request = type(base)()
        request.CopyFrom(base)
        if "idempotency_key" in request.DESCRIPTOR.fields_by_name:
            setattr(request, "idempotency_key", f"fuzz-{run}-{next(keys)}")  # noqa: B010
        for f, _ in patch.ListFields():
            request.ClearField(f.name)
        request.MergeFrom(patch)
        return request

    return fuzzed.map(overlay)


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buffer = bytearray(data)
    for position, byte in edits:
        if buffer:
            buffer[position % len(buffer)] = byte
    return bytes(buffer if cut is None else buffer[: cut % (len(buffer) + 1)])


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def nested_field_one(depth: int) -> bytes:
    """Field 1 inside field 1 inside ... `depth` levels: past the parser's recursion limit when deep."""
    data = b""
    for _ in range(depth):
        data = b"\x0a" + _varint(len(data)) + data
    return data


# A length-delimited field 1 of 4 bytes holding invalid UTF-8; appended to an encoding it makes the
# first field (in every Confide request a string or a message) undecodable or non-UTF-8.
INVALID_UTF8_FIELD = b"\x0a\x04\xc3\x28\xff\xfe"


def payloads(requests: st.SearchStrategy[Message]) -> st.SearchStrategy[bytes]:
    """Serialized requests, and bytes no serializer would write: random, mutated, truncated, invalid
    UTF-8, field 1 nested hundreds of levels deep."""
    encoded = requests.map(lambda m: m.SerializeToString())
    garbage = st.one_of(
        st.binary(max_size=64),
        st.builds(
            _mutate,
            encoded,
            st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255)), min_size=1, max_size=4),
            st.one_of(st.none(), st.integers(0, 2**16)),
        ),
        encoded.map(lambda data: data + INVALID_UTF8_FIELD),
        st.integers(1, 300).map(nested_field_one),
    )
    return st.one_of(encoded, encoded, encoded, garbage)  # three in four are well-formed

"""Boundary values on every field of every RPC of every service: never INTERNAL, never UNKNOWN, and the
`grpc-message` a caller gets stays small whatever it sent.

Nothing here is a hand list: the RPCs are those each running service registered (read from the
descriptor pool by the names the services added), the requests are built from their descriptors, and
the caller's token carries a role the RPC's declared access admits. The real services (identity,
compliance, scheduling, billing, messaging, directory) run in-process over real gRPC, PostgreSQL and
Kafka, demo-seeded as `make run` seeds them, so a plausible request reaches the domain and each
mutation of one field probes how far a boundary value gets.

For each RPC: a plausible baseline request (ids of the demo data, a time zone, instants a few days
ahead), then, for every field reachable in the request (nested messages and the first element of lists
included), that baseline with the field set to each boundary value of its type:

- strings: empty, the longest allowed, one longer, 1 MB, a NUL, invalid UTF-8 on the raw wire, and a
  4 KB value for time-zone fields;
- integers: the type's min and max, -1, the declared bounds ± 1; enums: unknown numbers;
- Timestamps: year 1, 9999-12-31T23:59:59Z, nanos -1 and 1e9, and the window's own edges (valid
  but extreme instants, which must not break the domain's date arithmetic);
- LocalDates: 0001-01-01, 9999-12-31, 2023-02-29, an empty date, and the window's edges;
- TimeRanges: the window's first and last week, and the whole window;
- lists: one more than allowed and 100,000 items; messages: unset.

Each RPC also gets undecodable bytes and a call without a token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2

from confide_chassis.grpc import validation
from confide_chassis.grpc.status import details_of, status_from_error

from .services_in_process import (
    MEGABYTE,
    Platform,
    baseline,
    baseline_value,
    caller_role,
    fill,
    methods,
    rules_of,
    token,
)

pytestmark = pytest.mark.integration

# What the caller may see of an error, at most (the chassis bounds statuses well below this).
MAX_GRPC_MESSAGE_CHARS = 1024
MAX_TRAILER_BYTES = 16 * 1024
CONCURRENCY = 8

YEAR_1 = -62135596800
LAST_SECOND_OF_9999 = 253402300799
WINDOW_FIRST = int(validation.WINDOW_START.timestamp())
WINDOW_LAST = int(validation.WINDOW_END.timestamp()) - 1
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
# Replaced, byte for byte, by invalid UTF-8 after serializing (same length: the framing stays valid).
UTF8_MARKER = "QzQzQzQzQzQz"
INVALID_UTF8 = b"\xc3\x28" * (len(UTF8_MARKER) // 2)
# Values the edge itself refuses whatever the field's rules: the answer must be INVALID_ARGUMENT naming
# the field, before any handler runs.
REFUSED_AT_THE_EDGE = frozenset(
    {
        "1 MB",
        "NUL",
        "unknown number",
        "negative unknown",
        "year 1",
        "9999-12-31T23:59:59Z",
        "negative nanos",
        "nanos 1e9",
        "0001-01-01",
        "9999-12-31",
        "2023-02-29",
        "max items + 1",
        "declared min - 1",
        "declared max + 1",
        "4 KB",
        "not a zone",
    }
)

_INT32_TYPES = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_INT64_TYPES = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64}
_UINT32_TYPES = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
_UINT64_TYPES = {FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64}


# --- field paths and boundary values -------------------------------------------------------------------

Step = tuple[FieldDescriptor, int | None]  # a field, and the list index when it is an element


@dataclass(frozen=True)
class Probe:
    path: str
    label: str
    apply: Callable[[Message], None]


def _leaves(
    descriptor: Descriptor, prefix: str, steps: tuple[Step, ...], seen: frozenset[str]
) -> Iterator[tuple[str, tuple[Step, ...], FieldDescriptor]]:
    """Every field below `descriptor` (the first element of lists), once per path; recursive types stop."""
    for f in descriptor.fields:
        path = f"{prefix}{f.name}"
        yield path, (*steps, (f, None)), f
        nested = f.message_type
        if (
            nested is None
            or nested.full_name in seen
            or nested.GetOptions().map_entry
            or nested.full_name.startswith("google.protobuf.")
            or nested.full_name == "confide.common.v1.LocalDate"
        ):
            continue
        index = 0 if f.is_repeated else None
        element = f"{path}[0]" if f.is_repeated else path
        yield from _leaves(nested, f"{element}.", (*steps, (f, index)), seen | {nested.full_name})


def _parent(message: Message, steps: tuple[Step, ...]) -> Message:
    """The message holding the last step's field, creating nested messages and list elements as needed."""
    current = message
    for f, index in steps[:-1]:
        if index is None:
            current = getattr(current, f.name)
        else:
            container = getattr(current, f.name)
            while len(container) <= index:
                container.add()
            current = container[index]
    return current


def _setter(steps: tuple[Step, ...], value: Any) -> Callable[[Message], None]:
    def apply(message: Message) -> None:
        parent = _parent(message, steps)
        f = steps[-1][0]
        if f.is_repeated:
            container = getattr(parent, f.name)
            del container[:]
            if f.message_type is not None:
                for item in value:
                    container.add().CopyFrom(item)
            else:
                container.extend(value)
        elif f.message_type is not None:
            if value is None:
                parent.ClearField(f.name)
            else:
                getattr(parent, f.name).CopyFrom(value)
        else:
            setattr(parent, f.name, value)

    return apply


def _timestamp(seconds: int, nanos: int = 0) -> Message:
    cls = GetMessageClass(descriptor_pool.Default().FindMessageTypeByName("google.protobuf.Timestamp"))
    return cls(seconds=seconds, nanos=nanos)


def _time_range(start: int, end: int) -> Message:
    cls = GetMessageClass(descriptor_pool.Default().FindMessageTypeByName("confide.common.v1.TimeRange"))
    return cls(start=_timestamp(start), end=_timestamp(end))


def _local_date(year: int, month: int, day: int) -> Message:
    cls = GetMessageClass(descriptor_pool.Default().FindMessageTypeByName("confide.common.v1.LocalDate"))
    return cls(year=year, month=month, day=day)


def _scalar_boundaries(f: FieldDescriptor) -> list[tuple[str, Any]]:
    kind = f.type
    rules = rules_of(f)
    if kind == FieldDescriptor.TYPE_STRING:
        longest = rules.max_length or validation.DEFAULT_MAX_STRING_LENGTH
        values: list[tuple[str, Any]] = [
            ("empty", ""),
            ("max length", "x" * longest),
            ("max length + 1", "x" * (longest + 1)),
            ("1 MB", "x" * MEGABYTE),
            ("NUL", "a\x00b"),
            ("invalid UTF-8", UTF8_MARKER),
        ]
        if rules.time_zone or f.name.endswith("time_zone"):
            values += [("4 KB", "America/" + "x" * 4096), ("not a zone", "Mars/Olympus_Mons")]
        return values
    if kind == FieldDescriptor.TYPE_BYTES:
        longest = rules.max_bytes or validation.DEFAULT_MAX_BYTES
        return [("empty", b""), ("max bytes + 1", b"x" * (longest + 1))]
    if kind == FieldDescriptor.TYPE_BOOL:
        return [("true", True)]
    if kind == FieldDescriptor.TYPE_ENUM:
        return [("unknown number", 12345), ("negative unknown", -7), ("int32 max", INT32[1])]
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return [("nan", float("nan")), ("inf", float("inf")), ("-1e308", -1e308)]
    if kind in _INT32_TYPES:
        low, high = INT32
    elif kind in _INT64_TYPES:
        low, high = INT64
    elif kind in _UINT32_TYPES:
        low, high = 0, UINT32_MAX
    else:
        low, high = 0, UINT64_MAX
    values = [("type min", low), ("type max", high), ("zero", 0)]
    if low < 0:
        values.append(("-1", -1))
    # Zero is "unset" in proto3: bounds apply to the other values.
    if rules.HasField("min") and low <= rules.min - 1 and rules.min - 1 != 0:
        values.append(("declared min - 1", rules.min - 1))
    if rules.HasField("max") and rules.max + 1 <= high and rules.max + 1 != 0:
        values.append(("declared max + 1", rules.max + 1))
    return values


def _message_boundaries(f: FieldDescriptor) -> list[tuple[str, Any]]:
    assert f.message_type is not None
    name = f.message_type.full_name
    values: list[tuple[str, Any]] = [("unset", None)]
    if name == "google.protobuf.Timestamp":
        values += [
            ("year 1", _timestamp(YEAR_1)),
            ("9999-12-31T23:59:59Z", _timestamp(LAST_SECOND_OF_9999)),
            ("negative nanos", _timestamp(int(time.time()) + 86400, -1)),
            ("nanos 1e9", _timestamp(int(time.time()) + 86400, 1_000_000_000)),
            ("int64 max seconds", _timestamp(INT64[1])),
            ("window start", _timestamp(WINDOW_FIRST)),
            ("window end", _timestamp(WINDOW_LAST, 999_999_999)),
        ]
    elif name == "confide.common.v1.TimeRange":
        week = 7 * 86400
        values += [
            ("the window's first week", _time_range(WINDOW_FIRST, WINDOW_FIRST + week)),
            ("the window's last week", _time_range(WINDOW_LAST - week, WINDOW_LAST)),
            ("the whole window", _time_range(WINDOW_FIRST, WINDOW_LAST)),
        ]
    elif name == "confide.common.v1.LocalDate":
        values += [
            ("0001-01-01", _local_date(1, 1, 1)),
            ("9999-12-31", _local_date(9999, 12, 31)),
            ("2023-02-29", _local_date(2023, 2, 29)),
            ("empty date", _local_date(0, 0, 0)),
            ("int32 extremes", _local_date(INT32[1], INT32[0], INT32[1])),
            ("window start", _local_date(1900, 1, 1)),
            ("window end", _local_date(2199, 12, 31)),
        ]
    return values


def probes_of(request_type: Descriptor, now: datetime) -> Iterator[Probe]:
    for path, steps, f in _leaves(request_type, "", (), frozenset({request_type.full_name})):
        is_map = f.message_type is not None and f.message_type.GetOptions().map_entry
        element_values = (
            _message_boundaries(f) if f.message_type is not None and not is_map else _scalar_boundaries(f)
        )
        if f.is_repeated:
            rules = rules_of(f)
            most = rules.max_items or validation.DEFAULT_MAX_ITEMS
            if is_map:
                continue  # no request has a map yet; the validator's unit tests cover them
            sample = _sample_element(f, now)
            yield Probe(path, "max items + 1", _setter(steps, [sample] * (most + 1)))
            yield Probe(path, "100,000 items", _setter(steps, [sample] * 100_000))
            element_steps = (*steps[:-1], (f, 0))
            for label, value in element_values:
                if value is None:
                    continue
                yield Probe(f"{path}[0]", label, _element_setter(element_steps, value))
        else:
            for label, value in element_values:
                yield Probe(path, label, _setter(steps, value))


def _sample_element(f: FieldDescriptor, now: datetime) -> Any:
    if f.message_type is not None:
        element = GetMessageClass(f.message_type)()
        fill(element, 1, now)
        return element
    return baseline_value(f, None, 0, now)


def _element_setter(steps: tuple[Step, ...], value: Any) -> Callable[[Message], None]:
    def apply(message: Message) -> None:
        f = steps[-1][0]
        parent = _parent(message, steps)
        container = getattr(parent, f.name)
        if f.message_type is not None:
            if not len(container):
                container.add()
            container[0].CopyFrom(value)
        elif len(container):
            container[0] = value
        else:
            container.append(value)

    return apply


# --- sending ---------------------------------------------------------------------------------------------


@dataclass
class Finding:
    method: str
    what: str
    code: str
    details: str


@dataclass
class Report:
    calls: int = 0
    findings: list[Finding] = field(default_factory=list)


def _serialize(request: Message) -> bytes:
    data = request.SerializeToString()
    return data.replace(UTF8_MARKER.encode(), INVALID_UTF8)


async def _send(
    channel: grpc.aio.Channel,
    path: str,
    payload: bytes,
    metadata: tuple[tuple[str, str], ...],
    report: Report,
    what: str,
    refused_field: str | None = None,
    streaming: bool = False,
) -> None:
    report.calls += 1
    try:
        if streaming:  # a server stream (live chat): its first answer, or its end, is what counts
            stream = channel.unary_stream(
                path, request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            async for _ in stream(payload, metadata=metadata, timeout=5):
                break
        else:
            call = channel.unary_unary(
                path, request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            await call(payload, metadata=metadata, timeout=30)
        if refused_field is not None:
            report.findings.append(Finding(path, what, "OK", "accepted; the edge should refuse it"))
    except grpc.aio.AioRpcError as error:
        code = error.code()
        details = error.details() or ""
        trailer = sum(len(k) + len(v) for k, v in (error.trailing_metadata() or ()))
        if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            report.findings.append(Finding(path, what, code.name, details[:160]))
        elif code is grpc.StatusCode.DEADLINE_EXCEEDED and streaming and refused_field is None:
            pass  # a stream that is open and quiet: accepted
        elif len(details) > MAX_GRPC_MESSAGE_CHARS or trailer > MAX_TRAILER_BYTES:
            report.findings.append(
                Finding(
                    path, what, f"{code.name} with {len(details)}-char message, {trailer}-byte trailer", ""
                )
            )
        elif refused_field is not None and refused_field not in _violated_fields(error):
            report.findings.append(Finding(path, what, code.name, f"not INVALID_ARGUMENT on {refused_field}"))


def _violated_fields(error: grpc.aio.AioRpcError) -> set[str]:
    if error.code() is not grpc.StatusCode.INVALID_ARGUMENT:
        return set()
    status = status_from_error(error)
    return {
        violation.field
        for detail in (details_of(status) if status is not None else [])
        if isinstance(detail, error_details_pb2.BadRequest)
        for violation in detail.field_violations
    }


async def test_no_boundary_value_on_any_field_of_any_rpc_is_an_internal_error(platform: Platform) -> None:
    report = Report()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    rpcs = list(methods(platform))
    assert len(rpcs) > 60, "every service's RPCs are walked"
    assert {running.port for running, _, _ in rpcs} == {r.port for r in platform.services}
    covered_fields = 0

    async def bounded(coroutine: Any) -> None:
        async with semaphore:
            await coroutine

    for running, service, method in rpcs:
        rpc = f"/{service.full_name}/{method.name}"
        channel = platform.channels[running.port]
        role = caller_role(running.context.access.get(rpc))
        signed_in = (("authorization", f"Bearer {token(platform.keys, role)}"),) if role else ()
        input_type = method.input_type
        streams = method.server_streaming
        jobs = [
            _send(channel, rpc, _serialize(baseline(input_type, now)), signed_in, report, "baseline"),
            _send(
                channel, rpc, _serialize(baseline(input_type, now)), (), report, "baseline without a token"
            ),
            _send(
                channel, rpc, b"\xff\xff\xff\xff", signed_in, report, "undecodable bytes", streaming=streams
            ),
            _send(
                channel,
                rpc,
                b"\x0a\xff\x01",
                (),
                report,
                "truncated bytes without a token",
                streaming=streams,
            ),
        ]
        paths = set()
        for probe in probes_of(method.input_type, now):
            paths.add(probe.path)
            request = baseline(input_type, now)
            probe.apply(request)
            payload = _serialize(request)
            refused = probe.path if probe.label in REFUSED_AT_THE_EDGE else None
            jobs.append(
                _send(
                    channel,
                    rpc,
                    payload,
                    signed_in,
                    report,
                    f"{probe.path} = {probe.label}",
                    refused,
                    streaming=streams,
                )
            )
            if probe.label in ("1 MB", "invalid UTF-8"):
                jobs.append(
                    _send(
                        channel,
                        rpc,
                        payload,
                        (),
                        report,
                        f"{probe.path} = {probe.label}, no token",
                        streaming=streams,
                    )
                )
        covered_fields += len(paths)
        await asyncio.gather(*(bounded(job) for job in jobs))

    assert covered_fields > 300, covered_fields
    assert not report.findings, f"{len(report.findings)} of {report.calls} calls:\n" + "\n".join(
        f"{f.method} [{f.what}] -> {f.code} {f.details}" for f in report.findings
    )

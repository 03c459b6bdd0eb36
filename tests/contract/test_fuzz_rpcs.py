"""Hypothesis fuzzing of every RPC of every service, straight to its gRPC port.

For each RPC the services registered, Hypothesis draws requests from the request's descriptor
(`message_strategies`): whole fuzzed messages, plausible requests with a few fuzzed fields, random and
mutated bytes. Each is sent as a caller holding a role the RPC's declared access admits (so it gets
past authentication to validation and the handler) or, now and then, anonymously. Every answer must:

- never be INTERNAL or UNKNOWN, with a `grpc-message` of bounded size;
- be INVALID_ARGUMENT when the request breaks a wire rule or does not parse and the caller is
  admitted (refused at the edge, before any handler), UNAUTHENTICATED when an anonymous caller
  calls a non-public RPC;
- leave the service's database as it was when it is an error: no table has more rows after the
  answer than before (row counts of every table of the service's database, before and after; a
  growth is confirmed by resending the same request once the database is quiet, since consumers of
  earlier events write too). The writes the rules require on a refusal are listed in
  `WRITES_ON_REFUSAL` with the rule that asks for them;

and each service must still answer its health check as SERVING afterwards.

Deterministic (`derandomize`, no example database): CI runs the same examples every time.
`FUZZ_EXAMPLES` (default 6 per RPC) raises the count: `make test-fuzz` runs 200 per RPC; `FUZZ_RPCS`
(a regular expression) narrows the run to the RPCs whose path matches.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from confide_chassis.grpc.validation import violations_of
from confide_chassis.service import RunningService

from .message_strategies import messages, overlaid, payloads
from .services_in_process import Platform, baseline, caller_role, methods, string_baseline, token

pytestmark = [
    pytest.mark.integration,
    # Hypothesis warns when the global `random` state moves while it draws an example: here the
    # services run in the same process and use it meanwhile (retry jitter), which is no concern.
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

EXAMPLES_PER_RPC = int(os.environ.get("FUZZ_EXAMPLES", "6"))
# Only the RPCs whose path matches (e.g. "scheduling|BookAppointment"), to dig into one area.
ONLY = re.compile(os.environ.get("FUZZ_RPCS", ""))
MAX_GRPC_MESSAGE_CHARS = 1024
UNARY_TIMEOUT = 30.0
# A valid stream request opens a stream that stays quiet: how long to wait for an error first.
STREAM_TIMEOUT = 2.0
QUIET_SECONDS = 0.3
READY_SECONDS = 60.0
QUIET_ATTEMPTS = 20
# An id of the right shape that names nothing: requests get past id parsing to "not found".
UNKNOWN_ID = "01930000-0000-7000-8000-00000000f0f0"

# Error answers that write on purpose, and why (docs/rules.md). Anything else an error leaves behind is a
# partial write.
WRITES_ON_REFUSAL: dict[str, frozenset[str]] = {
    # A wrong password or MFA code counts toward the address' lockout and is audited as a failed
    # log-in (audit controls, HIPAA §164.312(b): docs/rules.md §3.1).
    "/confide.identity.v1.AuthService/SignIn": frozenset({"sign_in_throttles", "outbox"}),
    "/confide.identity.v1.AuthService/VerifyMfa": frozenset({"sign_in_throttles", "outbox"}),
    # LIC-01: a refused check-in flags the appointment and audits the refusal, then answers
    # FAILED_PRECONDITION with the rule ids.
    "/confide.scheduling.v1.SessionService/CheckIn": frozenset({"outbox"}),
}

_HIDDEN = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})


@dataclass
class Target:
    running: RunningService
    rpc: str
    method: MethodDescriptor
    channel: grpc.aio.Channel
    role: str | None
    public: bool
    tables: list[str]


@dataclass
class Answer:
    code: grpc.StatusCode
    details: str


@dataclass
class Tally:
    calls: int = 0
    codes: collections.Counter[str] = field(default_factory=collections.Counter)
    findings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    rechecks: int = 0
    writes_seen: int = 0


class Problem(AssertionError):
    """An answer that breaks the contract; Hypothesis shrinks the request that caused it."""


def plausible(f: FieldDescriptor) -> list[str]:
    """Values that get a field past the edge and id parsing (demo ids, a real zone, a good key)."""
    values = [string_baseline(f)]
    if f.name.endswith(("_id", "_ids")):
        values.append(UNKNOWN_ID)
    return values


async def _call(target: Target, payload: bytes, signed_in: bool, platform: Platform) -> Answer:
    metadata = (
        (("authorization", f"Bearer {token(platform.keys, target.role)}"),)
        if signed_in and target.role
        else ()
    )
    try:
        if target.method.server_streaming:
            stream = target.channel.unary_stream(
                target.rpc, request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            async for _ in stream(payload, metadata=metadata, timeout=STREAM_TIMEOUT):
                break
        else:
            unary = target.channel.unary_unary(
                target.rpc, request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            await unary(payload, metadata=metadata, timeout=UNARY_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        return Answer(error.code(), error.details() or "")
    return Answer(grpc.StatusCode.OK, "")


async def row_counts(engine: AsyncEngine, tables: list[str]) -> dict[str, int]:
    if not tables:
        return {}
    # Table names come from pg_tables, not from a request.
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)  # noqa: S608
    async with engine.connect() as connection:
        rows = (await connection.execute(text(query))).all()
    return {str(name): int(count) for name, count in rows}


async def _quiet_counts(engine: AsyncEngine, tables: list[str]) -> dict[str, int]:
    """Row counts once they stop changing (consumers of earlier events are done)."""
    counts = await row_counts(engine, tables)
    for _ in range(QUIET_ATTEMPTS):
        await asyncio.sleep(QUIET_SECONDS)
        again = await row_counts(engine, tables)
        if again == counts:
            return counts
        counts = again
    return counts


def _grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {t: after[t] - before[t] for t in after if after[t] > before.get(t, 0)}


def _expected_refusal(target: Target, payload: bytes, signed_in: bool) -> str | None:
    """The code the edge must answer with, when the edge alone decides (None: the handler decides)."""
    if len(payload) > target.running.context.settings.grpc_max_receive_message_bytes:
        return "RESOURCE_EXHAUSTED"  # grpc refuses it before anything else
    if not target.public and not (signed_in and target.role):
        return "UNAUTHENTICATED"
    cls = GetMessageClass(target.method.input_type)
    try:
        request = cls.FromString(payload)
    except DecodeError:
        return "INVALID_ARGUMENT"
    return "INVALID_ARGUMENT" if violations_of(request) else None


async def exercise(target: Target, payload: bytes, signed_in: bool, platform: Platform, tally: Tally) -> None:
    engine = target.running.context.engine
    before = await row_counts(engine, target.tables) if engine is not None else {}
    answer = await _call(target, payload, signed_in, platform)
    tally.calls += 1
    tally.codes[answer.code.name] += 1
    if answer.code in _HIDDEN:
        raise Problem(f"{target.rpc} answered {answer.code.name}: {answer.details[:200]}")
    if len(answer.details) > MAX_GRPC_MESSAGE_CHARS:
        raise Problem(f"{target.rpc} answered a {len(answer.details)}-character grpc-message")
    expected = _expected_refusal(target, payload, signed_in)
    quiet_stream = answer.code is grpc.StatusCode.DEADLINE_EXCEEDED and target.method.server_streaming
    if expected is not None and answer.code.name != expected:
        raise Problem(
            f"{target.rpc} answered {answer.code.name} ({answer.details[:160]}) where the edge must "
            f"answer {expected}"
        )
    if quiet_stream or engine is None:
        return
    grown = _grown(before, await row_counts(engine, target.tables))
    if answer.code is grpc.StatusCode.OK:
        tally.writes_seen += bool(grown)  # the counts do see what a call writes
        return
    allowed = WRITES_ON_REFUSAL.get(target.rpc, frozenset())
    if not set(grown) - allowed:
        return
    # Confirm on a quiet database: the same request again, counted around it alone.
    tally.rechecks += 1
    before = await _quiet_counts(engine, target.tables)
    again = await _call(target, payload, signed_in, platform)
    if again.code is grpc.StatusCode.OK:
        return
    grown = _grown(before, await row_counts(engine, target.tables))
    unexpected = {t: n for t, n in grown.items() if t not in allowed}
    if unexpected:
        raise Problem(f"{target.rpc} answered {again.code.name} and left new rows: {unexpected}")


@dataclass(frozen=True)
class Case:
    payload: bytes
    signed_in: bool

    def __repr__(self) -> str:  # Hypothesis prints failing cases: keep megabyte payloads short
        head = self.payload[:160]
        more = f" +{len(self.payload) - len(head)} bytes" if len(self.payload) > len(head) else ""
        return f"Case(payload={head!r}{more}, signed_in={self.signed_in})"


def _cases(target: Target) -> st.SearchStrategy[Case]:
    request_type = target.method.input_type
    fuzzed = messages(request_type, plausible=plausible)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    good = overlaid(baseline(request_type, now), fuzzed)
    requests = st.one_of(fuzzed, good, good)
    # Mostly as an admitted caller (to reach validation and the handler), sometimes anonymously.
    return st.builds(Case, payloads(requests), st.sampled_from([True, True, True, False]))


def fuzz_in_thread(target: Target, platform: Platform, tally: Tally, loop: asyncio.AbstractEventLoop) -> None:
    """Run Hypothesis for one RPC (in a worker thread; the calls run on the test's event loop)."""

    @settings(
        max_examples=EXAMPLES_PER_RPC,
        derandomize=True,
        database=None,
        deadline=None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
    )
    @given(case=_cases(target))
    def check(case: Case) -> None:
        run = exercise(target, case.payload, case.signed_in, platform, tally)
        asyncio.run_coroutine_threadsafe(run, loop).result()

    started = time.perf_counter()
    try:
        check()
    except Exception as failure:
        tally.findings.append(f"{target.rpc}: {_describe(failure)}")
    tally.seconds[target.rpc] = time.perf_counter() - started


def _describe(failure: BaseException) -> str:
    """A failure and, for Hypothesis' groups (flaky, several bugs), the failures inside, briefly."""
    text = f"{type(failure).__name__}: {str(failure)[:300]}"
    if isinstance(failure, BaseExceptionGroup):
        text += "".join(f"\n    - {_describe(inner)}" for inner in failure.exceptions)
    return text


async def _tables(engine: AsyncEngine | None) -> list[str]:
    if engine is None:
        return []
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'alembic_version' ORDER BY tablename"
            )
        )
        return [str(row[0]) for row in rows]


async def _serving(channel: grpc.aio.Channel) -> bool:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "liveness"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            return False
    return True


async def _not_serving(platform: Platform, within: float) -> list[str]:
    """The services that do not answer SERVING (readiness and liveness) within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        failing = [
            r.context.service for r in platform.services if not await _serving(platform.channels[r.port])
        ]
        if not failing or time.monotonic() > deadline:
            return failing
        await asyncio.sleep(0.5)


async def test_fuzzed_requests_to_every_rpc_are_refused_cleanly_and_write_nothing(platform: Platform) -> None:
    loop = asyncio.get_running_loop()
    tables = {r.port: await _tables(r.context.engine) for r in platform.services}
    by_service: dict[int, list[Target]] = collections.defaultdict(list)
    for running, service, method in methods(platform):
        rpc = f"/{service.full_name}/{method.name}"
        if not ONLY.search(rpc):
            continue
        access = running.context.access.get(rpc)
        by_service[running.port].append(
            Target(
                running,
                rpc,
                method,
                platform.channels[running.port],
                caller_role(access),
                public=access is not None and access.public,
                tables=tables[running.port],
            )
        )
    assert sum(len(t) for t in by_service.values()) > (60 if not ONLY.pattern else 0), "every RPC is fuzzed"
    # Fuzz a ready platform (a service is ready once it has caught up with Kafka and its database).
    assert not await _not_serving(platform, within=READY_SECONDS)
    tally = Tally()

    # One call at a time, so the rows a service's database gains around a call are that call's (or a
    # consumer's of an earlier event): the services share this process' one interpreter anyway.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fuzz") as pool:
        for targets in by_service.values():
            for target in targets:
                await loop.run_in_executor(pool, fuzz_in_thread, target, platform, tally, loop)

    slowest = sorted(tally.seconds.items(), key=lambda item: -item[1])[:5]
    summary = (
        f"{tally.calls} calls ({tally.writes_seen} OK ones wrote rows, {tally.rechecks} errors rechecked), "
        f"answers: {dict(tally.codes.most_common())}, "
        "slowest RPCs: "
        f"{[(rpc, round(seconds, 1)) for rpc, seconds in slowest]}"
    )
    failed = "\n".join(tally.findings)
    assert not tally.findings, f"{len(tally.findings)} RPCs failed ({summary}):\n{failed}"
    unhealthy = await _not_serving(platform, within=READY_SECONDS)
    assert not unhealthy, f"not serving after fuzzing: {unhealthy} ({summary})"
    # Not vacuous: many requests got past the edge to the handlers' own answers.
    edge_codes = ("INVALID_ARGUMENT", "UNAUTHENTICATED")
    past_the_edge = tally.calls - sum(tally.codes[c] for c in edge_codes)
    assert past_the_edge >= tally.calls // 10, summary
    # ... and the row counts saw the writes of successful calls, so they would see a partial one.
    assert tally.writes_seen > 0 or ONLY.pattern, summary
    print(summary)  # noqa: T201 - shown with -s: how deep the run got, and where the time went

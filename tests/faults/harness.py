"""Fault injection against a whole local stack: a load, a kill schedule, and an invariant checker.

The stack is our own (`confide_devstack.stack.LocalStack` with its own Kafka broker and PostgreSQL on
free ports), because we kill parts of it. While clients book, complete sessions and write messages,
each service is SIGKILLed once and started again (what a kubelet does with a crashed pod), the Kafka
broker is restarted once and PostgreSQL once. Clients retry with the same idempotency key on
UNAVAILABLE / DEADLINE_EXCEEDED (at-least-once from the client); afterwards the checker reads every
service's database and Kafka's consumer-group offsets and proves the effects happened exactly once.

Demo data (docs/runbooks/demo-data.md): alex (CA, self-pay) with dr.rivera, sam (TX, insured) with
dr.chen. Alex books sessions weeks ahead (each booking changes what alex can expect from dr.rivera,
so billing issues one Good Faith Estimate version per booking, BILL-31/BILL-34); sam books too (insured:
no estimate, BILL-30) and completes sessions that start within the next two hours (the stack opens
check-in 120 minutes ahead), each of which billing must charge once.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import grpc
import pyotp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from google.protobuf.timestamp_pb2 import Timestamp

from confide.common.v1 import jurisdiction_pb2, time_pb2
from confide.identity.v1 import identity_pb2, identity_pb2_grpc
from confide.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from confide.scheduling.v1 import scheduling_pb2, scheduling_pb2_grpc
from confide_devstack.stack import LocalStack, StackConfig
from confide_devstack.topics import load_topics

ROOT = Path(__file__).resolve().parents[2]

PRACTICE = "01930000-0000-7000-8000-000000000001"
ALEX = "01930000-0000-7000-8000-0000000000e1"
SAM = "01930000-0000-7000-8000-0000000000e2"
RIVERA = "01930000-0000-7000-8000-0000000000c3"
CHEN = "01930000-0000-7000-8000-0000000000c1"
PASSWORD = "Tulip-Harbor-Lantern-42"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SESSION_TYPE = "psychotherapy_30"

SERVICES = ("identity", "scheduling", "messaging", "billing", "compliance", "directory", "gateway")
KAFKA, POSTGRES = "kafka", "postgresql"
#: What a client retries with the same idempotency key: the server may or may not have acted.
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
#: Right after a restart a service has not yet fetched identity's signing keys (it refuses a
#: genuine token for a moment), and events it needs may still be on their way.
WARMING = {grpc.StatusCode.UNAUTHENTICATED}
ATTEMPT_TIMEOUT_S = 30.0
CALL_BUDGET_S = 180.0
#: Sign-in has no idempotency key: an attempt abandoned while the server still works on it spends
#: the MFA challenge, so give it all the time a loaded machine needs.
SIGN_IN_TIMEOUT_S = 120.0
#: An outbox row or a consumed record still pending this long after the load is stuck.
STUCK_AFTER_S = 30.0

T = TypeVar("T")


def progress(message: str) -> None:
    """One line on the console while a long run goes (pytest -s shows it; the report has the rest)."""
    sys.stdout.write(f"[faults {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stdout.flush()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def _key() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What one run does: which faults, how much load at least, how far apart the faults are."""

    faults: tuple[str, ...]
    min_bookings: int
    min_messages: int
    max_sessions: int
    fault_gap_s: float
    settle_s: float = 120.0


FULL_PLAN = FaultPlan(
    faults=(
        "identity",
        "scheduling",
        KAFKA,
        "messaging",
        "billing",
        POSTGRES,
        "compliance",
        "directory",
        "gateway",
    ),
    min_bookings=40,
    min_messages=40,
    max_sessions=4,
    fault_gap_s=6.0,
)
SHORT_PLAN = FaultPlan(
    faults=("scheduling", "billing", POSTGRES),
    min_bookings=6,
    min_messages=6,
    max_sessions=1,
    fault_gap_s=2.0,
)


# -- the stack ------------------------------------------------------------------------------------


def stack_config(run_dir: Path) -> StackConfig:
    """Our own stack: every port free, our own Kafka and PostgreSQL, check-in open 2 hours ahead."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "KAFKA_BOOTSTRAP_SERVERS" and not k.endswith(("_DATABASE_URL", "_GRPC_PORT", "_METRICS_PORT"))
    }
    env |= {
        "CONFIDE_KAFKA_PORT": str(_free_port()),
        "CONFIDE_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "CONFIDE_PG_PORT": str(_free_port()),
        "CONFIDE_STOP_TIMEOUT": "10",
        "LOG_LEVEL": "WARNING",
        # Sessions the load can complete must start soon: open check-in (SCHED-04) 2 hours ahead.
        "SCHEDULING_CHECK_IN_OPENS_MINUTES": "120",
        "SCHEDULING_SLOT_GRANULARITY_MINUTES": "5",
        # Cheap password hashing (the seed hashes with it too): the load signs in, the test is not
        # about argon2, and a 2-core machine under load turns its 64 MiB cost into time-outs.
        "IDENTITY_ARGON2_TIME_COST": "1",
        "IDENTITY_ARGON2_MEMORY_KIB": "8192",
        "IDENTITY_ARGON2_PARALLELISM": "1",
        "GATEWAY_RATE_PER_SECOND": "500",
        "GATEWAY_RATE_BURST": "1000",
    }
    for name in SERVICES:
        env[f"{name.upper()}_GRPC_PORT"] = str(_free_port())
        env[f"{name.upper()}_METRICS_PORT"] = str(_free_port())
    return StackConfig.from_env(env, root=ROOT, run_dir=run_dir)


def grpc_target(stack: LocalStack, name: str) -> str:
    spec = next(s for s in stack.config.services if s.name == name)
    return f"127.0.0.1:{spec.grpc_port}"


def pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


# -- clients ---------------------------------------------------------------------------------------


@dataclass
class CallStats:
    calls: int = 0
    retries: Counter[str] = field(default_factory=Counter)


class Clients:
    """gRPC straight to each service, retrying transient failures with the same request (same key)."""

    def __init__(self, stack: LocalStack) -> None:
        options = [
            # A restarted server must be found again within about a second, not after backoff grew.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.min_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        self._channels = {
            name: grpc.aio.insecure_channel(grpc_target(stack, name), options=options)
            for name in ("identity", "scheduling", "messaging")
        }
        self.auth = identity_pb2_grpc.AuthServiceStub(self._channels["identity"])
        self.availability = scheduling_pb2_grpc.AvailabilityServiceStub(self._channels["scheduling"])
        self.appointments = scheduling_pb2_grpc.AppointmentServiceStub(self._channels["scheduling"])
        self.sessions = scheduling_pb2_grpc.SessionServiceStub(self._channels["scheduling"])
        self.messaging = messaging_pb2_grpc.MessagingServiceStub(self._channels["messaging"])
        self.stats = CallStats()
        self.verbose = bool(os.environ.get("CONFIDE_FAULTS_VERBOSE"))
        self._tokens: dict[str, tuple[str, float]] = {}

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()

    async def call(
        self,
        method: Callable[..., Awaitable[T]],
        request: Any,
        who: str | None,
        *,
        also_retry: Callable[[grpc.aio.AioRpcError], bool] | None = None,
        budget_s: float = CALL_BUDGET_S,
        attempt_timeout_s: float = ATTEMPT_TIMEOUT_S,
    ) -> T:
        """One logical call: the same request until it succeeds, within `budget_s` seconds."""
        deadline = time.monotonic() + budget_s
        self.stats.calls += 1
        delay = 0.2
        while True:
            metadata = (("authorization", f"Bearer {await self.token(who)}"),) if who else ()
            try:
                return await method(request, metadata=metadata, timeout=attempt_timeout_s)
            except grpc.aio.AioRpcError as error:
                code = error.code()
                transient = (
                    code in RETRYABLE
                    or (who is not None and code in WARMING)
                    or (also_retry is not None and also_retry(error))
                )
                if not transient or time.monotonic() > deadline:
                    raise
                self.stats.retries[code.name] += 1
                if self.verbose:
                    progress(
                        f"retry {getattr(method, '_method', method)!r} after {code.name}: {error.details()}"
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    async def token(self, email: str | None) -> str:
        assert email is not None
        cached = self._tokens.get(email)
        if cached is not None and time.monotonic() - cached[1] < 600:
            return cached[0]
        deadline = time.monotonic() + CALL_BUDGET_S
        while True:
            reply = await self.call(
                self.auth.SignIn,
                identity_pb2.SignInRequest(practice_id=PRACTICE, email=email, password=PASSWORD),
                None,
                attempt_timeout_s=SIGN_IN_TIMEOUT_S,
            )
            if not reply.mfa_challenge_token:
                access = reply.session.access_token
                break
            try:
                verified = await self.call(
                    self.auth.VerifyMfa,
                    identity_pb2.VerifyMfaRequest(
                        mfa_challenge_token=reply.mfa_challenge_token, totp_code=pyotp.TOTP(TOTP_SECRET).now()
                    ),
                    None,
                    attempt_timeout_s=SIGN_IN_TIMEOUT_S,
                )
            except grpc.aio.AioRpcError as error:
                # A TOTP code is accepted once per user (replay protection) and a challenge expires:
                # start over with the next code.
                if error.code() != grpc.StatusCode.UNAUTHENTICATED or time.monotonic() > deadline:
                    raise
                self.stats.retries["UNAUTHENTICATED (MFA)"] += 1
                if self.verbose:
                    progress(f"MFA again for {email}: {error.details()}")
                await asyncio.sleep(31 - time.time() % 30)
                continue
            access = verified.session.access_token
            break
        self._tokens[email] = (access, time.monotonic())
        return access


def _rule_violation_in_flight(error: grpc.aio.AioRpcError) -> bool:
    """Before the load: identity's consent/profile/care-team events are still reaching the others."""
    return error.code() in {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED}


# -- the load --------------------------------------------------------------------------------------

ALEX_EMAIL, SAM_EMAIL = "alex@demo-practice.test", "sam@demo-practice.test"
RIVERA_EMAIL, CHEN_EMAIL = "dr.rivera@demo-practice.test", "dr.chen@demo-practice.test"


@dataclass
class Ledger:
    """What the clients were told was committed (acknowledged responses only)."""

    bookings: dict[str, str] = field(default_factory=dict)  # appointment id -> client id
    completed: list[str] = field(default_factory=list)  # appointment ids
    messages: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # thread -> (seq, body)
    failures: list[str] = field(default_factory=list)  # non-transient errors: the test fails on any


@dataclass
class FaultEvent:
    target: str
    at_s: float
    down_s: float
    during_load: bool


def _apart(starts: list[datetime]) -> list[datetime]:
    """Slots that do not overlap (a clinician's session is 30 minutes plus a 5-minute buffer)."""
    picked: list[datetime] = []
    for begins in sorted(starts):
        if not picked or begins - picked[-1] >= timedelta(minutes=35):
            picked.append(begins)
    return picked


class Load:
    def __init__(self, clients: Clients, plan: FaultPlan) -> None:
        self.c = clients
        self.plan = plan
        self.ledger = Ledger()
        self.stop = asyncio.Event()
        self.run_id = uuid.uuid4().hex[:8]
        self._far_slots: dict[str, list[datetime]] = {}
        self._near_slots: list[datetime] = []
        self.threads: dict[str, str] = {}  # client id -> thread id

    async def prepare(self) -> None:
        """Open both clinicians' calendars all week, find slots, open each client's thread."""
        for email, clinician, zone, state in (
            (RIVERA_EMAIL, RIVERA, "America/Los_Angeles", jurisdiction_pb2.JURISDICTION_CA),
            (CHEN_EMAIL, CHEN, "America/Denver", jurisdiction_pb2.JURISDICTION_CO),
        ):
            await self.c.call(
                self.c.availability.SetWeeklySchedule,
                scheduling_pb2.SetWeeklyScheduleRequest(
                    clinician_id=clinician,
                    time_zone=zone,
                    location=state,
                    modalities=[scheduling_pb2.MODALITY_VIDEO],
                    weekly_rules=[
                        scheduling_pb2.WeeklyRule(
                            weekday=day, start=scheduling_pb2.TimeOfDay(), end=scheduling_pb2.TimeOfDay()
                        )
                        for day in scheduling_pb2.Weekday.values()
                        if day != scheduling_pb2.WEEKDAY_UNSPECIFIED
                    ],
                    idempotency_key=_key(),
                ),
                email,
            )
        now = datetime.now(UTC)
        for client, email, state in (
            (ALEX, ALEX_EMAIL, jurisdiction_pb2.JURISDICTION_CA),
            (SAM, SAM_EMAIL, jurisdiction_pb2.JURISDICTION_TX),
        ):
            # Three days at a time: a search answers at most 1,000 slots (5-minute steps).
            found: list[datetime] = []
            for day in range(3, 33, 3):
                found += await self._slots(
                    client, email, state, now + timedelta(days=day), now + timedelta(days=day + 3), 1000
                )
            self._far_slots[client] = _apart(found)
        soon = await self._slots(
            SAM,
            SAM_EMAIL,
            jurisdiction_pb2.JURISDICTION_TX,
            now + timedelta(minutes=3),
            now + timedelta(minutes=110),
            1000,
        )
        self._near_slots = soon[: self.plan.max_sessions]
        for client, email in ((ALEX, ALEX_EMAIL), (SAM, SAM_EMAIL)):
            reply = await self.c.call(
                self.c.messaging.CreateThread,
                messaging_pb2.CreateThreadRequest(client_id=client, idempotency_key=_key()),
                email,
                also_retry=_rule_violation_in_flight,
            )
            self.threads[client] = reply.thread.thread_id
            self.ledger.messages[reply.thread.thread_id] = []

    async def _slots(
        self, client: str, email: str, state: int, start: datetime, end: datetime, limit: int
    ) -> list[datetime]:
        reply = await self.c.call(
            self.c.availability.SearchSlots,
            scheduling_pb2.SearchSlotsRequest(
                client_id=client,
                session_type_code=SESSION_TYPE,
                modality=scheduling_pb2.MODALITY_VIDEO,
                window=time_pb2.TimeRange(start=_ts(start), end=_ts(end)),
                client_state=state,  # type: ignore[arg-type]
                max_results=limit,
            ),
            email,
            also_retry=_rule_violation_in_flight,
        )
        return _apart([slot.time.start.ToDatetime(tzinfo=UTC) for slot in reply.slots])

    async def run(self) -> None:
        workers = [
            self._book_far(ALEX, ALEX_EMAIL, RIVERA, jurisdiction_pb2.JURISDICTION_CA),
            self._book_far(SAM, SAM_EMAIL, CHEN, jurisdiction_pb2.JURISDICTION_TX),
            self._sessions(),
            self._messages(ALEX, ALEX_EMAIL),
            self._messages(SAM, SAM_EMAIL),
        ]
        await asyncio.gather(*(self._guard(w) for w in workers))

    async def _guard(self, work: Awaitable[None]) -> None:
        try:
            await work
        except grpc.aio.AioRpcError as error:
            self.ledger.failures.append(f"{error.code().name}: {error.details()}")

    def _enough(self, done: int, wanted: int) -> bool:
        return self.stop.is_set() and done >= wanted

    async def _book(self, client: str, email: str, clinician: str, state: int, start: datetime) -> str:
        reply = await self.c.call(
            self.c.appointments.BookAppointment,
            scheduling_pb2.BookAppointmentRequest(
                client_id=client,
                clinician_id=clinician,
                session_type_code=SESSION_TYPE,
                modality=scheduling_pb2.MODALITY_VIDEO,
                start_time=_ts(start),
                client_state=state,  # type: ignore[arg-type]
                idempotency_key=_key(),
            ),
            email,
        )
        appointment_id = reply.appointment.appointment_id
        self.ledger.bookings[appointment_id] = client
        return appointment_id

    async def _book_far(self, client: str, email: str, clinician: str, state: int) -> None:
        wanted = self.plan.min_bookings // 2
        done = 0
        for start in self._far_slots[client]:
            if self._enough(done, wanted):
                return
            await self._book(client, email, clinician, state, start)
            done += 1
        self.ledger.failures.append(f"{client}: ran out of slots after {done} bookings")

    async def _sessions(self) -> None:
        for start in self._near_slots:
            appointment = await self._book(SAM, SAM_EMAIL, CHEN, jurisdiction_pb2.JURISDICTION_TX, start)
            await self.c.call(
                self.c.sessions.CheckIn,
                scheduling_pb2.CheckInRequest(
                    appointment_id=appointment,
                    location=scheduling_pb2.ClientLocation(
                        state=jurisdiction_pb2.JURISDICTION_TX, at_home=True
                    ),
                    identity_confirmed=True,
                    idempotency_key=_key(),
                ),
                SAM_EMAIL,
            )
            await self.c.call(
                self.c.sessions.StartSession,
                scheduling_pb2.StartSessionRequest(appointment_id=appointment, idempotency_key=_key()),
                CHEN_EMAIL,
            )
            await self.c.call(
                self.c.sessions.CompleteSession,
                scheduling_pb2.CompleteSessionRequest(
                    appointment_id=appointment,
                    actual_minutes=30,
                    delivered_modality=scheduling_pb2.MODALITY_VIDEO,
                    idempotency_key=_key(),
                ),
                CHEN_EMAIL,
            )
            self.ledger.completed.append(appointment)

    async def _messages(self, client: str, email: str) -> None:
        thread = self.threads[client]
        wanted = self.plan.min_messages // 2
        number = 0
        while not self._enough(number, wanted):
            body = f"fault-load {self.run_id} {client[-2:]} #{number:05d}"
            reply = await self.c.call(
                self.c.messaging.SendMessage,
                messaging_pb2.SendMessageRequest(
                    thread_id=thread,
                    kind=messaging_pb2.MESSAGE_KIND_TEXT_THERAPY,
                    body=body,
                    idempotency_key=_key(),
                ),
                email,
            )
            self.ledger.messages[thread].append((reply.message.sequence, body))
            number += 1
            await asyncio.sleep(0.05)

    @property
    def active(self) -> bool:
        return not self.stop.is_set()


class Kubelet:
    """Restarts a service that exits on its own, as Kubernetes restarts a crashed container.

    The harness's own kills are planned (`planned`); anything else that exits is counted as an
    unplanned exit, which the checker reports as a violation: no fault we inject may crash a service.
    """

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.planned: set[str] = set()
        self.unplanned: list[str] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            for name, proc in list(self.stack.services.items()):
                if name in self.planned or proc.returncode is None:
                    continue
                self.unplanned.append(f"{name} exited on its own (code {proc.returncode})")
                progress(self.unplanned[-1] + "; restarting it")
                self.planned.add(name)
                try:
                    await self.stack.restart_service(name)
                finally:
                    self.planned.discard(name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)

    def stop(self) -> None:
        self._stop.set()


async def inject_faults(
    stack: LocalStack, plan: FaultPlan, load: Load, started: float, kubelet: Kubelet
) -> list[FaultEvent]:
    """Each fault once, `fault_gap_s` apart, while the load runs; each part is back before the next."""
    events: list[FaultEvent] = []
    for target in plan.faults:
        await asyncio.sleep(plan.fault_gap_s * random.uniform(0.5, 1.5))
        during = load.active
        at = time.monotonic() - started
        down = time.monotonic()
        if target == KAFKA:
            assert stack.kafka is not None
            await asyncio.to_thread(stack.kafka.restart)
        elif target == POSTGRES:
            assert stack.postgres is not None
            await asyncio.to_thread(stack.postgres.restart)
        else:
            kubelet.planned.add(target)
            try:
                await stack.kill_service(target)
                await stack.restart_service(target)
            finally:
                kubelet.planned.discard(target)
        events.append(FaultEvent(target, at, time.monotonic() - down, during and load.active))
        progress(f"{target}: down and back in {events[-1].down_s:.1f}s")
    return events


# -- the invariants --------------------------------------------------------------------------------


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    faults: list[FaultEvent] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def table(self) -> str:
        lines = ["", "fault run summary", "-" * 60]
        lines += [f"  {name:<44} {value:>10}" for name, value in self.counts.items()]
        lines += [f"  retried {code:<36} {n:>10}" for code, n in sorted(self.retries.items())]
        lines += [f"  {name:<44} {value:>9.1f}s" for name, value in self.seconds.items()]
        lines += ["  faults (target, at, down, during load):"]
        lines += [
            f"    {f.target:<12} t+{f.at_s:6.1f}s  down {f.down_s:5.1f}s  {'yes' if f.during_load else 'NO'}"
            for f in self.faults
        ]
        lines += ["  violations: " + ("none" if not self.violations else str(len(self.violations)))]
        lines += [f"    - {v}" for v in self.violations]
        return "\n".join(lines)


class Checker:
    def __init__(self, stack: LocalStack, ledger: Ledger, clients: Clients, threads: dict[str, str]) -> None:
        self.stack = stack
        self.ledger = ledger
        self.clients = clients
        self.threads = threads
        self.last_error = ""

    async def _fetch(self, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(pg_dsn(self.stack.database_urls[service]), timeout=10)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def unpublished_outbox(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for service in self.stack.database_urls:
            rows = await self._fetch(
                service,
                "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL",
            )
            result[service] = int(rows[0]["n"])
        return result

    async def consumer_lag(self) -> tuple[dict[str, int], dict[str, int]]:
        """(lag per consumer group, records per DLQ topic)."""
        bootstrap = self.stack.bootstrap_servers
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await admin.start()
        await probe.start()
        try:
            groups = sorted(str(g[0]) for g in await admin.list_consumer_groups())
            committed: dict[str, dict[TopicPartition, int]] = {}
            topics: set[str] = set()
            for group in groups:
                offsets = await admin.list_consumer_group_offsets(group)
                committed[group] = {tp: meta.offset for tp, meta in offsets.items()}
                topics |= {tp.topic for tp in offsets}
            registry = {t.name: t for t in load_topics(ROOT / "protos" / "topics.yaml")}
            dlqs = [name for name, spec in registry.items() if spec.kind == "dlq"]
            partitions = [
                TopicPartition(topic, p)
                for topic in sorted(topics | set(dlqs))
                for p in sorted(probe.partitions_for_topic(topic) or await _partitions(probe, topic))
            ]
            ends = await probe.end_offsets(partitions)
            begins = await probe.beginning_offsets(partitions)
            lag: dict[str, int] = {}
            for group, offsets in committed.items():
                group_topics = {tp.topic for tp in offsets}
                total = 0
                for tp in partitions:
                    if tp.topic in group_topics:
                        # A partition the group never committed on still owes every record in it.
                        total += max(ends[tp] - max(offsets.get(tp, begins[tp]), begins[tp]), 0)
                lag[group] = total
            dlq_records = {
                topic: sum(ends[tp] - begins[tp] for tp in partitions if tp.topic == topic) for topic in dlqs
            }
            return lag, dlq_records
        finally:
            await probe.stop()
            await admin.close()

    async def settle(self, within_s: float) -> float:
        """Wait until every outbox is drained, every group caught up, every effect visible."""
        started = time.monotonic()
        while True:
            try:
                outbox = await self.unpublished_outbox()
                lag, _ = await self.consumer_lag()
                charges = await self._fetch(
                    "billing",
                    "SELECT count(*) AS n FROM charges WHERE appointment_id = ANY($1::text[])",
                    self.ledger.completed,
                )
                expected = await self._fetch(
                    "billing",
                    "SELECT count(*) AS n FROM expected_sessions WHERE appointment_id = ANY($1::text[])",
                    list(self.ledger.bookings),
                )
                if (
                    not any(outbox.values())
                    and not any(lag.values())
                    and charges[0]["n"] >= len(self.ledger.completed)
                    and expected[0]["n"] >= len(self.ledger.bookings)
                ):
                    return time.monotonic() - started
            except (OSError, asyncpg.PostgresError, KafkaError) as error:  # a part still restarting
                self.last_error = repr(error)
            if time.monotonic() - started > within_s:
                return time.monotonic() - started
            await asyncio.sleep(1.0)

    async def check(self, report: Report) -> None:
        v = report.violations
        ledger = self.ledger
        bookings = ledger.bookings
        report.counts["bookings acknowledged"] = len(bookings)
        report.counts["sessions completed"] = len(ledger.completed)
        report.counts["messages acknowledged"] = sum(len(m) for m in ledger.messages.values())
        v.extend(f"client error: {f}" for f in ledger.failures)

        # Scheduling: each acknowledged booking exists once, booked (or completed for the sessions).
        rows = await self._fetch(
            "scheduling",
            "SELECT id::text AS id, status FROM appointments WHERE client_id = ANY($1::uuid[])",
            [ALEX, SAM],
        )
        stored = {r["id"]: r for r in rows}
        report.counts["appointments in scheduling"] = len(rows)
        for appointment_id in bookings:
            if appointment_id not in stored:
                v.append(f"booking {appointment_id} acknowledged but not in scheduling")
        extra = set(stored) - set(bookings)
        if extra:
            v.append(f"{len(extra)} appointment(s) in scheduling that no client was told about (duplicates?)")
        for appointment_id in ledger.completed:
            if appointment_id in stored and stored[appointment_id]["status"] != "completed":
                v.append(
                    f"session {appointment_id} acknowledged complete but is "
                    f"{stored[appointment_id]['status']}"
                )

        # Billing: every booking reached billing once; Good Faith Estimates only for self-pay alex,
        # one version per booking that changed what alex can expect, exactly one current.
        expected = await self._fetch(
            "billing",
            "SELECT appointment_id AS id FROM expected_sessions WHERE client_id = ANY($1::text[])",
            [ALEX, SAM],
        )
        seen = Counter(r["id"] for r in expected)
        for appointment_id in bookings:
            if seen[appointment_id] != 1:
                v.append(f"booking {appointment_id} reached billing {seen[appointment_id]} times")
        estimates = await self._fetch(
            "billing",
            "SELECT client_id AS client, version, superseded FROM good_faith_estimates "
            "WHERE client_id = ANY($1::text[]) ORDER BY client_id, version",
            [ALEX, SAM],
        )
        alex_bookings = sum(1 for c in bookings.values() if c == ALEX)
        alex_estimates = [e for e in estimates if e["client"] == ALEX]
        report.counts["good faith estimates (alex, self-pay)"] = len(alex_estimates)
        report.counts["good faith estimates (sam, insured)"] = len(estimates) - len(alex_estimates)
        if len(estimates) != len(alex_estimates):
            v.append("an insured client (sam) got a Good Faith Estimate (BILL-30)")
        if [e["version"] for e in alex_estimates] != list(range(1, alex_bookings + 1)):
            v.append(
                f"alex's {alex_bookings} bookings produced estimate versions "
                f"{[e['version'] for e in alex_estimates]} (want one per booking: 1..{alex_bookings})"
            )
        current = [e for e in alex_estimates if not e["superseded"]]
        if alex_bookings and len(current) != 1:
            v.append(f"alex has {len(current)} current Good Faith Estimates (want exactly 1)")

        # Billing: every completed session charged exactly once, nothing else charged.
        charges = await self._fetch(
            "billing",
            "SELECT appointment_id AS id, kind FROM charges WHERE client_id = ANY($1::text[])",
            [ALEX, SAM],
        )
        charged = Counter(r["id"] for r in charges)
        report.counts["charges"] = len(charges)
        for appointment_id in ledger.completed:
            if charged[appointment_id] != 1:
                v.append(f"completed session {appointment_id} has {charged[appointment_id]} charges (want 1)")
        stray = set(charged) - set(ledger.completed)
        if stray:
            v.append(f"{len(stray)} charge(s) for sessions nobody completed")

        # Messaging: each acknowledged message once, in the order it was sent, nothing else.
        stored_messages = 0
        for client, thread in self.threads.items():
            sent = ledger.messages[thread]
            listed: list[tuple[int, str]] = []
            after = 0
            email = ALEX_EMAIL if client == ALEX else SAM_EMAIL
            while True:
                page = await self.clients.call(
                    self.clients.messaging.ListMessages,
                    messaging_pb2.ListMessagesRequest(thread_id=thread, after_sequence=after, page_size=200),
                    email,
                )
                listed += [(m.sequence, m.body) for m in page.messages]
                if not page.messages:
                    break
                after = page.messages[-1].sequence
            stored_messages += len(listed)
            if listed != sent:
                bodies = Counter(b for _, b in listed)
                dupes = sum(1 for n in bodies.values() if n > 1)
                missing = len({b for _, b in sent} - set(bodies))
                v.append(
                    f"thread {thread}: {len(sent)} sent, {len(listed)} stored, {dupes} duplicated, "
                    f"{missing} missing, in order: {[b for _, b in listed] == sorted(b for _, b in listed)}"
                )
        report.counts["messages in threads"] = stored_messages

        # The plumbing: nothing stuck in an outbox, every consumer group caught up, no dead letters.
        # Background jobs (reminders, reply-time checks) keep producing events, so "stuck" means
        # "not drained within STUCK_AFTER_S", not "zero at one instant".
        outbox, lag, dlq = await self._drained(STUCK_AFTER_S)
        report.counts["outbox rows unpublished"] = sum(outbox.values())
        for service, n in outbox.items():
            if n:
                v.append(f"{service}: {n} outbox row(s) not published within {STUCK_AFTER_S:.0f}s")
        report.counts["consumer groups"] = len(lag)
        report.counts["consumer lag (all groups)"] = sum(lag.values())
        report.counts["dead letters"] = sum(dlq.values())
        for group, n in lag.items():
            if n:
                v.append(f"consumer group {group} is {n} record(s) behind after {STUCK_AFTER_S:.0f}s")
        for topic, n in dlq.items():
            if n:
                v.append(f"{topic} holds {n} dead letter(s)")

    async def _drained(self, within_s: float) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        deadline = time.monotonic() + within_s
        while True:
            outbox = await self.unpublished_outbox()
            lag, dlq = await self.consumer_lag()
            if (not any(outbox.values()) and not any(lag.values())) or time.monotonic() > deadline:
                return outbox, lag, dlq
            await asyncio.sleep(1.0)


async def _partitions(probe: AIOKafkaConsumer, topic: str) -> set[int]:
    await probe._client.force_metadata_update()
    return probe.partitions_for_topic(topic) or set()


# -- one run ---------------------------------------------------------------------------------------


async def run_faults(plan: FaultPlan, run_dir: Path) -> Report:
    """Start a stack, load it, inject `plan`'s faults, stop the load, settle, check. Always stops it."""
    report = Report()
    began = time.monotonic()
    console = io.StringIO()  # service output: the log files under run_dir/logs keep all of it
    stack = LocalStack(stack_config(run_dir), out=console)
    clients: Clients | None = None
    try:
        await stack.start()
        report.seconds["stack start"] = time.monotonic() - began
        progress(f"stack up in {report.seconds['stack start']:.0f}s")
        clients = Clients(stack)
        load = Load(clients, plan)
        prepared = time.monotonic()
        await load.prepare()
        report.seconds["load preparation"] = time.monotonic() - prepared
        progress(f"load prepared in {report.seconds['load preparation']:.0f}s; injecting {plan.faults}")
        started = time.monotonic()
        kubelet = Kubelet(stack)
        supervising = asyncio.create_task(kubelet.run())
        running = asyncio.create_task(load.run())
        try:
            report.faults = await inject_faults(stack, plan, load, started, kubelet)
        finally:
            load.stop.set()
        await running
        report.seconds["load with faults"] = time.monotonic() - started
        progress(f"load and faults done in {report.seconds['load with faults']:.0f}s")
        checker = Checker(stack, load.ledger, clients, load.threads)
        report.seconds["settle"] = await checker.settle(plan.settle_s)
        kubelet.stop()
        await supervising
        report.counts["unplanned service exits"] = len(kubelet.unplanned)
        report.violations.extend(kubelet.unplanned)
        progress(f"settled in {report.seconds['settle']:.0f}s {checker.last_error}")
        await checker.check(report)
        report.retries = dict(clients.stats.retries)
        report.counts["client calls"] = clients.stats.calls
        report.seconds["total"] = time.monotonic() - began
        return report
    finally:
        if clients is not None:
            await clients.close()
        with contextlib.suppress(Exception):
            await stack.shutdown()

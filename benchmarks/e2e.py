"""End-to-end load benchmark of the whole platform, each figure beside a baseline measured in the same run.

    make bench                                   # chassis benchmarks, then this one
    .venv/bin/python -m benchmarks.run --only e2e [--quick]

The platform is started as `make run` starts it (`python -m confide_devstack run`: its own Kafka and
PostgreSQL, every service as its own process, demo data seeded), on free ports. The load generator is
this process: grpc.aio clients straight to each service's gRPC port, latencies in HDR-style histograms.

Baselines, on this machine in this run:
- a bare grpc.aio echo server in its own process (no auth, no database), concurrency 16;
- a bare aiokafka produce -> consume round trip on the platform's broker, 200 records/s open loop.

Measured:
- booking: BookAppointment (authenticated; consent, screening, availability, compliance's decision
  over gRPC, the per-clinician lock, the insert, outbox and audit in one transaction) at concurrency 16;
- event freshness: booking answered -> billing's Good Faith Estimate committed; CompleteSession
  answered -> billing's charge committed. "Committed" is when a reader of billing's database first
  sees the outbox row written in the same transaction (polled every 10 ms), so each figure is an
  upper bound by at most the poll interval, and the start is the client receiving the answer, which
  comes after scheduling's commit;
- chat: SendMessage -> the message arriving on a subscriber's open StreamMessages, 200 messages/s
  spread over 100 open streams (open loop: latency counts from the intended send time, so a
  falling-behind sender shows up as latency instead of being hidden);
- memory: VmRSS of each service process when idle and sampled under load, and VmHWM at the end.

With ``BENCH_PY_SPY=<path to py-spy>`` the scheduling and billing processes are profiled while the
booking load runs (``.run/bench/profiles/<service>-booking.{raw,txt}``; see profile_summary.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import platform as host
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import grpc
import pyotp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from google.protobuf.timestamp_pb2 import Timestamp

from benchmarks.histogram import Histogram
from benchmarks.profile_summary import summarize
from confide.billing.v1 import events_pb2 as billing_events
from confide.common.v1 import jurisdiction_pb2
from confide.devtest.v1 import devtest_pb2, devtest_pb2_grpc
from confide.identity.v1 import identity_pb2, identity_pb2_grpc
from confide.messaging.v1 import messaging_pb2 as msg
from confide.messaging.v1 import messaging_pb2_grpc as msg_grpc
from confide.scheduling.v1 import scheduling_pb2 as sched
from confide.scheduling.v1 import scheduling_pb2_grpc as sched_grpc
from confide_devstack.pytest_plugin import new_topic
from confide_devstack.stack import READY_BANNER, discover_services

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
Metadata = tuple[tuple[str, str], ...]

PRACTICE = "01930000-0000-7000-8000-000000000001"
# The demo accounts of `make run` (docs/runbooks/demo-data.md): development only.
PASSWORD = "Tulip-Harbor-Lantern-42"  # noqa: S105
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105
START_SECONDS = 300.0
PROPAGATION_SECONDS = 120.0
# psychotherapy_30 with 5-minute buffers each side fits every 45 minutes on the 15-minute grid.
SESSION_TYPE = "psychotherapy_30"
SLOT_SPACING = timedelta(minutes=45)
# Scheduling lets clients check in this long before the start (its maximum), so that sessions booked
# for the next two hours can be checked in, started and completed during the run.
CHECK_IN_OPENS_MINUTES = 120
STREAMS = 100
CHAT_RATE = 200.0
POLL_SECONDS = 0.01
MAX_IN_FLIGHT = 64


@dataclass(frozen=True)
class Pair:
    """A demo client and the clinician who may lawfully treat them (docs/runbooks/demo-data.md)."""

    client_email: str
    client_id: str
    clinician_email: str
    clinician_id: str
    state: jurisdiction_pb2.Jurisdiction.ValueType
    clinician_state: jurisdiction_pb2.Jurisdiction.ValueType
    time_zone: str


PAIRS = (
    Pair(
        "alex@demo-practice.test",
        "01930000-0000-7000-8000-0000000000e1",
        "dr.rivera@demo-practice.test",
        "01930000-0000-7000-8000-0000000000c3",
        jurisdiction_pb2.JURISDICTION_CA,
        jurisdiction_pb2.JURISDICTION_CA,
        "America/Los_Angeles",
    ),
    Pair(
        "sam@demo-practice.test",
        "01930000-0000-7000-8000-0000000000e2",
        "dr.chen@demo-practice.test",
        "01930000-0000-7000-8000-0000000000c1",
        jurisdiction_pb2.JURISDICTION_TX,
        jurisdiction_pb2.JURISDICTION_CO,  # PSYPACT APIT: treats TX from CO
        "America/Denver",
    ),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def key() -> str:
    return str(uuid.uuid4())


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def ratio(value: float, baseline: float) -> float | None:
    return float(f"{value / baseline:.3g}") if baseline and value == value else None


# -- the platform -------------------------------------------------------------------------------


@dataclass
class Platform:
    info: dict[str, Any]
    proc: asyncio.subprocess.Process
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    def channel(self, service: str) -> grpc.aio.Channel:
        if service not in self.channels:
            self.channels[service] = grpc.aio.insecure_channel(self.info["services"][service]["grpc"])
        return self.channels[service]

    def pids(self) -> dict[str, int]:
        return {name: int(s["pid"]) for name, s in self.info["services"].items() if s.get("pid")}

    def database(self, service: str) -> str:
        return str(self.info["services"][service]["database_url"]).replace("postgresql+asyncpg", "postgresql")


@contextlib.asynccontextmanager
async def running_platform(run_dir: Path) -> AsyncIterator[Platform]:
    env: dict[str, str] = {
        "CONFIDE_RUN_DIR": str(run_dir),
        "CONFIDE_KAFKA_PORT": str(free_port()),
        "CONFIDE_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CONFIDE_PG_PORT": str(free_port()),
        "SCHEDULING_CHECK_IN_OPENS_MINUTES": str(CHECK_IN_OPENS_MINUTES),
    }
    for spec in discover_services(ROOT / "services", {}):
        env[f"{spec.env_prefix}_GRPC_PORT"] = str(free_port())
        env[f"{spec.env_prefix}_METRICS_PORT"] = str(free_port())
    await asyncio.to_thread(run_dir.mkdir, parents=True, exist_ok=True)
    with (run_dir.parent / "stack-console.log").open("wb") as console:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "confide_devstack", "run",
            stdout=asyncio.subprocess.PIPE, stderr=console, env={**os.environ, **env}, cwd=ROOT,
        )  # fmt: skip
        ready = asyncio.Event()
        tail: list[str] = []

        async def drain() -> None:
            assert proc.stdout is not None
            while line := await proc.stdout.readline():
                text = line.decode(errors="replace")
                tail[:] = [*tail[-60:], text]
                if READY_BANNER in text:
                    ready.set()

        drainer = asyncio.create_task(drain())
        platform: Platform | None = None
        try:
            waiting = asyncio.create_task(ready.wait())
            exited = asyncio.create_task(proc.wait())
            await asyncio.wait({waiting, exited}, timeout=START_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            exited.cancel()
            if not ready.is_set():
                raise RuntimeError("the platform did not start:\n" + "".join(tail))
            info = json.loads((run_dir / "stack.json").read_text(encoding="utf-8"))
            platform = Platform(info, proc)
            yield platform
        finally:
            if platform is not None:
                for channel in platform.channels.values():
                    await channel.close()
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 90)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            drainer.cancel()


async def until_accepted(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Retry while the platform is still settling: identity's keys, events not yet projected."""
    retry_on = {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.NOT_FOUND,
    }
    deadline = time.monotonic() + PROPAGATION_SECONDS
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if error.code() not in retry_on or time.monotonic() > deadline:
                raise RuntimeError(f"{what}: {error.code().name} {error.details()}") from error
        await asyncio.sleep(0.5)


async def sign_in(platform: Platform, email: str, *, mfa: bool) -> Metadata:
    auth = identity_pb2_grpc.AuthServiceStub(platform.channel("identity"))
    step = await until_accepted(
        lambda: auth.SignIn(identity_pb2.SignInRequest(practice_id=PRACTICE, email=email, password=PASSWORD)),
        f"{email} signing in",
    )
    if not mfa:
        return bearer(step.session.access_token)
    verified = await auth.VerifyMfa(
        identity_pb2.VerifyMfaRequest(
            mfa_challenge_token=step.mfa_challenge_token, totp_code=pyotp.TOTP(TOTP_SECRET).now()
        )
    )
    return bearer(verified.session.access_token)


# -- memory -------------------------------------------------------------------------------------


def read_status_kib(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values


class MemoryWatch:
    """Peak VmRSS per service process while a phase runs (sampled every 0.5 s)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak_kib: dict[str, int] = dict.fromkeys(pids, 0)
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> dict[str, int]:
        return {name: read_status_kib(pid).get("VmRSS", 0) for name, pid in self.pids.items()}

    async def _run(self) -> None:
        while True:
            for name, rss in self.sample().items():
                self.peak_kib[name] = max(self.peak_kib[name], rss)
            await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


# -- billing's outbox, read as it commits -------------------------------------------------------


class CommitWatch:
    """When each appointment's estimate and charge first became visible in billing's database."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.estimate_seen: dict[str, float] = {}
        self.charge_seen: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def until_seen(self, seen: dict[str, float], appointments: Iterable[str], within: float) -> None:
        """Wait (at most `within` seconds) until every appointment is in `seen`."""
        wanted = set(appointments)
        deadline = time.monotonic() + within
        while not wanted <= seen.keys() and (left := deadline - time.monotonic()) > 0:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self._dsn)
        last = await self._conn.fetchval("SELECT coalesce(max(seq), 0) FROM outbox")
        self._task = asyncio.create_task(self._run(int(last)))

    async def _run(self, last: int) -> None:
        estimate = billing_events.GoodFaithEstimateIssued.DESCRIPTOR.full_name
        charge = billing_events.ChargeCreated.DESCRIPTOR.full_name
        while True:
            rows = await self._conn.fetch(
                "SELECT seq, event_type, payload FROM outbox WHERE seq > $1 AND event_type = ANY($2::text[])"
                " ORDER BY seq",
                last,
                [estimate, charge],
            )
            seen = time.time()
            for row in rows:
                last = max(last, int(row["seq"]))
                if row["event_type"] == estimate:
                    issued = billing_events.GoodFaithEstimateIssued.FromString(row["payload"])
                    self.estimate_seen.setdefault(issued.appointment_id, seen)
                else:
                    created = billing_events.ChargeCreated.FromString(row["payload"])
                    self.charge_seen.setdefault(created.appointment_id, seen)
            if rows:
                self._changed.set()  # and look again at once: there may be more
            else:
                await asyncio.sleep(POLL_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._conn.close()


class DatabaseWaits:
    """What a service's database sessions are doing, sampled from pg_stat_activity every 50 ms.

    py-spy sees a process's CPU; this sees the time its transactions spend waiting: on a lock
    (``Lock/advisory``), on the service itself between statements (``idle in transaction``), on
    the disk (``IO/...``), or running (``active``).
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.counts: dict[str, int] = {}
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            while True:
                rows = await conn.fetch(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
                )
                self.samples += 1
                for row in rows:
                    what = row["state"] or "?"
                    if row["wait_event_type"]:
                        what += f" / {row['wait_event_type']}:{row['wait_event']}"
                    self.counts[what] = self.counts.get(what, 0) + 1
                await asyncio.sleep(0.05)
        finally:
            await conn.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        busiest = sorted(self.counts.items(), key=lambda item: -item[1])[:8]
        # Mean number of database sessions in each state at any moment of the phase.
        return {what: round(n / max(self.samples, 1), 2) for what, n in busiest}


# -- baselines ----------------------------------------------------------------------------------


class Echo(devtest_pb2_grpc.SampleServiceServicer):
    """The test proto's sample service doing no work: what a gRPC call costs and nothing else."""

    async def Echo(self, request: devtest_pb2.EchoRequest, context: Any) -> devtest_pb2.EchoResponse:  # noqa: N802
        return devtest_pb2.EchoResponse(text=request.text)

    async def Fail(self, request: devtest_pb2.FailRequest, context: Any) -> devtest_pb2.FailResponse:  # noqa: N802
        return devtest_pb2.FailResponse()

    async def Count(  # noqa: N802
        self, request: devtest_pb2.CountRequest, context: Any
    ) -> AsyncIterator[devtest_pb2.CountResponse]:
        for number in range(1, request.count + 1):
            yield devtest_pb2.CountResponse(number=number)


async def serve_echo() -> None:
    """The bare baseline server: grpc.aio and nothing else, in its own process like a service."""
    server = grpc.aio.server()
    devtest_pb2_grpc.add_SampleServiceServicer_to_server(Echo(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)  # noqa: T201
    await server.wait_for_termination()


async def closed_loop(
    call: Callable[[int], Awaitable[None]], *, concurrency: int, seconds: float, total: int | None = None
) -> tuple[Histogram, int, float]:
    """`concurrency` workers calling back to back for `seconds` (or `total` calls); errors propagate."""
    histogram = Histogram()
    counter = itertools.count()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            n = next(counter)
            if total is not None and n >= total:
                return
            began = time.perf_counter()
            await call(n)
            histogram.record((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return histogram, histogram.count, time.perf_counter() - began


async def bench_echo(seconds: float) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.e2e", "--serve-echo", stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        port = int(await asyncio.wait_for(proc.stdout.readline(), 60))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = devtest_pb2_grpc.SampleServiceStub(channel)
            await stub.Echo(devtest_pb2.EchoRequest(text="warm"))

            async def echo(_: int) -> None:
                await stub.Echo(devtest_pb2.EchoRequest(text="x"))

            await closed_loop(echo, concurrency=16, seconds=1.0)  # warm-up
            histogram, count, took = await closed_loop(echo, concurrency=16, seconds=seconds)
    finally:
        proc.terminate()
        await proc.wait()
    return {"concurrency": 16, "rate_per_s": round(count / took, 1), **histogram.summary()}


async def open_loop(
    rate: float, seconds: float, send: Callable[[int, float], Coroutine[Any, Any, None]]
) -> tuple[int, float]:
    """Start send(n, intended_time) at `rate` per second for `seconds`, each as its own task.

    At most MAX_IN_FLIGHT run at once (as a client's connection pool would allow); a send held back by
    that starts late, and since latency counts from the intended time, the wait is measured, not hidden.
    Sends not started when the window closes are not made: the count returned is those started.
    """
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def bounded(n: int, intended: float) -> None:
        try:
            await send(n, intended)
        finally:
            slots.release()

    began = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    total = int(rate * seconds)
    for n in range(total):
        intended = began + n / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        if time.perf_counter() > began + seconds:
            slots.release()
            break
        tasks.append(asyncio.create_task(bounded(n, intended)))
    await asyncio.gather(*tasks)
    return len(tasks), time.perf_counter() - began


async def bench_kafka_round_trip(bootstrap: str, seconds: float) -> dict[str, Any]:
    topic = await new_topic(bootstrap, partitions=3, prefix="bench")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bench-{key()}", auto_offset_reset="earliest"
    )
    await producer.start()
    await consumer.start()
    histogram = Histogram()
    intended: dict[int, float] = {}
    arrived = asyncio.Event()

    async def consume() -> None:
        async for record in consumer:
            n = int(record.value or b"-1")
            if n in intended:
                histogram.record((time.perf_counter() - intended[n]) * 1000)
                arrived.set()

    reader = asyncio.create_task(consume())
    try:
        # Until the consumer has its partitions: a record sent before then would count the rebalance.
        while not consumer.assignment():  # noqa: ASYNC110 - aiokafka offers no event for it
            await asyncio.sleep(0.1)
        await producer.send_and_wait(topic, b"-1")

        async def send(n: int, at: float) -> None:
            intended[n] = at
            await producer.send_and_wait(topic, str(n).encode(), key=str(n % 50).encode())

        sent, took = await open_loop(CHAT_RATE, seconds, send)
        deadline = time.monotonic() + 60
        while histogram.count < sent and (left := deadline - time.monotonic()) > 0:
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), left)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
    return {"rate_per_s": round(sent / took, 1), "acks": "all", **histogram.summary()}


# -- the platform under load --------------------------------------------------------------------


@dataclass
class Actors:
    clients: dict[str, Metadata]  # by client id
    clinicians: dict[str, Metadata]  # by clinician id


async def prepare(platform: Platform) -> Actors:
    actors = Actors({}, {})
    for pair in PAIRS:
        actors.clients[pair.client_id] = await sign_in(platform, pair.client_email, mfa=False)
        actors.clinicians[pair.clinician_id] = await sign_in(platform, pair.clinician_email, mfa=True)
    availability = sched_grpc.AvailabilityServiceStub(platform.channel("scheduling"))
    screening = sched_grpc.ScreeningServiceStub(platform.channel("scheduling"))
    days = (
        sched.WEEKDAY_MONDAY, sched.WEEKDAY_TUESDAY, sched.WEEKDAY_WEDNESDAY, sched.WEEKDAY_THURSDAY,
        sched.WEEKDAY_FRIDAY, sched.WEEKDAY_SATURDAY, sched.WEEKDAY_SUNDAY,
    )  # fmt: skip
    everyday = [  # 00:00-00:00 is the whole day
        sched.WeeklyRule(weekday=day, start=sched.TimeOfDay(hours=0), end=sched.TimeOfDay(hours=0))
        for day in days
    ]
    for pair in PAIRS:
        # Open every hour of every day, so the run has as many slots as it needs.
        request = sched.SetWeeklyScheduleRequest(
            clinician_id=pair.clinician_id,
            time_zone=pair.time_zone,
            location=pair.clinician_state,
            modalities=[sched.MODALITY_VIDEO],
            weekly_rules=everyday,
            idempotency_key=key(),
        )
        await until_accepted(
            partial(availability.SetWeeklySchedule, request, metadata=actors.clinicians[pair.clinician_id]),
            f"{pair.clinician_email}'s schedule",
        )
        low_risk = sched.SubmitScreeningRequest(
            client_id=pair.client_id,
            phq9=sched.Phq9Answers(answers=[0, 1, 0, 1, 0, 0, 1, 0, 0]),
            gad7=sched.Gad7Answers(answers=[1, 0, 1, 0, 0, 1, 0]),
            cssrs=sched.CssrsAnswers(wish_to_be_dead=False, suicidal_thoughts=False),
            idempotency_key=key(),
        )
        await until_accepted(
            partial(screening.SubmitScreening, low_risk, metadata=actors.clients[pair.client_id]),
            f"{pair.client_email}'s screening",
        )
    return actors


def booking_request(pair: Pair, start: datetime) -> sched.BookAppointmentRequest:
    return sched.BookAppointmentRequest(
        client_id=pair.client_id,
        clinician_id=pair.clinician_id,
        session_type_code=SESSION_TYPE,
        modality=sched.MODALITY_VIDEO,
        start_time=ts(start),
        client_state=pair.state,
        idempotency_key=key(),
    )


def next_quarter(moment: datetime) -> datetime:
    base = moment.replace(second=0, microsecond=0)
    return base + timedelta(minutes=(15 - base.minute % 15) % 15 or 15)


async def bench_sessions(platform: Platform, actors: Actors, watch: CommitWatch) -> dict[str, Any]:
    """Book the slots of the next two hours, then check in, start and complete each session."""
    appointments = sched_grpc.AppointmentServiceStub(platform.channel("scheduling"))
    sessions = sched_grpc.SessionServiceStub(platform.channel("scheduling"))
    first = next_quarter(datetime.now(UTC) + timedelta(minutes=5))
    horizon = datetime.now(UTC) + timedelta(minutes=CHECK_IN_OPENS_MINUTES - 10)
    booked: list[tuple[Pair, str]] = []
    for pair in PAIRS:
        start = first
        while start < horizon:
            reply = await until_accepted(
                partial(
                    appointments.BookAppointment,
                    booking_request(pair, start),
                    metadata=actors.clients[pair.client_id],
                ),
                "a booking (consent and profile reaching scheduling)",
            )
            booked.append((pair, reply.appointment.appointment_id))
            start += SLOT_SPACING
    completed_at: dict[str, float] = {}
    rpc = Histogram()

    async def run_session(pair: Pair, appointment_id: str) -> None:
        client, clinician = actors.clients[pair.client_id], actors.clinicians[pair.clinician_id]
        location = sched.ClientLocation(state=pair.state, at_home=True)
        await sessions.CheckIn(
            sched.CheckInRequest(
                appointment_id=appointment_id,
                location=location,
                identity_confirmed=True,
                idempotency_key=key(),
            ),
            metadata=client,
        )
        await sessions.StartSession(
            sched.StartSessionRequest(appointment_id=appointment_id, idempotency_key=key()),
            metadata=clinician,
        )
        began = time.perf_counter()
        await sessions.CompleteSession(
            sched.CompleteSessionRequest(
                appointment_id=appointment_id,
                actual_minutes=30,
                delivered_modality=sched.MODALITY_VIDEO,
                idempotency_key=key(),
            ),
            metadata=clinician,
        )
        completed_at[appointment_id] = time.time()
        rpc.record((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(run_session(pair, appointment_id) for pair, appointment_id in booked))
    await watch.until_seen(watch.charge_seen, completed_at, within=30)
    freshness = Histogram()
    for appointment_id, answered in completed_at.items():
        if appointment_id in watch.charge_seen:
            freshness.record((watch.charge_seen[appointment_id] - answered) * 1000)
    return {
        "sessions_completed": len(completed_at),
        "charges_seen": freshness.count,
        "complete_session_rpc": rpc.summary(),
        "freshness": freshness.summary(),
    }


@contextlib.asynccontextmanager
async def profiled(
    platform: Platform, services: tuple[str, ...], phase: str, seconds: float
) -> AsyncIterator[None]:
    """py-spy (when BENCH_PY_SPY names it) samples each service's CPU stacks while the phase runs."""
    py_spy = os.environ.get("BENCH_PY_SPY")
    if not py_spy:
        yield
        return
    out = ROOT / ".run" / "bench" / "profiles"
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    pids = platform.pids()
    recorders: dict[str, asyncio.subprocess.Process] = {}
    for service in services:
        argv = [py_spy, "record", "--pid", str(pids[service]), "--duration", str(int(seconds))]
        argv += ["--rate", "100", "--nonblocking", "--format", "raw"]
        argv += ["--output", str(out / f"{service}-{phase}.raw")]
        recorders[service] = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
    try:
        yield
    finally:
        for service, recorder in recorders.items():
            await recorder.wait()
            raw = out / f"{service}-{phase}.raw"
            if raw.exists():
                text = summarize(raw.read_text(encoding="utf-8"), 30)
                (out / f"{service}-{phase}.txt").write_text(text, encoding="utf-8")


async def bench_booking(
    platform: Platform, actors: Actors, watch: CommitWatch, seconds: float
) -> dict[str, Any]:
    appointments = sched_grpc.AppointmentServiceStub(platform.channel("scheduling"))
    # Far enough ahead to leave the next hours to the sessions above.
    first = next_quarter(datetime.now(UTC) + timedelta(hours=4))
    slots = [itertools.count() for _ in PAIRS]
    answered: dict[str, float] = {}  # alex's bookings: self-pay, so each one gets a new estimate
    errors: dict[str, int] = {}

    async def book(n: int) -> None:
        index = n % len(PAIRS)
        pair = PAIRS[index]
        start = first + next(slots[index]) * SLOT_SPACING
        try:
            reply = await appointments.BookAppointment(
                booking_request(pair, start), metadata=actors.clients[pair.client_id]
            )
        except grpc.aio.AioRpcError as error:
            errors[error.code().name] = errors.get(error.code().name, 0) + 1
            return
        if index == 0:
            answered[reply.appointment.appointment_id] = time.time()

    await closed_loop(book, concurrency=16, seconds=min(3.0, seconds / 5))  # warm-up: connections, caches
    answered.clear()
    errors.clear()
    waits = DatabaseWaits(platform.database("scheduling"))
    waits.start()
    async with profiled(platform, ("scheduling", "billing"), "booking", seconds):
        histogram, count, took = await closed_loop(book, concurrency=16, seconds=seconds)
    scheduling_db_sessions = await waits.stop()
    await watch.until_seen(watch.estimate_seen, answered, within=60)
    freshness = Histogram()
    for appointment_id, at in answered.items():
        if appointment_id in watch.estimate_seen:
            freshness.record((watch.estimate_seen[appointment_id] - at) * 1000)
    return {
        "concurrency": 16,
        "rate_per_s": round((count - sum(errors.values())) / took, 1),
        "errors": errors,
        **histogram.summary(),
        "scheduling_db_sessions_by_state": scheduling_db_sessions,
        "estimate_freshness": {
            "bookings_needing_an_estimate": len(answered),
            "estimates_seen": freshness.count,
            **freshness.summary(),
        },
    }


async def bench_chat(platform: Platform, actors: Actors, seconds: float) -> dict[str, Any]:
    api = msg_grpc.MessagingServiceStub(platform.channel("messaging"))
    threads: list[tuple[Pair, str]] = []
    for i in range(STREAMS):
        pair = PAIRS[i % len(PAIRS)]
        request = msg.CreateThreadRequest(client_id=pair.client_id, idempotency_key=key())
        created = await until_accepted(
            partial(api.CreateThread, request, metadata=actors.clients[pair.client_id]),
            "a care team reaching messaging",
        )
        threads.append((pair, created.thread.thread_id))
    delivered: dict[str, float] = {}
    arrived = asyncio.Condition()
    streams: list[asyncio.Task[None]] = []
    stream_errors: dict[str, int] = {}
    send_errors: dict[str, int] = {}

    async def follow(pair: Pair, thread_id: str) -> None:
        """One subscriber's live stream; like a real client it resumes after the last message it got."""
        last = 0
        while True:
            call = api.StreamMessages(
                msg.StreamMessagesRequest(thread_id=thread_id, after_sequence=last),
                metadata=actors.clinicians[pair.clinician_id],
            )
            try:
                async for item in call:
                    delivered.setdefault(item.message.body, time.perf_counter())
                    last = item.message.sequence
                    async with arrived:
                        arrived.notify_all()
            except grpc.aio.AioRpcError as error:
                stream_errors[error.code().name] = stream_errors.get(error.code().name, 0) + 1
            finally:
                call.cancel()
            await asyncio.sleep(0.5)

    async def send(pair: Pair, thread_id: str, body: str) -> None:
        await api.SendMessage(
            msg.SendMessageRequest(
                thread_id=thread_id, kind=msg.MESSAGE_KIND_TEXT_THERAPY, body=body, idempotency_key=key()
            ),
            metadata=actors.clients[pair.client_id],
        )

    async def all_delivered(bodies: list[str], within: float) -> None:
        async with arrived:
            await asyncio.wait_for(arrived.wait_for(lambda: all(b in delivered for b in bodies)), within)

    try:
        # Open the streams and prove each one delivers before the clock starts. People do not all
        # connect in the same millisecond, so neither do these: a few at a time.
        for index, (pair, thread_id) in enumerate(threads):
            streams.append(asyncio.create_task(follow(pair, thread_id)))
            warm = f"warm-up {index}"
            for attempt in itertools.count(1):
                try:
                    await send(pair, thread_id, warm)
                    break
                except grpc.aio.AioRpcError as error:
                    name = f"warm-up {error.code().name}"
                    send_errors[name] = send_errors.get(name, 0) + 1
                    if attempt == 5:
                        raise
                    await asyncio.sleep(1)
            await all_delivered([warm], 60)
        intended: dict[str, float] = {}
        send_rpc = Histogram()

        async def timed_send(n: int, at: float) -> None:
            pair, thread_id = threads[n % len(threads)]
            body = f"load {n}"
            began = time.perf_counter()
            try:
                await send(pair, thread_id, body)
            except grpc.aio.AioRpcError as error:
                send_errors[error.code().name] = send_errors.get(error.code().name, 0) + 1
                return
            intended[body] = at
            send_rpc.record((time.perf_counter() - began) * 1000)

        waits = DatabaseWaits(platform.database("messaging"))
        waits.start()
        started, _ = await open_loop(CHAT_RATE, seconds, timed_send)
        messaging_db_sessions = await waits.stop()
        with contextlib.suppress(TimeoutError):
            await all_delivered(list(intended), 60)
        latency = Histogram()
        for body, at in intended.items():
            if body in delivered:
                latency.record((delivered[body] - at) * 1000)
    finally:
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    return {
        "streams": len(threads),
        "target_rate_per_s": CHAT_RATE,
        "attempted_rate_per_s": round(started / seconds, 1),
        "planned": int(CHAT_RATE * seconds),
        "sent": len(intended),
        "send_errors": send_errors,
        "stream_errors": stream_errors,
        "delivered": latency.count,
        "send_message_rpc": send_rpc.summary(),
        "messaging_db_sessions_by_state": messaging_db_sessions,
        **latency.summary(),
    }


# -- the run ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False)  # noqa: S607
        for line in lscpu.stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": host.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


async def phase(measurement: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A phase that fails is reported as such, and the phases after it still run."""
    try:
        return await measurement
    except (grpc.aio.AioRpcError, RuntimeError, TimeoutError) as error:
        detail = (
            f"{error.code().name} {error.details()}"
            if isinstance(error, grpc.aio.AioRpcError)
            else repr(error)
        )
        return {"failed": detail}


async def run_e2e(run_dir: Path, quick: bool) -> dict[str, Any]:
    load_seconds = 10.0 if quick else 30.0
    results: dict[str, Any] = {"machine": machine(), "quick": quick, "load_seconds": load_seconds}
    results["baselines"] = {"grpc_echo": await bench_echo(load_seconds)}
    async with running_platform(run_dir / "stack") as platform:
        pids = platform.pids()
        bootstrap = str(platform.info["kafka"]["bootstrap_servers"])
        results["baselines"]["kafka_round_trip"] = await bench_kafka_round_trip(bootstrap, load_seconds)
        actors = await prepare(platform)
        watch = CommitWatch(platform.database("billing"))
        await watch.start()
        memory = MemoryWatch(pids)
        try:
            results["sessions"] = await phase(bench_sessions(platform, actors, watch))
            await asyncio.sleep(3)  # let the consumers settle: this is "idle"
            idle = memory.sample()
            memory.start()
            results["booking"] = await phase(bench_booking(platform, actors, watch, load_seconds))
            results["chat"] = await phase(bench_chat(platform, actors, load_seconds))
        finally:
            await memory.stop()
            await watch.stop()
        results["rss"] = {
            name: {
                "idle_mib": mib(idle.get(name, 0)),
                "under_load_peak_mib": mib(memory.peak_kib.get(name, 0)),
                "lifetime_hwm_mib": mib(read_status_kib(pid).get("VmHWM", 0)),
            }
            for name, pid in pids.items()
        }
        results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = targets(results)
    return results


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    echo, kafka = r["baselines"]["grpc_echo"], r["baselines"]["kafka_round_trip"]
    booking, chat = r["booking"], r["chat"]
    gfe, charge = booking.get("estimate_freshness", {}), r["sessions"].get("freshness", {})
    nan = float("nan")
    kafka_p99 = kafka["p99_ms"]
    rows: list[tuple[str, float | None, str, bool]] = []

    def at_most(name: str, value: float | None, limit: float) -> None:
        rows.append((name, value, f"<= {limit:g}", value is not None and value <= limit))

    throughput = ratio(booking.get("rate_per_s", nan), echo["rate_per_s"])
    rows.append(("booking throughput / echo throughput", throughput, ">= 0.10 (aim 0.25)",
                 throughput is not None and throughput >= 0.10))  # fmt: skip
    at_most("booking p99 / echo p99", ratio(booking.get("p99_ms", nan), echo["p99_ms"]), 5)
    at_most("estimate freshness p99 / Kafka round trip p99", ratio(gfe.get("p99_ms", nan), kafka_p99), 3)
    at_most("charge freshness p99 / Kafka round trip p99", ratio(charge.get("p99_ms", nan), kafka_p99), 3)
    at_most("chat delivery p99 / Kafka round trip p99", ratio(chat.get("p99_ms", nan), kafka_p99), 2)
    out: list[dict[str, Any]] = [
        {"target": name, "measured": value, "wanted": wanted, "met": met} for name, value, wanted, met in rows
    ]
    for service, rss in r["rss"].items():
        out.append({"target": f"{service} RSS idle (MiB)", "measured": rss["idle_mib"], "wanted": "< 150",
                    "met": rss["idle_mib"] < 150})  # fmt: skip
        peak = max(rss["under_load_peak_mib"], rss["lifetime_hwm_mib"])
        out.append({"target": f"{service} RSS peak under load (MiB)", "measured": peak, "wanted": "< 300",
                    "met": peak < 300})  # fmt: skip
    return out


def _cell(summary: dict[str, Any], name: str) -> str:
    value = summary.get(name)
    return "-" if value is None else f"{value:,.1f}" if isinstance(value, float) else str(value)


def markdown(r: dict[str, Any]) -> str:
    echo, kafka = r["baselines"]["grpc_echo"], r["baselines"]["kafka_round_trip"]
    rows = [
        ("baseline: bare grpc.aio echo, c=16", echo, echo.get("rate_per_s")),
        ("baseline: aiokafka produce -> consume, 200/s", kafka, kafka.get("rate_per_s")),
        ("booking (BookAppointment), c=16", r["booking"], r["booking"].get("rate_per_s")),
        ("freshness: booking -> estimate committed", r["booking"].get("estimate_freshness", {}), None),
        ("freshness: session completed -> charge committed", r["sessions"].get("freshness", {}), None),
        (
            "chat: send -> delivered on the stream, 100 streams",
            r["chat"],
            r["chat"].get("attempted_rate_per_s"),
        ),
        ("chat: SendMessage RPC", r["chat"].get("send_message_rpc", {}), None),
    ]
    lines = ["| what | n | rate /s | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|"]
    for name, summary, rate in rows:
        cells = [_cell(summary, c) for c in ("count", "p50_ms", "p95_ms", "p99_ms", "max_ms")]
        lines.append(
            f"| {name} | {cells[0]} | {'-' if rate is None else f'{rate:,.1f}'} | "
            + " | ".join(cells[1:])
            + " |"
        )
    notes = [
        f"- {part} failed: {r[part]['failed']}"
        for part in ("sessions", "booking", "chat")
        if "failed" in r[part]
    ]
    for part, errors in (
        ("booking errors", r["booking"].get("errors")),
        ("chat SendMessage errors", r["chat"].get("send_errors")),
        ("chat stream errors", r["chat"].get("stream_errors")),
    ):
        if errors:
            notes.append(f"- {part}: {errors}")
    for part, where in (("booking", "scheduling"), ("chat", "messaging")):
        if sessions := r[part].get(f"{where}_db_sessions_by_state"):
            notes.append(
                f"- {where}'s database sessions during {part} (mean number in each state): {sessions}"
            )
    if notes:
        lines += ["", *notes]
    lines += ["", "| service | RSS idle MiB | RSS peak under load MiB | VmHWM MiB |", "|---|---|---|---|"]
    for name, rss in r["rss"].items():
        lines.append(
            f"| {name} | {rss['idle_mib']} | {rss['under_load_peak_mib']} | {rss['lifetime_hwm_mib']} |"
        )
    lines += ["", "| target | measured | wanted | met |", "|---|---|---|---|"]
    for t in r["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {t['wanted']} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve-echo"]:
        asyncio.run(serve_echo())
    else:
        out = ROOT / ".run" / "bench"
        report = asyncio.run(run_e2e(out / "e2e", "--quick" in sys.argv))
        (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(markdown(report))  # noqa: T201

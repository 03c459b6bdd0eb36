"""The authorization matrix: every RPC x every kind of caller x whose data, against the running services.

Nothing here is a hand list of RPCs. `matrix.declared_rpcs()` reads every RPC of the six services from
the generated descriptors; the access layer's expected answer for each caller comes from the RPC's own
declaration (`matrix.expected`), and every RPC must be classified for the relationship layer (checked
here, checked by a named per-service test, or carrying no client's data), so an RPC added tomorrow fails
this module until someone says who may call it about whom.

The six services run in-process over real gRPC, PostgreSQL and Kafka, demo-seeded (conftest.py); the
relationship scenarios act on alex's data (a client of the demo practice whose care team is dr.rivera):
identity's care-team, profile and consent events reach scheduling and messaging through Kafka, as in
production.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from confide.billing.v1 import billing_pb2
from confide.directory.v1 import directory_pb2
from confide.messaging.v1 import messaging_pb2
from confide.scheduling.v1 import scheduling_pb2 as sched
from confide_chassis import roles
from confide_chassis.auth import Access
from confide_gateway.routes import gateway_routes

from . import matrix
from .conftest import Metadata, Platform
from .matrix import Caller, Outcome, Relation, TokenKind

pytestmark = pytest.mark.integration

DEMO_PRACTICE = "01930000-0000-7000-8000-000000000001"
OTHER_PRACTICE = "01930000-0000-7000-8000-0000000000f9"  # a practice none of the demo data is in
ALEX = "01930000-0000-7000-8000-0000000000e1"  # client, CA; care team: dr.rivera
SAM = "01930000-0000-7000-8000-0000000000e2"  # client, TX; care team: dr.chen
RIVERA = "01930000-0000-7000-8000-0000000000c3"  # clinician on alex's care team
CHEN = "01930000-0000-7000-8000-0000000000c1"  # clinician on sam's care team, not alex's
ADMIN = "01930000-0000-7000-8000-0000000000a1"  # practice admin of the demo practice

OPS = "01930000-0000-7000-8000-0000000000a2"  # practice admin and platform operator
PATEL = "01930000-0000-7000-8000-0000000000c2"  # clinician on nobody's care team
IDENTITY_SUBJECT = {
    roles.CLIENT: SAM,
    roles.CLINICIAN: PATEL,
    roles.PRACTICE_ADMIN: OPS,
    roles.COMPLIANCE_OFFICER: OPS,
    roles.PLATFORM_OPERATOR: OPS,
}

CONCURRENCY = 16
STREAM_SECONDS = 8.0
DENIED = frozenset({grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND})
BUGS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
# identity's events (care team, profile, consent) reach scheduling and messaging through Kafka.
PROPAGATION_SECONDS = 60.0


@dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    message: str
    payload: bytes = b""  # the (first) response message, when OK

    def __str__(self) -> str:
        return self.code.name if self.code is grpc.StatusCode.OK else f"{self.code.name} ({self.message})"


async def call(
    platform: Platform, path: str, request: bytes | Message, metadata: Metadata, *, streaming: bool
) -> Answer:
    """One call by path with raw bytes (so any RPC is callable without its stub)."""
    payload = request if isinstance(request, bytes) else request.SerializeToString()
    channel = platform.channel_of(path)
    reply = b""
    try:
        if streaming:
            stream = channel.unary_stream(
                path, request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            # An admitted stream stays open and quiet; a refused one ends at once (this allows for load).
            async for first in stream(payload, metadata=metadata, timeout=STREAM_SECONDS):
                reply = first
                break  # the first message proves the stream was admitted
        else:
            unary = channel.unary_unary(
                path, request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            reply = await unary(payload, metadata=metadata, timeout=30)
    except grpc.aio.AioRpcError as error:
        if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED and streaming:
            return Answer(grpc.StatusCode.OK, "stream open")  # admitted and waiting for messages
        return Answer(error.code(), error.details() or "")
    return Answer(grpc.StatusCode.OK, "", reply)


# --- the access layer ------------------------------------------------------------------------------------


def access_layer_outcome(answer: Answer) -> Outcome:
    """The access layer's verdict in an answer; ALLOW when the call got past it (whatever the handler
    said then)."""
    for outcome, messages in matrix.ACCESS_LAYER_MESSAGES.items():
        if answer.message in messages:
            return outcome
    return Outcome.ALLOW


def test_every_rpc_is_classified_for_the_relationship_layer() -> None:
    rpcs = matrix.declared_rpcs()
    names = {r.name for r in rpcs}
    assert len(rpcs) > 100, "every service's RPCs are read from the descriptors"
    unclassified = [r.path for r in matrix.iter_unclassified(rpcs)]
    assert not unclassified, (
        "RPCs nobody has classified for the relationship layer (add each to RELATIONSHIPS with a scenario, "
        "COVERED_ELSEWHERE with its test, or NO_CLIENT_DATA with the reason, in tests/security/matrix.py): "
        f"{unclassified}"
    )
    tables = {
        "RELATIONSHIPS": set(matrix.RELATIONSHIPS),
        "COVERED_ELSEWHERE": set(matrix.COVERED_ELSEWHERE),
        "NO_CLIENT_DATA": set(matrix.NO_CLIENT_DATA),
        "NOT_YET_CHECKED": set(matrix.NOT_YET_CHECKED),
    }
    for (a, left), (b, right) in itertools.combinations(tables.items(), 2):
        assert not left & right, f"classified twice ({a} and {b}): {sorted(left & right)}"
    stale = set().union(*tables.values()) - names
    assert not stale, f"classified RPCs that no longer exist: {sorted(stale)}"
    mislabelled = {
        r.name: sorted(matrix.client_data_fields(r))
        for r in rpcs
        if r.name in matrix.NO_CLIENT_DATA and matrix.client_data_fields(r)
    }
    assert not mislabelled, (
        f"listed as having no client's data, yet their requests point at some: {mislabelled}"
    )
    missing_scenarios = set(matrix.RELATIONSHIPS) - set(SCENARIOS)
    assert not missing_scenarios, f"relationship rows without a scenario: {sorted(missing_scenarios)}"
    for where, _ in matrix.COVERED_ELSEWHERE.values():
        assert (matrix.ROOT / where).is_file(), f"{where} does not exist"


def test_the_committed_matrix_page_is_current() -> None:
    assert matrix.main(["--check"]) == 0, (
        "docs/security/authorization-matrix.md is stale: "
        "run .venv/bin/python -m tests.security.matrix > docs/security/authorization-matrix.md"
    )


def test_the_gateway_serves_exactly_the_rpcs_declared_for_it() -> None:
    """A non-`gateway: true` RPC is unreachable through the gateway (its route table is all it serves;
    tests/e2e/test_gateway_exposure.py asks the running gateway over HTTP)."""
    rpcs = matrix.declared_rpcs()
    routes = gateway_routes(matrix.AREAS)
    declared = {r.path for r in rpcs if r.access is not None and r.access.gateway}
    assert set(routes) == declared
    internal = {r.path for r in rpcs} - declared
    assert "/confide.compliance.v1.AuthorizationService/CheckAuthorization" in internal
    assert "/confide.identity.v1.AuthService/RotateSigningKey" in internal


async def test_every_rpc_answers_every_kind_of_caller_as_its_declaration_says(platform: Platform) -> None:
    rpcs = matrix.declared_rpcs()
    served = {
        f"/{name}/{method.name}": (area, running.context.access.get(f"/{name}/{method.name}"))
        for area, running in platform.services.items()
        for name in running.context.service_names
        if not name.startswith("grpc.")
        for method in _service(name).methods
    }
    declared = {r.path: r for r in rpcs}
    assert set(served) == set(declared), (
        f"declared but not served: {sorted(set(declared) - set(served))}; "
        f"served but not declared in the protos: {sorted(set(served) - set(declared))}"
    )
    overridden = [p for p, (_, access) in served.items() if access != declared[p].access]
    assert not overridden, f"services enforcing something else than the proto declares: {overridden}"

    semaphore = asyncio.Semaphore(CONCURRENCY)
    mismatches: list[str] = []
    calls = 0

    async def check(rpc: matrix.Rpc, caller: Caller) -> None:
        nonlocal calls
        role = caller.role or matrix.admitted_role(rpc.access)
        # Elsewhere a subject with no data anywhere, so an empty request cannot touch demo users' records;
        # identity reads the caller's account on each call, so there a demo account outside the scenarios.
        subject = IDENTITY_SUBJECT[role] if rpc.area == "identity" else str(uuid.uuid4())
        metadata = platform.metadata(subject, DEMO_PRACTICE, role, mfa=caller.mfa, kind=caller.token)
        async with semaphore:
            answer = await call(platform, rpc.path, b"", metadata, streaming=rpc.method.server_streaming)
            calls += 1
        want = matrix.expected(rpc.access, caller)
        got = access_layer_outcome(answer)
        if answer.code in BUGS:
            mismatches.append(f"{rpc.path} [{caller.label}]: {answer}")
        elif got is not want:
            mismatches.append(f"{rpc.path} [{caller.label}]: expected {want.value}, got {answer}")
        elif want is Outcome.ALLOW and answer.code is grpc.StatusCode.UNAUTHENTICATED:
            mismatches.append(f"{rpc.path} [{caller.label}]: admitted, yet {answer}")
        elif want is not Outcome.ALLOW and answer.code.name != want.value.split(" ")[0]:
            mismatches.append(f"{rpc.path} [{caller.label}]: expected {want.value}, got {answer}")

    # Every RPC meets every role with and without MFA, no token, an expired token and one signed by an
    # unknown key. The other bad tokens take the same path through the verifier, so each of them meets a
    # public and a protected RPC of every service (a verdict the public one must ignore).
    everywhere = {TokenKind.NONE, TokenKind.EXPIRED, TokenKind.UNKNOWN_KEY, TokenKind.VALID}
    sampled: set[str] = set()
    for area in matrix.AREAS:
        mine = [r for r in rpcs if r.area == area]
        sampled |= {r.path for r in mine if r.access is not None and r.access.public}
        sampled.add(next(r.path for r in mine if r.access is not None and not r.access.public))
    cases = [
        (rpc, caller)
        for rpc in rpcs
        for caller in matrix.CALLERS
        if caller.token in everywhere or rpc.path in sampled
    ]
    await asyncio.gather(*(check(rpc, caller) for rpc, caller in cases))
    assert calls == len(cases) > 1500
    assert not mismatches, f"{len(mismatches)} of {calls} calls:\n" + "\n".join(sorted(mismatches))


def _service(name: str) -> Any:
    from google.protobuf import descriptor_pool

    return descriptor_pool.Default().FindServiceByName(name)


# --- the relationship layer ------------------------------------------------------------------------------

SCENARIOS: dict[str, Any] = {}


def _key() -> str:
    return f"authz-{uuid.uuid4()}"


def _ts(message: Any, moment: datetime) -> None:
    message.FromDatetime(moment)


@dataclass
class World:
    """alex's data in every service, and the means to make more of it (a fresh appointment for each
    caller a state-changing RPC admits)."""

    platform: Platform
    slots: list[sched.Slot] = field(default_factory=list)
    series_slots: list[sched.Slot] = field(default_factory=list)
    appointment_id: str = ""
    series_id: str = ""
    series_first_date: Any = None  # the series' first occurrence, a LocalDate in the clinician's zone
    thread_id: str = ""

    def md(self, subject: str, *roles_: str, practice: str = DEMO_PRACTICE) -> Metadata:
        return self.platform.metadata(subject, practice, *roles_, mfa=True)

    @property
    def admin(self) -> Metadata:
        return self.md(ADMIN, roles.PRACTICE_ADMIN)

    async def unary(self, path: str, request: Message, metadata: Metadata, reply: type[Message]) -> Any:
        channel = self.platform.channel_of(path)
        method: Any = channel.unary_unary(
            path, request_serializer=lambda m: m.SerializeToString(), response_deserializer=reply.FromString
        )
        return await method(request, metadata=metadata, timeout=30)

    def next_slot(self) -> sched.Slot:
        assert self.slots, "the pool of free slots ran out: search a wider window"
        return self.slots.pop(0)

    def booking(self, slot: sched.Slot) -> dict[str, Any]:
        return {
            "client_id": ALEX,
            "clinician_id": RIVERA,
            "session_type_code": "psychotherapy_45",
            "modality": sched.MODALITY_VIDEO,
            "start_time": slot.time.start,
            "idempotency_key": _key(),
        }

    async def book(self) -> str:
        request = sched.BookAppointmentRequest(**self.booking(self.next_slot()))
        reply = await self.unary(
            "/confide.scheduling.v1.AppointmentService/BookAppointment",
            request,
            self.admin,
            sched.BookAppointmentResponse,
        )
        return str(reply.appointment.appointment_id)

    async def hold(self) -> str:
        request = sched.HoldSlotRequest(**self.booking(self.next_slot()))
        reply = await self.unary(
            "/confide.scheduling.v1.AppointmentService/HoldSlot", request, self.admin, sched.HoldSlotResponse
        )
        return str(reply.appointment.appointment_id)

    async def join_waitlist(self) -> str:
        request = sched.JoinWaitlistRequest(
            client_id=ALEX,
            session_type_codes=["psychotherapy_45"],
            modalities=[sched.MODALITY_VIDEO],
            clinician_ids=[RIVERA],
            idempotency_key=_key(),
        )
        path = "/confide.scheduling.v1.WaitlistService/JoinWaitlist"
        joined = await self.unary(path, request, self.admin, sched.JoinWaitlistResponse)
        return str(joined.entry.entry_id)

    async def release_holds(self) -> None:
        """Release alex's open holds and leave the waitlist: a client keeps only a few of each (SCHED-10)."""
        listed = await self.unary(
            "/confide.scheduling.v1.WaitlistService/ListWaitlist",
            sched.ListWaitlistRequest(client_id=ALEX),
            self.admin,
            sched.ListWaitlistResponse,
        )
        for entry in listed.entries:
            if entry.status == sched.WAITLIST_STATUS_WAITING:
                await self.unary(
                    "/confide.scheduling.v1.WaitlistService/LeaveWaitlist",
                    sched.LeaveWaitlistRequest(entry_id=entry.entry_id, idempotency_key=_key()),
                    self.admin,
                    sched.LeaveWaitlistResponse,
                )
        held = await self.unary(
            "/confide.scheduling.v1.AppointmentService/ListAppointments",
            sched.ListAppointmentsRequest(client_id=ALEX, statuses=[sched.APPOINTMENT_STATUS_HELD]),
            self.admin,
            sched.ListAppointmentsResponse,
        )
        for appointment in held.appointments:
            await self.unary(
                "/confide.scheduling.v1.AppointmentService/ReleaseHold",
                sched.ReleaseHoldRequest(appointment_id=appointment.appointment_id, idempotency_key=_key()),
                self.admin,
                sched.ReleaseHoldResponse,
            )

    async def search(self, start: timedelta, end: timedelta) -> list[sched.Slot]:
        """dr.rivera's free slots for alex between now + start and now + end, far enough apart that booking
        one leaves the next free (slots overlap, a session every few minutes, and sessions keep a buffer)."""
        apart: list[sched.Slot] = []
        now = datetime.now(UTC)
        day = start
        while day < end:  # a few days per search: a search answers at most a page of slots
            request = sched.SearchSlotsRequest(
                client_id=ALEX,
                session_type_code="psychotherapy_45",
                modality=sched.MODALITY_VIDEO,
                clinician_ids=[RIVERA],
                max_results=1000,
            )
            _ts(request.window.start, now + day)
            _ts(request.window.end, now + min(day + timedelta(days=10), end))
            reply = await self.unary(
                "/confide.scheduling.v1.AvailabilityService/SearchSlots",
                request,
                self.admin,
                sched.SearchSlotsResponse,
            )
            for slot in reply.slots:
                begins = slot.time.start.ToDatetime()
                if not apart or begins >= apart[-1].time.end.ToDatetime() + timedelta(hours=2, minutes=1):
                    apart.append(slot)
            day += timedelta(days=10)
        return apart


async def _eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + PROPAGATION_SECONDS
    while True:
        try:
            return await check()
        except grpc.aio.AioRpcError as error:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{what}: still {error.code().name} {error.details()}") from error
            await asyncio.sleep(0.5)


@pytest.fixture(scope="module")
async def world(platform: Platform) -> World:
    w = World(platform)

    async def slots() -> list[sched.Slot]:
        found = await w.search(timedelta(days=2), timedelta(days=30))
        assert len(found) > 40, len(found)
        return found

    # identity's events (profile, consent, care team) have reached scheduling when alex can be offered slots.
    w.slots = await _eventually(slots, "alex's slots with dr.rivera")
    w.series_slots = await w.search(timedelta(days=45), timedelta(days=60))
    w.appointment_id = await w.book()

    series = sched.CreateSeriesRequest(
        **{k: v for k, v in w.booking(w.series_slots.pop(0)).items() if k != "start_time"},
        frequency=sched.RECURRENCE_FREQUENCY_WEEKLY,
        count=2,
    )
    series.first_start_time.CopyFrom(w.series_slots[-1].time.start)
    w.series_slots.pop()
    created = await w.unary(
        "/confide.scheduling.v1.SeriesService/CreateSeries", series, w.admin, sched.CreateSeriesResponse
    )
    w.series_id = created.series.series_id
    w.series_first_date = created.series.first_date

    async def thread() -> Any:
        return await w.unary(
            "/confide.messaging.v1.MessagingService/CreateThread",
            messaging_pb2.CreateThreadRequest(client_id=ALEX, idempotency_key=_key()),
            w.md(ALEX, roles.CLIENT),
            messaging_pb2.CreateThreadResponse,
        )

    # ... and messaging, when alex can open a thread with the care team.
    w.thread_id = (await _eventually(thread, "alex's thread")).thread.thread_id
    await w.unary(
        "/confide.messaging.v1.MessagingService/SendMessage",
        messaging_pb2.SendMessageRequest(
            thread_id=w.thread_id,
            kind=messaging_pb2.MESSAGE_KIND_LIVE_CHAT,
            body="Hello",
            idempotency_key=_key(),
        ),
        w.md(ALEX, roles.CLIENT),
        messaging_pb2.SendMessageResponse,
    )
    return w


Build = Callable[[World], Awaitable[Message]]


@dataclass(frozen=True)
class Scenario:
    build: Build
    fresh: bool = False  # the call changes its resource: each admitted caller gets a new one


def scenario(rpc: str, *, fresh: bool = False) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        SCENARIOS[rpc] = Scenario(build, fresh)
        return build

    return register


@scenario("AppointmentService/GetAppointment")
async def _get_appointment(w: World) -> Message:
    return sched.GetAppointmentRequest(appointment_id=w.appointment_id)


@scenario("AppointmentService/ListAppointments")
async def _list_appointments(w: World) -> Message:
    return sched.ListAppointmentsRequest(client_id=ALEX)


@scenario("AppointmentService/CancelAppointment", fresh=True)
async def _cancel(w: World) -> Message:
    return sched.CancelAppointmentRequest(appointment_id=await w.book(), idempotency_key=_key())


@scenario("AppointmentService/RescheduleAppointment", fresh=True)
async def _reschedule(w: World) -> Message:
    appointment_id = await w.book()
    return sched.RescheduleAppointmentRequest(
        appointment_id=appointment_id, new_start_time=w.next_slot().time.start, idempotency_key=_key()
    )


@scenario("AppointmentService/MarkNoShow", fresh=True)
async def _no_show(w: World) -> Message:
    return sched.MarkNoShowRequest(appointment_id=await w.book(), idempotency_key=_key())


@scenario("AppointmentService/RecheckAuthorization")
async def _recheck(w: World) -> Message:
    return sched.RecheckAuthorizationRequest(appointment_id=w.appointment_id, idempotency_key=_key())


@scenario("AppointmentService/HoldSlot", fresh=True)
async def _hold(w: World) -> Message:
    return sched.HoldSlotRequest(**w.booking(w.next_slot()))


@scenario("AppointmentService/BookAppointment", fresh=True)
async def _book(w: World) -> Message:
    return sched.BookAppointmentRequest(**w.booking(w.next_slot()))


@scenario("AppointmentService/ConfirmHold", fresh=True)
async def _confirm(w: World) -> Message:
    return sched.ConfirmHoldRequest(appointment_id=await w.hold(), idempotency_key=_key())


@scenario("AppointmentService/ReleaseHold", fresh=True)
async def _release(w: World) -> Message:
    return sched.ReleaseHoldRequest(appointment_id=await w.hold(), idempotency_key=_key())


@scenario("AvailabilityService/SearchSlots")
async def _search(w: World) -> Message:
    request = sched.SearchSlotsRequest(
        client_id=ALEX, session_type_code="psychotherapy_45", modality=sched.MODALITY_VIDEO, max_results=5
    )
    now = datetime.now(UTC)
    _ts(request.window.start, now + timedelta(days=2))
    _ts(request.window.end, now + timedelta(days=9))
    return request


def _screening() -> dict[str, Any]:
    return {
        "client_id": ALEX,
        "phq9": sched.Phq9Answers(answers=[1] * 9),
        "gad7": sched.Gad7Answers(answers=[1] * 7),
        "cssrs": sched.CssrsAnswers(),
    }


@scenario("ScreeningService/SubmitScreening")
async def _submit_screening(w: World) -> Message:
    return sched.SubmitScreeningRequest(**_screening(), idempotency_key=_key())


@scenario("ScreeningService/GetLatestScreening")
async def _latest_screening(w: World) -> Message:
    return sched.GetLatestScreeningRequest(client_id=ALEX)


@scenario("WaitlistService/ListWaitlist")
async def _list_waitlist(w: World) -> Message:
    return sched.ListWaitlistRequest(client_id=ALEX)


@scenario("WaitlistService/JoinWaitlist")
async def _join_waitlist(w: World) -> Message:
    return sched.JoinWaitlistRequest(
        client_id=ALEX,
        session_type_codes=["psychotherapy_45"],
        modalities=[sched.MODALITY_VIDEO],
        clinician_ids=[RIVERA],
        idempotency_key=_key(),
    )


@scenario("SessionService/CheckIn")
async def _check_in(w: World) -> Message:
    from confide.common.v1 import jurisdiction_pb2

    return sched.CheckInRequest(
        appointment_id=w.appointment_id,
        location=sched.ClientLocation(state=jurisdiction_pb2.JURISDICTION_CA, at_home=True),
        identity_confirmed=True,
        idempotency_key=_key(),
    )


@scenario("SessionService/GetJoinLink")
async def _join_link(w: World) -> Message:
    return sched.GetJoinLinkRequest(appointment_id=w.appointment_id)


@scenario("SessionService/StartSession")
async def _start_session(w: World) -> Message:
    return sched.StartSessionRequest(appointment_id=w.appointment_id, idempotency_key=_key())


@scenario("SessionService/CompleteSession")
async def _complete_session(w: World) -> Message:
    return sched.CompleteSessionRequest(
        appointment_id=w.appointment_id,
        actual_minutes=45,
        delivered_modality=sched.MODALITY_VIDEO,
        idempotency_key=_key(),
    )


@scenario("SeriesService/CreateSeries", fresh=True)
async def _create_series(w: World) -> Message:
    assert w.series_slots, "the pool of series slots ran out"
    first = w.series_slots.pop(0)
    request = sched.CreateSeriesRequest(
        **{k: v for k, v in w.booking(first).items() if k != "start_time"},
        frequency=sched.RECURRENCE_FREQUENCY_WEEKLY,
        count=1,
    )
    request.first_start_time.CopyFrom(first.time.start)
    return request


@scenario("SeriesService/GetSeries")
async def _get_series(w: World) -> Message:
    return sched.GetSeriesRequest(series_id=w.series_id)


def _date_after(first: Any, days: int) -> Any:
    from datetime import date

    from confide.common.v1 import time_pb2

    later = date(first.year, first.month, first.day) + timedelta(days=days)
    return time_pb2.LocalDate(year=later.year, month=later.month, day=later.day)


@scenario("SeriesService/SkipOccurrence")
async def _skip(w: World) -> Message:
    return sched.SkipOccurrenceRequest(
        series_id=w.series_id, occurrence_date=w.series_first_date, idempotency_key=_key()
    )


@scenario("SeriesService/MoveOccurrence")
async def _move(w: World) -> Message:
    assert w.series_slots, "the pool of series slots ran out"
    return sched.MoveOccurrenceRequest(
        series_id=w.series_id,
        occurrence_date=_date_after(w.series_first_date, 7),
        new_start_time=w.series_slots[0].time.start,
        idempotency_key=_key(),
    )


@scenario("SeriesService/RescheduleFollowing")
async def _reschedule_following(w: World) -> Message:
    return sched.RescheduleFollowingRequest(
        series_id=w.series_id,
        from_date=_date_after(w.series_first_date, 7),
        new_first_date=_date_after(w.series_first_date, 8),
        new_frequency=sched.RECURRENCE_FREQUENCY_WEEKLY,
        idempotency_key=_key(),
    )


@scenario("SeriesService/CancelFollowing")
async def _cancel_following(w: World) -> Message:
    return sched.CancelFollowingRequest(
        series_id=w.series_id, from_date=_date_after(w.series_first_date, 7), idempotency_key=_key()
    )


@scenario("WaitlistService/LeaveWaitlist", fresh=True)
async def _leave_waitlist(w: World) -> Message:
    return sched.LeaveWaitlistRequest(entry_id=await w.join_waitlist(), idempotency_key=_key())


@scenario("MessagingService/CreateThread")
async def _create_thread(w: World) -> Message:
    return messaging_pb2.CreateThreadRequest(client_id=ALEX, idempotency_key=_key())


@scenario("MessagingService/GetThread")
async def _get_thread(w: World) -> Message:
    return messaging_pb2.GetThreadRequest(thread_id=w.thread_id)


@scenario("MessagingService/ListMessages")
async def _list_messages(w: World) -> Message:
    return messaging_pb2.ListMessagesRequest(thread_id=w.thread_id)


@scenario("MessagingService/SendMessage")
async def _send_message(w: World) -> Message:
    return messaging_pb2.SendMessageRequest(
        thread_id=w.thread_id,
        kind=messaging_pb2.MESSAGE_KIND_LIVE_CHAT,
        body="How are you?",
        idempotency_key=_key(),
    )


@scenario("MessagingService/MarkRead")
async def _mark_read(w: World) -> Message:
    return messaging_pb2.MarkReadRequest(thread_id=w.thread_id, up_to_sequence=1)


@scenario("MessagingService/StreamMessages")
async def _stream(w: World) -> Message:
    return messaging_pb2.StreamMessagesRequest(thread_id=w.thread_id)


def _day(offset_days: int) -> Any:
    from confide.common.v1 import time_pb2

    day = (datetime.now(UTC) + timedelta(days=offset_days)).date()
    return time_pb2.LocalDate(year=day.year, month=day.month, day=day.day)


@scenario("AccountService/GetAccount")
async def _get_account(w: World) -> Message:
    return billing_pb2.GetAccountRequest(client_id=ALEX)


@scenario("AccountService/GetSuperbill")
async def _superbill(w: World) -> Message:
    return billing_pb2.GetSuperbillRequest(client_id=ALEX, from_date=_day(-30), to_date=_day(0))


@scenario("AccountService/IssueInvoice")
async def _issue_invoice(w: World) -> Message:
    return billing_pb2.IssueInvoiceRequest(
        client_id=ALEX, period_start=_day(-30), period_end=_day(-1), idempotency_key=_key()
    )


@scenario("BillingSetupService/RecordSlidingScale")
async def _sliding_scale(w: World) -> Message:
    return billing_pb2.RecordSlidingScaleRequest(
        client_id=ALEX, tier_code="A", evidence="attested", review_on=_day(180), idempotency_key=_key()
    )


@scenario("DirectoryService/SearchClinicians")
async def _search_clinicians(w: World) -> Message:
    from confide.common.v1 import jurisdiction_pb2

    return directory_pb2.SearchCliniciansRequest(
        client_id=ALEX,
        client_state=jurisdiction_pb2.JURISDICTION_CA,
        client_time_zone="America/Los_Angeles",
        care_kind=directory_pb2.CARE_KIND_THERAPY,
    )


# Who speaks for each relation (demo data; docs/runbooks/demo-data.md).
RELATION_SUBJECT = {
    Relation.OWN: ALEX,
    Relation.CARE_TEAM: RIVERA,
    Relation.OTHER_CLINICIAN: CHEN,
    Relation.OTHER_CLIENT: SAM,
    Relation.ADMIN: ADMIN,
}


def ghost(request: Message) -> Message:
    """The same request about nobody: every field naming a client's data replaced by an unknown id."""
    copy = type(request)()
    copy.CopyFrom(request)
    for f in copy.DESCRIPTOR.fields:
        if f.name in matrix.CLIENT_DATA_FIELDS and getattr(copy, f.name):
            setattr(copy, f.name, str(uuid.uuid4()))
        elif f.name == "idempotency_key":
            setattr(copy, f.name, _key())
    return copy


def refused(answer: Answer, nobody: Answer, *, other_practice: bool) -> bool:
    """A refusal: PERMISSION_DENIED or NOT_FOUND (from another practice NOT_FOUND, the house rule), or an
    answer the caller would equally get about an id that does not exist (an empty list, a refusal about
    the caller's own practice): nothing about the client leaks either way."""
    if answer.code is grpc.StatusCode.NOT_FOUND or (answer.code in DENIED and not other_practice):
        return True
    return (
        answer.code is nobody.code and answer.message == nobody.message and answer.payload == nobody.payload
    )


@dataclass
class Tally:
    calls: int = 0
    mismatches: list[str] = field(default_factory=list)


def callers_of(
    world: World, access: Access, allowed: frozenset[Relation]
) -> list[tuple[str, Relation, Metadata]]:
    """Every relation (users of another practice in each role the RPC admits), refused ones first."""
    callers: list[tuple[str, Relation, Metadata]] = []
    for relation in sorted(Relation, key=lambda r: r in allowed):
        if relation is Relation.OTHER_PRACTICE:
            for role in (roles.CLIENT, roles.CLINICIAN, roles.PRACTICE_ADMIN):
                if not access.roles or role in access.roles:
                    stranger = world.md(str(uuid.uuid4()), role, practice=OTHER_PRACTICE)
                    callers.append((f"{role} of another practice", relation, stranger))
            continue
        role = matrix.RELATION_ROLE[relation]
        callers.append((relation.value, relation, world.md(RELATION_SUBJECT[relation], role)))
    return callers


async def check_relations(world: World, rpc: matrix.Rpc, tally: Tally) -> None:
    allowed = matrix.RELATIONSHIPS[rpc.name]
    access = rpc.access
    assert access is not None, rpc.name
    assert not access.public, rpc.name
    scenario_ = SCENARIOS[rpc.name]
    streaming = rpc.method.server_streaming
    # Refused callers share one resource, and go first: a refusal must leave it as it was.
    shared = await scenario_.build(world)

    async def check(label: str, relation: Relation, metadata: Metadata, request: Message) -> None:
        role_admitted = not access.roles or matrix.RELATION_ROLE.get(relation, "") in access.roles
        answer = await call(world.platform, rpc.path, request, metadata, streaming=streaming)
        tally.calls += 1
        nobody = Answer(grpc.StatusCode.NOT_FOUND, "")
        if (
            relation not in allowed
            and answer.code is not grpc.StatusCode.NOT_FOUND
            and (relation is Relation.OTHER_PRACTICE or answer.code not in DENIED)
        ):
            nobody = await call(world.platform, rpc.path, ghost(request), metadata, streaming=streaming)
            tally.calls += 1
        where = f"{rpc.name} [{label}]"
        if answer.code in BUGS:
            tally.mismatches.append(f"{where}: {answer}")
        elif relation is Relation.OTHER_PRACTICE:
            if not refused(answer, nobody, other_practice=True):
                tally.mismatches.append(f"{where}: expected NOT_FOUND, got {answer}; unknown id: {nobody}")
        elif not role_admitted:
            if access_layer_outcome(answer) is not Outcome.ROLE_DENIED:
                tally.mismatches.append(f"{where}: expected the access layer's refusal, got {answer}")
        elif relation in allowed:
            if answer.code in DENIED or answer.code is grpc.StatusCode.UNAUTHENTICATED:
                tally.mismatches.append(f"{where}: expected to be let through, got {answer}")
        elif not refused(answer, nobody, other_practice=False):
            tally.mismatches.append(
                f"{where}: expected PERMISSION_DENIED or NOT_FOUND, got {answer}; unknown id: {nobody}"
            )

    callers = callers_of(world, access, allowed)
    refused_callers = [c for c in callers if c[1] not in allowed]
    admitted = [c for c in callers if c[1] in allowed]
    await asyncio.gather(*(check(*c, shared) for c in refused_callers))
    if scenario_.fresh:  # one at a time: each builds its own resource (a client holds few slots at once)
        for c in admitted:
            await check(*c, await scenario_.build(world))
    else:
        await asyncio.gather(*(check(*c, shared) for c in admitted))
    if rpc.area == "scheduling":
        await world.release_holds()


async def test_each_relation_reaches_exactly_the_clients_data_it_should(world: World) -> None:
    rpcs = {r.name: r for r in matrix.declared_rpcs()}
    tally = Tally()

    async def scheduling() -> None:
        # One RPC at a time: they share alex's holds and slots.
        for name in matrix.RELATIONSHIPS:
            if rpcs[name].area == "scheduling":
                await check_relations(world, rpcs[name], tally)

    others = [
        check_relations(world, rpcs[n], tally) for n in matrix.RELATIONSHIPS if rpcs[n].area != "scheduling"
    ]
    await asyncio.gather(scheduling(), *others)
    assert tally.calls > 150, tally.calls
    assert not tally.mismatches, f"{len(tally.mismatches)} of {tally.calls} calls:\n" + "\n".join(
        sorted(tally.mismatches)
    )

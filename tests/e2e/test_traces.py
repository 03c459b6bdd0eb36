"""The tracing contract (docs/tracing.md), checked on the spans the whole platform exports.

One trace follows a journey: the gateway's span for a browser's request → the gRPC call to the owning
service → its calls to other services and its database statements → the outbox relay's publish
(a PRODUCER span, restored from the traceparent stored in the outbox row) → each consumer's span
(a CONSUMER span whose parent is that publish span) → the consumer's database writes.

Two journeys are checked by the shape of their traces, not by span counts or incidental names:
booking (scheduling, compliance) → the Good Faith Estimate written by billing, and completing a
session → the charge written by billing. And no span carries PHI: no bound SQL parameters, no request
bodies, no database error details.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from .conftest import DEMO_TOTP, Platform, ReceivedSpan
from .test_journeys import (
    ALEX,
    PASSWORD,
    RIVERA,
    eventually,
    key,
    open_care_team_thread,
    rfc3339,
    rule_ids,
    send_text_message,
    sign_in,
)

pytestmark = pytest.mark.integration

SERVER = trace_pb2.Span.SpanKind.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SpanKind.SPAN_KIND_CLIENT
PRODUCER = trace_pb2.Span.SpanKind.SPAN_KIND_PRODUCER
CONSUMER = trace_pb2.Span.SpanKind.SPAN_KIND_CONSUMER
KIND_NAMES: dict[int, str] = {
    trace_pb2.Span.SpanKind.SPAN_KIND_INTERNAL: "internal",
    SERVER: "server",
    CLIENT: "client",
    PRODUCER: "producer",
    CONSUMER: "consumer",
}

APPOINTMENTS_TOPIC = "confide.scheduling.appointments.v1"
SESSIONS_TOPIC = "confide.scheduling.sessions.v1"
# Spans reach the receiver in batches a few hundred milliseconds after they end.
SPANS_ARRIVE = 20.0

# What the demo seed knows about alex (services/identity/confide_identity/seed.py): none of it may
# appear in any span, whatever the request.
ALEX_EMAIL = "alex@demo-practice.test"
ALEX_PHI = (ALEX_EMAIL, "Alex Morgan", "Jordan Morgan", "+14155550142", "4155550142", "1991-04-12")


# --- reading a trace ---------------------------------------------------------------------------------


def statement(span: ReceivedSpan) -> str:
    """The SQL text of a database span (either semantic-convention generation), upper-cased."""
    text = span.attribute("db.statement") or span.attribute("db.query.text") or ""
    return " ".join(str(text).split()).upper()


def is_db(span: ReceivedSpan) -> bool:
    return span.kind == CLIENT and span.attribute("db.system") is not None


def rpc_service(span: ReceivedSpan) -> str:
    return str(span.attribute("rpc.service") or "")


@dataclass(frozen=True)
class Trace:
    spans: list[ReceivedSpan]

    @property
    def by_id(self) -> dict[str, ReceivedSpan]:
        return {span.span_id: span for span in self.spans}

    def parent(self, span: ReceivedSpan) -> ReceivedSpan | None:
        return self.by_id.get(span.parent_span_id)

    def ancestors(self, span: ReceivedSpan) -> list[ReceivedSpan]:
        chain: list[ReceivedSpan] = []
        current = self.parent(span)
        while current is not None and current not in chain:
            chain.append(current)
            current = self.parent(current)
        return chain

    def under(self, ancestor: ReceivedSpan, predicate: Callable[[ReceivedSpan], bool]) -> list[ReceivedSpan]:
        """The spans below `ancestor` (at any depth) that match."""
        return [s for s in self.spans if predicate(s) and ancestor in self.ancestors(s)]

    def find(self, predicate: Callable[[ReceivedSpan], bool]) -> list[ReceivedSpan]:
        return [s for s in self.spans if predicate(s)]

    def render(self) -> str:
        """The trace as an indented tree, for assertion messages."""
        children: dict[str, list[ReceivedSpan]] = {}
        for span in self.spans:
            children.setdefault(span.parent_span_id, []).append(span)
        lines: list[str] = []

        def walk(span: ReceivedSpan, depth: int) -> None:
            extra = (
                statement(span)[:70]
                or rpc_service(span)
                or str(span.attribute("messaging.destination.name") or "")
            )
            lines.append(
                f"{'  ' * depth}{span.service} {KIND_NAMES.get(span.kind, '?')} {span.name!r} {extra}"
            )
            for child in sorted(children.get(span.span_id, []), key=lambda s: s.span.start_time_unix_nano):
                walk(child, depth + 1)

        known = self.by_id
        for root in sorted(
            (s for s in self.spans if s.parent_span_id not in known),
            key=lambda s: s.span.start_time_unix_nano,
        ):
            walk(root, 0)
        return "\n".join(lines)


def trace_of(platform: Platform, trace_id: str) -> Trace:
    return Trace([s for s in platform.spans.spans() if s.trace_id == trace_id])


def only(spans: list[ReceivedSpan], what: str, trace: Trace) -> ReceivedSpan:
    assert len(spans) == 1, f"expected one {what}, found {len(spans)}:\n{trace.render()}"
    return spans[0]


def some(spans: list[ReceivedSpan], what: str, trace: Trace) -> list[ReceivedSpan]:
    assert spans, f"expected {what}:\n{trace.render()}"
    return spans


def producer_on(topic: str, service: str) -> Callable[[ReceivedSpan], bool]:
    return lambda s: (
        s.service == service and s.kind == PRODUCER and s.attribute("messaging.destination.name") == topic
    )


def processed_by(service: str, topic: str) -> Callable[[ReceivedSpan], bool]:
    """The chassis consumer's span for one record (consume_span), not the aiokafka receive spans."""
    return lambda s: (
        s.service == service
        and s.kind == CONSUMER
        and s.attribute("messaging.destination.name") == topic
        and s.attribute("messaging.operation.type") == "process"
        and s.attribute("messaging.message.id") is not None  # not the batch's span, which has none
    )


def db_write(service: str, table: str) -> Callable[[ReceivedSpan], bool]:
    return lambda s: (
        s.service == service and is_db(s) and statement(s).startswith(f"INSERT INTO {table.upper()} ")
    )


async def complete_trace(
    platform: Platform, trace_id: str, done: Callable[[Trace], bool], what: str, *, remote_parent: str = ""
) -> Trace:
    """The trace once `done` holds and every span's parent has arrived too (a parent ends, and so is
    exported, after its children); `remote_parent` is the browser's span, which nobody exports."""

    async def probe() -> Trace | None:
        found = trace_of(platform, trace_id)
        dangling = {s.parent_span_id for s in found.spans} - set(found.by_id) - {"", remote_parent}
        return found if done(found) and not dangling else None

    try:
        return await eventually(probe, what, within=SPANS_ARRIVE)
    except AssertionError:
        raise AssertionError(
            f"timed out waiting for {what}:\n{trace_of(platform, trace_id).render()}"
        ) from None


def assert_event_flow(trace: Trace, origin: ReceivedSpan, topic: str, table: str) -> ReceivedSpan:
    """origin ⊃ scheduling's outbox publish to `topic` → billing's consumer span (its child) ⊃ the
    INSERT into billing's `table`. Returns the publish span."""
    publish = only(
        trace.under(origin, producer_on(topic, "scheduling")),
        f"scheduling publish to {topic} under the RPC",
        trace,
    )
    consumer = only(
        trace.find(processed_by("billing", topic)), f"billing consumer span for {topic} in the trace", trace
    )
    # The documented choice (docs/tracing.md): a one-to-one event flow continues the trace as a child
    # of the publish span, so the consumer is neither a new trace nor merely linked.
    assert consumer.parent_span_id == publish.span_id, trace.render()
    assert consumer.attribute("messaging.message.id"), "the consumer span names the event it processed"
    some(
        trace.under(consumer, db_write("billing", table)),
        f"billing INSERT INTO {table} under its consumer span",
        trace,
    )
    return publish


async def linking_to(
    platform: Platform, target: str, predicate: Callable[[ReceivedSpan], bool], what: str
) -> ReceivedSpan:
    """The span (of any trace) that matches and links to the span `target` (its id)."""

    async def probe() -> ReceivedSpan | None:
        for span in platform.spans.spans():
            if predicate(span) and any(link.span_id.hex() == target for link in span.span.links):
                return span
        return None

    return await eventually(probe, what, within=SPANS_ARRIVE)


async def assert_fan_in_links(platform: Platform, publish: ReceivedSpan, topic: str) -> None:
    """The batches around one-to-one spans link to them from traces of their own (docs/tracing.md):
    scheduling's outbox relay batch to the span that wrote the row, billing's consumer transaction to
    the publish span."""
    relay = await linking_to(
        platform,
        publish.parent_span_id,
        lambda s: s.service == "scheduling" and s.name == "outbox publish",
        "scheduling's relay batch linking to the span that wrote the outbox row",
    )
    batch = await linking_to(
        platform,
        publish.span_id,
        lambda s: (
            s.service == "billing"
            and s.kind == CONSUMER
            and s.attribute("messaging.destination.name") == topic
        ),
        f"billing's consumer transaction linking to the publish to {topic}",
    )
    for span in (relay, batch):
        assert span.trace_id != publish.trace_id, span
        assert span.parent_span_id == "", span
    assert int(batch.attribute("messaging.batch.message_count") or 0) >= 1


def assert_rpc_hop(trace: Trace, caller: ReceivedSpan, service: str, rpc_prefix: str) -> ReceivedSpan:
    """caller ⊃ a CLIENT span for an RPC of `rpc_prefix` → `service`'s SERVER span (its child)."""
    calls = some(
        trace.under(caller, lambda s: s.kind == CLIENT and rpc_service(s).startswith(rpc_prefix)),
        f"a gRPC client span to {rpc_prefix} under {caller.service}'s span",
        trace,
    )
    call_ids = {c.span_id for c in calls}
    servers = [
        s
        for s in trace.find(lambda s: s.service == service and s.kind == SERVER)
        if s.parent_span_id in call_ids
    ]
    return only(servers, f"{service} server span as the child of the client span", trace)


# --- driving the platform ------------------------------------------------------------------------------


def traceparent() -> tuple[str, str, str]:
    """A browser's W3C traceparent (a sampled span of a trace that starts in the browser)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


async def call(
    platform: Platform, path: str, body: dict[str, Any], token: str, *, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """A Connect JSON call through the gateway with extra headers (a browser's traceparent)."""
    sent = {"content-type": "application/json", "authorization": f"Bearer {token}", **(headers or {})}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{platform.gateway}/{path}", json=body, headers=sent) as reply,
    ):
        payload: dict[str, Any] = await reply.json(content_type=None)
        return reply.status, payload


async def estimates(platform: Platform, alex: str) -> list[dict[str, Any]]:
    _, account = await platform.call("confide.billing.v1.AccountService/GetAccount", {}, alex)
    return list(account.get("estimates", []))


# Session types and the CPT code billing estimates each with (docs/billing.md).
ESTIMATED_CODES = {
    "psychotherapy_45": "90834",
    "psychotherapy_60": "90837",
    "psychotherapy_30": "90832",
    "intake_60": "90791",
}


def session_type_new_to(issued: list[dict[str, Any]]) -> tuple[str, str]:
    """A session type whose code no estimate alex holds lists: booking it changes what she can expect,
    so billing must issue a new estimate (an unchanged expectation issues none, BILL-31), whatever
    other tests booked for her before."""
    listed = {service.get("serviceCode") for estimate in issued for service in estimate.get("services", [])}
    for session_type, code in ESTIMATED_CODES.items():
        if code not in listed:
            return session_type, code
    raise AssertionError(f"alex's estimates already list every code: {sorted(map(str, listed))}")


async def open_rivera_calendar(platform: Platform, rivera: str) -> None:
    """All day, every day, so that a session can start during the test whenever it runs."""
    await platform.call(
        "confide.scheduling.v1.AvailabilityService/SetWeeklySchedule",
        {
            "clinicianId": RIVERA,
            "timeZone": "America/Los_Angeles",
            "location": "JURISDICTION_CA",
            "modalities": ["MODALITY_VIDEO"],
            "weeklyRules": [
                {"weekday": f"WEEKDAY_{day}", "start": {"hours": 0}, "end": {"hours": 0}}
                for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
            ],
            "idempotencyKey": key(),
        },
        rivera,
    )


async def free_the_next_minutes(platform: Platform, rivera: str) -> None:
    """dr.rivera cancels the sessions other tests left booked or checked in around now (the browser
    journey books her first slot and leaves it), so that this test's session can start at once."""
    now = datetime.now(UTC)
    _, listed = await platform.call(
        "confide.scheduling.v1.AppointmentService/ListAppointments",
        {
            "clinicianId": RIVERA,
            "statuses": ["APPOINTMENT_STATUS_BOOKED", "APPOINTMENT_STATUS_CHECKED_IN"],
            "range": {
                "start": rfc3339(now - timedelta(hours=4)),
                "end": rfc3339(now + timedelta(minutes=20)),
            },
        },
        rivera,
    )
    for appointment in listed.get("appointments", []):
        await platform.call(
            "confide.scheduling.v1.AppointmentService/CancelAppointment",
            {"appointmentId": appointment["appointmentId"], "idempotencyKey": key()},
            rivera,
        )


async def earliest_slot(platform: Platform, alex: str, session_type: str) -> str:
    now = datetime.now(UTC)
    search = {
        "clientId": ALEX,
        "sessionTypeCode": session_type,
        "modality": "MODALITY_VIDEO",
        "window": {
            "start": rfc3339(now + timedelta(minutes=2)),
            "end": rfc3339(now + timedelta(minutes=200)),
        },
        "clientState": "JURISDICTION_CA",
        "maxResults": 1,
    }

    async def slots() -> list[dict[str, Any]] | None:
        status, reply = await platform.call(
            "confide.scheduling.v1.AvailabilityService/SearchSlots", search, alex, expect_ok=False
        )
        return reply.get("slots") if status == 200 else None

    (slot,) = await eventually(slots, "a free slot with dr.rivera")
    return str(slot["time"]["start"])


def gateway_spans(platform: Platform, route: str, since_ns: int) -> list[ReceivedSpan]:
    return [
        s
        for s in platform.spans.spans()
        if s.service == "gateway"
        and s.kind == SERVER
        and s.name.endswith(route)
        and s.span.start_time_unix_nano >= since_ns
    ]


# --- the tests -----------------------------------------------------------------------------------------


async def test_booking_and_session_completion_each_make_one_trace_to_billings_writes(
    platform: Platform,
) -> None:
    alex = await sign_in(platform, ALEX_EMAIL)
    rivera = await sign_in(platform, "dr.rivera@demo-practice.test", totp=True)
    await open_rivera_calendar(platform, rivera)
    await platform.call(
        "confide.scheduling.v1.ScreeningService/SubmitScreening",
        {
            "clientId": ALEX,
            "phq9": {"answers": [0, 0, 1, 0, 0, 0, 0, 1, 0]},
            "gad7": {"answers": [0, 1, 0, 0, 0, 1, 0]},
            "cssrs": {"wishToBeDead": False, "suicidalThoughts": False, "suicidalBehaviourLifetime": False},
            "idempotencyKey": key(),
        },
        alex,
    )
    issued_before = await estimates(platform, alex)
    session_type, code = session_type_new_to(issued_before)
    start = await earliest_slot(platform, alex, session_type)
    if datetime.fromisoformat(start) > datetime.now(UTC) + timedelta(minutes=10):
        await free_the_next_minutes(platform, rivera)
        start = await earliest_slot(platform, alex, session_type)

    # Book as a browser without tracing would: the gateway starts the trace.
    since = time.time_ns()
    book = {
        "clientId": ALEX,
        "clinicianId": RIVERA,
        "sessionTypeCode": session_type,
        "modality": "MODALITY_VIDEO",
        "startTime": start,
        "clientState": "JURISDICTION_CA",
        "idempotencyKey": key(),
    }

    async def booked() -> dict[str, Any] | None:
        status, reply = await platform.call(
            "confide.scheduling.v1.AppointmentService/BookAppointment", book, alex, expect_ok=False
        )
        return reply["appointment"] if status == 200 else None

    appointment_id = str((await eventually(booked, "the booking"))["appointmentId"])

    known = {str(e["estimateId"]) for e in issued_before}

    async def new_estimate() -> list[dict[str, Any]] | None:
        fresh = [e for e in await estimates(platform, alex) if str(e["estimateId"]) not in known]
        return [e for e in fresh if code in {s.get("serviceCode") for s in e.get("services", [])}] or None

    await eventually(new_estimate, "billing's Good Faith Estimate for the booking")

    # The booking's trace: the gateway span whose scheduling call succeeded (earlier attempts, if the
    # consent was still on its way, are traces of their own).
    def succeeded(root: ReceivedSpan) -> bool:
        return any(
            s.service == "scheduling" and s.kind == SERVER and s.attribute("rpc.grpc.status_code") == 0
            for s in trace_of(platform, root.trace_id).spans
        )

    async def booking_root() -> ReceivedSpan | None:
        roots = [
            s for s in gateway_spans(platform, "AppointmentService/BookAppointment", since) if succeeded(s)
        ]
        return roots[-1] if roots else None

    root = await eventually(booking_root, "the gateway's span of the booking", within=SPANS_ARRIVE)
    booking = await complete_trace(
        platform,
        root.trace_id,
        lambda t: bool(t.find(db_write("billing", "good_faith_estimates"))),
        "billing's INSERT INTO good_faith_estimates in the booking's trace",
    )
    assert root.parent_span_id == "", "without a traceparent from the browser the gateway starts the trace"
    scheduling = assert_rpc_hop(booking, root, "scheduling", "confide.scheduling.v1.AppointmentService")
    assert scheduling.attribute("rpc.method") == "BookAppointment"
    # The authorization check: scheduling → compliance, in the same trace.
    assert_rpc_hop(booking, scheduling, "compliance", "confide.compliance.")
    # Scheduling's own writes, in the RPC's transaction: the appointment and its outbox row.
    some(
        booking.under(scheduling, db_write("scheduling", "appointments")), "INSERT INTO appointments", booking
    )
    some(booking.under(scheduling, db_write("scheduling", "outbox")), "INSERT INTO outbox", booking)
    publish = assert_event_flow(booking, scheduling, APPOINTMENTS_TOPIC, "good_faith_estimates")
    assert publish.attribute("messaging.system") == "kafka"
    await assert_fan_in_links(platform, publish, APPOINTMENTS_TOPIC)
    # No database statement of the trace records its bound values.
    for span in booking.find(is_db):
        assert appointment_id not in str(list(span.span.attributes)), span

    # Check in, start and complete; completing comes from a browser that traces: the gateway continues
    # the browser's trace instead of starting one.
    async def checked_in() -> bool:
        status, reply = await platform.call(
            "confide.scheduling.v1.SessionService/CheckIn",
            {
                "appointmentId": appointment_id,
                "location": {"state": "JURISDICTION_CA", "atHome": True},
                "identityConfirmed": True,
                "idempotencyKey": key(),
            },
            alex,
            expect_ok=False,
        )
        if status != 200 and "SCHED-04" not in rule_ids(reply):
            raise AssertionError(f"check-in refused: {reply}")
        return status == 200

    # The slot starts within minutes, so the check-in window (from 15 minutes before) is open.
    await eventually(checked_in, "the check-in window", within=30)
    await platform.call(
        "confide.scheduling.v1.SessionService/StartSession",
        {"appointmentId": appointment_id, "idempotencyKey": key()},
        rivera,
    )
    header, browser_trace, browser_span = traceparent()
    status, reply = await call(
        platform,
        "confide.scheduling.v1.SessionService/CompleteSession",
        {
            "appointmentId": appointment_id,
            "actualMinutes": 50,
            "deliveredModality": "MODALITY_VIDEO",
            "idempotencyKey": key(),
        },
        rivera,
        headers={"traceparent": header},
    )
    assert status == 200, reply

    async def charged() -> bool:
        _, account = await platform.call("confide.billing.v1.AccountService/GetAccount", {}, alex)
        return any(c.get("appointmentId") == appointment_id for c in account.get("charges", []))

    await eventually(charged, "billing's charge for the session")
    completion = await complete_trace(
        platform,
        browser_trace,
        lambda t: bool(t.find(db_write("billing", "charges"))),
        "billing's INSERT INTO charges in the browser's trace",
        remote_parent=browser_span,
    )
    root = only(
        completion.find(lambda s: s.service == "gateway" and s.kind == SERVER),
        "gateway span in the completion's trace",
        completion,
    )
    assert root.parent_span_id == browser_span, "the gateway's span is a child of the browser's span"
    scheduling = assert_rpc_hop(completion, root, "scheduling", "confide.scheduling.v1.SessionService")
    assert scheduling.attribute("rpc.method") == "CompleteSession"
    some(
        completion.under(
            scheduling, lambda s: s.service == "scheduling" and is_db(s) and "APPOINTMENTS" in statement(s)
        ),
        "scheduling's statements on appointments",
        completion,
    )
    publish = assert_event_flow(completion, scheduling, SESSIONS_TOPIC, "charges")
    await assert_fan_in_links(platform, publish, SESSIONS_TOPIC)


async def test_no_span_carries_phi_or_request_bodies(platform: Platform) -> None:
    """Bound SQL parameters, gRPC request bodies and database error details never reach a span."""
    alex = await sign_in(platform, ALEX_EMAIL)
    admin = await sign_in(platform, "admin@demo-practice.test", totp=True)
    since = time.time_ns()
    canary = f"canary {secrets.token_hex(8)} my panic attacks are back"

    # A refused duplicate: the e-mail address is in the request and in identity's lookup, never in a
    # span (the lookup's statement has a placeholder, the refusal's message names no address).
    status, error = await platform.call(
        "confide.identity.v1.UserService/CreateUser",
        {"email": ALEX_EMAIL, "displayName": "Alex Morgan", "roles": ["ROLE_CLIENT"]},
        admin,
        expect_ok=False,
    )
    assert error.get("code") == "already_exists", (status, error)

    # A message whose text is PHI, through messaging (encrypted at rest; never in a span).
    opened = await open_care_team_thread(platform, ALEX, alex)
    await send_text_message(platform, opened["threadId"], canary, alex)

    # Wait until the spans of those requests (and their database statements) have arrived.
    def arrived(route: str, service: str) -> Callable[[], Any]:
        async def probe() -> bool:
            for root in gateway_spans(platform, route, since):
                if any(is_db(s) and s.service == service for s in trace_of(platform, root.trace_id).spans):
                    return True
            return False

        return probe

    await eventually(
        arrived("UserService/CreateUser", "identity"), "identity's spans of CreateUser", SPANS_ARRIVE
    )
    await eventually(arrived("MessagingService/SendMessage", "messaging"), "messaging's spans", SPANS_ARRIVE)

    secrets_and_phi = (*ALEX_PHI, canary, "panic attacks", PASSWORD, DEMO_TOTP.secret)
    leaks = [
        f"{span.service} {span.name!r}: {where} contains {value!r}"
        for span in platform.spans.spans()
        for where, text in span_texts(span)
        for value in secrets_and_phi
        if value.lower() in text.lower()
    ]
    assert not leaks, "\n".join(leaks[:20])


def span_texts(span: ReceivedSpan) -> Iterable[tuple[str, str]]:
    """Everything a span carries that a person could read: name, attributes, status, events, links."""
    yield "name", span.name
    yield "status", span.span.status.message
    yield from _attributes("attribute", span.span.attributes)
    for event in span.span.events:
        yield "event", event.name
        yield from _attributes(f"event {event.name!r}", event.attributes)
    for link in span.span.links:
        yield from _attributes("link", link.attributes)


def _attributes(where: str, attributes: Iterable[Any]) -> Iterable[tuple[str, str]]:
    for kv in attributes:
        yield f"{where} {kv.key}", str(kv.value)

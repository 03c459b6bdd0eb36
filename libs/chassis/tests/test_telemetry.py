"""Tracing set-up, instrumentation, and trace context through Kafka headers and the outbox."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterator

import grpc
import grpc.aio
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

from confide_chassis import telemetry
from confide_chassis.telemetry import (
    configure_tracing,
    consume_span,
    context_from_traceparent,
    current_traceparent,
    extract_context,
    inject_headers,
    instrument_aiokafka,
    instrument_grpc_client,
    instrument_grpc_server,
    instrument_sqlalchemy,
    use_traceparent,
)

_exporter = InMemorySpanExporter()
_processor = SimpleSpanProcessor(_exporter)
tracer = trace.get_tracer(__name__)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    configure_tracing("telemetry-test", extra_processors=[_processor])
    _exporter.clear()
    yield _exporter
    _exporter.clear()


def finished(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    matching = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(matching) == 1, [s.name for s in exporter.get_finished_spans()]
    return matching[0]


def _processors(provider: TracerProvider) -> tuple[object, ...]:
    return tuple(provider._active_span_processor._span_processors)


# --- provider -------------------------------------------------------------------------------------


def test_configure_tracing_is_idempotent(spans: InMemorySpanExporter) -> None:
    first = configure_tracing("telemetry-test")
    second = configure_tracing("another-name", "9.9.9", extra_processors=[_processor])
    assert first is second
    assert trace.get_tracer_provider() is first
    assert _processors(first).count(_processor) == 1
    with tracer.start_as_current_span("once"):
        pass
    assert len(spans.get_finished_spans()) == 1, "a processor added twice would export twice"


def test_spans_and_trace_ids_exist_without_an_exporter(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    provider = telemetry._new_provider("svc", "1.2.3")
    try:
        assert _processors(provider) == ()
        assert provider.resource.attributes["service.name"] == "svc"
        assert provider.resource.attributes["service.version"] == "1.2.3"
        with provider.get_tracer("t").start_as_current_span("s") as span:
            assert span.get_span_context().is_valid
            assert span.is_recording()
    finally:
        provider.shutdown()


def test_otlp_exporter_when_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    provider = telemetry._new_provider("svc", "1.2.3")
    try:
        (processor,) = _processors(provider)
        assert isinstance(processor, BatchSpanProcessor)
        assert isinstance(processor._batch_processor._exporter, OTLPSpanExporter)
    finally:
        provider.shutdown()


# --- Kafka headers --------------------------------------------------------------------------------


def test_inject_extract_round_trip_keeps_the_trace(spans: InMemorySpanExporter) -> None:
    ce = [("ce_id", b"0190a5c4"), ("ce_type", b"confide.scheduling.v1.AppointmentBooked")]
    with tracer.start_as_current_span("produce") as producer:
        headers = inject_headers(ce)
    sent = producer.get_span_context()

    assert headers[:2] == ce, "CloudEvents headers are kept, in order"
    assert ce == [("ce_id", b"0190a5c4"), ("ce_type", b"confide.scheduling.v1.AppointmentBooked")]
    traceparent = dict(headers)["traceparent"]
    assert isinstance(traceparent, bytes)
    assert traceparent.decode().startswith(f"00-{sent.trace_id:032x}-{sent.span_id:016x}-")

    parent = trace.get_current_span(extract_context(headers)).get_span_context()
    assert parent.is_remote
    assert (parent.trace_id, parent.span_id) == (sent.trace_id, sent.span_id)

    with tracer.start_as_current_span("consume", context=extract_context(headers)) as consumer:
        assert consumer.get_span_context().trace_id == sent.trace_id
    consumed = finished(spans, "consume")
    assert consumed.parent is not None
    assert consumed.parent.span_id == sent.span_id


def test_inject_replaces_old_trace_headers_instead_of_duplicating(spans: InMemorySpanExporter) -> None:
    old = [
        ("traceparent", b"00-11111111111111111111111111111111-2222222222222222-01"),
        ("tracestate", b"vendor=stale"),
        ("ce_id", b"1"),
    ]
    with tracer.start_as_current_span("s") as span:
        headers = inject_headers(old)
    names = [k for k, _ in headers]
    assert names.count("traceparent") == 1
    assert "tracestate" not in names
    assert f"{span.get_span_context().trace_id:032x}".encode() in dict(headers)["traceparent"]


def test_inject_without_a_span_leaves_headers_alone() -> None:
    assert trace.get_current_span() is trace.INVALID_SPAN
    stored = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    assert inject_headers(stored) == stored
    assert inject_headers(None) == []


@pytest.mark.parametrize(
    "headers",
    [
        None,
        [],
        [("ce_id", b"1"), ("x-empty", None)],
        [("traceparent", b"not-a-traceparent")],
        [("traceparent", b"\xff\xfe")],
    ],
)
def test_extract_without_valid_context_starts_a_new_trace(
    spans: InMemorySpanExporter, headers: list[tuple[str, bytes | None]] | None
) -> None:
    with (
        tracer.start_as_current_span("unrelated-outer") as outer,
        tracer.start_as_current_span("consume", context=extract_context(headers)) as span,
    ):
        pass
    assert span.get_span_context().trace_id != outer.get_span_context().trace_id
    assert finished(spans, "consume").parent is None


def test_first_traceparent_header_wins_like_the_aiokafka_instrumentation() -> None:
    first = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    second = "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01"
    headers = [("traceparent", first.encode()), ("traceparent", second.encode())]
    parent = trace.get_current_span(extract_context(headers)).get_span_context()
    assert f"{parent.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"


# --- outbox: traceparent captured at write time, restored by the relay -----------------------------


def test_current_traceparent_is_none_outside_a_span() -> None:
    assert current_traceparent() is None


@pytest.mark.parametrize(
    "stored", [None, "", "garbage", "00-00000000000000000000000000000000-0000000000000000-01"]
)
def test_context_from_missing_or_invalid_traceparent_is_empty(stored: str | None) -> None:
    assert not trace.get_current_span(context_from_traceparent(stored)).get_span_context().is_valid


async def test_traceparent_captured_then_restored_continues_the_trace(spans: InMemorySpanExporter) -> None:
    # The request handler writes the outbox row with the traceparent of its span.
    with tracer.start_as_current_span("rpc BookAppointment", kind=SpanKind.SERVER) as request:
        stored = current_traceparent()
    assert stored is not None
    request_ctx = request.get_span_context()
    assert stored.startswith(f"00-{request_ctx.trace_id:032x}-{request_ctx.span_id:016x}-")

    # Later, the relay publishes from another task with no span of the request in its context.
    async def relay() -> list[tuple[str, bytes]]:
        assert current_traceparent() is None
        token = otel_context.attach(context_from_traceparent(stored))
        try:
            with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER):
                return inject_headers([("ce_id", b"1")])
        finally:
            otel_context.detach(token)

    headers = await asyncio.create_task(relay(), context=contextvars.Context())

    # A consumer elsewhere continues the trace.
    async def consumer() -> None:
        with consume_span(
            "confide.scheduling.appointments.v1", headers, consumer="billing", partition=2, offset=41
        ):
            await asyncio.sleep(0)

    await asyncio.create_task(consumer())

    publish = finished(spans, "publish")
    process = finished(spans, "process confide.scheduling.appointments.v1")
    assert publish.context.trace_id == request_ctx.trace_id
    assert publish.parent is not None
    assert publish.parent.span_id == request_ctx.span_id
    assert process.context.trace_id == request_ctx.trace_id
    assert process.parent is not None
    assert process.parent.span_id == publish.context.span_id
    assert process.kind is SpanKind.CONSUMER
    assert process.attributes is not None
    assert process.attributes["messaging.consumer.group.name"] == "billing"
    assert process.attributes["messaging.destination.partition.id"] == "2"
    assert process.attributes["messaging.kafka.message.offset"] == 41


def test_use_traceparent_sets_and_restores_the_parent(spans: InMemorySpanExporter) -> None:
    stored = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with use_traceparent(stored), tracer.start_as_current_span("child") as child:
        assert f"{child.get_span_context().trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_consume_span_records_errors_and_reraises(spans: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), consume_span("t.v1", [], consumer="c"):
        raise RuntimeError("handler failed")
    span = finished(spans, "process t.v1")
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


# --- instrumentation ------------------------------------------------------------------------------


async def _echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return request


async def _reject(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad request")
    raise AssertionError("unreachable")


async def _fail(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")
    raise AssertionError("unreachable")


async def _crash(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    raise RuntimeError("bug")


def _handler(service: str, methods: dict[str, object]) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        service,
        {name: grpc.unary_unary_rpc_method_handler(fn) for name, fn in methods.items()},  # type: ignore[arg-type]
    )


async def test_grpc_server_and_client_spans_share_the_trace(spans: InMemorySpanExporter) -> None:
    instrument_grpc_server()
    instrument_grpc_server()  # idempotent
    instrument_grpc_client()
    instrument_grpc_client()

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            _handler(
                "confide.test.v1.Echo", {"Echo": _echo, "Reject": _reject, "Fail": _fail, "Crash": _crash}
            ),
            _handler("grpc.health.v1.Health", {"Check": _echo}),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:

            def call(path: str) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
                return channel.unary_unary(path)

            with tracer.start_as_current_span("caller") as caller:
                assert await call("/confide.test.v1.Echo/Echo")(b"hi") == b"hi"
                with pytest.raises(grpc.aio.AioRpcError) as rejected:
                    await call("/confide.test.v1.Echo/Reject")(b"x")
                assert rejected.value.code() is grpc.StatusCode.INVALID_ARGUMENT
                for method in ("Fail", "Crash"):
                    with pytest.raises(grpc.aio.AioRpcError):
                        await call(f"/confide.test.v1.Echo/{method}")(b"x")
                assert await call("/grpc.health.v1.Health/Check")(b"") == b""
    finally:
        await server.stop(None)

    trace_id = caller.get_span_context().trace_id
    by_kind = {(s.name, s.kind): s for s in spans.get_finished_spans()}
    client = by_kind[("/confide.test.v1.Echo/Echo", SpanKind.CLIENT)]
    served = by_kind[("/confide.test.v1.Echo/Echo", SpanKind.SERVER)]
    assert client.context.trace_id == served.context.trace_id == trace_id
    assert served.parent is not None
    assert served.parent.span_id == client.context.span_id

    # Server spans follow the semantic conventions: a caller's mistake is not a server error.
    reject = by_kind[("/confide.test.v1.Echo/Reject", SpanKind.SERVER)]
    assert reject.status.status_code is StatusCode.UNSET
    assert reject.attributes is not None
    assert reject.attributes["rpc.grpc.status_code"] == 3
    assert by_kind[("/confide.test.v1.Echo/Reject", SpanKind.CLIENT)].status.status_code is StatusCode.ERROR
    fail = by_kind[("/confide.test.v1.Echo/Fail", SpanKind.SERVER)]
    assert fail.status.status_code is StatusCode.ERROR
    assert fail.attributes is not None
    assert fail.attributes["rpc.grpc.status_code"] == 13
    # Quirk pinned here: an exception escaping the servicer is recorded but leaves the server span's
    # status UNSET with no status code; the chassis interceptor must abort(INTERNAL) instead.
    crash = by_kind[("/confide.test.v1.Echo/Crash", SpanKind.SERVER)]
    assert crash.status.status_code is StatusCode.UNSET
    assert "exception" in [e.name for e in crash.events]

    assert not [s for s in spans.get_finished_spans() if "grpc.health" in s.name], "probes are not traced"


def test_sqlalchemy_statements_are_traced_once_and_without_parameters(spans: InMemorySpanExporter) -> None:
    engine = create_engine("sqlite://")
    instrument_sqlalchemy(engine)
    instrument_sqlalchemy(engine)  # idempotent: one span per statement
    with tracer.start_as_current_span("uow") as uow, engine.connect() as conn:
        assert conn.execute(text("SELECT :email AS e"), {"email": "jane@example.com"}).scalar() is not None
    db_spans = [s for s in spans.get_finished_spans() if s.name != "uow" and s.kind is SpanKind.CLIENT]
    assert len(db_spans) == 1
    (span,) = db_spans
    assert span.context.trace_id == uow.get_span_context().trace_id
    assert span.attributes is not None
    assert "jane@example.com" not in repr(dict(span.attributes))
    engine.dispose()


async def test_sqlalchemy_async_engine_is_traced_through_its_sync_engine() -> None:
    engine = create_async_engine("postgresql+asyncpg://user:pw@127.0.0.1:1/none")  # never connects
    instrument_sqlalchemy(engine)
    assert engine.sync_engine in telemetry._traced_engines
    await engine.dispose()


def test_instrument_aiokafka_is_idempotent() -> None:
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor

    instrument_aiokafka()
    instrument_aiokafka()
    assert AIOKafkaInstrumentor().is_instrumented_by_opentelemetry


def test_consume_span_names_the_error_class_but_never_its_message(spans: InMemorySpanExporter) -> None:
    # A database error's message quotes the statement's parameters; spans leave the cluster.
    with pytest.raises(ValueError, match="jane"), consume_span("t.v1", [], consumer="c"):
        raise ValueError("[parameters: ('jane.roe@example.com', 'panic attacks')]")
    span = finished(spans, "process t.v1")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError"
    (event,) = span.events
    assert dict(event.attributes or {}) == {"exception.type": "ValueError"}
    assert "jane" not in repr(dict(span.attributes or {}))


def test_consume_span_is_no_failure_when_the_consumer_is_cancelled(spans: InMemorySpanExporter) -> None:
    with pytest.raises(asyncio.CancelledError), consume_span("t.v1", [], consumer="c"):
        raise asyncio.CancelledError
    span = finished(spans, "process t.v1")
    assert span.status.status_code is StatusCode.UNSET
    assert not span.events

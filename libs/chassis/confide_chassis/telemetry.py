"""OpenTelemetry tracing: provider, instrumentation, and trace context across Kafka.

Start-up order in a service::

    configure_logging(service, log_level, log_format)
    configure_tracing(service, version)
    instrument_grpc_server(); instrument_grpc_client(); instrument_aiokafka()
    engine = create_async_engine(...); instrument_sqlalchemy(engine)
    server = grpc.aio.server(...)   # after instrument_grpc_server(), looked up as grpc.aio.server
    ...
    shutdown_tracing()              # flushes the batch exporter

Trace context across Kafka (docs/tracing.md): a consumer's span continues the producer's trace, as a
child of the send span; work for many traces at once (a relay batch, a consumer's shared
transaction) starts its own trace and links to each (`linked_span`). The producer is usually the
outbox relay, which publishes later and from another task, so the request that writes an outbox row
stores `current_traceparent()` in the row, and the relay attaches
`context_from_traceparent(row.traceparent)` (or `use_traceparent`) around ``send``.
With the aiokafka instrumentation on, its send span (a child of that context) appends its own
``traceparent`` to the headers; without it, put the context in with `inject_headers`. Consumers run
their handler inside `consume_span` (or a span started under `extract_context(headers)`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast
from weakref import WeakSet

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from confide_chassis.logging import get_logger

if TYPE_CHECKING:
    import grpc.aio
    from sqlalchemy.engine import Engine, ExceptionContext
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "TRACEPARENT_HEADER",
    "TRACESTATE_HEADER",
    "configure_tracing",
    "consume_span",
    "context_from_traceparent",
    "current_traceparent",
    "extract_context",
    "grpc_client_interceptors",
    "grpc_server_interceptor",
    "inject_headers",
    "instrument_aiokafka",
    "instrument_grpc_client",
    "instrument_grpc_server",
    "instrument_sqlalchemy",
    "linked_span",
    "record_error_class",
    "shutdown_tracing",
    "untraced",
    "use_traceparent",
]

log = get_logger(__name__)

TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"

Headers = list[tuple[str, bytes]]

_lock = threading.Lock()
_provider: TracerProvider | None = None
_added_processors: list[SpanProcessor] = []
_shut_down = False

# --------------------------------------------------------------------------------------------------
# Provider
# --------------------------------------------------------------------------------------------------


def configure_tracing(
    service: str,
    version: str = "0.1.0",
    *,
    extra_processors: Sequence[SpanProcessor] = (),
) -> TracerProvider:
    """Install the global SDK tracer provider (once) and return it.

    Spans are always created and sampled (parent-based, honouring ``OTEL_TRACES_SAMPLER``) so that
    logs carry trace ids and context propagates even with no collector. When
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, spans are
    exported over OTLP/gRPC by a batch processor; use an ``http://`` endpoint for a plaintext collector
    (without a scheme the exporter uses TLS).

    Idempotent: later calls return the same provider (its resource keeps the first service name) and
    only add `extra_processors` not added before — tests pass a ``SimpleSpanProcessor`` around an
    ``InMemorySpanExporter`` here. If another SDK provider is already global, it is adopted.
    """
    global _provider
    with _lock:
        if _provider is None:
            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider):
                _provider = current
            else:
                _provider = _new_provider(service, version)
                trace.set_tracer_provider(_provider)
                if trace.get_tracer_provider() is not _provider:  # someone set a non-SDK provider first
                    log.warning("a non-SDK tracer provider is already installed; spans are not global")
        for processor in extra_processors:
            if not any(processor is added for added in _added_processors):
                _provider.add_span_processor(processor)
                _added_processors.append(processor)
        return _provider


def _new_provider(service: str, version: str) -> TracerProvider:
    resource = Resource.create(
        {"service.name": service, "service.version": version, "service.namespace": "confide"}
    )
    provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def shutdown_tracing(timeout_millis: int = 5000) -> None:
    """Flush and stop span export at process exit. Later calls do nothing."""
    global _shut_down
    with _lock:
        if _provider is not None and not _shut_down:
            _shut_down = True
            _provider.force_flush(timeout_millis)
            _provider.shutdown()


# --------------------------------------------------------------------------------------------------
# Instrumentation
# --------------------------------------------------------------------------------------------------


def _grpc_filter() -> Any:
    """Trace every RPC except health checks and reflection (probes would drown the traces)."""
    from opentelemetry.instrumentation.grpc import filters

    return filters.negate(filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection")))


def instrument_grpc_server() -> None:
    """Patch ``grpc.aio.server`` so that servers created afterwards trace every RPC.

    The tracing interceptor is inserted first, so it wraps the chassis interceptors and sees the
    status they abort with. Only servers created through the module attribute ``grpc.aio.server``
    *after* this call are traced. Idempotent.

    Quirks of the aio interceptor (pinned in tests/test_telemetry.py):

    - it awaits the handler, so every servicer method must be ``async def`` (a plain ``def`` handler,
      which grpc.aio otherwise accepts, fails with ``TypeError``);
    - a status set with ``context.abort``/``set_code`` is recorded (``rpc.grpc.status_code``); the span
      status is ERROR only for server faults (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
      UNAVAILABLE, DATA_LOSS), not for INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED …;
    - an exception escaping the handler is recorded as an event but leaves the status UNSET, so the
      error interceptor must turn it into ``abort(INTERNAL)``.
    """
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer

    instrumentor = GrpcAioInstrumentorServer(filter_=_grpc_filter())  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def instrument_grpc_client() -> None:
    """Patch ``grpc.aio.insecure_channel``/``secure_channel`` so new channels propagate the trace.

    Idempotent; channels created before the call are not traced.
    """
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient

    instrumentor = GrpcAioInstrumentorClient(filter_=_grpc_filter())  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def grpc_server_interceptor() -> grpc.aio.ServerInterceptor:
    """The tracing interceptor itself, for a server built without `instrument_grpc_server`.

    Put it first in the ``interceptors`` list. Do not combine with `instrument_grpc_server`
    (that would trace every RPC twice).
    """
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    interceptor = aio_server_interceptor(filter_=_grpc_filter())  # type: ignore[no-untyped-call]
    return cast("grpc.aio.ServerInterceptor", interceptor)


def grpc_client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """The tracing client interceptors, for a channel built without `instrument_grpc_client`."""
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    interceptors = aio_client_interceptors(filter_=_grpc_filter())  # type: ignore[no-untyped-call]
    return cast("list[grpc.aio.ClientInterceptor]", interceptors)


def instrument_aiokafka() -> None:
    """Trace ``AIOKafkaProducer.send`` and ``AIOKafkaConsumer.getone``/``getmany``. Idempotent.

    The send span is a child of the current context and its ``traceparent`` is *appended* to the
    headers list passed to ``send`` (the list is mutated; build a fresh one per send). Receive spans
    end before ``getone``/``getmany`` return, so handler work belongs in `consume_span`.
    """
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor

    instrumentor = AIOKafkaInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


_traced_engines: WeakSet[Engine] = WeakSet()


def instrument_sqlalchemy(engine: AsyncEngine | Engine) -> None:
    """Trace the statements of one engine (an ``AsyncEngine`` is traced through its ``sync_engine``).

    Spans carry the SQL text with placeholders, never the bound parameters. A failed statement's span
    says only the error class and SQLSTATE (`_end_failed_statement_span`): the instrumentation would
    copy the driver's message, whose ``DETAIL`` quotes the row (``Key (email)=(...) already exists``).
    Only the engines passed here are traced (no global patching of ``create_engine``); calling twice
    for one engine is a no-op.
    """
    from opentelemetry import metrics as otel_metrics
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqla_instr_version
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import AsyncEngine

    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    with _lock:
        if sync_engine in _traced_engines:
            return
        _traced_engines.add(sync_engine)
    name = "opentelemetry.instrumentation.sqlalchemy"
    tracer = trace.get_tracer(name, sqla_instr_version)
    connections_usage = otel_metrics.get_meter(name, sqla_instr_version).create_up_down_counter(
        name="db.client.connections.usage",
        unit="connections",
        description="The number of connections that are currently in state described by the state attribute.",
    )
    # Registered first, so it runs ahead of the instrumentation's own error listener, which then finds
    # no span left to describe (``insert=True`` does not reach these dialect-level listeners).
    event.listen(sync_engine, "handle_error", _end_failed_statement_span)
    EngineTracer(tracer, sync_engine, connections_usage)  # type: ignore[no-untyped-call]


# The attribute under which the SQLAlchemy instrumentation keeps a statement's span on the execution
# context (pinned by libs/chassis/tests/integration/test_trace_privacy.py).
_STATEMENT_SPAN_ATTRIBUTE = "_otel_span"


def _end_failed_statement_span(context: ExceptionContext) -> None:
    """End a failed statement's span as ERROR with the error class and SQLSTATE, nothing more."""
    execution = context.execution_context
    span: trace.Span | None = getattr(execution, _STATEMENT_SPAN_ATTRIBUTE, None)
    if execution is None or span is None:
        return
    error = context.original_exception
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    description = type(error).__name__
    if isinstance(sqlstate, str) and sqlstate:
        description = f"{description} (SQLSTATE {sqlstate})"
        span.set_attribute("db.response.status_code", sqlstate)
    span.set_attribute("error.type", type(error).__name__)
    span.set_status(trace.Status(trace.StatusCode.ERROR, description))
    span.end()
    setattr(execution, _STATEMENT_SPAN_ATTRIBUTE, None)


# --------------------------------------------------------------------------------------------------
# Trace context in Kafka headers and in the outbox
# --------------------------------------------------------------------------------------------------


class _HeaderGetter(Getter[Sequence[tuple[str, bytes | None]]]):
    """Reads Kafka headers; the first header of a name wins (as in the aiokafka instrumentation)."""

    def get(self, carrier: Sequence[tuple[str, bytes | None]], key: str) -> list[str] | None:
        for name, value in carrier:
            if name == key and value is not None:
                return [value.decode("utf-8", errors="replace")]
        return None

    def keys(self, carrier: Sequence[tuple[str, bytes | None]]) -> list[str]:
        return [name for name, _ in carrier]


_getter = _HeaderGetter()
_tracecontext = TraceContextTextMapPropagator()


def inject_headers(
    headers: Sequence[tuple[str, bytes]] | None = None, context: Context | None = None
) -> Headers:
    """Return a copy of `headers` with the trace context of `context` (default: current) added.

    Uses the global propagator (W3C ``traceparent``/``tracestate``, plus ``baggage`` if any is set);
    values are UTF-8 bytes. Headers of the same names already present are replaced, not duplicated.
    With no valid span in the context, `headers` come back unchanged (as a new list), so a
    ``traceparent`` already there (e.g. copied from an outbox row) is kept.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    if not carrier:
        return list(headers or ())
    # Drop every trace field, not only the ones injected now: a stale tracestate must not survive.
    replaced = set(propagate.get_global_textmap().fields) | carrier.keys()
    out = [(k, v) for k, v in (headers or ()) if k not in replaced]
    out.extend((k, v.encode()) for k, v in carrier.items())
    return out


def extract_context(headers: Sequence[tuple[str, bytes | None]] | None) -> Context:
    """The context carried by Kafka record headers (an empty context when there is none).

    Use it as the ``context=`` of the consumer's span so that the span continues the producer's trace.
    """
    return propagate.extract(list(headers or ()), context=Context(), getter=_getter)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the active span, for an outbox row written in this request."""
    carrier: dict[str, str] = {}
    _tracecontext.inject(carrier)
    return carrier.get(TRACEPARENT_HEADER)


def context_from_traceparent(tp: str | None) -> Context:
    """A context whose parent is the span a stored `traceparent` names (empty if missing or invalid).

    The outbox relay attaches it (``opentelemetry.context.attach``) while it sends a row, so the
    publish — and through the headers every consumer — joins the trace of the request that wrote it.
    """
    if not tp:
        return Context()
    return _tracecontext.extract({TRACEPARENT_HEADER: tp}, context=Context())


_tracer = trace.get_tracer("confide_chassis.telemetry")


@contextmanager
def consume_span(
    topic: str,
    headers: Sequence[tuple[str, bytes | None]] | None,
    *,
    consumer: str,
    partition: int | None = None,
    offset: int | None = None,
) -> Iterator[trace.Span]:
    """A current CONSUMER span ``process <topic>`` continuing the trace found in `headers`: its parent
    is the producer's send span (docs/tracing.md).

    An exception sets the span status to ERROR and adds an ``exception`` event naming its class only,
    then propagates. Its message and stack trace stay out of the span: a database error's message
    quotes the statement's parameters and the row (PHI), and spans leave the cluster for a collector.
    """
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": consumer,
    }
    if partition is not None:
        attributes["messaging.destination.partition.id"] = str(partition)
    if offset is not None:
        attributes["messaging.kafka.message.offset"] = offset
    with _tracer.start_as_current_span(
        f"process {topic}",
        context=extract_context(headers),
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:  # not cancellation: a consumer stopping is no failure
            record_error_class(span, exc)
            raise


def record_error_class(span: trace.Span, error: BaseException) -> None:
    """Mark `span` failed by `error`, naming only its class (never its message: it may quote PHI)."""
    name = type(error).__qualname__
    span.set_attribute("error.type", name)
    span.add_event("exception", {"exception.type": name})
    span.set_status(trace.Status(trace.StatusCode.ERROR, name))


@contextmanager
def linked_span(
    name: str,
    linked: Iterable[Context],
    *,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[trace.Span]:
    """A current span, in a trace of its own, for work done for many records or rows at once.

    Fan-in (docs/tracing.md): work for many traces at once has no single parent, so it starts its own
    trace and *links* to the span context in each of `linked` (a record's producer, the request that
    wrote an outbox row), once per distinct span. Errors are recorded by class only, as in
    `consume_span`.
    """
    seen: set[tuple[int, int]] = set()
    links: list[trace.Link] = []
    for context in linked:
        span_context = trace.get_current_span(context).get_span_context()
        key = (span_context.trace_id, span_context.span_id)
        if span_context.is_valid and key not in seen:
            seen.add(key)
            links.append(trace.Link(span_context))
    with _tracer.start_as_current_span(
        name,
        context=Context(),  # a new trace, whatever happens to be current
        kind=kind,
        links=links,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:
            record_error_class(span, exc)
            raise


@contextmanager
def untraced() -> Iterator[None]:
    """No spans from the instrumentations in this block: housekeeping that runs every second (an
    empty outbox poll, backlog metrics) would otherwise start a trace of its own each time."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        yield


@contextmanager
def use_traceparent(tp: str | None) -> Iterator[None]:
    """Make the span named by a stored `traceparent` the current parent for the block."""
    token = otel_context.attach(context_from_traceparent(tp))
    try:
        yield
    finally:
        otel_context.detach(token)

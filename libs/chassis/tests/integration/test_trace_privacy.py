"""Spans leave the cluster for a collector, so they carry no PHI: a failed statement's span names the
error class and SQLSTATE, never the driver's message, whose DETAIL quotes the row."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from confide_chassis import db
from confide_chassis.telemetry import configure_tracing

pytestmark = pytest.mark.integration

_exporter = InMemorySpanExporter()
tracer = trace.get_tracer(__name__)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    configure_tracing("trace-privacy-test", extra_processors=[SimpleSpanProcessor(_exporter)])
    _exporter.clear()
    yield _exporter
    _exporter.clear()


async def test_a_unique_violation_span_names_the_sqlstate_not_the_duplicate_value(
    database_url: str, spans: InMemorySpanExporter
) -> None:
    engine = db.create_engine(database_url)  # traced, as every service's engine
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE people (email text PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO people VALUES (:email)"), {"email": "jane.roe@example.com"})
        spans.clear()
        with tracer.start_as_current_span("use case"), pytest.raises(IntegrityError) as raised:
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO people VALUES (:email)"), {"email": "jane.roe@example.com"}
                )
        assert "jane.roe@example.com" in str(raised.value), "the driver's message quotes the row"

        failed = [
            s
            for s in spans.get_finished_spans()
            if s.kind is SpanKind.CLIENT and s.status.status_code is StatusCode.ERROR
        ]
        assert len(failed) == 1, [(s.name, s.status) for s in spans.get_finished_spans()]
        (span,) = failed
        assert span.status.description == "IntegrityError (SQLSTATE 23505)"
        assert span.attributes is not None
        assert span.attributes["db.response.status_code"] == "23505"
        for finished in spans.get_finished_spans():
            everything = (
                f"{finished.name} {finished.status.description} {dict(finished.attributes or {})} "
                + " ".join(f"{event.name} {dict(event.attributes or {})}" for event in finished.events)
            )
            assert "jane.roe" not in everything, finished.name
    finally:
        await engine.dispose()

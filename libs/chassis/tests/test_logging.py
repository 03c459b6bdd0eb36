"""JSON log shape, trace ids, stdlib routing, and PHI redaction (keys and free-text patterns)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.struct_pb2 import Struct
from opentelemetry import trace

from confide_chassis.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    is_phi_key,
    redact,
    scrub_text,
)
from confide_chassis.telemetry import configure_tracing

JWT = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0"
    ".eyJzdWIiOiIwMTkwYTVjNCIsInJvbGVzIjpbImNsaW5pY2lhbiJdfQ"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmU_-x"
)


def _our_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_confide_chassis_handler", False)]


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    configure_logging("logtest", "DEBUG", "json", stream=buf)
    yield buf
    for handler in _our_handlers():
        logging.getLogger().removeHandler(handler)
    logging.captureWarnings(False)


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def last(buf: io.StringIO) -> dict[str, Any]:
    records = lines(buf)
    assert records, "nothing was logged"
    return records[-1]


# --- shape ----------------------------------------------------------------------------------------


def test_json_line_has_timestamp_level_service_event_and_trace_ids_inside_a_span(stream: io.StringIO) -> None:
    configure_tracing("logtest")
    log = get_logger("confide_chassis.tests")
    with trace.get_tracer(__name__).start_as_current_span("work") as span:
        log.info("appointment booked", appointment_id="0190a5c4-7b2e-7cc3-8f1a-2b3c4d5e6f70")
        ctx = span.get_span_context()

    raw = stream.getvalue().strip()
    assert "\n" not in raw, "one event is one line"
    record = json.loads(raw)
    assert record["event"] == "appointment booked"
    assert record["level"] == "info"
    assert record["service"] == "logtest"
    assert record["logger"] == "confide_chassis.tests"
    assert record["appointment_id"] == "0190a5c4-7b2e-7cc3-8f1a-2b3c4d5e6f70"
    assert record["trace_id"] == f"{ctx.trace_id:032x}"
    assert record["span_id"] == f"{ctx.span_id:016x}"
    stamp = datetime.fromisoformat(record["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert list(record)[:5] == ["timestamp", "level", "service", "logger", "event"]


def test_no_trace_ids_outside_a_span(stream: io.StringIO) -> None:
    get_logger("t").info("idle")
    record = last(stream)
    assert "trace_id" not in record
    assert "span_id" not in record


def test_stdlib_records_of_libraries_are_json_with_the_same_fields(stream: io.StringIO) -> None:
    configure_tracing("logtest")
    with trace.get_tracer(__name__).start_as_current_span("poll") as span:
        logging.getLogger("aiokafka.conn").warning("connection to %s lost", "127.0.0.1:9092")
        trace_id = f"{span.get_span_context().trace_id:032x}"
    record = last(stream)
    assert record["event"] == "connection to 127.0.0.1:9092 lost"
    assert record["logger"] == "aiokafka.conn"
    assert record["level"] == "warning"
    assert record["service"] == "logtest"
    assert record["trace_id"] == trace_id


def test_stdlib_extra_fields_are_kept_and_redacted(stream: io.StringIO) -> None:
    # (not a sqlalchemy logger: importing SQLAlchemy sets its loggers to WARNING)
    logging.getLogger("alembic.runtime").info("row", extra={"table_name": "clients", "email": "a@b.co"})
    record = last(stream)
    assert record["table_name"] == "clients"
    assert record["email"] == REDACTED


def test_level_filters_structlog_and_stdlib(stream: io.StringIO) -> None:
    configure_logging("logtest", "warning", stream=stream)
    get_logger("t").info("not shown")
    logging.getLogger("grpc").info("not shown either")
    get_logger("t").warning("shown")
    assert [r["event"] for r in lines(stream)] == ["shown"]


def test_configure_twice_keeps_one_handler(stream: io.StringIO) -> None:
    other = io.StringIO()
    configure_logging("second", "INFO", stream=other)
    assert len(_our_handlers()) == 1
    get_logger("t").info("to the new stream")
    assert stream.getvalue() == ""
    assert last(other)["service"] == "second"


def test_unknown_level_and_format_are_rejected() -> None:
    with pytest.raises(ValueError, match="level"):
        configure_logging("x", "LOUD", stream=io.StringIO())
    with pytest.raises(ValueError, match="format"):
        configure_logging("x", "INFO", "xml", stream=io.StringIO())


def test_console_format_is_redacted_too(stream: io.StringIO) -> None:
    configure_logging("logtest", "INFO", "console", stream=stream)
    get_logger("t").info("mail jane.doe@example.com", first_name="Jane")
    out = stream.getvalue()
    assert "jane.doe@example.com" not in out
    assert "Jane" not in out
    assert REDACTED in out


# --- redaction by key -----------------------------------------------------------------------------


def test_nested_phi_keys_are_redacted_at_any_depth(stream: io.StringIO) -> None:
    get_logger("t").info(
        "client updated",
        client_id="0190a5c4-7b2e-7cc3-8f1a-2b3c4d5e6f70",
        client={
            "id": "0190a5c4-7b2e-7cc3-8f1a-2b3c4d5e6f70",
            "FirstName": "Jane",
            "legal_name": "Jane Q. Doe",
            "dateOfBirth": "1990-04-01",
            "address": {"street": "1 Main St", "state": "CA"},
            "emergency_contacts": [{"name": "John", "relationship": "spouse", "phone": "555 123 4567"}],
            "emergency_contact": {"name": "John"},
            "state": "CA",
        },
        changes=[{"field": "email", "email": "jane@example.com"}],
        note="feels anxious about work",
        diagnosis="F41.1",
        password="hunter2",
        refresh_token="opaque-abc",
    )
    record = last(stream)
    client = record["client"]
    assert record["client_id"] == "0190a5c4-7b2e-7cc3-8f1a-2b3c4d5e6f70"
    assert client["id"] == "0190a5c4-7b2e-7cc3-8f1a-2b3c4d5e6f70"
    assert client["state"] == "CA"
    for key in ("FirstName", "legal_name", "dateOfBirth", "address", "emergency_contact"):
        assert client[key] == REDACTED, key
    assert client["emergency_contacts"] == REDACTED
    assert record["changes"] == [{"field": "email", "email": REDACTED}]
    for key in ("note", "diagnosis", "password", "refresh_token"):
        assert record[key] == REDACTED, key
    text = json.dumps(record)
    for secret in ("Jane", "John", "1990-04-01", "Main St", "hunter2", "opaque-abc", "anxious", "F41.1"):
        assert secret not in text, secret


@pytest.mark.parametrize(
    "key",
    [
        "name",
        "Name",
        "first_name",
        "lastName",
        "legal_name",
        "preferred_name",
        "client_name",
        "email",
        "EMAIL",
        "client_email",
        "email_address",
        "phone",
        "phone_number",
        "mobilePhone",
        "dob",
        "date_of_birth",
        "dateOfBirth",
        "address",
        "home_address",
        "ip_address",
        "body",
        "message",
        "message_body",
        "text",
        "note",
        "notes",
        "session_notes",
        "ssn",
        "password",
        "password_hash",
        "token",
        "access_token",
        "refreshToken",
        "secret",
        "client_secret",
        "diagnosis",
        "diagnosis_codes",
        "emergency_contact",
        "authorization",
        "totp_code",
    ],
)
def test_phi_keys(key: str) -> None:
    assert is_phi_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "event",
        "client_id",
        "appointment_id",
        "message_id",
        "thread_id",
        "token_family_id",
        "service",
        "service_name",
        "topic",
        "topic_name",
        "method",
        "method_name",
        "practice_name",
        "code",
        "rule_id",
        "state",
        "consumer",
        "offset",
        "partition",
        "duration_ms",
        "error",
        "error_message",
        "bind_address",
        "listen_address",
        "grpc_port",
        "trace_id",
        "content_type",
        "timestamp",
    ],
)
def test_ordinary_keys_are_not_phi(key: str) -> None:
    assert not is_phi_key(key)


def test_phi_key_with_scalar_value_is_redacted(stream: io.StringIO) -> None:
    get_logger("t").info("x", phone=5551234567, dob=datetime(1990, 4, 1, tzinfo=UTC), ssn=None)
    record = last(stream)
    assert record["phone"] == REDACTED
    assert record["dob"] == REDACTED
    assert record["ssn"] == REDACTED


def test_redact_copies_and_does_not_mutate_its_input() -> None:
    data = {"client": {"email": "a@b.co", "id": 1}, "items": ("x", "call 555-123-4567")}
    out = redact(data)
    assert out == {"client": {"email": REDACTED, "id": 1}, "items": ["x", f"call {REDACTED}"]}
    assert data["client"] == {"email": "a@b.co", "id": 1}


def test_protobuf_messages_and_bytes_are_redacted_wholesale(stream: io.StringIO) -> None:
    msg = Struct()
    msg.update({"first_name": "Jane"})
    get_logger("t").info("x", request=msg, payload=b"ciphertext", thread_id=uuid.UUID(int=7))
    record = last(stream)
    assert record["request"] == REDACTED
    assert record["payload"] == REDACTED
    assert record["thread_id"] == str(uuid.UUID(int=7))


# --- redaction by pattern -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phi",
    [
        "jane.doe@example.com",
        "j+therapy@mail.example.co.uk",
        "555-123-4567",
        "(555) 123-4567",
        "555.123.4567",
        "+1 555 123 4567",
        "+15551234567",
        "123-45-6789",
        "123 45 6789",
        JWT,
        f"Bearer {JWT}",
        "bearer opaque.refresh-token_value",
    ],
)
def test_phi_patterns_are_scrubbed_from_messages(stream: io.StringIO, phi: str) -> None:
    get_logger("t").info(f"lookup for {phi} failed", detail=f"value={phi};")
    record = last(stream)
    assert phi not in record["event"]
    assert record["event"] == f"lookup for {REDACTED} failed"
    assert record["detail"] == f"value={REDACTED};"


@pytest.mark.parametrize(
    "ordinary",
    [
        "0190a5c4-7b2e-7cc3-8f1a-2b3c4d5e6f70",
        "LIC-03",
        "SCH-12",
        "INVALID_ARGUMENT",
        "FAILED_PRECONDITION",
        "confide.scheduling.appointments.v1",
        "2026-11-26T23:05:01.123456+00:00",
        "2026-11-26",
        "127.0.0.1:50051",
        "10.0.12.7:9092",
        "partition 3 offset 1234567890",
        "amount 12500 USD",
        "grpcio 1.85.3",
        "/confide.identity.v1.IdentityService/Login",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "America/New_York",
    ],
)
def test_ordinary_ids_and_codes_are_kept(ordinary: str) -> None:
    assert scrub_text(ordinary) == ordinary
    assert scrub_text(f"saw {ordinary} twice") == f"saw {ordinary} twice"


def test_exception_text_is_scrubbed(stream: io.StringIO) -> None:
    log = get_logger("t")
    try:
        raise ValueError("no client with email jane@example.com or ssn 123-45-6789")
    except ValueError:
        log.exception("lookup failed")
    record = last(stream)
    assert "ValueError" in record["exception"]
    assert "jane@example.com" not in record["exception"]
    assert "123-45-6789" not in record["exception"]


def test_stdlib_message_args_are_scrubbed(stream: io.StringIO) -> None:
    logging.getLogger("some.library").error("bad recipient %s", "jane@example.com")
    assert last(stream)["event"] == f"bad recipient {REDACTED}"


def test_scrubbing_long_text_stays_cheap() -> None:
    text = ("word " * 2000) + "x" * 5000 + " jane@example.com 555-123-4567"
    scrubbed = scrub_text(text)
    assert scrubbed.endswith(f" {REDACTED} {REDACTED}")


def test_other_stdlib_handlers_receive_structlog_events_already_redacted(
    stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        get_logger("t").info("sent to jane@example.com", email="jane@example.com")
    event_dict = caplog.records[-1].msg
    assert isinstance(event_dict, dict)
    assert event_dict["email"] == REDACTED
    assert event_dict["event"] == f"sent to {REDACTED}"


def test_kafka_client_chatter_is_kept_for_debugging() -> None:
    import io
    import logging as std_logging

    configure_logging("svc", "INFO", stream=io.StringIO())
    assert not std_logging.getLogger("aiokafka.consumer").isEnabledFor(std_logging.INFO)
    assert std_logging.getLogger("aiokafka.consumer").isEnabledFor(std_logging.WARNING)
    configure_logging("svc", "DEBUG", stream=io.StringIO())
    assert std_logging.getLogger("aiokafka.consumer").isEnabledFor(std_logging.DEBUG)
    configure_logging("svc", "INFO", stream=io.StringIO())

"""Structured logging: JSON lines on stdout, trace ids, and PHI redaction.

`configure_logging` sets up structlog *and* the standard library so that every record — ours and
those of aiokafka, grpc, SQLAlchemy, alembic — goes through one processor chain and comes out as one
JSON object per line::

    {"timestamp": "2026-11-26T23:05:01.123456Z", "level": "info", "service": "identity",
     "logger": "confide_chassis.grpc.interceptor", "event": "rpc",
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
     "method": "/confide.identity.v1.IdentityService/Login", "code": "OK", "duration_ms": 1.23}

PHI never reaches the output (docs/architecture.md, Security and privacy). The last step before rendering
is `redact_phi`, which

- replaces the value of any key that looks like PHI (``email``, ``first_name``, ``dateOfBirth``,
  ``message_body``, ``refresh_token`` …; case-insensitive, snake or camel case, at any depth of nested
  dicts and lists) with ``"[REDACTED]"``; and
- scrubs free text (the event itself, exception tracebacks, every other string) of e-mail addresses,
  US/E.164 phone numbers, SSN-like numbers, JWTs and bearer credentials.

Every string that reaches the output is also capped at `MAX_LOG_VALUE_CHARS` (its head and tail are
kept, the middle is cut), so a request value echoed into an exception never makes a log line huge.

Redaction is a safety net, not a licence: log ids (client_id, appointment_id), never the data.
Ordinary ids, rule ids, status codes, timestamps and host:port strings pass through unchanged.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import functools
import json
import logging
import re
import sys
import uuid
from collections.abc import Mapping
from typing import Any, Literal, TextIO

import structlog
from google.protobuf.message import Message as _ProtoMessage
from opentelemetry import trace
from structlog.types import EventDict, Processor, WrappedLogger

__all__ = [
    "MAX_LOG_VALUE_CHARS",
    "REDACTED",
    "LogFormat",
    "add_trace_context",
    "cap_text",
    "configure_logging",
    "get_logger",
    "is_phi_key",
    "redact",
    "redact_phi",
    "scrub_text",
]

REDACTED = "[REDACTED]"

LogFormat = Literal["json", "console"]

# --------------------------------------------------------------------------------------------------
# PHI keys
# --------------------------------------------------------------------------------------------------

# Whole (normalised, snake_case) keys that are PHI or secrets.
_PHI_KEYS = frozenset(
    {
        # names
        "name",
        "first_name",
        "last_name",
        "middle_name",
        "full_name",
        "legal_name",
        "preferred_name",
        "given_name",
        "family_name",
        "display_name",
        "maiden_name",
        "nickname",
        "username",
        "pronouns",
        # contact
        "email",
        "phone",
        "mobile",
        "fax",
        "address",
        "street",
        "street_address",
        "address_line1",
        "address_line2",
        "address_line_1",
        "address_line_2",
        "city",
        "zip",
        "zip_code",
        "postal_code",
        "emergency_contact",
        "ip",
        "client_ip",
        "peer",
        "remote_addr",
        # dates and identifiers
        "dob",
        "date_of_birth",
        "birth_date",
        "birthdate",
        "birthday",
        "ssn",
        "social_security_number",
        "mrn",
        "medical_record_number",
        "member_id",
        "insurance_member_id",
        "policy_number",
        "license_plate",
        # free text and clinical content
        "body",
        "message",
        "text",
        "note",
        "notes",
        "content",
        "diagnosis",
        "diagnoses",
        "icd10",
        "icd_code",
        "icd10_code",
        "medication",
        "medications",
        "symptom",
        "symptoms",
        "treatment_plan",
        "assessment",
        # secrets and credentials
        "password",
        "passphrase",
        "token",
        "secret",
        "authorization",
        "cookie",
        "set_cookie",
        "credential",
        "credentials",
        "api_key",
        "private_key",
        "secret_key",
        "signing_key",
        "encryption_key",
        "data_key",
        "wrapped_key",
        "kek",
        "dek",
        "otp",
        "totp",
        "mfa_code",
        "totp_code",
        "totp_secret",
        "recovery_code",
        "recovery_codes",
        "backup_code",
        "backup_codes",
        "card_number",
        "pan",
        "cvv",
        "cvc",
        "iban",
        "account_number",
        "routing_number",
    }
)

# A key containing one of these words anywhere is PHI (``client_email``, ``email_address``,
# ``phone_number``, ``password_hash``, ``dob_year``, ``diagnosis_codes``).
_PHI_WORDS_ANYWHERE = frozenset({"email", "phone", "ssn", "password", "passphrase", "dob", "diagnosis"})

# A key *ending* in one of these words is PHI (``refresh_token``, ``message_body``, ``session_notes``,
# ``home_address``) — but ``token_family_id`` or ``message_id`` are ids and stay.
_PHI_SUFFIXES = frozenset(
    {
        "token",
        "secret",
        "address",
        "body",
        "text",
        "note",
        "notes",
        "contact",
        "contacts",
        "birthdate",
        "diagnoses",
    }
)

# ``<word>_address`` keys that are network configuration, not a person's address.
_NETWORK_ADDRESS_PREFIXES = frozenset(
    {"bind", "listen", "server", "broker", "bootstrap", "metrics", "grpc", "http", "host", "local", "socket"}
)

# ``<word>_name`` is a person's name only after one of these words (``client_name``, ``first_name``);
# ``service_name``, ``topic_name``, ``method_name``, ``practice_name`` stay.
_PERSON_WORDS = frozenset(
    {
        "first",
        "last",
        "middle",
        "full",
        "legal",
        "preferred",
        "given",
        "family",
        "display",
        "maiden",
        "nick",
        "sur",
        "user",
        "client",
        "patient",
        "person",
        "contact",
        "clinician",
        "therapist",
        "provider",
        "guardian",
        "parent",
        "spouse",
        "partner",
        "member",
        "recipient",
        "sender",
        "author",
    }
)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=4096)
def is_phi_key(key: str) -> bool:
    """Whether values under `key` are PHI or secrets. Case-insensitive; snake, kebab or camel case."""
    snake = _CAMEL_BOUNDARY.sub("_", key).lower().replace("-", "_").replace(".", "_").replace(" ", "_")
    if snake in _PHI_KEYS:
        return True
    parts = [p for p in snake.split("_") if p]
    if not parts:
        return False
    if not _PHI_WORDS_ANYWHERE.isdisjoint(parts):
        return True
    last = parts[-1]
    if last in _PHI_SUFFIXES:
        return not (last == "address" and len(parts) > 1 and parts[-2] in _NETWORK_ADDRESS_PREFIXES)
    if last == "name" and len(parts) > 1:
        return parts[-2] in _PERSON_WORDS
    return False


# --------------------------------------------------------------------------------------------------
# PHI patterns in free text
# --------------------------------------------------------------------------------------------------

_BEARER = re.compile(r"(?i:\bbearer)\s+[\w.~+/\-]+=*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")
# The look-behind makes a match start only at the beginning of a run of local-part characters, which
# keeps the scan linear on long strings (without it, every position of a long word backtracks).
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
_NUMBERS = re.compile(
    # The leading look-ahead lets most positions fail on one character test.
    r"(?=[\d(+])(?:"
    + "|".join(
        (
            # SSN-like: dashed or spaced 3-2-4 digits not inside a longer token (UUIDs, dates stay).
            r"(?<![\w\-.])\d{3}[- ]\d{2}[- ]\d{4}(?![\w\-])",
            # E.164: +15551234567.
            r"(?<![\w+])\+[1-9]\d{9,14}(?!\d)",
            # NANP with separators: 555-123-4567, (555) 123-4567, +1 555.123.4567. Bare 10-digit runs
            # are left alone: they are more often offsets, epochs or amounts than phone numbers.
            r"(?<![\w\-+.])(?:\+?1[-. ]?)?(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w\-])",
        )
    )
    + ")"
)
_DIGIT = re.compile(r"\d")


MAX_LOG_VALUE_CHARS = 8192
MAX_LOG_ITEMS = 100


def cap_text(text: str, limit: int = MAX_LOG_VALUE_CHARS) -> str:
    """`text` unchanged if short; else its head and tail around a marker saying how much was cut
    (a traceback keeps its first frames and its last line)."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}…[{len(text) - 2 * keep} characters cut]…{text[-keep:]}"


def scrub_text(text: str) -> str:
    """Replace e-mail addresses, phone numbers, SSN-like numbers, JWTs and bearer credentials.

    Each pattern runs only if a cheap substring test says it could match, so ordinary short
    messages cost a few ``in`` checks and one digit search.
    """
    if "@" in text:
        text = _EMAIL.sub(REDACTED, text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(REDACTED, text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if _DIGIT.search(text) is not None:
        text = _NUMBERS.sub(REDACTED, text)
    return text


_KEEP_TYPES = (bool, int, float, type(None), uuid.UUID, _dt.datetime, _dt.date, _dt.time, _dt.timedelta)
_MAX_DEPTH = 12


def redact(value: Any, _depth: int = 0) -> Any:
    """Return `value` with PHI keys redacted and PHI patterns scrubbed, recursively.

    Dicts and lists are copied, never changed in place. Protobuf messages and raw bytes are replaced
    wholesale (they carry fields we cannot see the names of at this point); other objects are
    rendered with ``str()`` and scrubbed.
    """
    if isinstance(value, str):
        return scrub_text(cap_text(value))
    if isinstance(value, _KEEP_TYPES):
        return value
    if _depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, bytes | bytearray | memoryview | _ProtoMessage):  # before Mapping: Struct is one
        return REDACTED
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and is_phi_key(k) else redact(v, _depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = [redact(v, _depth + 1) for v in list(value)[:MAX_LOG_ITEMS]]
        if len(value) > MAX_LOG_ITEMS:
            items.append(f"…[{len(value) - MAX_LOG_ITEMS} more items]")
        return items
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, decimal.Decimal):
        return value
    return scrub_text(cap_text(str(value)))


# Written by our own processors, never from caller data: not worth scanning.
_TRUSTED_KEYS = frozenset({"timestamp", "level", "logger", "service", "trace_id", "span_id"})


def redact_phi(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact PHI keys and scrub PHI patterns in the whole event dict.

    Run it after ``format_exc_info``/``StackInfoRenderer`` so that exception and stack text is
    scrubbed as well.
    """
    for key, value in event_dict.items():
        if key in _TRUSTED_KEYS:
            continue
        if is_phi_key(key):
            event_dict[key] = REDACTED
        elif not isinstance(value, _KEEP_TYPES):
            event_dict[key] = redact(value)
    return event_dict


# --------------------------------------------------------------------------------------------------
# Enrichers
# --------------------------------------------------------------------------------------------------


def add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: add the active OpenTelemetry span's ``trace_id`` and ``span_id``."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = trace.format_trace_id(ctx.trace_id)
        event_dict["span_id"] = trace.format_span_id(ctx.span_id)
    return event_dict


def _redact_foreign(logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
    """In the formatter: drop ProcessorFormatter's meta keys; redact records that came from stdlib.

    structlog events were redacted in structlog's own chain already (so every stdlib handler, not
    only ours, receives them redacted); doing it twice would only cost time.
    """
    from_structlog = event_dict.pop("_from_structlog", False)
    event_dict.pop("_record", None)
    return event_dict if from_structlog else redact_phi(logger, name, event_dict)


def _add_service(service: str) -> Processor:
    def add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


def _json_default(obj: Any) -> Any:
    if isinstance(obj, _dt.datetime | _dt.date | _dt.time):
        return obj.isoformat()
    if isinstance(obj, _dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, uuid.UUID | decimal.Decimal):
        return str(obj)
    return repr(obj)


_LEADING_KEYS = ("timestamp", "level", "service", "logger", "event", "trace_id", "span_id")


def _dumps(obj: Any, **kwargs: Any) -> str:
    """JSON with the fixed keys first, for people reading raw lines; UTF-8 kept as is."""
    if isinstance(obj, dict):
        ordered = {k: obj[k] for k in _LEADING_KEYS if k in obj}
        ordered.update(obj)
        obj = ordered
    return json.dumps(obj, default=_json_default, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------

_HANDLER_MARK = "_confide_chassis_handler"


def _parse_level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    resolved = logging.getLevelName(level.strip().upper())
    if not isinstance(resolved, int):
        raise ValueError(f"unknown log level {level!r}")
    return resolved


_CHATTY_LIBRARIES = ("aiokafka", "kafka")


def configure_logging(
    service: str,
    level: str = "INFO",
    fmt: LogFormat | str = "json",
    *,
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging through one chain to `stream` (default stdout).

    Safe to call more than once (tests, ``__main__``): the previous handler is replaced. `level` is a
    name (``"debug"``, ``"INFO"``); `fmt` is ``"json"`` (one object per line) or ``"console"`` (local
    development), case-insensitive; anything else raises ``ValueError``. Both formats are redacted.
    """
    numeric_level = _parse_level(level)
    fmt = fmt.strip().lower()
    if fmt not in ("json", "console"):
        raise ValueError(f"unknown log format {fmt!r} (json|console)")

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
    # Run where the record is made (structlog) or emitted (stdlib): both inside the caller's context,
    # so contextvars and the active span are the caller's.
    call_site: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
        add_trace_context,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # Exceptions and stacks become text first, so that redaction sees (and scrubs) them too.
    redacting: list[Processor] = [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*call_site, structlog.stdlib.ExtraAdder()],
        processors=[*redacting, _redact_foreign, _add_service(service), renderer],
    )

    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # Client libraries narrate every group join and partition assignment at INFO; keep their
    # warnings and errors, and their chatter only when the service itself is debugged.
    for chatty in _CHATTY_LIBRARIES:
        logging.getLogger(chatty).setLevel(
            logging.WARNING if numeric_level > logging.DEBUG else numeric_level
        )
    logging.captureWarnings(True)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *call_site,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *redacting,
            redact_phi,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        # The chain above holds no per-call configuration (service, format and level live in the
        # handler and the stdlib loggers), so cached loggers stay correct after a reconfiguration.
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None, **initial_values: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to the stdlib logger `name` (use ``__name__``)."""
    return structlog.stdlib.get_logger(name, **initial_values)

"""Audit trail hash chain, pure part (docs/architecture.md "Security and privacy").

Each stored record has a sequence number (1, 2, 3, … without gaps), the audit entry, the hash of the
previous record and its own hash:

    hash = sha256( bytes.fromhex(prev_hash) || canonical_bytes(sequence, entry) )

The first record's `prev_hash` is `GENESIS_HASH` (64 zeros). `canonical_bytes` is UTF-8 JSON with
sorted keys, no insignificant whitespace, and times as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; the format
version is part of the bytes, so a future format change cannot collide with this one.

`verify_chain` walks the records in order and reports the first problem: an edited record (its
content no longer matches its hash), a deleted record (a gap in the sequence), reordered records, an
inserted record (a sequence number used twice), a record whose predecessor was rewritten (broken
link), or a mismatch with an externally kept anchor (which also catches a truncated tail or a chain
rewritten from some point on).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from confide_chassis.errors import FieldViolation, InvalidArgument

GENESIS_HASH = "0" * 64
CANONICAL_FORMAT = 1


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened: who did what to which resource, for what purpose, with what outcome.

    `subject_id` is the person whose data was touched (for "who accessed my record"). Ids and codes
    only; never PHI or free text.
    """

    event_id: str
    occurred_at: datetime
    source_service: str
    actor_id: str
    action: str
    resource_type: str
    resource_id: str
    outcome: str
    purpose: str = ""
    actor_role: str = ""
    subject_id: str = ""
    practice_id: str = ""
    attributes: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        violations: list[FieldViolation] = []
        for name in ("event_id", "source_service", "actor_id", "action", "resource_type", "outcome"):
            if not getattr(self, name):
                violations.append(FieldViolation(f"audit.{name}", "must not be empty"))
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            violations.append(FieldViolation("audit.occurred_at", "must be timezone-aware"))
        attributes = tuple(sorted((str(k), str(v)) for k, v in self.attributes))
        if len({k for k, _ in attributes}) != len(attributes):
            violations.append(FieldViolation("audit.attributes", "duplicate attribute key"))
        if violations:
            raise InvalidArgument(violations)
        object.__setattr__(self, "attributes", attributes)


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    sequence: int
    entry: AuditEntry
    prev_hash: str
    hash: str


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(sequence: int, entry: AuditEntry) -> bytes:
    """The exact bytes that are hashed for a record."""
    document = {
        "format": CANONICAL_FORMAT,
        "sequence": sequence,
        "event_id": entry.event_id,
        "occurred_at": _utc(entry.occurred_at),
        "source_service": entry.source_service,
        "practice_id": entry.practice_id,
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "subject_id": entry.subject_id,
        "purpose": entry.purpose,
        "outcome": entry.outcome,
        "attributes": [[k, v] for k, v in entry.attributes],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _prev_bytes(prev_hash: str) -> bytes:
    if len(prev_hash) != 64:
        raise InvalidArgument.field("prev_hash", "must be 64 hex digits (sha256)")
    try:
        return bytes.fromhex(prev_hash)
    except ValueError:
        raise InvalidArgument.field("prev_hash", "must be 64 hex digits (sha256)") from None


def record_hash(prev_hash: str, sequence: int, entry: AuditEntry) -> str:
    """sha256(prev_hash || canonical) as 64 lower-case hex digits."""
    return hashlib.sha256(_prev_bytes(prev_hash) + canonical_bytes(sequence, entry)).hexdigest()


def append(previous: ChainedRecord | None, entry: AuditEntry) -> ChainedRecord:
    """The record that follows `previous` (None: the first record of the chain)."""
    sequence = 1 if previous is None else previous.sequence + 1
    prev_hash = GENESIS_HASH if previous is None else previous.hash
    return ChainedRecord(sequence, entry, prev_hash, record_hash(prev_hash, sequence, entry))


def build_chain(entries: Iterable[AuditEntry]) -> tuple[ChainedRecord, ...]:
    records: list[ChainedRecord] = []
    for entry in entries:
        records.append(append(records[-1] if records else None, entry))
    return tuple(records)


class ChainProblem(StrEnum):
    EDITED = "edited"  # content or stored hash no longer match
    DELETED = "deleted"  # a sequence number is missing
    REORDERED = "reordered"  # records out of sequence order
    INSERTED = "inserted"  # a sequence number appears twice
    BROKEN_LINK = "broken_link"  # prev_hash is not the previous record's hash (predecessor rewritten)
    ANCHOR_MISMATCH = "anchor_mismatch"  # differs from (or lacks) a hash kept outside the store


@dataclass(frozen=True, slots=True)
class ChainAnchor:
    """A (sequence, hash) pair kept outside the database, e.g. published daily."""

    sequence: int
    hash: str


@dataclass(frozen=True, slots=True)
class ChainVerification:
    ok: bool
    records_checked: int
    problem: ChainProblem | None = None
    index: int | None = None  # position in the list given to verify_chain
    sequence: int | None = None  # the sequence number where the problem shows
    message: str = ""
    head_hash: str = GENESIS_HASH  # hash of the last record checked and found good


def verify_chain(
    records: Sequence[ChainedRecord],
    *,
    start_prev_hash: str = GENESIS_HASH,
    start_sequence: int = 1,
    anchors: Iterable[ChainAnchor] = (),
) -> ChainVerification:
    """Check `records` (in stored order) and pinpoint the first edited, deleted, reordered or
    inserted record. To verify a segment, pass the hash and sequence that precede it."""
    counts = Counter(r.sequence for r in records)
    anchor_by_sequence = {a.sequence: a.hash for a in anchors}
    expected_prev = start_prev_hash
    expected_sequence = start_sequence

    def bad(i: int, problem: ChainProblem, message: str) -> ChainVerification:
        return ChainVerification(
            ok=False,
            records_checked=i,
            problem=problem,
            index=i,
            sequence=records[i].sequence if i < len(records) else None,
            message=message,
            head_hash=expected_prev,
        )

    for i, record in enumerate(records):
        seq = record.sequence
        if counts[seq] > 1:
            return bad(
                i, ChainProblem.INSERTED, f"sequence {seq} appears {counts[seq]} times: a record was inserted"
            )
        if seq != expected_sequence:
            if expected_sequence in counts:
                return bad(
                    i,
                    ChainProblem.REORDERED,
                    f"found sequence {seq} where {expected_sequence} was expected; "
                    f"{expected_sequence} comes later",
                )
            if seq > expected_sequence:
                missing = (
                    f"{expected_sequence}"
                    if seq == expected_sequence + 1
                    else f"{expected_sequence}..{seq - 1}"
                )
                return bad(i, ChainProblem.DELETED, f"sequence {missing} is missing before {seq}: deleted")
            return bad(i, ChainProblem.REORDERED, f"sequence {seq} appears after {expected_sequence - 1}")
        try:
            recomputed = record_hash(record.prev_hash, seq, record.entry)
        except InvalidArgument:
            recomputed = ""
        if recomputed != record.hash:
            return bad(i, ChainProblem.EDITED, f"record {seq} does not match its hash: edited")
        if record.prev_hash != expected_prev:
            if i == 0:
                return bad(
                    i,
                    ChainProblem.BROKEN_LINK,
                    f"record {seq} does not link to the expected start of the chain",
                )
            return bad(
                i - 1,
                ChainProblem.BROKEN_LINK,
                f"record {seq} does not link to record {seq - 1}: record {seq - 1} was rewritten "
                f"(hash recomputed) or the link of record {seq} was",
            )
        anchored = anchor_by_sequence.get(seq)
        if anchored is not None and anchored != record.hash:
            return bad(i, ChainProblem.ANCHOR_MISMATCH, f"record {seq} differs from its anchor: rewritten")
        expected_prev = record.hash
        expected_sequence = seq + 1

    last = expected_sequence - 1
    beyond = sorted(s for s in anchor_by_sequence if s > last)
    if beyond:
        return ChainVerification(
            ok=False,
            records_checked=len(records),
            problem=ChainProblem.DELETED,
            index=len(records),
            sequence=beyond[0],
            message=f"anchor for sequence {beyond[0]} but the chain ends at {last}: "
            "records deleted at the end",
            head_hash=expected_prev,
        )
    return ChainVerification(ok=True, records_checked=len(records), head_hash=expected_prev)

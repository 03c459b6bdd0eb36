"""Audit trail hash chain: canonical form, and tamper detection (edit, delete, reorder, insert)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from confide_chassis.errors import InvalidArgument
from confide_compliance.domain import (
    GENESIS_HASH,
    AuditEntry,
    ChainAnchor,
    ChainedRecord,
    ChainProblem,
    append,
    build_chain,
    canonical_bytes,
    record_hash,
    verify_chain,
)

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def entry(n: int, **changes: Any) -> AuditEntry:
    base = AuditEntry(
        event_id=f"evt-{n}",
        occurred_at=T0 + timedelta(minutes=n),
        source_service="messaging",
        actor_id=f"user-{n % 3}",
        actor_role="clinician",
        action="read",
        resource_type="message_thread",
        resource_id=f"thread-{n % 2}",
        subject_id="client-1",
        purpose="treatment",
        outcome="success",
        practice_id="practice-1",
        attributes=(("channel", "api"),),
    )
    return replace(base, **changes)


def chain(n: int = 6) -> list[ChainedRecord]:
    return list(build_chain(entry(i) for i in range(1, n + 1)))


def test_chain_links_and_hashes() -> None:
    records = chain()
    assert records[0].prev_hash == GENESIS_HASH
    assert [r.sequence for r in records] == [1, 2, 3, 4, 5, 6]
    for prev, cur in pairwise(records):
        assert cur.prev_hash == prev.hash
    result = verify_chain(records)
    assert result.ok
    assert result.records_checked == 6
    assert result.head_hash == records[-1].hash


def test_canonical_form_is_stable_and_time_zone_independent() -> None:
    est = timezone(timedelta(hours=-5))
    a = entry(1)
    b = entry(1, occurred_at=a.occurred_at.astimezone(est), attributes=(("channel", "api"),))
    assert canonical_bytes(1, a) == canonical_bytes(1, b)
    assert b'"occurred_at":"2026-03-10T09:01:00.000000Z"' in canonical_bytes(1, a)
    assert canonical_bytes(1, a) != canonical_bytes(2, a)  # the sequence is part of the hash
    assert record_hash(GENESIS_HASH, 1, a) == record_hash(GENESIS_HASH, 1, b)
    assert len(record_hash(GENESIS_HASH, 1, a)) == 64


def test_entries_refuse_naive_times_and_empty_fields() -> None:
    with pytest.raises(InvalidArgument):
        entry(1, occurred_at=datetime(2026, 3, 10, 9, 0))
    with pytest.raises(InvalidArgument):
        entry(1, actor_id="")


def test_empty_chain_verifies() -> None:
    assert verify_chain([]).ok


def test_edited_record_is_pinpointed() -> None:
    records = chain()
    records[3] = replace(records[3], entry=replace(records[3].entry, outcome="denied"))
    result = verify_chain(records)
    assert not result.ok
    assert result.problem is ChainProblem.EDITED
    assert result.index == 3
    assert result.sequence == 4


def test_edited_and_rehashed_record_breaks_the_next_link() -> None:
    records = chain()
    edited = replace(records[2].entry, actor_id="intruder")
    records[2] = replace(records[2], entry=edited, hash=record_hash(records[2].prev_hash, 3, edited))
    result = verify_chain(records)
    assert result.problem is ChainProblem.BROKEN_LINK
    assert result.index == 2  # the rewritten record, found through its successor's link
    assert result.sequence == 3


def test_deleted_record_is_pinpointed() -> None:
    records = chain()
    del records[2]
    result = verify_chain(records)
    assert result.problem is ChainProblem.DELETED
    assert result.index == 2
    assert "sequence 3 is missing" in result.message


def test_deleted_first_record_is_detected() -> None:
    result = verify_chain(chain()[1:])
    assert result.problem is ChainProblem.DELETED
    assert result.index == 0


def test_reordered_records_are_detected() -> None:
    records = chain()
    records[2], records[3] = records[3], records[2]
    result = verify_chain(records)
    assert result.problem is ChainProblem.REORDERED
    assert result.index == 2


def test_inserted_record_is_detected() -> None:
    records = chain()
    forged = append(records[2], entry(99, actor_id="intruder"))  # properly chained after record 3
    records.insert(3, forged)
    result = verify_chain(records)
    assert result.problem is ChainProblem.INSERTED
    assert result.index == 3


def test_truncated_tail_is_caught_by_an_anchor() -> None:
    records = chain()
    anchor = ChainAnchor(6, records[-1].hash)
    assert verify_chain(records[:-2]).ok  # undetectable without an outside anchor
    result = verify_chain(records[:-2], anchors=[anchor])
    assert result.problem is ChainProblem.DELETED
    assert result.sequence == 6


def test_rewritten_suffix_is_caught_by_an_anchor() -> None:
    records = chain()
    anchor = ChainAnchor(5, records[4].hash)
    # rebuild the suffix from record 3 with an edited record 4, recomputing every later hash
    prefix = records[:3]
    tail: list[ChainedRecord] = []
    previous = prefix[-1]
    for i in range(4, 7):
        previous = append(previous, entry(i, outcome="denied") if i == 4 else entry(i))
        tail.append(previous)
    rewritten = prefix + tail
    assert verify_chain(rewritten).ok
    result = verify_chain(rewritten, anchors=[anchor])
    assert result.problem is ChainProblem.ANCHOR_MISMATCH
    assert result.sequence == 5


def test_a_segment_verifies_from_its_predecessor() -> None:
    records = chain()
    assert verify_chain(records[3:], start_prev_hash=records[2].hash, start_sequence=4).ok
    assert not verify_chain(records[3:]).ok


@given(n=st.integers(2, 12), data=st.data())
def test_any_single_tampering_is_detected_at_or_before_its_position(n: int, data: st.DataObject) -> None:
    records = chain(n)
    k = data.draw(st.integers(0, n - 1))
    kind = data.draw(st.sampled_from(["edit", "delete", "swap", "insert", "rehash"]))
    if kind == "edit":
        records[k] = replace(records[k], entry=replace(records[k].entry, purpose="marketing"))
    elif kind == "delete":
        if k == n - 1:
            k -= 1  # deleting the tail needs an anchor; tested separately
        del records[k]
    elif kind == "swap":
        k = min(k, n - 2)
        records[k], records[k + 1] = records[k + 1], records[k]
    elif kind == "insert":
        if k == n - 1:
            return  # a forged record after the head is an ordinary append; anchors catch it
        records.insert(k + 1, append(records[k], entry(1000)))
        k += 1
    else:
        edited = replace(records[k].entry, purpose="marketing")
        records[k] = replace(records[k], entry=edited, hash=record_hash(records[k].prev_hash, k + 1, edited))
        if k == n - 1:
            return  # a rewritten head record needs an anchor
    result = verify_chain(records)
    assert not result.ok
    assert result.index is not None
    assert result.index <= k

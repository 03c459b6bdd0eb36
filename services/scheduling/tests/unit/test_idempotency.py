from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from confide_chassis.errors import InvalidArgument
from confide_scheduling.domain.catalog import Modality
from confide_scheduling.domain.idempotency import (
    IdempotencyRecord,
    check_idempotency,
    request_fingerprint,
    validate_idempotency_key,
)

KEY = "0190a0b1-7c2d-7e3f-8a4b-5c6d7e8f9a0b"
REQUEST: dict[str, object] = {
    "clinician_id": UUID(int=3),
    "start": datetime(2026, 6, 15, 14, tzinfo=UTC),
    "modality": Modality.VIDEO,
    "duration": timedelta(minutes=45),
    "tags": frozenset({"b", "a"}),
}


def test_first_request_proceeds() -> None:
    assert check_idempotency(KEY, request_fingerprint("Book", REQUEST), None) is None


def test_same_key_same_request_replays_the_stored_result() -> None:
    fingerprint = request_fingerprint("Book", REQUEST)
    record = IdempotencyRecord(KEY, fingerprint, result="appointment-1")
    same_request_reordered = dict(reversed(list(REQUEST.items())))
    assert (
        check_idempotency(KEY, request_fingerprint("Book", same_request_reordered), record) == "appointment-1"
    )


def test_same_key_different_request_is_invalid_argument() -> None:
    record = IdempotencyRecord(KEY, request_fingerprint("Book", REQUEST), result="appointment-1")
    changed = {**REQUEST, "start": datetime(2026, 6, 15, 15, tzinfo=UTC)}
    with pytest.raises(InvalidArgument) as err:
        check_idempotency(KEY, request_fingerprint("Book", changed), record)
    assert err.value.violations[0].field == "idempotency_key"


def test_fingerprint_depends_on_method_and_normalises_time_zones() -> None:
    assert request_fingerprint("Book", REQUEST) != request_fingerprint("Hold", REQUEST)
    shifted = {**REQUEST, "start": datetime(2026, 6, 15, 10, tzinfo=UTC).astimezone()}
    same_instant = {**REQUEST, "start": datetime(2026, 6, 15, 10, tzinfo=UTC)}
    assert request_fingerprint("Book", shifted) == request_fingerprint("Book", same_instant)


def test_fingerprint_rejects_unsupported_values() -> None:
    with pytest.raises(TypeError):
        request_fingerprint("Book", {"price": 1.5})


@pytest.mark.parametrize("key", ["short", "x" * 129, "has space in it", "ümlaut-key-123"])
def test_key_format(key: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_idempotency_key(key)

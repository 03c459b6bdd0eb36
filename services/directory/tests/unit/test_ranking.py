"""The ranking is transparent and deterministic: continuity, fit, then a stable fairness hash."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from confide_chassis.errors import InvalidArgument
from confide_directory.domain.profiles import Modality
from confide_directory.domain.search import (
    AuthorityKind,
    Candidate,
    CareKind,
    SearchCriteria,
    decode_token,
    encode_token,
    explain,
    fairness_hash,
    order_page,
    page_after,
    rank,
    within_time_zone_window,
)

NOW = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # a Tuesday


def candidate(n: int, *specialties: str, zone: str = "America/Denver") -> Candidate:
    return Candidate(f"00000000-0000-7000-8000-{n:012d}", specialties, zone, AuthorityKind.STATE_LICENSE)


def criteria(**overrides: object) -> SearchCriteria:
    values: dict[str, object] = {
        "practice_id": "p",
        "client_id": "c",
        "client_state": "AZ",
        "client_time_zone": "America/Phoenix",
        "care_kind": CareKind.THERAPY,
        "modality": Modality.VIDEO,
        "specialties": (),
        "language": None,
        "max_fee_minor": None,
        "earliest_start": NOW,
        "max_time_zone_difference_hours": None,
        "query": None,
        "page_size": 10,
    }
    values.update(overrides)
    return SearchCriteria(**values)  # type: ignore[arg-type]


def ids(ranked: Sequence[tuple[object, Candidate]]) -> list[str]:
    return [c.clinician_id for _, c in ranked]


def test_current_clinician_comes_first_even_with_a_worse_fit() -> None:
    current, better_fit = candidate(1), candidate(2, "anxiety", "depression")
    ranked = rank([better_fit, current], ("anxiety", "depression"), frozenset({current.clinician_id}))
    assert ids(ranked) == [current.clinician_id, better_fit.clinician_id]


def test_more_matched_needs_rank_higher() -> None:
    one, two, none = candidate(1, "anxiety"), candidate(2, "anxiety", "grief"), candidate(3)
    ranked = rank([none, one, two], ("anxiety", "grief"), frozenset())
    assert ids(ranked) == [two.clinician_id, one.clinician_id, none.clinician_id]


def test_ties_are_broken_by_the_fairness_hash_not_by_input_order() -> None:
    pool = [candidate(n, "anxiety") for n in range(40)]
    expected = sorted(pool, key=lambda c: fairness_hash(c.clinician_id))
    for seed in range(5):
        shuffled = pool[:]
        random.Random(seed).shuffle(shuffled)
        assert ids(rank(shuffled, ("anxiety",), frozenset())) == [c.clinician_id for c in expected]
    # and the hash order is not simply the id (insertion) order
    assert [c.clinician_id for c in expected] != sorted(c.clinician_id for c in pool)


def test_same_inputs_same_order() -> None:
    pool = [candidate(n, *(["anxiety"] if n % 3 else [])) for n in range(25)]
    assert ids(rank(pool, ("anxiety",), frozenset({pool[7].clinician_id}))) == ids(
        rank(list(reversed(pool)), ("anxiety",), frozenset({pool[7].clinician_id}))
    )


def test_paging_is_keyset_and_stable_when_a_clinician_is_inserted_before_the_cursor() -> None:
    pool = [candidate(n) for n in range(12)]
    ranked = rank(pool, (), frozenset())
    first, cursor = page_after(ranked, None, 5)
    assert cursor is not None
    newcomer = min((candidate(100 + n) for n in range(50)), key=lambda c: fairness_hash(c.clinician_id))
    assert fairness_hash(newcomer.clinician_id) < first[-1][0][2]  # ranks inside page one
    second, _ = page_after(rank([*pool, newcomer], (), frozenset()), cursor, 5)
    assert ids(second) == ids(ranked[5:10])


def test_last_page_has_no_cursor() -> None:
    ranked = rank([candidate(n) for n in range(4)], (), frozenset())
    page, cursor = page_after(ranked, None, 4)
    assert len(page) == 4
    assert cursor is None


def test_inside_a_page_earlier_availability_wins_among_equal_fit() -> None:
    a, b = candidate(1, "anxiety"), candidate(2, "anxiety")
    page = rank([a, b], ("anxiety",), frozenset())
    later, sooner = ids(page)[0], ids(page)[1]
    ordered = order_page(page, {later: NOW.replace(day=12), sooner: NOW.replace(day=9)})
    assert ids(ordered) == [sooner, later]
    # no known slot sorts after a known one
    assert ids(order_page(page, {sooner: NOW})) == [sooner, later]


def test_availability_never_beats_continuity_or_fit() -> None:
    current, fit, free = candidate(1), candidate(2, "grief"), candidate(3)
    page = rank([current, fit, free], ("grief",), frozenset({current.clinician_id}))
    ordered = order_page(page, {free.clinician_id: NOW})
    assert ids(ordered) == [current.clinician_id, fit.clinician_id, free.clinician_id]


def test_explanation_names_authority_continuity_needs_and_next_slot() -> None:
    c = Candidate("x", ("anxiety", "grief"), "America/Denver", AuthorityKind.STATE_LICENSE)
    reasons = explain(
        c, criteria(specialties=("grief",), language="es"), frozenset({"x"}), NOW, availability_known=True
    )
    assert reasons == [
        "your current clinician",
        "licensed in AZ",
        "lists grief",
        "speaks es",
        "next slot Tue 08:00 your time",
    ]


def test_explanation_for_psypact_and_coaching() -> None:
    apit = Candidate("x", (), "America/Denver", AuthorityKind.PSYPACT_APIT)
    assert explain(apit, criteria(), frozenset(), None, availability_known=True) == [
        "PSYPACT telepsychology",
        "no open slot in the next two weeks",
    ]
    coach = Candidate("y", (), "America/Denver", None)
    assert explain(coach, criteria(), frozenset(), None, availability_known=False) == [
        "coaching — not therapy"
    ]


def test_time_zone_window() -> None:
    assert within_time_zone_window("America/Denver", "America/Phoenix", 1, NOW)
    assert not within_time_zone_window("America/New_York", "America/Los_Angeles", 2, NOW)
    assert within_time_zone_window("Pacific/Honolulu", "America/New_York", None, NOW)


def test_page_token_round_trips_and_is_bound_to_the_filters() -> None:
    key = (1, -2, "abcd", "id-1")
    token = encode_token(key, criteria().fingerprint())
    assert decode_token(token, criteria().fingerprint()) == key
    with pytest.raises(InvalidArgument) as other_filters:
        decode_token(token, criteria(language="es").fingerprint())
    assert other_filters.value.violations[0].field == "page.page_token"
    with pytest.raises(InvalidArgument):
        decode_token("not-a-token", criteria().fingerprint())

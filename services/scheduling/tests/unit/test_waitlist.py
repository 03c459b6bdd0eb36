from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import pytest

from confide_chassis.errors import FailedPrecondition, InvalidArgument
from confide_scheduling.domain.catalog import Modality, Weekday
from confide_scheduling.domain.waitlist import (
    FreedSlot,
    OfferStatus,
    TimeOfDayWindow,
    WaitlistEntry,
    WaitlistStatus,
    accept_offer,
    decline_offer,
    entry_matches,
    expire_offer,
    make_offer,
    match_freed_slot,
    withdraw,
)

PRACTICE = UUID(int=1)
CLINICIAN_A = UUID(int=2)
CLINICIAN_B = UUID(int=3)
NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)
SLOT = FreedSlot(
    practice_id=PRACTICE,
    clinician_id=CLINICIAN_A,
    start=datetime(2026, 6, 15, 22, tzinfo=UTC),  # Monday 18:00 EDT / 15:00 PDT
    end=datetime(2026, 6, 15, 23, tzinfo=UTC),
    session_type_code="psychotherapy_60",
    modalities=frozenset({Modality.VIDEO, Modality.AUDIO}),
)
OFFER_ID = UUID(int=500)


def entry(n: int, minutes_ago: int, **overrides: object) -> WaitlistEntry:
    fields: dict[str, object] = {
        "id": UUID(int=1000 + n),
        "practice_id": PRACTICE,
        "client_id": UUID(int=2000 + n),
        "enqueued_at": NOW - timedelta(minutes=minutes_ago),
        "client_time_zone": "America/New_York",
        "session_type_codes": frozenset({"psychotherapy_60"}),
    }
    fields.update(overrides)
    return WaitlistEntry(**fields)  # type: ignore[arg-type]


def test_fifo_among_matching_entries() -> None:
    older_but_wrong_type = entry(1, 300, session_type_codes=frozenset({"intake_60"}))
    first = entry(2, 200)
    second = entry(3, 100)
    assert match_freed_slot(SLOT, [second, older_but_wrong_type, first], NOW) == first
    assert match_freed_slot(SLOT, [second, first], NOW, exclude_entry_ids=frozenset({first.id})) == second


def test_only_waiting_entries_are_matched() -> None:
    offered = entry(1, 300, status=WaitlistStatus.OFFERED)
    withdrawn = entry(2, 200, status=WaitlistStatus.WITHDRAWN)
    assert match_freed_slot(SLOT, [offered, withdrawn], NOW) is None


def test_slot_in_the_past_matches_nobody() -> None:
    assert match_freed_slot(SLOT, [entry(1, 10)], SLOT.start) is None


@pytest.mark.parametrize(
    ("overrides", "matches"),
    [
        ({"clinician_ids": frozenset({CLINICIAN_A})}, True),
        ({"clinician_ids": frozenset({CLINICIAN_B})}, False),
        ({"modalities": frozenset({Modality.AUDIO})}, True),
        ({"modalities": frozenset({Modality.LIVE_CHAT})}, False),
        ({"session_type_codes": frozenset()}, True),
        ({"practice_id": UUID(int=99)}, False),
        # 18:00-19:00 in New York
        ({"time_windows": (TimeOfDayWindow(time(17), time(20)),)}, True),
        ({"time_windows": (TimeOfDayWindow(time(17), time(18, 30)),)}, False),
        ({"time_windows": (TimeOfDayWindow(time(17), time(20), frozenset({Weekday.TUESDAY})),)}, False),
        # same slot is 15:00-16:00 for a client in Los Angeles
        (
            {
                "client_time_zone": "America/Los_Angeles",
                "time_windows": (TimeOfDayWindow(time(14), time(16)),),
            },
            True,
        ),
        (
            {
                "client_time_zone": "America/Los_Angeles",
                "time_windows": (TimeOfDayWindow(time(17), time(20)),),
            },
            False,
        ),
    ],
)
def test_preferences(overrides: dict[str, object], matches: bool) -> None:
    assert entry_matches(entry(1, 10, **overrides), SLOT) is matches


def test_entry_validation() -> None:
    with pytest.raises(InvalidArgument):
        entry(1, 10, modalities=frozenset({Modality.MESSAGING}))
    with pytest.raises(InvalidArgument):
        entry(1, 10, client_time_zone="Nowhere/City")
    with pytest.raises(InvalidArgument):
        TimeOfDayWindow(time(18), time(17))


# ------------------------------------------------------------------------------------------- offers
def test_offer_accept_before_expiry() -> None:
    waiting = entry(1, 10)
    offered_entry, offer = make_offer(waiting, SLOT, OFFER_ID, NOW, timedelta(hours=2))
    assert offered_entry.status is WaitlistStatus.OFFERED
    assert offer.expires_at == NOW + timedelta(hours=2)
    accepted_entry, accepted = accept_offer(offered_entry, offer, offer.expires_at - timedelta(seconds=1))
    assert accepted_entry.status is WaitlistStatus.FULFILLED
    assert accepted.status is OfferStatus.ACCEPTED


def test_offer_cannot_be_accepted_at_expiry_and_then_expires() -> None:
    offered_entry, offer = make_offer(entry(1, 10), SLOT, OFFER_ID, NOW, timedelta(hours=2))
    with pytest.raises(FailedPrecondition) as err:
        accept_offer(offered_entry, offer, offer.expires_at)
    assert err.value.rule_ids == ("SCHED-06",)
    with pytest.raises(FailedPrecondition):
        expire_offer(offered_entry, offer, offer.expires_at - timedelta(seconds=1))
    back, expired = expire_offer(offered_entry, offer, offer.expires_at)
    assert back.status is WaitlistStatus.WAITING
    assert expired.status is OfferStatus.EXPIRED
    # the entry keeps its place; the next match for the same slot skips it
    other = entry(2, 5)
    assert match_freed_slot(SLOT, [back, other], NOW, exclude_entry_ids=frozenset({back.id})) == other


def test_offer_expiry_never_passes_the_slot_start() -> None:
    _, offer = make_offer(
        entry(1, 10), SLOT, OFFER_ID, SLOT.start - timedelta(minutes=30), timedelta(hours=2)
    )
    assert offer.expires_at == SLOT.start


def test_decline_returns_entry_to_waiting() -> None:
    offered_entry, offer = make_offer(entry(1, 10), SLOT, OFFER_ID, NOW, timedelta(hours=1))
    back, declined = decline_offer(offered_entry, offer, NOW)
    assert back.status is WaitlistStatus.WAITING
    assert declined.status is OfferStatus.DECLINED
    with pytest.raises(FailedPrecondition):
        accept_offer(back, declined, NOW)


def test_offer_requires_waiting_entry_and_future_slot() -> None:
    with pytest.raises(FailedPrecondition):
        make_offer(entry(1, 10, status=WaitlistStatus.FULFILLED), SLOT, OFFER_ID, NOW, timedelta(hours=1))
    with pytest.raises(FailedPrecondition):
        make_offer(entry(1, 10), SLOT, OFFER_ID, SLOT.start, timedelta(hours=1))
    with pytest.raises(InvalidArgument):
        make_offer(entry(1, 10), SLOT, OFFER_ID, NOW, timedelta(seconds=5))


def test_offer_of_another_entry_is_rejected() -> None:
    offered_entry, offer = make_offer(entry(1, 10), SLOT, OFFER_ID, NOW, timedelta(hours=1))
    other, _ = make_offer(entry(2, 10), SLOT, UUID(int=501), NOW, timedelta(hours=1))
    with pytest.raises(InvalidArgument):
        accept_offer(other, offer, NOW)
    assert offered_entry.status is WaitlistStatus.OFFERED


def test_withdraw() -> None:
    assert withdraw(entry(1, 10)).status is WaitlistStatus.WITHDRAWN
    with pytest.raises(FailedPrecondition):
        withdraw(entry(1, 10, status=WaitlistStatus.FULFILLED))

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confide_chassis.errors import InvalidArgument
from confide_scheduling.domain.recurrence import (
    MovedOccurrence,
    OccurrenceKind,
    RecurrenceFrequency,
    RecurringSeries,
    SkippedOccurrence,
    expand_series,
    find_conflicts,
    move_occurrence,
    skip_occurrence,
    split_series,
    truncate_series,
)
from confide_scheduling.domain.timekit import TimeRange

SERIES_ID = UUID(int=100)
NEW_ID = UUID(int=101)
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2027, 1, 1, tzinfo=UTC)


def series(
    first: date,
    at: time = time(9),
    *,
    zone: str = "America/New_York",
    frequency: RecurrenceFrequency = RecurrenceFrequency.WEEKLY,
    count: int | None = 3,
    until: date | None = None,
) -> RecurringSeries:
    return RecurringSeries(
        id=SERIES_ID,
        time_zone=zone,
        first_date=first,
        local_start=at,
        duration=timedelta(minutes=45),
        frequency=frequency,
        count=count,
        until=until,
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------ DST
@pytest.mark.parametrize(
    ("zone", "first", "expected_utc"),
    [
        (
            "America/New_York",
            date(2026, 3, 1),
            [utc(2026, 3, 1, 14), utc(2026, 3, 8, 13), utc(2026, 3, 15, 13)],
        ),
        (
            "America/New_York",
            date(2026, 10, 25),
            [utc(2026, 10, 25, 13), utc(2026, 11, 1, 14), utc(2026, 11, 8, 14)],
        ),
        (
            "America/Los_Angeles",
            date(2026, 3, 1),
            [utc(2026, 3, 1, 17), utc(2026, 3, 8, 16), utc(2026, 3, 15, 16)],
        ),
        (
            "America/Los_Angeles",
            date(2026, 10, 25),
            [utc(2026, 10, 25, 16), utc(2026, 11, 1, 17), utc(2026, 11, 8, 17)],
        ),
    ],
    ids=["ny_spring", "ny_fall", "la_spring", "la_fall"],
)
def test_weekly_series_keeps_0900_local_across_dst(
    zone: str, first: date, expected_utc: list[datetime]
) -> None:
    occurrences = expand_series(series(first, zone=zone), YEAR_START, YEAR_END)
    assert [o.start for o in occurrences] == expected_utc
    assert all(o.local_start.time() == time(9) for o in occurrences)
    assert all(o.end - o.start == timedelta(minutes=45) for o in occurrences)
    assert not any(o.dst_shifted for o in occurrences)


def test_biweekly_series_in_los_angeles_across_fall_back() -> None:
    s = series(
        date(2026, 10, 20), time(17), zone="America/Los_Angeles", frequency=RecurrenceFrequency.BIWEEKLY
    )
    occurrences = expand_series(s, YEAR_START, YEAR_END)
    assert [o.original_date for o in occurrences] == [
        date(2026, 10, 20),
        date(2026, 11, 3),
        date(2026, 11, 17),
    ]
    assert [o.start for o in occurrences] == [utc(2026, 10, 21, 0), utc(2026, 11, 4, 1), utc(2026, 11, 18, 1)]


def test_nonexistent_local_time_is_shifted_per_rfc_5545() -> None:
    occurrences = expand_series(series(date(2026, 3, 1), time(2, 30)), YEAR_START, YEAR_END)
    shifted = occurrences[1]
    assert shifted.original_date == date(2026, 3, 8)
    assert shifted.dst_shifted
    assert shifted.start == utc(2026, 3, 8, 7, 30)
    assert shifted.local_start.strftime("%H:%M %Z") == "03:30 EDT"
    assert occurrences[2].local_start.strftime("%H:%M %Z") == "02:30 EDT"


def test_ambiguous_local_time_is_the_first_occurrence() -> None:
    occurrences = expand_series(series(date(2026, 10, 25), time(1, 30)), YEAR_START, YEAR_END)
    assert occurrences[1].start == utc(2026, 11, 1, 5, 30)
    assert occurrences[1].local_start.strftime("%H:%M %Z") == "01:30 EDT"
    assert occurrences[1].local_start.fold == 0


def test_until_is_inclusive_and_window_limits_expansion() -> None:
    s = series(date(2026, 3, 2), count=None, until=date(2026, 3, 23))
    assert len(expand_series(s, YEAR_START, YEAR_END)) == 4
    open_ended = series(date(2026, 3, 2), count=None)
    window = expand_series(open_ended, utc(2026, 4, 1), utc(2026, 5, 1))
    assert [o.original_date.day for o in window] == [6, 13, 20, 27]


def test_rrule_text() -> None:
    s = series(date(2026, 3, 2), frequency=RecurrenceFrequency.BIWEEKLY, count=10)
    assert (
        s.rrule_text == "DTSTART;TZID=America/New_York:20260302T090000\nRRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=10"
    )


def test_series_validation() -> None:
    with pytest.raises(InvalidArgument):
        series(date(2026, 3, 2), count=3, until=date(2026, 4, 1))
    with pytest.raises(InvalidArgument):
        series(date(2026, 3, 2), count=0)
    with pytest.raises(InvalidArgument):
        series(date(2026, 3, 2), zone="Not/AZone")


# ------------------------------------------------------------------------------------------ exceptions
def test_skip_and_move_single_occurrences() -> None:
    s = series(date(2026, 3, 2), count=4)
    s = skip_occurrence(s, date(2026, 3, 16))
    s = move_occurrence(s, date(2026, 3, 9), utc(2026, 3, 10, 15))
    occurrences = expand_series(s, YEAR_START, YEAR_END)
    assert [(o.original_date, o.kind) for o in occurrences] == [
        (date(2026, 3, 2), OccurrenceKind.SCHEDULED),
        (date(2026, 3, 9), OccurrenceKind.MOVED),
        (date(2026, 3, 23), OccurrenceKind.SCHEDULED),
    ]
    assert occurrences[1].start == utc(2026, 3, 10, 15)


def test_moving_again_replaces_the_exception() -> None:
    s = skip_occurrence(series(date(2026, 3, 2)), date(2026, 3, 9))
    s = move_occurrence(s, date(2026, 3, 9), utc(2026, 3, 11, 15), timedelta(minutes=30))
    assert s.exceptions == (MovedOccurrence(date(2026, 3, 9), utc(2026, 3, 11, 15), timedelta(minutes=30)),)
    moved = expand_series(s, YEAR_START, YEAR_END)[1]
    assert moved.end - moved.start == timedelta(minutes=30)


def test_moved_occurrence_appears_in_the_window_of_its_new_time() -> None:
    s = move_occurrence(series(date(2026, 3, 2)), date(2026, 3, 9), utc(2026, 4, 20, 15))
    assert [o.kind for o in expand_series(s, utc(2026, 4, 1), utc(2026, 5, 1))] == [OccurrenceKind.MOVED]


def test_exception_must_target_an_occurrence() -> None:
    with pytest.raises(InvalidArgument) as err:
        skip_occurrence(series(date(2026, 3, 2)), date(2026, 3, 10))
    assert err.value.violations[0].field == "original_date"
    with pytest.raises(InvalidArgument):
        RecurringSeries(
            id=SERIES_ID,
            time_zone="America/New_York",
            first_date=date(2026, 3, 2),
            local_start=time(9),
            duration=timedelta(minutes=45),
            frequency=RecurrenceFrequency.WEEKLY,
            count=3,
            exceptions=(SkippedOccurrence(date(2026, 3, 9)), SkippedOccurrence(date(2026, 3, 9))),
        )


# ------------------------------------------------------------------------------------------------ split
def test_split_this_and_following_keeps_count_and_earlier_exceptions() -> None:
    s = series(date(2026, 3, 2), count=10)
    s = skip_occurrence(s, date(2026, 3, 9))
    s = skip_occurrence(s, date(2026, 3, 30))
    result = split_series(s, date(2026, 3, 23), new_series_id=NEW_ID, new_local_start=time(10))
    assert result.original is not None
    assert result.original.until == date(2026, 3, 16)
    assert result.original.count is None
    assert result.original.exceptions == (SkippedOccurrence(date(2026, 3, 9)),)
    assert result.following.id == NEW_ID
    assert result.following.first_date == date(2026, 3, 23)
    assert result.following.count == 7
    assert result.following.local_start == time(10)
    assert result.dropped_exceptions == (SkippedOccurrence(date(2026, 3, 30)),)
    old = expand_series(result.original, YEAR_START, YEAR_END)
    new = expand_series(result.following, YEAR_START, YEAR_END)
    assert [o.original_date.day for o in old] == [2, 16]
    assert len(new) == 7
    assert all(o.local_start.time() == time(10) for o in new)


def test_split_may_move_to_another_weekday_but_not_overlap_kept_occurrences() -> None:
    s = series(date(2026, 3, 2), count=None, until=date(2026, 6, 1))
    moved = split_series(s, date(2026, 3, 16), new_series_id=NEW_ID, new_first_date=date(2026, 3, 17))
    assert moved.following.until == date(2026, 6, 1)
    assert expand_series(moved.following, YEAR_START, YEAR_END)[0].local_start.date() == date(2026, 3, 17)
    with pytest.raises(InvalidArgument):
        split_series(s, date(2026, 3, 16), new_series_id=NEW_ID, new_first_date=date(2026, 3, 9))


def test_split_at_first_occurrence_replaces_the_whole_series() -> None:
    s = series(date(2026, 3, 2), count=5)
    result = split_series(
        s, date(2026, 3, 2), new_series_id=NEW_ID, new_frequency=RecurrenceFrequency.BIWEEKLY
    )
    assert result.original is None
    assert result.following.count == 5
    assert result.following.frequency is RecurrenceFrequency.BIWEEKLY


def test_truncate_cancels_this_and_following() -> None:
    s = series(date(2026, 3, 2), count=5)
    truncated = truncate_series(s, date(2026, 3, 16))
    assert truncated is not None
    assert len(expand_series(truncated, YEAR_START, YEAR_END)) == 2
    assert truncate_series(s, date(2026, 3, 2)) is None
    with pytest.raises(InvalidArgument):
        truncate_series(s, date(2026, 3, 17))


# ------------------------------------------------------------------------------------------- conflicts
def test_conflicts_are_reported_per_occurrence() -> None:
    occurrences = expand_series(series(date(2026, 3, 2), count=4), YEAR_START, YEAR_END)
    busy_a = TimeRange(utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 14, 30))  # overlaps 09:00 EDT occurrence
    busy_b = TimeRange(utc(2026, 3, 23, 12, 0), utc(2026, 3, 23, 13, 0))  # ends as 09:00 EDT starts
    busy_c = TimeRange(utc(2026, 3, 23, 13, 40), utc(2026, 3, 23, 14, 0))
    report = find_conflicts(occurrences, [busy_a, busy_b, busy_c])
    assert [(c.occurrence.original_date, c.conflicts_with) for c in report] == [
        (date(2026, 3, 9), (busy_a,)),
        (date(2026, 3, 23), (busy_c,)),
    ]
    with_buffer = find_conflicts(occurrences, [busy_b], buffer=timedelta(minutes=10))
    assert [c.occurrence.original_date for c in with_buffer] == [date(2026, 3, 23)]


# ------------------------------------------------------------------------------------------- property
@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(["America/New_York", "America/Los_Angeles", "Europe/London", "Australia/Lord_Howe"]),
    first=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
    minutes=st.integers(0, 24 * 4 - 1).map(lambda q: q * 15),
    frequency=st.sampled_from(list(RecurrenceFrequency)),
    count=st.integers(1, 60),
)
def test_property_occurrences_keep_local_wall_time(
    zone: str, first: date, minutes: int, frequency: RecurrenceFrequency, count: int
) -> None:
    at = time(minutes // 60, minutes % 60)
    s = series(first, at, zone=zone, frequency=frequency, count=count)
    occurrences = expand_series(s, datetime(2025, 12, 30, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))
    assert len(occurrences) <= count
    tz = ZoneInfo(zone)
    previous: date | None = None
    for o in occurrences:
        assert o.local_start == o.start.astimezone(tz)
        if not o.dst_shifted:
            assert o.local_start.time() == at
            assert o.local_start.date() == o.original_date
        if previous is not None:
            assert (o.original_date - previous).days == 7 * frequency.interval
        previous = o.original_date

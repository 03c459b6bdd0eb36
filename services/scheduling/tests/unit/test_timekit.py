from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from confide_chassis.errors import InvalidArgument
from confide_scheduling.domain.timekit import (
    LocalKind,
    Nonexistent,
    TimeRange,
    classify_local,
    local_to_utc,
    merge_ranges,
    require_utc,
    zone,
)

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize("tz", [NY, LA], ids=["new_york", "los_angeles"])
def test_spring_forward_0230_does_not_exist(tz: ZoneInfo) -> None:
    assert classify_local(datetime(2026, 3, 8, 2, 30), tz) is LocalKind.NONEXISTENT
    assert classify_local(datetime(2026, 3, 8, 1, 59), tz) is LocalKind.NORMAL
    assert classify_local(datetime(2026, 3, 8, 3, 0), tz) is LocalKind.NORMAL


@pytest.mark.parametrize("tz", [NY, LA], ids=["new_york", "los_angeles"])
def test_fall_back_0130_is_ambiguous(tz: ZoneInfo) -> None:
    assert classify_local(datetime(2026, 11, 1, 1, 30), tz) is LocalKind.AMBIGUOUS
    assert classify_local(datetime(2026, 11, 1, 2, 0), tz) is LocalKind.NORMAL


def test_nonexistent_policies_new_york() -> None:
    gap = datetime(2026, 3, 8, 2, 30)
    assert local_to_utc(gap, NY, Nonexistent.SKIP) is None
    # RFC 5545: offset before the gap (EST) -> 07:30Z = 03:30 EDT
    assert local_to_utc(gap, NY, Nonexistent.SHIFT) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    # clamp: the transition instant, 03:00 EDT = 07:00Z
    assert local_to_utc(gap, NY, Nonexistent.CLAMP) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_nonexistent_clamp_los_angeles() -> None:
    assert local_to_utc(datetime(2026, 3, 8, 2, 0), LA, Nonexistent.CLAMP) == datetime(
        2026, 3, 8, 10, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("tz", "expected"),
    [(NY, datetime(2026, 11, 1, 5, 30, tzinfo=UTC)), (LA, datetime(2026, 11, 1, 8, 30, tzinfo=UTC))],
    ids=["new_york", "los_angeles"],
)
def test_ambiguous_resolves_with_fold_0_first_occurrence(tz: ZoneInfo, expected: datetime) -> None:
    for policy in Nonexistent:
        assert local_to_utc(datetime(2026, 11, 1, 1, 30), tz, policy) == expected


def test_require_utc_rejects_naive_with_field_path() -> None:
    with pytest.raises(InvalidArgument) as err:
        require_utc(datetime(2026, 1, 1), "window_start")
    assert err.value.violations[0].field == "window_start"
    aware = datetime(2026, 1, 1, 9, tzinfo=NY)
    assert require_utc(aware, "x") == datetime(2026, 1, 1, 14, tzinfo=UTC)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/America/New_York"])
def test_unknown_zone_is_invalid_argument(name: str) -> None:
    with pytest.raises(InvalidArgument):
        zone(name)


def test_time_range_is_half_open_and_validated() -> None:
    t = datetime(2026, 1, 1, 9, tzinfo=UTC)
    a = TimeRange(t, t + timedelta(hours=1))
    assert not a.overlaps(TimeRange(t + timedelta(hours=1), t + timedelta(hours=2)))
    assert a.overlaps(TimeRange(t + timedelta(minutes=59), t + timedelta(hours=2)))
    assert a.contains(t)
    assert not a.contains(t + timedelta(hours=1))
    with pytest.raises(InvalidArgument):
        TimeRange(t, t)
    with pytest.raises(InvalidArgument):
        TimeRange(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_merge_ranges_joins_overlapping_and_touching() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    h = timedelta(hours=1)
    merged = merge_ranges([TimeRange(t + 3 * h, t + 4 * h), TimeRange(t, t + h), TimeRange(t + h, t + 2 * h)])
    assert merged == (TimeRange(t, t + 2 * h), TimeRange(t + 3 * h, t + 4 * h))

"""Day-limited authorities: when the days recorded at session start exceed the limit (LIC-13, LIC-60)."""

from __future__ import annotations

from datetime import date, timedelta

from confide_compliance.domain.authorization import TAP_DAYS_PER_STATE_PER_YEAR, day_limit_exceeded
from confide_compliance.reference_data import load_reference_data
from confide_compliance.testing import apit, exception_, tap

REF = load_reference_data()


def days(first: date, count: int) -> frozenset[date]:
    return frozenset(first + timedelta(days=i) for i in range(count))


def test_lic_13_tap_thirty_days_are_within_the_limit_the_thirty_first_is_over() -> None:
    assert TAP_DAYS_PER_STATE_PER_YEAR == 30
    assert not day_limit_exceeded(tap(), days(date(2027, 1, 1), 30), REF)
    assert day_limit_exceeded(tap(), days(date(2027, 1, 1), 31), REF)


def test_lic_13_only_tap_among_compact_authorities_is_day_limited() -> None:
    assert not day_limit_exceeded(apit(), days(date(2027, 1, 1), 200), REF)


def test_lic_60_calendar_day_limit_counts_distinct_days() -> None:
    florida = exception_("fl", "FL", "FL-491.014-4-d", "home")  # 15 calendar days per year
    scattered = frozenset(date(2027, m, 1) for m in range(1, 13)) | days(date(2027, 6, 10), 3)
    assert len(scattered) == 15
    assert not day_limit_exceeded(florida, scattered, REF)
    assert day_limit_exceeded(florida, scattered | {date(2027, 12, 31)}, REF)


def test_lic_60_consecutive_day_limit_counts_the_span() -> None:
    california = exception_("ca", "CA", "CA-BPC-2912", "home")  # one run of at most 30 days
    assert not day_limit_exceeded(california, frozenset({date(2027, 3, 1), date(2027, 3, 30)}), REF)
    assert day_limit_exceeded(california, frozenset({date(2027, 3, 1), date(2027, 3, 31)}), REF)


def test_lic_60_exception_without_a_day_limit_is_never_over() -> None:
    registration = exception_("fl", "FL", "FL-456.47", "home")
    assert not day_limit_exceeded(registration, days(date(2027, 1, 1), 365), REF)

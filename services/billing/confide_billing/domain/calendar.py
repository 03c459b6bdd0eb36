"""Business days for legal deadlines: weekdays that are not US federal holidays (observed dates).

Good Faith Estimate deadlines count business days (BILL-31). Holidays are computed, not listed,
so the calendar never runs out: fixed-date holidays move to Friday/Monday when they fall on a
weekend (5 U.S.C. 6103), floating ones are the n-th or last weekday of their month.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import date, timedelta
from functools import lru_cache

_MON, _THU = 0, 3


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year, month, _calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=64)
def federal_holidays(year: int) -> frozenset[date]:
    fixed = [date(year, 1, 1), date(year, 7, 4), date(year, 11, 11), date(year, 12, 25)]
    if year >= 2021:
        fixed.append(date(year, 6, 19))  # Juneteenth, since 2021
    days = {_observed(d) for d in fixed}
    days |= {
        _nth_weekday(year, 1, _MON, 3),  # Birthday of Martin Luther King, Jr.
        _nth_weekday(year, 2, _MON, 3),  # Washington's Birthday
        _last_weekday(year, 5, _MON),  # Memorial Day
        _nth_weekday(year, 9, _MON, 1),  # Labor Day
        _nth_weekday(year, 10, _MON, 2),  # Columbus Day
        _nth_weekday(year, 11, _THU, 4),  # Thanksgiving Day
    }
    # New Year's Day of the next year observed on Dec 31 belongs to this year's calendar.
    if _observed(date(year + 1, 1, 1)).year == year:
        days.add(_observed(date(year + 1, 1, 1)))
    return frozenset(days)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in federal_holidays(day.year)


def add_business_days(day: date, count: int) -> date:
    """The `count`-th business day after `day` (count >= 1); `day` itself never counts."""
    if count < 1:
        raise ValueError("count must be at least 1")
    current = day
    remaining = count
    while remaining:
        current += timedelta(days=1)
        if is_business_day(current):
            remaining -= 1
    return current


def business_days_between(start: date, end: date) -> int:
    """Business days after `start` up to and including `end` (0 when end <= start)."""
    count, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if is_business_day(current):
            count += 1
    return count


def subtract_business_days(day: date, count: int) -> date:
    current, remaining = day, count
    while remaining:
        current -= timedelta(days=1)
        if is_business_day(current):
            remaining -= 1
    return current

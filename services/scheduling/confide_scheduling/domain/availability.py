"""Clinician availability and slot generation.

Availability is written in the clinician's IANA zone as wall-clock times: weekly rules (weekday, start,
end), date exceptions (extra availability or blocked time on one local date) and time off (absolute UTC
ranges, e.g. a vacation converted with :func:`time_off_for_local_dates`).

:func:`generate_slots` expands this into bookable UTC slots, also rendered in the client's zone.
DST behaviour (tested for America/New_York and America/Los_Angeles on 8 Mar and 1 Nov 2026):

- slot starts are laid on a wall-clock grid (local midnight + k * granularity), so a 09:00 rule yields a
  09:00 *local* slot on both sides of every transition;
- a grid time that does not exist (02:30 on spring-forward day) is skipped;
- an ambiguous grid time (01:30 on fall-back day) is taken once, with ``fold=0`` (the first, daylight-time
  01:30); the repeated hour's second pass is not offered as a start time, though sessions may run into it;
- sessions last their real duration (elapsed time) and must end no later than the real end of the
  availability interval; interval bounds that fall in a gap are clamped to the transition instant.
"""

from __future__ import annotations

import bisect
import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from confide_chassis.errors import InvalidArgument, ValidationCollector

from .catalog import SYNCHRONOUS_MODALITIES, Modality, SessionType, Weekday
from .timekit import Nonexistent, TimeRange, local_to_utc, merge_ranges, require_utc, wall_clock, zone

__all__ = [
    "MAX_SEARCH_WINDOW",
    "DateException",
    "ExceptionKind",
    "Slot",
    "WeeklyAvailability",
    "WeeklyRule",
    "generate_slots",
    "local_intervals",
    "time_off_for_local_dates",
]

MAX_SEARCH_WINDOW = timedelta(days=93)
_MIDNIGHT = time(0, 0)
_DAY_MINUTES = 24 * 60


def _is_whole_minute(value: time) -> bool:
    return value.second == 0 and value.microsecond == 0 and value.tzinfo is None


def _wall_end(day: date, end: time) -> datetime:
    """``end == 00:00`` means midnight at the end of ``day`` (24:00)."""
    if end == _MIDNIGHT:
        return wall_clock(day + timedelta(days=1), _MIDNIGHT)
    return wall_clock(day, end)


def _valid_span(start: time, end: time) -> bool:
    return _is_whole_minute(start) and _is_whole_minute(end) and (end == _MIDNIGHT or start < end)


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    """Every ``weekday``, available from ``start`` to ``end`` local wall time (``end`` 00:00 = midnight).

    A rule never spans midnight; write two rules for overnight availability. ``modalities`` narrows the
    schedule's offered modalities for this rule (None = all offered).
    """

    weekday: Weekday
    start: time
    end: time
    modalities: frozenset[Modality] | None = None

    def __post_init__(self) -> None:
        if not _valid_span(self.start, self.end):
            raise InvalidArgument.field(
                "weekly_rules.end", "must be a whole-minute wall time after start (00:00 = end of day)"
            )


class ExceptionKind(enum.StrEnum):
    EXTRA = "extra"  # additional availability on that date
    BLOCKED = "blocked"  # no availability on that date (whole day, or from start to end)


@dataclass(frozen=True, slots=True)
class DateException:
    """A one-off change on a local date in the clinician's zone.

    ``BLOCKED`` without times blocks the whole day; ``EXTRA`` needs times. ``modalities`` applies to
    ``EXTRA`` only (a block removes availability for every modality).
    """

    day: date
    kind: ExceptionKind
    start: time | None = None
    end: time | None = None
    modalities: frozenset[Modality] | None = None

    def __post_init__(self) -> None:
        errors = ValidationCollector()
        if (self.start is None) != (self.end is None):
            errors.add("exceptions.end", "start and end must both be set or both be empty")
        elif self.start is not None and self.end is not None and not _valid_span(self.start, self.end):
            errors.add("exceptions.end", "must be a whole-minute wall time after start (00:00 = end of day)")
        if self.kind is ExceptionKind.EXTRA and self.start is None:
            errors.add("exceptions.start", "extra availability needs a start and end time")
        if self.kind is ExceptionKind.BLOCKED and self.modalities is not None:
            errors.add("exceptions.modalities", "a block applies to every modality")
        errors.raise_if_any()

    @property
    def whole_day(self) -> bool:
        return self.start is None


@dataclass(frozen=True, slots=True)
class WeeklyAvailability:
    """A clinician's weekly rules in their IANA ``time_zone`` and the modalities they offer."""

    time_zone: str
    rules: tuple[WeeklyRule, ...]
    modalities_offered: frozenset[Modality] = SYNCHRONOUS_MODALITIES

    def __post_init__(self) -> None:
        zone(self.time_zone, "availability.time_zone")
        if not self.modalities_offered:
            raise InvalidArgument.field("availability.modalities_offered", "must offer at least one modality")

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.time_zone, "availability.time_zone")

    def rule_modalities(self, narrowed: frozenset[Modality] | None) -> frozenset[Modality]:
        return self.modalities_offered if narrowed is None else narrowed & self.modalities_offered


@dataclass(frozen=True, slots=True)
class Slot:
    """A bookable start: ``[start, end)`` in UTC, the synchronous modalities available for it, and the
    same instant in the clinician's and the client's zones."""

    start: datetime
    end: datetime
    modalities: frozenset[Modality]
    clinician_local_start: datetime
    client_local_start: datetime
    client_local_end: datetime

    @property
    def range(self) -> TimeRange:
        return TimeRange(self.start, self.end)


def _subtract(
    intervals: Sequence[tuple[datetime, datetime]], cut: tuple[datetime, datetime]
) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, end in intervals:
        if cut[1] <= start or end <= cut[0]:
            out.append((start, end))
            continue
        if start < cut[0]:
            out.append((start, cut[0]))
        if cut[1] < end:
            out.append((cut[1], end))
    return out


def _merge_wall(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def local_intervals(
    availability: WeeklyAvailability,
    exceptions: Sequence[DateException],
    day: date,
    modality: Modality,
) -> list[tuple[datetime, datetime]]:
    """Merged wall-clock (naive, clinician-zone) intervals on local ``day`` available for ``modality``."""
    todays = [e for e in exceptions if e.day == day]
    if any(e.kind is ExceptionKind.BLOCKED and e.whole_day for e in todays):
        return []
    spans: list[tuple[datetime, datetime]] = [
        (wall_clock(day, r.start), _wall_end(day, r.end))
        for r in availability.rules
        if r.weekday == day.weekday() and modality in availability.rule_modalities(r.modalities)
    ]
    for e in todays:
        if (
            e.kind is ExceptionKind.EXTRA
            and e.start is not None
            and e.end is not None
            and modality in availability.rule_modalities(e.modalities)
        ):
            spans.append((wall_clock(day, e.start), _wall_end(day, e.end)))
    merged = _merge_wall(spans)
    for e in todays:
        if e.kind is ExceptionKind.BLOCKED and e.start is not None and e.end is not None:
            merged = _subtract(merged, (wall_clock(day, e.start), _wall_end(day, e.end)))
    return merged


class _Ranges:
    """Sorted disjoint ranges with an O(log n) overlap test."""

    def __init__(self, ranges: Iterable[TimeRange]) -> None:
        self._ranges = merge_ranges(ranges)
        self._starts = [r.start for r in self._ranges]

    def overlaps(self, start: datetime, end: datetime) -> bool:
        index = bisect.bisect_left(self._starts, end) - 1
        return index >= 0 and self._ranges[index].end > start


def _validate_search(
    window_start: datetime,
    window_end: datetime,
    granularity: timedelta,
    min_notice: timedelta,
) -> None:
    errors = ValidationCollector()
    errors.require(window_end > window_start, "window_end", "must be after window_start")
    errors.require(
        window_end - window_start <= MAX_SEARCH_WINDOW,
        "window_end",
        f"search window is at most {MAX_SEARCH_WINDOW.days} days",
    )
    minutes, rest = divmod(granularity, timedelta(minutes=1))
    errors.require(
        rest == timedelta(0) and minutes >= 5 and _DAY_MINUTES % minutes == 0,
        "granularity",
        "must be whole minutes, at least 5, dividing 24 hours",
    )
    errors.require(min_notice >= timedelta(0), "min_notice", "must not be negative")
    errors.raise_if_any()


def generate_slots(
    rules: WeeklyAvailability,
    exceptions: Sequence[DateException],
    time_off: Sequence[TimeRange],
    busy_ranges: Sequence[TimeRange],
    session_type: SessionType,
    window_start: datetime,
    window_end: datetime,
    granularity: timedelta,
    min_notice: timedelta,
    now: datetime,
    *,
    client_zone: str | None = None,
    modality: Modality | None = None,
) -> tuple[Slot, ...]:
    """Bookable slots for ``session_type`` whose start lies in ``[window_start, window_end)``.

    A slot is returned when, for at least one modality (offered by the rule/exception, the schedule and
    the session type, and equal to ``modality`` if given):

    - its start is on the local wall-clock grid and exists in the clinician's zone (see module doc);
    - ``[start, start + duration)`` lies inside one availability interval in real time;
    - ``[start - buffer, end + buffer)`` overlaps no busy range (existing appointments, holds);
    - ``[start, end)`` overlaps no time-off range;
    - ``start >= now + min_notice``.

    Slots are sorted by start; each start appears once with the set of modalities that passed.
    ``client_zone`` (IANA) renders the slot for the client; by default the clinician's zone.
    """
    ws = require_utc(window_start, "window_start")
    we = require_utc(window_end, "window_end")
    now_utc = require_utc(now, "now")
    _validate_search(ws, we, granularity, min_notice)
    if modality is not None and not modality.is_synchronous:
        raise InvalidArgument.field("modality", "asynchronous messaging is not booked into slots")
    tz = rules.tz
    client_tz = zone(client_zone, "client_time_zone") if client_zone is not None else tz
    wanted = rules.modalities_offered & session_type.modalities & SYNCHRONOUS_MODALITIES
    if modality is not None:
        wanted &= {modality}
    earliest = max(ws, now_utc + min_notice)
    busy = _Ranges(busy_ranges)
    off = _Ranges(time_off)
    duration = session_type.duration
    buffer = session_type.buffer

    found: dict[datetime, set[Modality]] = defaultdict(set)
    resolved: dict[datetime, datetime | None] = {}
    first_day = ws.astimezone(tz).date()
    last_day = we.astimezone(tz).date()
    day = first_day
    while day <= last_day:
        midnight = wall_clock(day, _MIDNIGHT)
        for mod in sorted(wanted):
            for wall_start, wall_end in local_intervals(rules, exceptions, day, mod):
                interval_start = local_to_utc(wall_start, tz, Nonexistent.CLAMP)
                interval_end = local_to_utc(wall_end, tz, Nonexistent.CLAMP)
                steps = -(-(wall_start - midnight) // granularity)  # ceil: first grid point >= start
                candidate = midnight + steps * granularity
                while candidate < wall_end:
                    if candidate not in resolved:  # the same grid point is tried per modality
                        resolved[candidate] = local_to_utc(candidate, tz, Nonexistent.SKIP)
                    start = resolved[candidate]
                    candidate += granularity
                    if start is None or start < earliest or start >= we:
                        continue
                    end = start + duration
                    if start < interval_start or end > interval_end:
                        continue
                    if busy.overlaps(start - buffer, end + buffer) or off.overlaps(start, end):
                        continue
                    found[start].add(mod)
        day += timedelta(days=1)

    return tuple(
        Slot(
            start=start,
            end=start + duration,
            modalities=frozenset(mods),
            clinician_local_start=start.astimezone(tz),
            client_local_start=start.astimezone(client_tz),
            client_local_end=(start + duration).astimezone(client_tz),
        )
        for start, mods in sorted(found.items())
    )


def time_off_for_local_dates(time_zone: str, first_day: date, last_day: date) -> TimeRange:
    """Time off covering whole local dates ``first_day..last_day`` (inclusive) in ``time_zone``."""
    if last_day < first_day:
        raise InvalidArgument.field("time_off.last_day", "must not be before first_day")
    tz = zone(time_zone, "time_off.time_zone")
    start = local_to_utc(wall_clock(first_day, _MIDNIGHT), tz, Nonexistent.CLAMP)
    end = local_to_utc(wall_clock(last_day + timedelta(days=1), _MIDNIGHT), tz, Nonexistent.CLAMP)
    return TimeRange(start, end)

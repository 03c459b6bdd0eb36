"""Recurring series: weekly or biweekly sessions anchored in the clinician's zone.

A series is an RFC 5545 rule (``FREQ=WEEKLY;INTERVAL=1|2`` with COUNT or UNTIL, or open-ended) whose
DTSTART is a *local wall-clock* time in the clinician's IANA zone. Occurrences are expanded with
``dateutil.rrule`` in local time and only then converted to UTC, so a 09:00 series stays at 09:00 local
across DST changes (its UTC time moves by an hour). Conversion follows RFC 5545 §3.3.5: an ambiguous
local time means its first occurrence (``fold=0``); a nonexistent one is read with the offset before
the gap (02:30 on spring-forward day becomes 03:30 daylight time; ``dst_shifted`` is set).

Each occurrence is identified by its *original local date* (like RECURRENCE-ID); per-occurrence
exceptions skip it or move it to another instant. "This and following" edits split the series.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from dateutil.rrule import WEEKLY, rrule

from confide_chassis.errors import InvalidArgument, ValidationCollector

from .timekit import (
    LocalKind,
    Nonexistent,
    TimeRange,
    classify_local,
    local_to_utc,
    require_utc,
    wall_clock,
    zone,
)

__all__ = [
    "MAX_OCCURRENCES",
    "MovedOccurrence",
    "Occurrence",
    "OccurrenceConflict",
    "OccurrenceException",
    "OccurrenceKind",
    "RecurrenceFrequency",
    "RecurringSeries",
    "SeriesSplit",
    "SkippedOccurrence",
    "expand_series",
    "find_conflicts",
    "move_occurrence",
    "skip_occurrence",
    "split_series",
    "truncate_series",
]

MAX_OCCURRENCES = 260  # five years of weekly sessions
MAX_EXPANSION_WINDOW = timedelta(days=400)


class RecurrenceFrequency(enum.StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"

    @property
    def interval(self) -> int:
        return 1 if self is RecurrenceFrequency.WEEKLY else 2


@dataclass(frozen=True, slots=True)
class SkippedOccurrence:
    original_date: date


@dataclass(frozen=True, slots=True)
class MovedOccurrence:
    """The occurrence of ``original_date`` takes place at ``new_start`` (UTC) instead."""

    original_date: date
    new_start: datetime
    new_duration: timedelta | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "new_start", require_utc(self.new_start, "new_start"))


OccurrenceException = SkippedOccurrence | MovedOccurrence


@dataclass(frozen=True, slots=True)
class RecurringSeries:
    """``first_date`` at ``local_start`` (wall time in ``time_zone``), every week or every other week,
    on the weekday of ``first_date``; bounded by ``count`` occurrences or by ``until`` (a local date,
    inclusive), or open-ended (expand it through a window)."""

    id: UUID
    time_zone: str
    first_date: date
    local_start: time
    duration: timedelta
    frequency: RecurrenceFrequency
    count: int | None = None
    until: date | None = None
    exceptions: tuple[OccurrenceException, ...] = ()

    def __post_init__(self) -> None:
        errors = ValidationCollector()
        zone(self.time_zone, "series.time_zone")
        errors.require(
            self.local_start.tzinfo is None
            and self.local_start.second == 0
            and self.local_start.microsecond == 0,
            "series.local_start",
            "must be a whole-minute wall-clock time without zone",
        )
        errors.require(
            timedelta(minutes=5) <= self.duration <= timedelta(hours=4),
            "series.duration",
            "must be between 5 minutes and 4 hours",
        )
        errors.require(
            self.count is None or self.until is None, "series.until", "set either count or until, not both"
        )
        errors.require(
            self.count is None or 1 <= self.count <= MAX_OCCURRENCES,
            "series.count",
            f"must be between 1 and {MAX_OCCURRENCES}",
        )
        errors.require(
            self.until is None or self.until >= self.first_date,
            "series.until",
            "must not be before first_date",
        )
        seen: set[date] = set()
        for index, exc in enumerate(self.exceptions):
            path = f"series.exceptions[{index}].original_date"
            if exc.original_date in seen:
                errors.add(path, "has more than one exception")
            seen.add(exc.original_date)
        errors.raise_if_any()
        for index, exc in enumerate(self.exceptions):
            if not self.is_occurrence_date(exc.original_date):
                raise InvalidArgument.field(
                    f"series.exceptions[{index}].original_date", "is not an occurrence of the series"
                )

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.time_zone, "series.time_zone")

    @property
    def dtstart(self) -> datetime:
        """Naive local wall-clock start of the first occurrence."""
        return wall_clock(self.first_date, self.local_start)

    def rule(self) -> rrule:
        """The ``dateutil`` rule over naive local wall-clock datetimes."""
        until = wall_clock(self.until, self.local_start) if self.until is not None else None
        return rrule(
            WEEKLY,
            dtstart=self.dtstart,
            interval=self.frequency.interval,
            count=self.count,
            until=until,
        )

    @property
    def rrule_text(self) -> str:
        """RFC 5545 text for storage and interoperability (DTSTART with TZID, then RRULE)."""
        parts = [f"FREQ=WEEKLY;INTERVAL={self.frequency.interval}"]
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            # UNTIL as a local date-time in the same zone is accepted by dateutil and most readers.
            parts.append(f"UNTIL={wall_clock(self.until, self.local_start):%Y%m%dT%H%M%S}")
        return f"DTSTART;TZID={self.time_zone}:{self.dtstart:%Y%m%dT%H%M%S}\nRRULE:{';'.join(parts)}"

    def is_occurrence_date(self, day: date) -> bool:
        at = wall_clock(day, self.local_start)
        return bool(self.rule().between(at, at, inc=True))

    def exception_for(self, day: date) -> OccurrenceException | None:
        return next((e for e in self.exceptions if e.original_date == day), None)


class OccurrenceKind(enum.StrEnum):
    SCHEDULED = "scheduled"
    MOVED = "moved"


@dataclass(frozen=True, slots=True)
class Occurrence:
    series_id: UUID
    original_date: date
    start: datetime  # UTC
    end: datetime  # UTC
    local_start: datetime  # aware, in the clinician's zone
    kind: OccurrenceKind
    dst_shifted: bool = False  # the rule's local time did not exist that day (RFC 5545 shift)

    @property
    def range(self) -> TimeRange:
        return TimeRange(self.start, self.end)


def expand_series(
    series: RecurringSeries, window_start: datetime, window_end: datetime
) -> tuple[Occurrence, ...]:
    """Occurrences (after skips and moves) that start in ``[window_start, window_end)``, sorted by start."""
    ws = require_utc(window_start, "window_start")
    we = require_utc(window_end, "window_end")
    errors = ValidationCollector()
    errors.require(we > ws, "window_end", "must be after window_start")
    errors.require(
        we - ws <= MAX_EXPANSION_WINDOW, "window_end", f"window is at most {MAX_EXPANSION_WINDOW.days} days"
    )
    errors.raise_if_any()
    tz = series.tz
    low = ws.astimezone(tz).replace(tzinfo=None) - timedelta(days=1)
    high = we.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
    found: list[Occurrence] = []
    for local in series.rule().between(low, high, inc=True):
        if series.exception_for(local.date()) is not None:
            continue
        start = local_to_utc(local, tz, Nonexistent.SHIFT)
        if ws <= start < we:
            found.append(
                Occurrence(
                    series_id=series.id,
                    original_date=local.date(),
                    start=start,
                    end=start + series.duration,
                    local_start=start.astimezone(tz),
                    kind=OccurrenceKind.SCHEDULED,
                    dst_shifted=classify_local(local, tz) is LocalKind.NONEXISTENT,
                )
            )
    for exc in series.exceptions:
        if isinstance(exc, MovedOccurrence) and ws <= exc.new_start < we:
            found.append(
                Occurrence(
                    series_id=series.id,
                    original_date=exc.original_date,
                    start=exc.new_start,
                    end=exc.new_start + (exc.new_duration or series.duration),
                    local_start=exc.new_start.astimezone(tz),
                    kind=OccurrenceKind.MOVED,
                )
            )
    return tuple(sorted(found, key=lambda o: (o.start, o.original_date)))


@dataclass(frozen=True, slots=True)
class OccurrenceConflict:
    occurrence: Occurrence
    conflicts_with: tuple[TimeRange, ...]


def find_conflicts(
    occurrences: Sequence[Occurrence],
    busy_ranges: Sequence[TimeRange],
    *,
    buffer: timedelta = timedelta(0),
) -> tuple[OccurrenceConflict, ...]:
    """Per occurrence, the busy ranges it overlaps (padded by ``buffer``); occurrences without conflict
    are left out."""
    report: list[OccurrenceConflict] = []
    for occurrence in occurrences:
        padded = occurrence.range.padded(buffer, buffer)
        hits = tuple(sorted(r for r in busy_ranges if r.overlaps(padded)))
        if hits:
            report.append(OccurrenceConflict(occurrence, hits))
    return tuple(report)


def _require_occurrence(series: RecurringSeries, day: date, field_path: str) -> None:
    if not series.is_occurrence_date(day):
        raise InvalidArgument.field(field_path, "is not an occurrence of the series")


def _with_exception(series: RecurringSeries, exc: OccurrenceException) -> RecurringSeries:
    kept = tuple(e for e in series.exceptions if e.original_date != exc.original_date)
    return dataclasses.replace(series, exceptions=(*kept, exc))


def skip_occurrence(series: RecurringSeries, original_date: date) -> RecurringSeries:
    """Cancel one occurrence ("this one")."""
    _require_occurrence(series, original_date, "original_date")
    return _with_exception(series, SkippedOccurrence(original_date))


def move_occurrence(
    series: RecurringSeries,
    original_date: date,
    new_start: datetime,
    new_duration: timedelta | None = None,
) -> RecurringSeries:
    """Reschedule one occurrence ("this one") to ``new_start`` (UTC); replaces an earlier exception."""
    _require_occurrence(series, original_date, "original_date")
    return _with_exception(series, MovedOccurrence(original_date, new_start, new_duration))


def _occurrences_before(series: RecurringSeries, day: date) -> list[datetime]:
    at = wall_clock(day, series.local_start)
    return [d for d in series.rule().between(series.dtstart, at, inc=True) if d < at]


def truncate_series(series: RecurringSeries, from_date: date) -> RecurringSeries | None:
    """End the series before the occurrence of ``from_date`` ("cancel this and following").

    None when nothing remains (``from_date`` is the first occurrence). Exceptions at or after
    ``from_date`` are dropped with the occurrences they changed.
    """
    _require_occurrence(series, from_date, "from_date")
    before = _occurrences_before(series, from_date)
    if not before:
        return None
    last = before[-1].date()
    return dataclasses.replace(
        series,
        count=None,
        until=last,
        exceptions=tuple(e for e in series.exceptions if e.original_date <= last),
    )


@dataclass(frozen=True, slots=True)
class SeriesSplit:
    """Result of "this and following": ``original`` ends before the split (None if the split was at the
    first occurrence, i.e. the whole series changed); ``following`` is the new series; exceptions at or
    after the split date are returned in ``dropped_exceptions`` (their occurrences were replaced)."""

    original: RecurringSeries | None
    following: RecurringSeries
    dropped_exceptions: tuple[OccurrenceException, ...]


def split_series(
    series: RecurringSeries,
    from_date: date,
    *,
    new_series_id: UUID,
    new_first_date: date | None = None,
    new_local_start: time | None = None,
    new_duration: timedelta | None = None,
    new_frequency: RecurrenceFrequency | None = None,
) -> SeriesSplit:
    """Reschedule "this and following" occurrences from the occurrence of ``from_date``.

    The new series starts on ``new_first_date`` (default ``from_date``; it may move to another weekday
    but must come after the last kept occurrence), keeps the remaining COUNT or the same UNTIL, and
    replaces the changed fields.
    """
    _require_occurrence(series, from_date, "from_date")
    before = _occurrences_before(series, from_date)
    first = from_date if new_first_date is None else new_first_date
    if before and first <= before[-1].date():
        raise InvalidArgument.field("new_first_date", "must be after the last occurrence kept in the series")
    remaining = None if series.count is None else series.count - len(before)
    until = series.until
    if until is not None and first > until:
        raise InvalidArgument.field("new_first_date", "must not be after the end of the series")
    following = RecurringSeries(
        id=new_series_id,
        time_zone=series.time_zone,
        first_date=first,
        local_start=series.local_start if new_local_start is None else new_local_start,
        duration=series.duration if new_duration is None else new_duration,
        frequency=series.frequency if new_frequency is None else new_frequency,
        count=remaining,
        until=until,
    )
    return SeriesSplit(
        original=truncate_series(series, from_date),
        following=following,
        dropped_exceptions=tuple(e for e in series.exceptions if e.original_date >= from_date),
    )

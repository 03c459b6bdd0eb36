"""Time primitives for the scheduling domain: UTC ranges, IANA zones and local-time resolution.

Conventions (see docs/conventions.md): instants are tz-aware UTC `datetime`s; availability and recurring
series are written in the clinician's IANA zone as *wall-clock* (naive) times and converted here.

Local-time resolution around DST transitions is deterministic:

- **Ambiguous** wall times (the repeated hour at fall-back, e.g. 01:30 on 1 Nov 2026 in New York) always
  resolve with ``fold=0``: the *first* occurrence (daylight time), as RFC 5545 §3.3.5 does.
- **Nonexistent** wall times (the skipped hour at spring-forward, e.g. 02:30 on 8 Mar 2026 in New York)
  are handled by an explicit :class:`Nonexistent` policy chosen by the caller: ``SKIP`` (slot
  generation: no slot starts at a time that does not exist), ``SHIFT`` (recurring series, RFC 5545
  §3.3.5: interpret with the UTC offset *before* the gap, so 02:30 becomes 03:30 daylight time) or
  ``CLAMP`` (bounds of availability intervals: the first instant after the gap, 03:00 daylight time).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from confide_chassis.errors import InvalidArgument

__all__ = [
    "LocalKind",
    "Nonexistent",
    "TimeRange",
    "classify_local",
    "local_to_utc",
    "merge_ranges",
    "overlapping",
    "require_utc",
    "wall_clock",
    "zone",
]


def require_utc(value: datetime, field_path: str) -> datetime:
    """Return ``value`` as a UTC datetime; a naive datetime is a malformed request (InvalidArgument)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgument.field(field_path, "must be a timezone-aware instant (UTC)")
    return value.astimezone(UTC)


def zone(name: str, field_path: str = "time_zone") -> ZoneInfo:
    """Load an IANA zone by name (e.g. ``America/New_York``); unknown names are InvalidArgument."""
    if not name or name != name.strip() or ".." in name or name.startswith("/"):
        raise InvalidArgument.field(field_path, "must be an IANA time zone name such as America/New_York")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument.field(field_path, "unknown IANA time zone") from exc


class LocalKind(enum.StrEnum):
    """How a wall-clock time maps onto instants in a zone."""

    NORMAL = "normal"  # exactly one instant
    AMBIGUOUS = "ambiguous"  # two instants (fall-back): fold=0 is used
    NONEXISTENT = "nonexistent"  # no instant (spring-forward gap)


class Nonexistent(enum.StrEnum):
    """What to do with a wall-clock time that falls in a spring-forward gap."""

    SKIP = "skip"  # no instant: local_to_utc returns None
    SHIFT = "shift"  # RFC 5545: use the offset before the gap (02:30 -> 03:30 daylight)
    CLAMP = "clamp"  # the transition instant, i.e. the first wall time after the gap (03:00 daylight)


def _fold(local: datetime, tz: tzinfo, fold: int) -> datetime:
    return local.replace(tzinfo=tz, fold=fold).astimezone(UTC)


def classify_local(local: datetime, tz: tzinfo) -> LocalKind:
    """Classify a naive wall-clock ``local`` in zone ``tz``."""
    if local.tzinfo is not None:
        raise ValueError("classify_local expects a naive wall-clock datetime")
    first = _fold(local, tz, 0)
    if first.astimezone(tz).replace(tzinfo=None) != local:
        return LocalKind.NONEXISTENT
    if _fold(local, tz, 1) != first:
        return LocalKind.AMBIGUOUS
    return LocalKind.NORMAL


def _transition_instant(local: datetime, tz: tzinfo) -> datetime:
    """The UTC instant at which the gap containing the nonexistent wall time ``local`` ends."""
    # With fold=1 the gap time is read with the offset after the transition (an instant before it),
    # with fold=0 with the offset before it (an instant after it). Bisect on whole seconds between.
    low = _fold(local, tz, 1)
    high = _fold(local, tz, 0)
    after = high.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) // 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).utcoffset() == after:
            high = mid
        else:
            low = mid
    return high


@overload
def local_to_utc(
    local: datetime, tz: tzinfo, nonexistent: Literal[Nonexistent.SHIFT, Nonexistent.CLAMP]
) -> datetime: ...
@overload
def local_to_utc(local: datetime, tz: tzinfo, nonexistent: Nonexistent) -> datetime | None: ...
def local_to_utc(local: datetime, tz: tzinfo, nonexistent: Nonexistent) -> datetime | None:
    """Convert a naive wall-clock time in ``tz`` to a UTC instant (ambiguous: fold=0).

    Returns None only for a nonexistent time with ``Nonexistent.SKIP``.
    """
    kind = classify_local(local, tz)
    if kind is LocalKind.NONEXISTENT:
        if nonexistent is Nonexistent.SKIP:
            return None
        if nonexistent is Nonexistent.CLAMP:
            return _transition_instant(local, tz)
    return _fold(local, tz, 0)


def wall_clock(day: date, at: time) -> datetime:
    """Naive wall-clock datetime for ``day`` at ``at`` (tzinfo of ``at`` is ignored)."""
    return datetime.combine(day, at.replace(tzinfo=None))


@dataclass(frozen=True, slots=True, order=True)
class TimeRange:
    """A half-open UTC interval ``[start, end)``; ``start < end`` and both are tz-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidArgument.field("range", "start and end must be timezone-aware")
        if self.start.utcoffset() != timedelta(0):
            object.__setattr__(self, "start", self.start.astimezone(UTC))
        if self.end.utcoffset() != timedelta(0):
            object.__setattr__(self, "end", self.end.astimezone(UTC))
        if not self.start < self.end:
            raise InvalidArgument.field("range.end", "must be after range.start")

    @classmethod
    def of(cls, start: datetime, duration: timedelta) -> TimeRange:
        return cls(start, start + duration)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: TimeRange) -> bool:
        """True when the two half-open ranges share any instant (touching ends do not overlap)."""
        return self.start < other.end and other.start < self.end

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def covers(self, other: TimeRange) -> bool:
        return self.start <= other.start and other.end <= self.end

    def padded(self, before: timedelta, after: timedelta) -> TimeRange:
        return TimeRange(self.start - before, self.end + after)


def merge_ranges(ranges: Iterable[TimeRange]) -> tuple[TimeRange, ...]:
    """Union of ranges as sorted, disjoint, non-touching ranges."""
    merged: list[TimeRange] = []
    for item in sorted(ranges):
        if merged and item.start <= merged[-1].end:
            if item.end > merged[-1].end:
                merged[-1] = TimeRange(merged[-1].start, item.end)
        else:
            merged.append(item)
    return tuple(merged)


def overlapping(candidate: TimeRange, ranges: Sequence[TimeRange]) -> tuple[TimeRange, ...]:
    """The members of ``ranges`` that overlap ``candidate`` (in input order)."""
    return tuple(r for r in ranges if r.overlaps(candidate))

"""Text-therapy reply targets (MSG-04): a client's asynchronous message is due an answer within a
number of *working* hours, counted in the clinician's working days and hours and time zone.

MSG-04 is an expectation, not law (Talkspace: a reply within a working day; Online-Therapy.com:
24 h Mon-Fri). The default is one working day: 8 working hours, Monday to Friday 09:00-17:00. A
message sent on Friday at 16:00 is therefore due Monday at 16:00; one sent on Saturday is due
Monday at 17:00.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class ReplyPolicy:
    target_working_hours: int = 8
    working_days: frozenset[int] = field(default_factory=lambda: frozenset({1, 2, 3, 4, 5}))  # ISO weekdays
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if not 1 <= self.target_working_hours <= 72:
            raise ValueError("target_working_hours must be 1..72")
        if not self.working_days or not self.working_days <= set(range(1, 8)):
            raise ValueError("working_days must be ISO weekdays 1..7, at least one")
        if self.day_start >= self.day_end:
            raise ValueError("the working day must start before it ends")


DEFAULT_POLICY = ReplyPolicy()


def reply_due(sent_at: datetime, policy: ReplyPolicy, zone_name: str | None = None) -> datetime:
    """When a reply to a message sent at `sent_at` is due: `target_working_hours` of working time
    after it, in `zone_name` (the clinician's) or the policy's zone. Returns UTC-comparable aware time."""
    zone = ZoneInfo(zone_name or policy.time_zone)
    remaining = timedelta(hours=policy.target_working_hours)
    cursor = sent_at.astimezone(zone)
    for _ in range(400):  # at most a year of days; a policy always has a working day each week
        day = cursor.date()
        if day.isoweekday() in policy.working_days:
            opens = datetime.combine(day, policy.day_start, tzinfo=zone)
            closes = (
                # A day that ends at midnight (time.max, the policy's 24:00) closes at the next
                # midnight: 23:59:59.999999 would lose a microsecond at every day boundary.
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
                if policy.day_end == time.max
                else datetime.combine(day, policy.day_end, tzinfo=zone)
            )
            start = max(cursor, opens)
            if start < closes:
                available = closes - start
                if remaining <= available:
                    return (start + remaining).astimezone(sent_at.tzinfo)
                remaining -= available
        cursor = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    raise ValueError("no working time found within a year")  # unreachable for a valid policy

"""MSG-04: the reply target counts working hours in the clinician's days, hours and time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from confide_messaging.domain.reply_times import DEFAULT_POLICY, ReplyPolicy, reply_due

NY = "America/New_York"


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(2026, 6, day, hour, minute, tzinfo=ZoneInfo(NY))


@pytest.mark.parametrize(
    ("sent", "due"),
    [
        (ny(15, 10), ny(16, 10)),  # Monday 10:00 → Tuesday 10:00 (7 h Monday + 1 h Tuesday)
        (ny(15, 8), ny(15, 17)),  # before opening: the whole Monday
        (ny(19, 16), ny(22, 16)),  # Friday 16:00 → 1 h Friday + 7 h Monday
        (ny(20, 11), ny(22, 17)),  # Saturday → the whole of Monday
        (ny(15, 18), ny(16, 17)),  # after closing → the whole of Tuesday
    ],
)
def test_msg_04_one_working_day_in_the_clinicians_zone(sent: datetime, due: datetime) -> None:
    assert reply_due(sent.astimezone(UTC), DEFAULT_POLICY, NY) == due


def test_msg_04_a_practice_with_a_shorter_target_and_a_weekend_day() -> None:
    policy = ReplyPolicy(
        target_working_hours=2,
        working_days=frozenset({6}),
        day_start=time(10),
        day_end=time(11),
        time_zone=NY,
    )
    assert reply_due(ny(15, 12).astimezone(UTC), policy) == ny(27, 11)  # two Saturdays of one hour


@pytest.mark.parametrize(
    "kwargs",
    [{"target_working_hours": 0}, {"working_days": frozenset()}, {"working_days": frozenset({8})},
     {"day_start": time(17), "day_end": time(9)}],
)  # fmt: skip
def test_an_impossible_policy_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is for people, the type is the contract
        ReplyPolicy(**kwargs)  # type: ignore[arg-type]


def test_msg_04_a_day_that_ends_at_midnight_runs_on_into_the_next_without_a_gap() -> None:
    # A round-the-clock policy (day_end 24:00 is time.max): an hour after 23:30 is 00:30 exactly.
    always = ReplyPolicy(
        target_working_hours=1,
        working_days=frozenset(range(1, 8)),
        day_start=time(0, 0),
        day_end=time.max,
        time_zone="UTC",
    )
    sent = datetime(2026, 3, 4, 23, 30, 0, 123456, tzinfo=UTC)
    assert reply_due(sent, always) == datetime(2026, 3, 5, 0, 30, 0, 123456, tzinfo=UTC)

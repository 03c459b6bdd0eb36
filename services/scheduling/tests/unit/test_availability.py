from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confide_chassis.errors import InvalidArgument
from confide_scheduling.domain.availability import (
    DateException,
    ExceptionKind,
    Slot,
    WeeklyAvailability,
    WeeklyRule,
    generate_slots,
    time_off_for_local_dates,
)
from confide_scheduling.domain.catalog import Modality, SessionKind, SessionType, Weekday
from confide_scheduling.domain.timekit import Nonexistent, TimeRange, local_to_utc

THERAPY_60 = SessionType("psychotherapy_60", SessionKind.PSYCHOTHERAPY, timedelta(minutes=60))
THERAPY_30 = SessionType("psychotherapy_30", SessionKind.PSYCHOTHERAPY, timedelta(minutes=30))
HALF_HOUR = timedelta(minutes=30)
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def every_day(start: time, end: time, zone: str = "America/New_York") -> WeeklyAvailability:
    return WeeklyAvailability(zone, tuple(WeeklyRule(day, start, end) for day in Weekday))


def local_midnight(zone: str, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def search(
    availability: WeeklyAvailability,
    first: date,
    days: int = 1,
    *,
    session_type: SessionType = THERAPY_60,
    exceptions: tuple[DateException, ...] = (),
    time_off: tuple[TimeRange, ...] = (),
    busy: tuple[TimeRange, ...] = (),
    granularity: timedelta = HALF_HOUR,
    min_notice: timedelta = timedelta(0),
    now: datetime = LONG_AGO,
    client_zone: str | None = None,
    modality: Modality | None = None,
) -> tuple[Slot, ...]:
    start = local_midnight(availability.time_zone, first)
    end = local_midnight(availability.time_zone, first + timedelta(days=days))
    return generate_slots(
        availability,
        exceptions,
        time_off,
        busy,
        session_type,
        start,
        end,
        granularity,
        min_notice,
        now,
        client_zone=client_zone,
        modality=modality,
    )


def local_starts(slots: tuple[Slot, ...]) -> dict[date, list[str]]:
    by_day: dict[date, list[str]] = defaultdict(list)
    for slot in slots:
        by_day[slot.clinician_local_start.date()].append(slot.clinician_local_start.strftime("%H:%M"))
    return dict(by_day)


# ------------------------------------------------------------------------------------------ basics
def test_rule_yields_grid_slots_that_fit_entirely() -> None:
    slots = search(every_day(time(9), time(12)), date(2026, 6, 15))
    assert local_starts(slots) == {date(2026, 6, 15): ["09:00", "09:30", "10:00", "10:30", "11:00"]}
    assert all(s.end - s.start == timedelta(hours=1) for s in slots)
    assert slots[0].start == datetime(2026, 6, 15, 13, 0, tzinfo=UTC)
    assert slots[0].modalities == frozenset({Modality.VIDEO, Modality.AUDIO, Modality.LIVE_CHAT})


def test_grid_is_aligned_to_local_midnight() -> None:
    slots = search(every_day(time(9, 10), time(11)), date(2026, 6, 15))
    assert local_starts(slots) == {date(2026, 6, 15): ["09:30", "10:00"]}


def test_slots_are_rendered_in_the_clients_zone() -> None:
    slots = search(every_day(time(9), time(10)), date(2026, 6, 15), client_zone="America/Los_Angeles")
    assert slots[0].client_local_start.strftime("%H:%M %Z") == "06:00 PDT"
    assert slots[0].client_local_end.strftime("%H:%M %Z") == "07:00 PDT"
    assert slots[0].clinician_local_start.strftime("%H:%M %Z") == "09:00 EDT"


def test_rule_ending_at_midnight_means_end_of_day() -> None:
    slots = search(every_day(time(22), time(0)), date(2026, 6, 15))
    assert local_starts(slots) == {date(2026, 6, 15): ["22:00", "22:30", "23:00"]}


# --------------------------------------------------------------------------------------------- DST
@pytest.mark.parametrize("zone", ["America/New_York", "America/Los_Angeles"])
@pytest.mark.parametrize(
    "transition",
    [date(2026, 3, 8), date(2026, 11, 1)],
    ids=["spring_forward", "fall_back"],
)
def test_0900_rule_stays_0900_local_on_both_sides_of_dst(zone: str, transition: date) -> None:
    availability = every_day(time(9), time(10), zone)
    slots = search(availability, transition - timedelta(days=1), days=3)
    assert local_starts(slots) == {transition + timedelta(days=d): ["09:00"] for d in (-1, 0, 1)}
    before, on, after = (s.start for s in slots)
    # 09:00 local every day, so the UTC instant moves by one hour across the transition
    assert on - before == (timedelta(hours=23) if transition.month == 3 else timedelta(hours=25))
    assert after - on == timedelta(hours=24)
    offsets = {s.clinician_local_start.utcoffset() for s in slots}
    assert len(offsets) == 2


@pytest.mark.parametrize(
    ("zone", "utc_hours"),
    [("America/New_York", [6, 6.5, 7, 7.5]), ("America/Los_Angeles", [9, 9.5, 10, 10.5])],
)
def test_spring_forward_skips_nonexistent_0200_and_0230(zone: str, utc_hours: list[float]) -> None:
    slots = search(every_day(time(1), time(4), zone), date(2026, 3, 8), session_type=THERAPY_30)
    assert local_starts(slots) == {date(2026, 3, 8): ["01:00", "01:30", "03:00", "03:30"]}
    midnight_utc = datetime(2026, 3, 8, tzinfo=UTC)
    assert [(s.start - midnight_utc) / timedelta(hours=1) for s in slots] == utc_hours


@pytest.mark.parametrize(
    ("zone", "offset_hours"),
    [("America/New_York", 4), ("America/Los_Angeles", 7)],
)
def test_fall_back_ambiguous_times_use_fold_0_once(zone: str, offset_hours: int) -> None:
    slots = search(every_day(time(0), time(3), zone), date(2026, 11, 1), session_type=THERAPY_30)
    assert local_starts(slots) == {date(2026, 11, 1): ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30"]}
    base = datetime(2026, 11, 1, offset_hours, tzinfo=UTC)  # local midnight (daylight time)
    hours = [(s.start - base) / timedelta(hours=1) for s in slots]
    # 01:00 and 01:30 are the first (daylight) pass; the standard-time repeat is not offered; 02:00 is
    # three real hours after midnight.
    assert hours == [0, 0.5, 1, 1.5, 3, 3.5]
    assert all(s.clinician_local_start.fold == 0 for s in slots)


def test_interval_across_spring_forward_is_measured_in_real_time() -> None:
    # 01:00-04:00 wall time on 8 Mar is only two real hours: a 60-min session fits at 01:00, 03:00 only
    # (01:30 EST + 60 min = 03:30 EDT fits as well; 03:30 would end at 04:30).
    slots = search(every_day(time(1), time(4)), date(2026, 3, 8))
    assert local_starts(slots) == {date(2026, 3, 8): ["01:00", "01:30", "03:00"]}


def test_interval_across_fall_back_is_measured_in_real_time() -> None:
    # 00:00-02:00 wall time on 1 Nov is three real hours: a 60-min session may start at 01:30 EDT
    # (ends 01:30 EST) but not at 02:00.
    slots = search(every_day(time(0), time(2)), date(2026, 11, 1))
    assert local_starts(slots) == {date(2026, 11, 1): ["00:00", "00:30", "01:00", "01:30"]}


# --------------------------------------------------------------------------------------- exceptions
def test_whole_day_block_removes_the_day() -> None:
    block = DateException(date(2026, 6, 16), ExceptionKind.BLOCKED)
    slots = search(every_day(time(9), time(10)), date(2026, 6, 15), days=3, exceptions=(block,))
    assert set(local_starts(slots)) == {date(2026, 6, 15), date(2026, 6, 17)}


def test_partial_block_cuts_the_interval() -> None:
    block = DateException(date(2026, 6, 15), ExceptionKind.BLOCKED, time(10), time(11))
    slots = search(every_day(time(9), time(13)), date(2026, 6, 15), exceptions=(block,))
    assert local_starts(slots) == {date(2026, 6, 15): ["09:00", "11:00", "11:30", "12:00"]}


def test_extra_availability_on_a_day_without_rules() -> None:
    weekdays_only = WeeklyAvailability(
        "America/New_York", tuple(WeeklyRule(d, time(9), time(10)) for d in Weekday if d < Weekday.SATURDAY)
    )
    extra = DateException(date(2026, 6, 20), ExceptionKind.EXTRA, time(14), time(15))  # a Saturday
    slots = search(weekdays_only, date(2026, 6, 20), days=2, exceptions=(extra,))
    assert local_starts(slots) == {date(2026, 6, 20): ["14:00"]}


def test_extra_availability_merges_with_weekly_rule() -> None:
    extra = DateException(date(2026, 6, 15), ExceptionKind.EXTRA, time(10), time(11))
    slots = search(every_day(time(9), time(10)), date(2026, 6, 15), exceptions=(extra,))
    assert local_starts(slots) == {date(2026, 6, 15): ["09:00", "09:30", "10:00"]}


def test_exception_validation() -> None:
    with pytest.raises(InvalidArgument):
        DateException(date(2026, 6, 15), ExceptionKind.EXTRA)
    with pytest.raises(InvalidArgument):
        DateException(date(2026, 6, 15), ExceptionKind.BLOCKED, time(10), None)
    with pytest.raises(InvalidArgument):
        DateException(date(2026, 6, 15), ExceptionKind.BLOCKED, modalities=frozenset({Modality.VIDEO}))
    with pytest.raises(InvalidArgument):
        WeeklyRule(Weekday.MONDAY, time(10), time(9))


def test_time_off_removes_overlapping_slots() -> None:
    off = time_off_for_local_dates("America/New_York", date(2026, 6, 16), date(2026, 6, 17))
    slots = search(every_day(time(9), time(10)), date(2026, 6, 15), days=4, time_off=(off,))
    assert set(local_starts(slots)) == {date(2026, 6, 15), date(2026, 6, 18)}


def test_time_off_for_local_dates_spans_dst_day() -> None:
    off = time_off_for_local_dates("America/New_York", date(2026, 3, 8), date(2026, 3, 8))
    assert off.duration == timedelta(hours=23)


# ---------------------------------------------------------------------------------- busy and buffer
def test_busy_ranges_and_buffer_are_respected() -> None:
    session = SessionType(
        "psychotherapy_60", SessionKind.PSYCHOTHERAPY, timedelta(hours=1), timedelta(minutes=10)
    )
    busy = TimeRange(
        datetime(2026, 6, 15, 15, 0, tzinfo=UTC), datetime(2026, 6, 15, 16, 0, tzinfo=UTC)
    )  # 11-12 EDT
    slots = search(every_day(time(9), time(14)), date(2026, 6, 15), session_type=session, busy=(busy,))
    # 10:00-11:00 would leave no 10-minute gap before 11:00; 12:00 would start right at its end.
    assert local_starts(slots) == {date(2026, 6, 15): ["09:00", "09:30", "12:30", "13:00"]}


def test_min_notice_and_now() -> None:
    now = datetime(2026, 6, 15, 13, 10, tzinfo=UTC)  # 09:10 EDT
    slots = search(every_day(time(9), time(13)), date(2026, 6, 15), now=now, min_notice=timedelta(hours=1))
    assert local_starts(slots)[date(2026, 6, 15)][0] == "10:30"


# --------------------------------------------------------------------------------------- modalities
def test_modality_filter_and_rule_narrowing() -> None:
    availability = WeeklyAvailability(
        "America/New_York",
        (
            WeeklyRule(Weekday.MONDAY, time(9), time(10), frozenset({Modality.VIDEO})),
            WeeklyRule(Weekday.MONDAY, time(10), time(11)),
        ),
        modalities_offered=frozenset({Modality.VIDEO, Modality.AUDIO}),
    )
    audio = search(availability, date(2026, 6, 15), modality=Modality.AUDIO)
    assert local_starts(audio) == {date(2026, 6, 15): ["10:00"]}
    everything = search(availability, date(2026, 6, 15))
    by_start = {s.clinician_local_start.strftime("%H:%M"): s.modalities for s in everything}
    assert by_start == {
        "09:00": {Modality.VIDEO},
        "09:30": {Modality.VIDEO},
        "10:00": {Modality.VIDEO, Modality.AUDIO},
    }


def test_session_type_modalities_limit_slots() -> None:
    family = SessionType(
        "family_60", SessionKind.FAMILY, timedelta(hours=1), modalities=frozenset({Modality.VIDEO})
    )
    slots = search(every_day(time(9), time(10)), date(2026, 6, 15), session_type=family)
    assert slots[0].modalities == {Modality.VIDEO}
    assert (
        search(every_day(time(9), time(10)), date(2026, 6, 15), session_type=family, modality=Modality.AUDIO)
        == ()
    )


def test_messaging_is_not_booked_into_slots() -> None:
    with pytest.raises(InvalidArgument):
        search(every_day(time(9), time(10)), date(2026, 6, 15), modality=Modality.MESSAGING)


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("minutes", [0, 7, 3])
def test_granularity_must_divide_the_day(minutes: int) -> None:
    with pytest.raises(InvalidArgument) as err:
        search(every_day(time(9), time(10)), date(2026, 6, 15), granularity=timedelta(minutes=minutes))
    assert err.value.violations[0].field == "granularity"


def test_window_is_bounded() -> None:
    with pytest.raises(InvalidArgument) as err:
        search(every_day(time(9), time(10)), date(2026, 6, 15), days=100)
    assert err.value.violations[0].field == "window_end"


def test_unknown_zone_is_rejected() -> None:
    with pytest.raises(InvalidArgument):
        WeeklyAvailability("Nowhere/Land", ())


# ------------------------------------------------------------------------------------------ properties
ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
]
DST_DAYS = [date(2026, 3, 8), date(2026, 11, 1), date(2026, 3, 29), date(2026, 10, 25), date(2026, 4, 5)]


@st.composite
def weekly_rules(draw: st.DrawFn) -> tuple[WeeklyRule, ...]:
    rules = []
    for day in draw(st.sets(st.sampled_from(list(Weekday)), min_size=1)):
        start = draw(st.integers(0, 22 * 4)) * 15
        end = draw(st.integers(start // 15 + 2, 24 * 4)) * 15
        rules.append(
            WeeklyRule(
                day, time(start // 60, start % 60), time(0) if end == 1440 else time(end // 60, end % 60)
            )
        )
    return tuple(rules)


@st.composite
def busy_lists(draw: st.DrawFn, around: datetime) -> tuple[TimeRange, ...]:
    ranges = []
    for _ in range(draw(st.integers(0, 6))):
        offset = draw(st.integers(-24 * 4, 10 * 24 * 4)) * timedelta(minutes=15)
        length = draw(st.integers(1, 16)) * timedelta(minutes=15)
        ranges.append(TimeRange(around + offset, around + offset + length))
    return tuple(ranges)


@settings(max_examples=150, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    rules=weekly_rules(),
    anchor=st.one_of(
        st.sampled_from(DST_DAYS), st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31))
    ),
    days=st.integers(1, 5),
    duration=st.sampled_from([30, 45, 60]),
    buffer=st.sampled_from([0, 5, 10]),
    granularity=st.sampled_from([15, 30, 60]),
    data=st.data(),
)
def test_property_slots_avoid_busy_and_fall_inside_local_availability(
    zone_name: str,
    rules: tuple[WeeklyRule, ...],
    anchor: date,
    days: int,
    duration: int,
    buffer: int,
    granularity: int,
    data: st.DataObject,
) -> None:
    tz = ZoneInfo(zone_name)
    session = SessionType(
        "psychotherapy", SessionKind.PSYCHOTHERAPY, timedelta(minutes=duration), timedelta(minutes=buffer)
    )
    window_start = datetime.combine(anchor - timedelta(days=1), time(0), tzinfo=UTC)
    window_end = window_start + timedelta(days=days)
    busy = data.draw(busy_lists(window_start))
    now = window_start + data.draw(st.integers(-48, 48)) * timedelta(hours=1)
    notice = timedelta(hours=data.draw(st.integers(0, 24)))
    availability = WeeklyAvailability(zone_name, rules)

    slots = generate_slots(
        availability,
        (),
        (),
        busy,
        session,
        window_start,
        window_end,
        timedelta(minutes=granularity),
        notice,
        now,
    )

    starts = [s.start for s in slots]
    assert starts == sorted(set(starts))
    by_weekday = {r.weekday: r for r in rules}
    for slot in slots:
        assert window_start <= slot.start < window_end
        assert slot.start >= now + notice
        padded = TimeRange(slot.start - session.buffer, slot.end + session.buffer)
        assert not any(padded.overlaps(b) for b in busy)
        local = slot.start.astimezone(tz)
        assert local == slot.clinician_local_start
        assert local.fold == 0
        assert (local.hour * 60 + local.minute) % granularity == 0
        wall = local.replace(tzinfo=None)
        rule = by_weekday[Weekday(wall.weekday())]
        assert rule.start <= wall.time()
        rule_end = (
            datetime.combine(wall.date() + timedelta(days=1), time(0))
            if rule.end == time(0)
            else datetime.combine(wall.date(), rule.end)
        )
        assert wall < rule_end
        assert slot.end <= local_to_utc(rule_end, tz, Nonexistent.CLAMP)

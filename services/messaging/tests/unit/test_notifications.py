"""MSG-03: notifications say only that something is waiting; channels follow preferences and quiet
hours hold routine notices until they end, in the person's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from confide_messaging.domain.notifications import Channel, Preferences, Purpose, QuietHours, plan, render

NIGHT = QuietHours(time(22, 0), time(7, 0))
EMAIL_AND_SMS = Preferences(email_enabled=True, sms_enabled=True, has_email=True, has_phone=True)


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_no_channel_no_notification() -> None:
    assert plan(Preferences(), Purpose.NEW_MESSAGE, at(12), fallback_zone=None) is None
    assert plan(Preferences(email_enabled=True), Purpose.NEW_MESSAGE, at(12), fallback_zone=None) is None


def test_channels_follow_preferences() -> None:
    decided = plan(EMAIL_AND_SMS, Purpose.NEW_MESSAGE, at(12), fallback_zone=None)
    assert decided is not None
    assert decided.channels == (Channel.EMAIL, Channel.SMS)
    sms_only = Preferences(email_enabled=False, sms_enabled=True, has_email=True, has_phone=True)
    decided = plan(sms_only, Purpose.NEW_MESSAGE, at(12), fallback_zone=None)
    assert decided is not None
    assert decided.channels == (Channel.SMS,)


# Denver is UTC-6 on 10 March 2026 (daylight time began on 8 March): 07:00 local = 13:00 UTC.
@pytest.mark.parametrize(
    ("now", "released"),
    [
        (at(3), at(3)),  # 21:00 the evening before: outside the window, sent now
        (at(5), at(13)),  # 23:00: held until 07:00 local
        (at(10), at(13)),  # 04:00: held until 07:00 local
        (at(14), at(14)),  # 08:00: sent now
    ],
)
def test_quiet_hours_hold_routine_notices_in_the_persons_zone(now: datetime, released: datetime) -> None:
    preferences = Preferences(email_enabled=True, has_email=True, quiet_hours=NIGHT)
    decided = plan(preferences, Purpose.NEW_MESSAGE, now, fallback_zone="America/Denver")
    assert decided is not None
    assert decided.deliver_after == released


def test_a_crisis_alert_ignores_quiet_hours() -> None:
    preferences = Preferences(sms_enabled=True, has_phone=True, quiet_hours=NIGHT, time_zone="America/Denver")
    decided = plan(preferences, Purpose.CRISIS_ALERT, at(6), fallback_zone=None)
    assert decided is not None
    assert decided.deliver_after == at(6)


def test_own_time_zone_wins_over_the_profiles() -> None:
    preferences = Preferences(
        email_enabled=True, has_email=True, quiet_hours=NIGHT, time_zone="Europe/Berlin"
    )
    decided = plan(preferences, Purpose.NEW_MESSAGE, at(22), fallback_zone="America/Denver")  # 23:00 Berlin
    assert decided is not None
    assert decided.deliver_after == at(6, day=11)  # 07:00 Berlin


def test_a_window_that_does_not_wrap() -> None:
    lunch = QuietHours(time(12), time(13))
    assert lunch.contains(time(12, 30))
    assert not lunch.contains(time(13))
    assert not QuietHours(time(9), time(9)).contains(time(9))


@pytest.mark.parametrize("purpose", list(Purpose))
@pytest.mark.parametrize("channel", list(Channel))
def test_msg_03_the_text_is_fixed_and_links_to_the_portal(purpose: Purpose, channel: Channel) -> None:
    rendered = render(purpose, "https://app.example/messages", channel)
    assert "https://app.example/messages" in rendered.text
    if channel is Channel.SMS:
        assert len(rendered.text) <= 160

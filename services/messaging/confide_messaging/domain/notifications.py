"""Notifications without PHI (MSG-03): who is told, on which channel, when, and the fixed text.

A notification says only that something is waiting in the secure portal ("You have a new secure
message") and links there; it never quotes a message, names the practice (for a mental-health
practice even its name reveals treatment) or says what an appointment is for. Channels follow the
person's preferences; quiet hours in the person's time zone hold routine notifications until they
end. A crisis alert to the care team ignores quiet hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo


class Channel(Enum):
    EMAIL = "email"
    SMS = "sms"


class Purpose(Enum):
    NEW_MESSAGE = "new_message"
    APPOINTMENT_REMINDER = "appointment_reminder"
    CRISIS_ALERT = "crisis_alert"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local wall-clock window; `start > end` wraps past midnight (22:00-07:00)."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True, slots=True)
class Preferences:
    email_enabled: bool = True
    sms_enabled: bool = False
    has_email: bool = False
    has_phone: bool = False
    quiet_hours: QuietHours | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    channels: tuple[Channel, ...]
    deliver_after: datetime


def plan(
    preferences: Preferences, purpose: Purpose, now: datetime, *, fallback_zone: str | None
) -> Plan | None:
    """Channels and release time of one notification, or None when no channel is on."""
    channels: list[Channel] = []
    if preferences.email_enabled and preferences.has_email:
        channels.append(Channel.EMAIL)
    if preferences.sms_enabled and preferences.has_phone:
        channels.append(Channel.SMS)
    if not channels:
        return None
    if purpose is Purpose.CRISIS_ALERT or preferences.quiet_hours is None:
        return Plan(tuple(channels), now)
    zone = ZoneInfo(preferences.time_zone or fallback_zone or "UTC")
    return Plan(tuple(channels), end_of_quiet_hours(preferences.quiet_hours, now, zone))


def end_of_quiet_hours(quiet: QuietHours, now: datetime, zone: ZoneInfo) -> datetime:
    """`now` when outside the window; else the instant the window ends, in the person's zone."""
    local = now.astimezone(zone)
    if not quiet.contains(local.timetz().replace(tzinfo=None)):
        return now
    end_day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        end_day += timedelta(days=1)
    # fold=0 and zoneinfo resolve DST gaps forward: a 02:30 end on spring-forward day is 03:30.
    return datetime.combine(end_day, quiet.end, tzinfo=zone).astimezone(now.tzinfo)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str


def render(purpose: Purpose, portal_url: str, channel: Channel) -> Rendered:
    """The whole content of a notification: fixed words and the portal link, nothing else (MSG-03).
    SMS stays within one 160-character segment."""
    if purpose is Purpose.NEW_MESSAGE:
        subject, line = "You have a new secure message", "You have a new secure message."
    elif purpose is Purpose.APPOINTMENT_REMINDER:
        subject, line = "Upcoming appointment reminder", "You have an upcoming appointment."
    else:
        subject, line = (
            "Urgent: please check your secure messages",
            "Urgent: a client needs your attention now.",
        )
    if channel is Channel.SMS:
        return Rendered(subject, f"{line} Sign in: {portal_url}"[:160])
    return Rendered(
        subject, f"{line}\n\nSign in to read it: {portal_url}\n\nPlease do not reply to this e-mail.\n"
    )

"""Value objects shared by the scheduling domain: modalities, weekdays and session types."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import timedelta

from confide_chassis.errors import ValidationCollector

__all__ = ["SYNCHRONOUS_MODALITIES", "Modality", "SessionKind", "SessionType", "Weekday"]


class Modality(enum.StrEnum):
    """How a session is delivered."""

    VIDEO = "video"  # synchronous audio + video
    AUDIO = "audio"  # synchronous audio-only (phone)
    LIVE_CHAT = "live_chat"  # synchronous text
    MESSAGING = "messaging"  # asynchronous messaging ("text therapy"): never booked into a slot

    @property
    def is_synchronous(self) -> bool:
        return self is not Modality.MESSAGING


SYNCHRONOUS_MODALITIES: frozenset[Modality] = frozenset(m for m in Modality if m.is_synchronous)


class Weekday(enum.IntEnum):
    """ISO weekday order, numbered like ``date.weekday()`` (Monday = 0)."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


class SessionKind(enum.StrEnum):
    INTAKE = "intake"
    PSYCHOTHERAPY = "psychotherapy"
    FAMILY = "family"


_CODE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class SessionType:
    """A bookable kind of session, configurable per practice (see reference_data/session_types.yaml).

    ``buffer`` is the minimum free gap kept between this session and any other busy range, on both sides.
    """

    code: str
    kind: SessionKind
    duration: timedelta
    buffer: timedelta = timedelta(0)
    modalities: frozenset[Modality] = SYNCHRONOUS_MODALITIES

    def __post_init__(self) -> None:
        errors = ValidationCollector()
        errors.require(bool(_CODE.match(self.code)), "session_type.code", "must be a lower-case identifier")
        minutes, rest = divmod(self.duration, timedelta(minutes=1))
        errors.require(
            rest == timedelta(0) and 5 <= minutes <= 240,
            "session_type.duration",
            "must be whole minutes between 5 and 240",
        )
        errors.require(
            timedelta(0) <= self.buffer <= timedelta(hours=2)
            and self.buffer % timedelta(minutes=1) == timedelta(0),
            "session_type.buffer",
            "must be whole minutes between 0 and 120",
        )
        errors.require(
            bool(self.modalities) and self.modalities <= SYNCHRONOUS_MODALITIES,
            "session_type.modalities",
            "must list at least one synchronous modality (video, audio, live_chat)",
        )
        errors.raise_if_any()

    @property
    def duration_minutes(self) -> int:
        return self.duration // timedelta(minutes=1)

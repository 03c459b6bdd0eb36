"""Session completion and the facts billing needs (BILL-11, BILL-12).

POS and modifier are derived from what actually happened, not from what was booked: the location and
at-home flag captured at check-in (LIC-04) and the modality the session was delivered in (a video
session that fell back to the phone is audio-only).

- POS (BILL-10/11): client at home → ``10``; anywhere else → ``02``.
- Modifier (BILL-12): synchronous audio+video → ``95``; synchronous audio-only → ``93``. Live chat has
  no telehealth modifier here (returned as None); payer-specific modifier tables (FQ, GT, GQ; Medicare's
  move to POS-only from 2024) belong to billing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from confide_chassis.errors import FailedPrecondition, InvalidArgument, RuleViolation

from . import rules
from .appointments import Appointment, AppointmentStatus, require_status, transition
from .catalog import Modality, SessionKind
from .timekit import require_utc

__all__ = [
    "CompletedSessionFacts",
    "PlaceOfService",
    "TelehealthModifier",
    "complete_session",
    "place_of_service",
    "telehealth_modifier",
]

MAX_SESSION_MINUTES = 240


class PlaceOfService(enum.StrEnum):
    TELEHEALTH_OTHER_THAN_HOME = "02"
    TELEHEALTH_IN_HOME = "10"


class TelehealthModifier(enum.StrEnum):
    SYNCHRONOUS_AUDIO_VIDEO = "95"
    SYNCHRONOUS_AUDIO_ONLY = "93"


def place_of_service(at_home: bool) -> PlaceOfService:
    """BILL-11: POS 10 when the client is at home, POS 02 anywhere else."""
    return PlaceOfService.TELEHEALTH_IN_HOME if at_home else PlaceOfService.TELEHEALTH_OTHER_THAN_HOME


def telehealth_modifier(modality: Modality) -> TelehealthModifier | None:
    """BILL-12: 95 for video, 93 for audio-only; None for live chat. Messaging is not a session."""
    if modality is Modality.VIDEO:
        return TelehealthModifier.SYNCHRONOUS_AUDIO_VIDEO
    if modality is Modality.AUDIO:
        return TelehealthModifier.SYNCHRONOUS_AUDIO_ONLY
    if modality is Modality.LIVE_CHAT:
        return None
    raise InvalidArgument.field("modality", "asynchronous messaging is not a session")


@dataclass(frozen=True, slots=True)
class CompletedSessionFacts:
    """What ``session completed`` carries for billing: ids and facts, no PHI beyond the billing need
    (no address reference, no notes)."""

    appointment_id: UUID
    practice_id: UUID
    clinician_id: UUID
    client_id: UUID
    session_type_code: str
    session_kind: SessionKind
    modality: Modality
    duration_minutes: int
    client_state: str
    at_home: bool
    place_of_service: PlaceOfService
    modifier: TelehealthModifier | None
    started_at: datetime
    completed_at: datetime


def complete_session(
    appointment: Appointment,
    now: datetime,
    *,
    actual_minutes: int,
    delivered_modality: Modality | None = None,
) -> tuple[Appointment, CompletedSessionFacts]:
    """in_session → completed with the actual face-to-face minutes (BILL-01) and delivered modality."""
    now_utc = require_utc(now, "now")
    require_status(appointment, AppointmentStatus.COMPLETED, AppointmentStatus.IN_SESSION)
    modality = delivered_modality or appointment.modality
    if isinstance(actual_minutes, bool) or not 1 <= actual_minutes <= MAX_SESSION_MINUTES:
        raise InvalidArgument.field("actual_minutes", f"must be between 1 and {MAX_SESSION_MINUTES}")
    modifier = telehealth_modifier(modality)
    check_in = appointment.check_in
    if check_in is None or appointment.started_at is None:
        raise FailedPrecondition(
            RuleViolation(rules.LIC_04, "the client's location was not recorded at check-in")
        )
    completed = transition(
        appointment, AppointmentStatus.COMPLETED, now_utc, ended_at=now_utc, delivered_modality=modality
    )
    facts = CompletedSessionFacts(
        appointment_id=appointment.id,
        practice_id=appointment.practice_id,
        clinician_id=appointment.clinician_id,
        client_id=appointment.client_id,
        session_type_code=appointment.session_type.code,
        session_kind=appointment.session_type.kind,
        modality=modality,
        duration_minutes=actual_minutes,
        client_state=check_in.location.state,
        at_home=check_in.location.at_home,
        place_of_service=place_of_service(check_in.location.at_home),
        modifier=modifier,
        started_at=appointment.started_at,
        completed_at=now_utc,
    )
    return completed, facts

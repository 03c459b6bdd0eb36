"""Appointments: the state machine, holds and booking.

State machine (every other move is FailedPrecondition ``SCHED-01``)::

    held                  -> booked | cancelled
    booked                -> checked_in | cancelled | late_cancelled | no_show | flagged_authorization
    flagged_authorization -> booked | cancelled
    checked_in            -> in_session | cancelled | flagged_authorization
    in_session            -> completed
    completed, cancelled, late_cancelled, no_show: terminal

- ``held``: a slot reserved for a client for a short time (``hold_expires_at``); confirm → ``booked``;
  release or expiry → ``cancelled`` (reason ``hold_released`` / ``hold_expired``).
- ``flagged_authorization``: the clinician's authority for the client's state lapsed or was denied
  (LIC-03), at booking re-checks or at check-in; it keeps the calendar time reserved until a new
  decision allows it (→ ``booked``) or it is cancelled. It is never silently kept as ``booked``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any
from uuid import UUID

from confide_chassis.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    RuleViolation,
    ValidationCollector,
)

from . import rules
from .catalog import Modality, SessionType
from .location import CheckInRecord
from .timekit import TimeRange, require_utc

__all__ = [
    "ACTIVE_STATUSES",
    "ALLOWED_TRANSITIONS",
    "TERMINAL_STATUSES",
    "Appointment",
    "AppointmentStatus",
    "AuthorizationDecision",
    "CancelReason",
    "book",
    "busy_ranges",
    "can_transition",
    "confirm_hold",
    "ensure_free",
    "expire_hold",
    "flag_authorization",
    "is_hold_expired",
    "occupies_calendar",
    "place_hold",
    "release_hold",
    "require_status",
    "reschedule",
    "restore_authorization",
    "transition",
]


class AppointmentStatus(enum.StrEnum):
    HELD = "held"
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    IN_SESSION = "in_session"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    LATE_CANCELLED = "late_cancelled"
    NO_SHOW = "no_show"
    FLAGGED_AUTHORIZATION = "flagged_authorization"


_S = AppointmentStatus
ALLOWED_TRANSITIONS: Mapping[AppointmentStatus, frozenset[AppointmentStatus]] = MappingProxyType(
    {
        _S.HELD: frozenset({_S.BOOKED, _S.CANCELLED}),
        _S.BOOKED: frozenset(
            {_S.CHECKED_IN, _S.CANCELLED, _S.LATE_CANCELLED, _S.NO_SHOW, _S.FLAGGED_AUTHORIZATION}
        ),
        _S.FLAGGED_AUTHORIZATION: frozenset({_S.BOOKED, _S.CANCELLED}),
        _S.CHECKED_IN: frozenset({_S.IN_SESSION, _S.CANCELLED, _S.FLAGGED_AUTHORIZATION}),
        _S.IN_SESSION: frozenset({_S.COMPLETED}),
        _S.COMPLETED: frozenset(),
        _S.CANCELLED: frozenset(),
        _S.LATE_CANCELLED: frozenset(),
        _S.NO_SHOW: frozenset(),
    }
)
TERMINAL_STATUSES: frozenset[AppointmentStatus] = frozenset(
    s for s, t in ALLOWED_TRANSITIONS.items() if not t
)
# Statuses that keep the clinician's time reserved (a HELD one only until its hold expires).
ACTIVE_STATUSES: frozenset[AppointmentStatus] = frozenset(
    {_S.HELD, _S.BOOKED, _S.CHECKED_IN, _S.IN_SESSION, _S.FLAGGED_AUTHORIZATION}
)


class CancelReason(enum.StrEnum):
    CLIENT_REQUEST = "client_request"
    CLINICIAN_REQUEST = "clinician_request"
    PRACTICE = "practice"
    HOLD_RELEASED = "hold_released"
    HOLD_EXPIRED = "hold_expired"
    AUTHORIZATION_DENIED = "authorization_denied"


@dataclass(frozen=True, slots=True)
class AuthorizationDecision:
    """The answer of compliance ``CheckAuthorization`` (LIC-03), as the domain sees it."""

    decision_id: str
    allowed: bool
    rule_ids: tuple[str, ...] = ()

    def raise_if_denied(self) -> None:
        if not self.allowed:
            ids = self.rule_ids or (rules.LIC_03,)
            raise FailedPrecondition(
                [
                    RuleViolation(rule_id, "clinician is not authorized for the client's location")
                    for rule_id in ids
                ],
                metadata={"authorization_decision_id": self.decision_id},
            )


@dataclass(frozen=True, slots=True)
class Appointment:
    """One appointment of a client with a clinician. Times are UTC; ``version`` is bumped on every change."""

    id: UUID
    practice_id: UUID
    clinician_id: UUID
    client_id: UUID
    session_type: SessionType
    modality: Modality
    start: datetime
    end: datetime
    status: AppointmentStatus
    created_at: datetime
    updated_at: datetime
    hold_expires_at: datetime | None = None
    scheduled_at: datetime | None = None  # when the current start time was confirmed (book/reschedule)
    series_id: UUID | None = None
    occurrence_date: date | None = None  # original local date of the series occurrence
    authorization_decision_id: str | None = None
    clinician_review_required: bool = False  # SAFE-22/23: booked under a clinician-review flag
    check_in: CheckInRecord | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    delivered_modality: Modality | None = None  # set at completion (e.g. video fell back to audio)
    cancelled_at: datetime | None = None
    cancel_reason: CancelReason | None = None
    version: int = 0

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise InvalidArgument.field("appointment.end", "must be after start")

    @property
    def range(self) -> TimeRange:
        return TimeRange(self.start, self.end)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def can_transition(current: AppointmentStatus, target: AppointmentStatus) -> bool:
    return target in ALLOWED_TRANSITIONS[current]


def _illegal(appointment: Appointment, target: AppointmentStatus) -> FailedPrecondition:
    return FailedPrecondition(
        RuleViolation(
            rules.SCHED_TRANSITION,
            f"appointment cannot go from {appointment.status.value} to {target.value}",
            subject=str(appointment.id),
        ),
        metadata={"from": appointment.status.value, "to": target.value},
    )


def require_status(
    appointment: Appointment, target: AppointmentStatus, *allowed_from: AppointmentStatus
) -> None:
    """An operation that moves to ``target`` only from ``allowed_from`` (a subset of the state machine)."""
    if appointment.status not in allowed_from or not can_transition(appointment.status, target):
        raise _illegal(appointment, target)


def transition(
    appointment: Appointment, target: AppointmentStatus, now: datetime, **changes: Any
) -> Appointment:
    """Move ``appointment`` to ``target`` applying ``changes``; FailedPrecondition SCHED-01 if illegal."""
    now_utc = require_utc(now, "now")
    if not can_transition(appointment.status, target):
        raise _illegal(appointment, target)
    return dataclasses.replace(
        appointment, status=target, updated_at=now_utc, version=appointment.version + 1, **changes
    )


def _validate_new(
    session_type: SessionType,
    modality: Modality,
    start: datetime,
    now: datetime,
    min_notice: timedelta,
) -> datetime:
    errors = ValidationCollector()
    errors.require(
        modality in session_type.modalities,
        "modality",
        f"{modality.value} is not offered for session type {session_type.code}",
    )
    errors.require(min_notice >= timedelta(0), "min_notice", "must not be negative")
    errors.raise_if_any()
    start_utc = require_utc(start, "start")
    if start_utc < now + min_notice:
        raise FailedPrecondition(
            RuleViolation(
                rules.SCHED_MIN_NOTICE, "start is earlier than the practice's minimum booking notice"
            )
        )
    return start_utc


def place_hold(
    *,
    appointment_id: UUID,
    practice_id: UUID,
    clinician_id: UUID,
    client_id: UUID,
    session_type: SessionType,
    modality: Modality,
    start: datetime,
    now: datetime,
    hold_ttl: timedelta,
    min_notice: timedelta = timedelta(0),
    series_id: UUID | None = None,
    occurrence_date: date | None = None,
) -> Appointment:
    """Reserve a slot for ``hold_ttl`` (1-60 minutes); confirm it with :func:`confirm_hold`."""
    now_utc = require_utc(now, "now")
    if not timedelta(minutes=1) <= hold_ttl <= timedelta(hours=1):
        raise InvalidArgument.field("hold_ttl", "must be between 1 and 60 minutes")
    start_utc = _validate_new(session_type, modality, start, now_utc, min_notice)
    return Appointment(
        id=appointment_id,
        practice_id=practice_id,
        clinician_id=clinician_id,
        client_id=client_id,
        session_type=session_type,
        modality=modality,
        start=start_utc,
        end=start_utc + session_type.duration,
        status=AppointmentStatus.HELD,
        created_at=now_utc,
        updated_at=now_utc,
        hold_expires_at=now_utc + hold_ttl,
        series_id=series_id,
        occurrence_date=occurrence_date,
    )


def is_hold_expired(appointment: Appointment, now: datetime) -> bool:
    """A hold expires at ``hold_expires_at`` exactly (the instant itself is already expired)."""
    return (
        appointment.status is AppointmentStatus.HELD
        and appointment.hold_expires_at is not None
        and require_utc(now, "now") >= appointment.hold_expires_at
    )


def confirm_hold(
    appointment: Appointment,
    now: datetime,
    authorization: AuthorizationDecision,
    *,
    clinician_review_required: bool = False,
) -> Appointment:
    """held → booked. Fails with SCHED-02 once the hold expired and with the decision's rule ids (LIC-03)
    when compliance denied the booking."""
    require_status(appointment, AppointmentStatus.BOOKED, AppointmentStatus.HELD)
    if is_hold_expired(appointment, now):
        raise FailedPrecondition(
            RuleViolation(rules.SCHED_HOLD_EXPIRED, "the hold has expired; search again", str(appointment.id))
        )
    authorization.raise_if_denied()
    now_utc = require_utc(now, "now")
    return transition(
        appointment,
        AppointmentStatus.BOOKED,
        now_utc,
        hold_expires_at=None,
        scheduled_at=now_utc,
        authorization_decision_id=authorization.decision_id,
        clinician_review_required=clinician_review_required,
    )


def book(
    *,
    appointment_id: UUID,
    practice_id: UUID,
    clinician_id: UUID,
    client_id: UUID,
    session_type: SessionType,
    modality: Modality,
    start: datetime,
    now: datetime,
    authorization: AuthorizationDecision,
    min_notice: timedelta = timedelta(0),
    clinician_review_required: bool = False,
    series_id: UUID | None = None,
    occurrence_date: date | None = None,
) -> Appointment:
    """Book in one step (no hold). Same checks as hold + confirm."""
    now_utc = require_utc(now, "now")
    start_utc = _validate_new(session_type, modality, start, now_utc, min_notice)
    authorization.raise_if_denied()
    return Appointment(
        id=appointment_id,
        practice_id=practice_id,
        clinician_id=clinician_id,
        client_id=client_id,
        session_type=session_type,
        modality=modality,
        start=start_utc,
        end=start_utc + session_type.duration,
        status=AppointmentStatus.BOOKED,
        created_at=now_utc,
        updated_at=now_utc,
        scheduled_at=now_utc,
        series_id=series_id,
        occurrence_date=occurrence_date,
        authorization_decision_id=authorization.decision_id,
        clinician_review_required=clinician_review_required,
    )


def release_hold(appointment: Appointment, now: datetime) -> Appointment:
    """The client gave the hold back: held → cancelled (``hold_released``)."""
    require_status(appointment, AppointmentStatus.CANCELLED, AppointmentStatus.HELD)
    return transition(
        appointment,
        AppointmentStatus.CANCELLED,
        now,
        cancelled_at=require_utc(now, "now"),
        cancel_reason=CancelReason.HOLD_RELEASED,
        hold_expires_at=None,
    )


def expire_hold(appointment: Appointment, now: datetime) -> Appointment:
    """held → cancelled (``hold_expired``) once the hold has expired; FailedPrecondition before that."""
    require_status(appointment, AppointmentStatus.CANCELLED, AppointmentStatus.HELD)
    if not is_hold_expired(appointment, now):
        raise FailedPrecondition(RuleViolation(rules.SCHED_HOLD_EXPIRED, "the hold has not expired yet"))
    return transition(
        appointment,
        AppointmentStatus.CANCELLED,
        now,
        cancelled_at=require_utc(now, "now"),
        cancel_reason=CancelReason.HOLD_EXPIRED,
    )


def occupies_calendar(appointment: Appointment, now: datetime) -> bool:
    """Does this appointment keep the clinician's time reserved at ``now``?"""
    if appointment.status is AppointmentStatus.HELD:
        return not is_hold_expired(appointment, now)
    return appointment.status in ACTIVE_STATUSES


def busy_ranges(
    appointments: Iterable[Appointment], now: datetime, *, exclude: UUID | None = None
) -> tuple[TimeRange, ...]:
    """The time ranges that slot search and series conflict checks must avoid."""
    return tuple(a.range for a in appointments if a.id != exclude and occupies_calendar(a, now))


def ensure_free(candidate: TimeRange, busy: Iterable[TimeRange], buffer: timedelta = timedelta(0)) -> None:
    """Conflict when ``candidate`` (padded by ``buffer``) overlaps a busy range. The database exclusion
    constraint is the final guard; this gives the caller an early, friendly answer."""
    padded = candidate.padded(buffer, buffer)
    if any(padded.overlaps(r) for r in busy):
        raise Conflict("the requested time is no longer available")


def reschedule(
    appointment: Appointment,
    new_start: datetime,
    now: datetime,
    authorization: AuthorizationDecision,
    *,
    min_notice: timedelta = timedelta(0),
) -> Appointment:
    """Move a booked appointment to ``new_start`` (same session type and modality). The status stays
    ``booked``; compliance must have been asked again for the new date (LIC-03)."""
    now_utc = require_utc(now, "now")
    if appointment.status is not AppointmentStatus.BOOKED:
        raise FailedPrecondition(
            RuleViolation(
                rules.SCHED_TRANSITION,
                f"only a booked appointment can be rescheduled, not a {appointment.status.value} one",
                subject=str(appointment.id),
            ),
            metadata={"from": appointment.status.value, "to": AppointmentStatus.BOOKED.value},
        )
    start_utc = _validate_new(appointment.session_type, appointment.modality, new_start, now_utc, min_notice)
    authorization.raise_if_denied()
    return dataclasses.replace(
        appointment,
        start=start_utc,
        end=start_utc + appointment.session_type.duration,
        scheduled_at=now_utc,
        authorization_decision_id=authorization.decision_id,
        updated_at=now_utc,
        version=appointment.version + 1,
    )


def flag_authorization(
    appointment: Appointment, now: datetime, decision_id: str | None = None
) -> Appointment:
    """The clinician's authority for this appointment lapsed or was denied (LIC-03): flag it.

    Allowed from ``booked`` and ``checked_in`` (a denied re-check at check-in)."""
    require_status(
        appointment,
        AppointmentStatus.FLAGGED_AUTHORIZATION,
        AppointmentStatus.BOOKED,
        AppointmentStatus.CHECKED_IN,
    )
    return transition(
        appointment,
        AppointmentStatus.FLAGGED_AUTHORIZATION,
        now,
        authorization_decision_id=decision_id or appointment.authorization_decision_id,
    )


def restore_authorization(
    appointment: Appointment, now: datetime, authorization: AuthorizationDecision
) -> Appointment:
    """flagged_authorization → booked after compliance allows it again."""
    require_status(appointment, AppointmentStatus.BOOKED, AppointmentStatus.FLAGGED_AUTHORIZATION)
    authorization.raise_if_denied()
    return transition(
        appointment,
        AppointmentStatus.BOOKED,
        now,
        authorization_decision_id=authorization.decision_id,
        check_in=None,
    )

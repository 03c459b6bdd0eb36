"""Check-in and session start (LIC-01, LIC-03, LIC-04, SAFE-01, SAFE-02).

Check-in is two pure steps around one port call made by the app layer:

1. :func:`begin_check_in` validates the window (opens ``opens_before`` the start, inclusive; closes at the
   end, exclusive), the appointment status, the confirmed identity (SAFE-01) and the stated location
   (SAFE-02, LIC-04), and returns the :class:`AuthorizationRecheck` to ask compliance for *that* location
   (LIC-01: the session happens where the client is now, which may differ from their home state).
2. :func:`complete_check_in` applies compliance's answer, failing closed: allowed → ``checked_in``;
   denied → ``flagged_authorization`` with the violations to return as FAILED_PRECONDITION.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from confide_chassis.errors import FailedPrecondition, InvalidArgument, RuleViolation

from . import rules
from .appointments import (
    Appointment,
    AppointmentStatus,
    AuthorizationDecision,
    flag_authorization,
    require_status,
    transition,
)
from .catalog import Modality
from .location import CheckInRecord, ClientLocation
from .timekit import require_utc, zone

__all__ = [
    "AuthorizationRecheck",
    "CheckInAttempt",
    "CheckInOutcome",
    "CheckInPolicy",
    "begin_check_in",
    "check_in_window",
    "complete_check_in",
    "start_session",
]


@dataclass(frozen=True, slots=True)
class CheckInPolicy:
    opens_before: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if not timedelta(0) <= self.opens_before <= timedelta(hours=2):
            raise InvalidArgument.field("check_in_policy.opens_before", "must be between 0 and 2 hours")


def check_in_window(appointment: Appointment, policy: CheckInPolicy) -> tuple[datetime, datetime]:
    """``[start - opens_before, end)``."""
    return appointment.start - policy.opens_before, appointment.end


@dataclass(frozen=True, slots=True)
class AuthorizationRecheck:
    """The question for compliance ``CheckAuthorization`` at check-in (a port called by the app)."""

    clinician_id: UUID
    client_id: UUID
    client_state: str
    modality: Modality
    session_date: date  # the session's date where the client is (UTC date if the zone is unknown)


@dataclass(frozen=True, slots=True)
class CheckInAttempt:
    appointment_id: UUID
    record: CheckInRecord
    authorization_recheck: AuthorizationRecheck


def begin_check_in(
    appointment: Appointment,
    location: ClientLocation,
    identity_confirmed: bool,
    now: datetime,
    policy: CheckInPolicy,
    *,
    client_time_zone: str | None = None,
) -> CheckInAttempt:
    """Validate a check-in and say which authorization must be re-checked for the stated location."""
    now_utc = require_utc(now, "now")
    require_status(appointment, AppointmentStatus.CHECKED_IN, AppointmentStatus.BOOKED)
    opens, closes = check_in_window(appointment, policy)
    if not opens <= now_utc < closes:
        raise FailedPrecondition(
            RuleViolation(
                rules.SCHED_CHECKIN_WINDOW,
                "check-in is open from shortly before the start until the end of the session",
                subject=str(appointment.id),
            ),
            metadata={"opens_at": opens.isoformat(), "closes_at": closes.isoformat()},
        )
    if not identity_confirmed:
        raise FailedPrecondition(
            RuleViolation(rules.SAFE_01, "the client's identity must be confirmed at each contact")
        )
    local_date = (
        appointment.start.astimezone(zone(client_time_zone, "client_time_zone")).date()
        if client_time_zone is not None
        else appointment.start.date()
    )
    return CheckInAttempt(
        appointment_id=appointment.id,
        record=CheckInRecord(at=now_utc, location=location, identity_confirmed=True),
        authorization_recheck=AuthorizationRecheck(
            clinician_id=appointment.clinician_id,
            client_id=appointment.client_id,
            client_state=location.state,
            modality=appointment.modality,
            session_date=local_date,
        ),
    )


@dataclass(frozen=True, slots=True)
class CheckInOutcome:
    appointment: Appointment
    accepted: bool
    violations: tuple[RuleViolation, ...] = ()

    def raise_if_refused(self) -> None:
        """After persisting ``appointment`` (flagged), tell the caller why (FAILED_PRECONDITION)."""
        if not self.accepted:
            raise FailedPrecondition(self.violations)


def complete_check_in(
    appointment: Appointment,
    attempt: CheckInAttempt,
    decision: AuthorizationDecision,
    now: datetime,
) -> CheckInOutcome:
    """Apply compliance's decision for the stated location (fail closed)."""
    now_utc = require_utc(now, "now")
    if attempt.appointment_id != appointment.id:
        raise InvalidArgument.field("appointment_id", "check-in attempt belongs to another appointment")
    record = dataclasses.replace(attempt.record, authorization_decision_id=decision.decision_id)
    if not decision.allowed:
        ids = decision.rule_ids or (rules.LIC_03,)
        violations = tuple(
            RuleViolation(rule_id, "clinician is not authorized where the client is now", str(appointment.id))
            for rule_id in (rules.LIC_01, *ids)
        )
        flagged = flag_authorization(appointment, now_utc, decision.decision_id)
        return CheckInOutcome(dataclasses.replace(flagged, check_in=record), False, _unique(violations))
    checked_in = transition(
        appointment,
        AppointmentStatus.CHECKED_IN,
        now_utc,
        check_in=record,
        authorization_decision_id=decision.decision_id,
    )
    return CheckInOutcome(checked_in, True)


def _unique(violations: tuple[RuleViolation, ...]) -> tuple[RuleViolation, ...]:
    seen: set[str] = set()
    out: list[RuleViolation] = []
    for v in violations:
        if v.rule_id not in seen:
            seen.add(v.rule_id)
            out.append(v)
    return tuple(out)


def start_session(appointment: Appointment, now: datetime) -> Appointment:
    """checked_in → in_session (LIC-04: only after the location was captured at check-in)."""
    require_status(appointment, AppointmentStatus.IN_SESSION, AppointmentStatus.CHECKED_IN)
    if appointment.check_in is None:  # cannot happen through complete_check_in; guards hand-made data
        raise FailedPrecondition(RuleViolation(rules.LIC_04, "the client's location was not recorded"))
    now_utc = require_utc(now, "now")
    if now_utc >= appointment.end:
        raise FailedPrecondition(
            RuleViolation(
                rules.SCHED_CHECKIN_WINDOW, "the session's scheduled time is over", str(appointment.id)
            )
        )
    return transition(appointment, AppointmentStatus.IN_SESSION, now_utc, started_at=now_utc)

"""Event messages the use cases publish (ids and codes only, no free text: MSG-03), and the enum
tables they share with the API mapping (``api/mapping.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from confide.common.v1 import jurisdiction_pb2, money_pb2
from confide.scheduling.v1 import events_pb2, scheduling_pb2
from confide_chassis import roles
from confide_chassis.clock import utc_now
from confide_chassis.wire import jurisdiction_value, optional_timestamp
from confide_scheduling.app.ports import AppointmentRecord
from confide_scheduling.domain.appointments import CancelReason
from confide_scheduling.domain.billing_facts import CompletedSessionFacts
from confide_scheduling.domain.catalog import Modality, SessionKind
from confide_scheduling.domain.policy import CancellationOutcome, CancelledBy, FeeDecision, FeeWaiver, Money
from confide_scheduling.domain.screening import RequiredAction, RiskReason, TriageLevel

pb = scheduling_pb2
ev = events_pb2


MODALITY_TO_PB: dict[Modality, pb.Modality.ValueType] = {
    Modality.VIDEO: pb.MODALITY_VIDEO,
    Modality.AUDIO: pb.MODALITY_AUDIO_ONLY,
    Modality.LIVE_CHAT: pb.MODALITY_LIVE_CHAT,
}


KIND_TO_PB: dict[SessionKind, pb.SessionKind.ValueType] = {
    SessionKind.INTAKE: pb.SESSION_KIND_INTAKE,
    SessionKind.PSYCHOTHERAPY: pb.SESSION_KIND_PSYCHOTHERAPY,
    SessionKind.FAMILY: pb.SESSION_KIND_FAMILY,
}


CANCEL_REASON_TO_PB: dict[CancelReason, pb.CancelReason.ValueType] = {
    CancelReason.CLIENT_REQUEST: pb.CANCEL_REASON_CLIENT_REQUEST,
    CancelReason.CLINICIAN_REQUEST: pb.CANCEL_REASON_CLINICIAN_REQUEST,
    CancelReason.PRACTICE: pb.CANCEL_REASON_PRACTICE,
    CancelReason.HOLD_RELEASED: pb.CANCEL_REASON_HOLD_RELEASED,
    CancelReason.HOLD_EXPIRED: pb.CANCEL_REASON_HOLD_EXPIRED,
    CancelReason.AUTHORIZATION_DENIED: pb.CANCEL_REASON_AUTHORIZATION_DENIED,
}


CANCELLED_BY_TO_PB: dict[CancelledBy, pb.CancelledBy.ValueType] = {
    CancelledBy.CLIENT: pb.CANCELLED_BY_CLIENT,
    CancelledBy.CLINICIAN: pb.CANCELLED_BY_CLINICIAN,
    CancelledBy.PRACTICE: pb.CANCELLED_BY_PRACTICE,
    CancelledBy.SYSTEM: pb.CANCELLED_BY_SYSTEM,
}


FEE_WAIVER_TO_PB: dict[FeeWaiver, pb.FeeWaiver.ValueType] = {
    FeeWaiver.NOT_APPLICABLE: pb.FEE_WAIVER_NOT_APPLICABLE,
    FeeWaiver.NO_FEE_CONFIGURED: pb.FEE_WAIVER_NO_FEE_CONFIGURED,
    FeeWaiver.POLICY_NOT_AGREED: pb.FEE_WAIVER_POLICY_NOT_AGREED,
    FeeWaiver.FEDERAL_PROGRAM_PAYER: pb.FEE_WAIVER_FEDERAL_PROGRAM_PAYER,
}


TRIAGE_TO_PB: dict[TriageLevel, pb.TriageLevel.ValueType] = {
    TriageLevel.ROUTINE: pb.TRIAGE_LEVEL_ROUTINE,
    TriageLevel.CLINICIAN_REVIEW: pb.TRIAGE_LEVEL_CLINICIAN_REVIEW,
    TriageLevel.HIGH_RISK: pb.TRIAGE_LEVEL_HIGH_RISK,
}


RISK_REASON_TO_PB: dict[RiskReason, pb.RiskReason.ValueType] = {
    RiskReason.CSSRS_HIGH: pb.RISK_REASON_CSSRS_HIGH,
    RiskReason.CSSRS_MODERATE: pb.RISK_REASON_CSSRS_MODERATE,
    RiskReason.CSSRS_LOW: pb.RISK_REASON_CSSRS_LOW,
    RiskReason.PHQ9_ITEM9_POSITIVE: pb.RISK_REASON_PHQ9_ITEM9_POSITIVE,
    RiskReason.PHQ9_SEVERE: pb.RISK_REASON_PHQ9_SEVERE,
    RiskReason.GAD7_SEVERE: pb.RISK_REASON_GAD7_SEVERE,
}


ACTION_TO_PB: dict[RequiredAction, pb.RequiredAction.ValueType] = {
    RequiredAction.SHOW_CRISIS_RESOURCES: pb.REQUIRED_ACTION_SHOW_CRISIS_RESOURCES,
    RequiredAction.EMIT_RISK_FLAG: pb.REQUIRED_ACTION_EMIT_RISK_FLAG,
    RequiredAction.ALERT_ON_CALL_CLINICIAN: pb.REQUIRED_ACTION_ALERT_ON_CALL_CLINICIAN,
    RequiredAction.LIVE_ASSESSMENT_OR_IN_PERSON_REFERRAL: (
        pb.REQUIRED_ACTION_LIVE_ASSESSMENT_OR_IN_PERSON_REFERRAL
    ),
    RequiredAction.NO_ASYNC_ONLY_CARE: pb.REQUIRED_ACTION_NO_ASYNC_ONLY_CARE,
    RequiredAction.STRUCTURED_RISK_ASSESSMENT: pb.REQUIRED_ACTION_STRUCTURED_RISK_ASSESSMENT,
    RequiredAction.CLINICIAN_REVIEW_BEFORE_SESSION: pb.REQUIRED_ACTION_CLINICIAN_REVIEW_BEFORE_SESSION,
}


ACTOR_ROLE_TO_PB: dict[str, events_pb2.ActorRole.ValueType] = {
    roles.CLIENT: events_pb2.ACTOR_ROLE_CLIENT,
    roles.CLINICIAN: events_pb2.ACTOR_ROLE_CLINICIAN,
    roles.PRACTICE_ADMIN: events_pb2.ACTOR_ROLE_PRACTICE_ADMIN,
    "system": events_pb2.ACTOR_ROLE_SYSTEM,
}


def state_to_pb(code: str | None) -> jurisdiction_pb2.Jurisdiction.ValueType:
    """A USPS code ("CA") as a `confide.common.v1.Jurisdiction` value (0 when unknown)."""
    try:
        return jurisdiction_value(code)
    except ValueError:
        return jurisdiction_pb2.JURISDICTION_UNSPECIFIED


def money_to_pb(target: money_pb2.Money, value: Money | None) -> None:
    if value is not None:
        target.amount_minor, target.currency = value.amount_minor, value.currency


# -------------------------------------------------------------------------------------------------- events
def _now_or(value: datetime | None) -> datetime:
    return value or utc_now()


def booked_event(rec: AppointmentRecord, now: datetime) -> ev.AppointmentBooked:
    a = rec.appointment
    return ev.AppointmentBooked(
        appointment_id=str(a.id),
        practice_id=rec.practice_id,
        clinician_id=str(a.clinician_id),
        client_id=str(a.client_id),
        session_type_code=a.session_type.code,
        session_kind=KIND_TO_PB[a.session_type.kind],
        modality=MODALITY_TO_PB[a.modality],
        start_time=optional_timestamp(a.start),
        end_time=optional_timestamp(a.end),
        authorization_decision_id=a.authorization_decision_id or "",
        client_state=state_to_pb(rec.authorized_state),
        clinician_review_required=a.clinician_review_required,
        series_id=str(a.series_id) if a.series_id else "",
        booked_by=ACTOR_ROLE_TO_PB[rec.booked_by],
        occurred_at=optional_timestamp(now),
    )


def rescheduled_event(
    rec: AppointmentRecord, previous_start: datetime, role: str, now: datetime
) -> ev.AppointmentRescheduled:
    a = rec.appointment
    return ev.AppointmentRescheduled(
        appointment_id=str(a.id),
        practice_id=rec.practice_id,
        clinician_id=str(a.clinician_id),
        client_id=str(a.client_id),
        previous_start_time=optional_timestamp(previous_start),
        start_time=optional_timestamp(a.start),
        end_time=optional_timestamp(a.end),
        authorization_decision_id=a.authorization_decision_id or "",
        rescheduled_by=ACTOR_ROLE_TO_PB[role],
        occurred_at=optional_timestamp(now),
    )


def cancelled_event(
    rec: AppointmentRecord, outcome: CancellationOutcome, now: datetime
) -> ev.AppointmentCancelled:
    a = rec.appointment
    out = ev.AppointmentCancelled(
        appointment_id=str(a.id),
        practice_id=rec.practice_id,
        clinician_id=str(a.clinician_id),
        client_id=str(a.client_id),
        start_time=optional_timestamp(a.start),
        late=outcome.late,
        notice_minutes=int(outcome.notice.total_seconds() // 60),
        fee_applies=outcome.fee.applies,
        occurred_at=optional_timestamp(now),
    )
    if rec.cancelled_by is not None:
        out.cancelled_by = CANCELLED_BY_TO_PB[rec.cancelled_by]
    if a.cancel_reason is not None:
        out.reason = CANCEL_REASON_TO_PB[a.cancel_reason]
    money_to_pb(out.fee, outcome.fee.amount)
    if outcome.fee.amount is None:
        out.ClearField("fee")
    if outcome.fee.waived_because is not None:
        out.fee_waived_because = FEE_WAIVER_TO_PB[outcome.fee.waived_because]
    return out


def flagged_event(
    rec: AppointmentRecord,
    reason: ev.FlagReason.ValueType,
    rule_ids: Iterable[str],
    decision_id: str | None,
    client_state: str,
    now: datetime,
) -> ev.AppointmentFlagged:
    a = rec.appointment
    return ev.AppointmentFlagged(
        appointment_id=str(a.id),
        practice_id=rec.practice_id,
        clinician_id=str(a.clinician_id),
        client_id=str(a.client_id),
        start_time=optional_timestamp(a.start),
        reason=reason,
        rule_ids=list(dict.fromkeys(rule_ids)),
        authorization_decision_id=decision_id or "",
        client_state=state_to_pb(client_state),
        occurred_at=optional_timestamp(now),
    )


def started_event(rec: AppointmentRecord) -> ev.SessionStarted:
    a = rec.appointment
    ci = a.check_in
    assert ci is not None  # start_session guarantees it (LIC-04)
    return ev.SessionStarted(
        appointment_id=str(a.id),
        practice_id=rec.practice_id,
        clinician_id=str(a.clinician_id),
        client_id=str(a.client_id),
        modality=MODALITY_TO_PB[a.modality],
        client_state=state_to_pb(ci.location.state),
        at_home=ci.location.at_home,
        authorization_decision_id=ci.authorization_decision_id or "",
        started_at=optional_timestamp(_now_or(a.started_at)),
    )


def completed_event(rec: AppointmentRecord, facts: CompletedSessionFacts) -> ev.SessionCompleted:
    a = rec.appointment
    ci = a.check_in
    return ev.SessionCompleted(
        appointment_id=str(facts.appointment_id),
        practice_id=rec.practice_id,
        clinician_id=str(facts.clinician_id),
        client_id=str(facts.client_id),
        session_type_code=facts.session_type_code,
        session_kind=KIND_TO_PB[facts.session_kind],
        duration_minutes=facts.duration_minutes,
        modality=MODALITY_TO_PB[facts.modality],
        client_state=state_to_pb(facts.client_state),
        at_home=facts.at_home,
        place_of_service=facts.place_of_service.value,
        modifier=facts.modifier.value if facts.modifier else "",
        started_at=optional_timestamp(facts.started_at),
        completed_at=optional_timestamp(facts.completed_at),
        authorization_decision_id=(ci.authorization_decision_id or "") if ci else "",
    )


def no_show_event(rec: AppointmentRecord, fee: FeeDecision, now: datetime) -> ev.SessionNoShow:
    a = rec.appointment
    out = ev.SessionNoShow(
        appointment_id=str(a.id),
        practice_id=rec.practice_id,
        clinician_id=str(a.clinician_id),
        client_id=str(a.client_id),
        start_time=optional_timestamp(a.start),
        fee_applies=fee.applies,
        occurred_at=optional_timestamp(now),
    )
    money_to_pb(out.fee, fee.amount)
    if fee.amount is None:
        out.ClearField("fee")
    if fee.waived_because is not None:
        out.fee_waived_because = FEE_WAIVER_TO_PB[fee.waived_because]
    return out

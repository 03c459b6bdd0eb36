"""Records → API messages, and domain facts → event messages (ids and codes only)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from confide.scheduling.v1 import events_pb2, scheduling_pb2
from confide_chassis.clock import utc_now
from confide_chassis.wire import optional_timestamp
from confide_scheduling.app.ports import AppointmentRecord, SeriesRecord
from confide_scheduling.domain.billing_facts import CompletedSessionFacts
from confide_scheduling.domain.policy import CancellationOutcome, FeeDecision
from confide_scheduling.domain.recurrence import SkippedOccurrence
from confide_scheduling.domain.screening import TriageOutcome
from confide_scheduling.domain.timekit import TimeRange
from confide_scheduling.domain.waitlist import TimeOfDayWindow, WaitlistEntry, WaitlistOffer
from confide_scheduling.mapping import (
    ACTOR_ROLE_TO_PB,
    CANCEL_REASON_TO_PB,
    CANCELLED_BY_TO_PB,
    CHANNEL_TO_PB,
    FEE_WAIVER_TO_PB,
    KIND_TO_PB,
    MODALITY_TO_PB,
    STATUS_TO_PB,
    WEEKDAY_TO_PB,
    date_to_pb,
    fee_to_pb,
    local_iso,
    money_to_pb,
    set_ts,
    state_to_pb,
    time_of_day_to_pb,
    time_range_to_pb,
)

pb = scheduling_pb2
ev = events_pb2


def appointment_pb(rec: AppointmentRecord) -> pb.Appointment:
    a = rec.appointment
    out = pb.Appointment(
        appointment_id=str(a.id),
        practice_id=rec.practice_id,
        clinician_id=str(a.clinician_id),
        client_id=str(a.client_id),
        session_type_code=a.session_type.code,
        session_kind=KIND_TO_PB[a.session_type.kind],
        modality=MODALITY_TO_PB[a.modality],
        status=STATUS_TO_PB[a.status],
        series_id=str(a.series_id) if a.series_id else "",
        authorization_decision_id=a.authorization_decision_id or "",
        authorized_client_state=state_to_pb(rec.authorized_state),
        clinician_review_required=a.clinician_review_required,
        actual_minutes=rec.actual_minutes or 0,
        version=a.version,
        clinician_local_start=local_iso(a.start, rec.clinician_time_zone),
        clinician_time_zone=rec.clinician_time_zone,
    )
    time_range_to_pb(out.time, TimeRange(a.start, a.end))
    set_ts(out.hold_expire_time, a.hold_expires_at)
    date_to_pb(out.occurrence_date, a.occurrence_date)
    if a.check_in is not None:
        ci = a.check_in
        out.check_in.identity_confirmed = ci.identity_confirmed
        out.check_in.authorization_decision_id = ci.authorization_decision_id or ""
        set_ts(out.check_in.check_in_time, ci.at)
        out.check_in.location.state = state_to_pb(ci.location.state)
        out.check_in.location.at_home = ci.location.at_home
        out.check_in.location.emergency_address_ref = ci.location.emergency_address_ref or ""
    set_ts(out.session_start_time, a.started_at)
    set_ts(out.session_end_time, a.ended_at)
    if a.delivered_modality is not None:
        out.delivered_modality = MODALITY_TO_PB[a.delivered_modality]
    set_ts(out.cancel_time, a.cancelled_at)
    if a.cancel_reason is not None:
        out.cancel_reason = CANCEL_REASON_TO_PB[a.cancel_reason]
    if rec.cancelled_by is not None:
        out.cancelled_by = CANCELLED_BY_TO_PB[rec.cancelled_by]
    set_ts(out.create_time, a.created_at)
    set_ts(out.update_time, a.updated_at)
    return out


def fee_pb(fee: FeeDecision) -> pb.FeeOutcome:
    out = pb.FeeOutcome()
    fee_to_pb(out, fee)
    return out


def series_pb(rec: SeriesRecord) -> pb.Series:
    s = rec.series
    out = pb.Series(
        series_id=str(s.id),
        practice_id=rec.practice_id,
        clinician_id=str(rec.clinician_id),
        client_id=str(rec.client_id),
        session_type_code=rec.session_type_code,
        modality=MODALITY_TO_PB[rec.modality],
        time_zone=s.time_zone,
        frequency=pb.RECURRENCE_FREQUENCY_WEEKLY
        if s.frequency.value == "weekly"
        else pb.RECURRENCE_FREQUENCY_BIWEEKLY,
        count=s.count or 0,
        rrule=s.rrule_text,
        cancelled=rec.cancelled,
        version=rec.version,
    )
    date_to_pb(out.first_date, s.first_date)
    time_of_day_to_pb(out.local_start, s.local_start)
    date_to_pb(out.until, s.until)
    for exc in sorted(s.exceptions, key=lambda e: e.original_date):
        target = out.skipped_dates.add() if isinstance(exc, SkippedOccurrence) else out.moved_dates.add()
        date_to_pb(target, exc.original_date)
    return out


def time_window_pb(window: TimeOfDayWindow) -> pb.TimeWindow:
    out = pb.TimeWindow(weekdays=sorted(WEEKDAY_TO_PB[d] for d in window.weekdays))
    time_of_day_to_pb(out.start, window.start)
    time_of_day_to_pb(out.end, window.end)
    return out


def entry_pb(entry: WaitlistEntry) -> pb.WaitlistEntry:
    out = pb.WaitlistEntry(
        entry_id=str(entry.id),
        client_id=str(entry.client_id),
        session_type_codes=sorted(entry.session_type_codes),
        modalities=sorted(MODALITY_TO_PB[m] for m in entry.modalities),
        clinician_ids=sorted(str(c) for c in entry.clinician_ids),
        time_windows=[time_window_pb(w) for w in entry.time_windows],
        status={
            "waiting": pb.WAITLIST_STATUS_WAITING,
            "offered": pb.WAITLIST_STATUS_OFFERED,
            "fulfilled": pb.WAITLIST_STATUS_FULFILLED,
            "withdrawn": pb.WAITLIST_STATUS_WITHDRAWN,
        }[entry.status.value],
    )
    set_ts(out.enqueue_time, entry.enqueued_at)
    return out


def offer_pb(offer: WaitlistOffer) -> pb.WaitlistOffer:
    out = pb.WaitlistOffer(
        offer_id=str(offer.id),
        entry_id=str(offer.entry_id),
        clinician_id=str(offer.slot.clinician_id),
        session_type_code=offer.slot.session_type_code,
        modalities=sorted(MODALITY_TO_PB[m] for m in offer.slot.modalities),
        status={
            "pending": pb.OFFER_STATUS_PENDING,
            "accepted": pb.OFFER_STATUS_ACCEPTED,
            "declined": pb.OFFER_STATUS_DECLINED,
            "expired": pb.OFFER_STATUS_EXPIRED,
        }[offer.status.value],
    )
    time_range_to_pb(out.time, offer.slot.range)
    set_ts(out.expire_time, offer.expires_at)
    return out


def crisis_resources_pb(outcome: TriageOutcome) -> list[pb.CrisisResource]:
    return [
        pb.CrisisResource(
            code=r.code,
            name=r.name,
            channel=CHANNEL_TO_PB[r.channel],
            contact=r.contact,
            instruction=r.instruction,
        )
        for r in outcome.crisis_resources
    ]


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


def completed_facts_pb(facts: CompletedSessionFacts) -> pb.CompletedSessionFacts:
    return pb.CompletedSessionFacts(
        duration_minutes=facts.duration_minutes,
        modality=MODALITY_TO_PB[facts.modality],
        client_state=state_to_pb(facts.client_state),
        at_home=facts.at_home,
        place_of_service=facts.place_of_service.value,
        modifier=facts.modifier.value if facts.modifier else "",
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

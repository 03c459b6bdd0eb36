"""Wire <-> domain for the API: requests -> commands (INVALID_ARGUMENT naming the field), records ->
response messages. With the servicers, the only place that touches the scheduling API messages.

The enum tables shared with the event messages are in ``app/event_messages.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp

from confide.common.v1 import jurisdiction_pb2
from confide.common.v1 import time_pb2 as common_time_pb2
from confide.scheduling.v1 import scheduling_pb2
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide_chassis.errors import InvalidArgument, ValidationCollector
from confide_chassis.ids import parse_id
from confide_chassis.wire import jurisdiction_code
from confide_scheduling.app import commands
from confide_scheduling.app.booking import AppointmentPage, Cancellation
from confide_scheduling.app.event_messages import (
    ACTION_TO_PB,
    CANCEL_REASON_TO_PB,
    CANCELLED_BY_TO_PB,
    FEE_WAIVER_TO_PB,
    KIND_TO_PB,
    MODALITY_TO_PB,
    RISK_REASON_TO_PB,
    TRIAGE_TO_PB,
    money_to_pb,
    state_to_pb,
)
from confide_scheduling.app.ports import (
    AppointmentRecord,
    AvailabilityExceptionRecord,
    ClinicianSchedule,
    ClinicianSlot,
    JoinLink,
    OccurrenceChange,
    OccurrenceConflict,
    OccurrenceProblem,
    ScreeningRecord,
    SeriesBooking,
    SeriesRecord,
    SlotSearchResult,
    TimeOffRecord,
)
from confide_scheduling.domain.appointments import AppointmentStatus
from confide_scheduling.domain.availability import DateException, ExceptionKind, WeeklyRule
from confide_scheduling.domain.billing_facts import CompletedSessionFacts
from confide_scheduling.domain.catalog import Modality, SessionType, Weekday
from confide_scheduling.domain.location import ClientLocation
from confide_scheduling.domain.policy import CancellationPolicy, FeeDecision, Money
from confide_scheduling.domain.recurrence import RecurrenceFrequency, SkippedOccurrence
from confide_scheduling.domain.screening import (
    CrisisChannel,
    CssrsAnswers,
    CssrsRisk,
    Gad7Severity,
    Phq9Severity,
    SelfBooking,
    TriageOutcome,
)
from confide_scheduling.domain.timekit import TimeRange
from confide_scheduling.domain.waitlist import TimeOfDayWindow, WaitlistEntry, WaitlistOffer
from confide_scheduling.reference_data import SessionTypeCatalogue

_EXCEPTION_KINDS = {
    pb.EXCEPTION_KIND_EXTRA: ExceptionKind.EXTRA,
    pb.EXCEPTION_KIND_BLOCKED: ExceptionKind.BLOCKED,
}


# ------------------------------------------------------------------------------- wire values and enums
MODALITY_FROM_PB: dict[int, Modality] = {v: k for k, v in MODALITY_TO_PB.items()}


STATUS_TO_PB: dict[AppointmentStatus, pb.AppointmentStatus.ValueType] = {
    AppointmentStatus.HELD: pb.APPOINTMENT_STATUS_HELD,
    AppointmentStatus.BOOKED: pb.APPOINTMENT_STATUS_BOOKED,
    AppointmentStatus.CHECKED_IN: pb.APPOINTMENT_STATUS_CHECKED_IN,
    AppointmentStatus.IN_SESSION: pb.APPOINTMENT_STATUS_IN_SESSION,
    AppointmentStatus.COMPLETED: pb.APPOINTMENT_STATUS_COMPLETED,
    AppointmentStatus.CANCELLED: pb.APPOINTMENT_STATUS_CANCELLED,
    AppointmentStatus.LATE_CANCELLED: pb.APPOINTMENT_STATUS_LATE_CANCELLED,
    AppointmentStatus.NO_SHOW: pb.APPOINTMENT_STATUS_NO_SHOW,
    AppointmentStatus.FLAGGED_AUTHORIZATION: pb.APPOINTMENT_STATUS_FLAGGED_AUTHORIZATION,
}


STATUS_FROM_PB: dict[int, AppointmentStatus] = {v: k for k, v in STATUS_TO_PB.items()}


WEEKDAY_FROM_PB: dict[pb.Weekday.ValueType, Weekday] = {
    pb.WEEKDAY_MONDAY: Weekday.MONDAY,
    pb.WEEKDAY_TUESDAY: Weekday.TUESDAY,
    pb.WEEKDAY_WEDNESDAY: Weekday.WEDNESDAY,
    pb.WEEKDAY_THURSDAY: Weekday.THURSDAY,
    pb.WEEKDAY_FRIDAY: Weekday.FRIDAY,
    pb.WEEKDAY_SATURDAY: Weekday.SATURDAY,
    pb.WEEKDAY_SUNDAY: Weekday.SUNDAY,
}


WEEKDAY_TO_PB: dict[Weekday, pb.Weekday.ValueType] = {v: k for k, v in WEEKDAY_FROM_PB.items()}


PHQ9_TO_PB: dict[Phq9Severity, pb.Phq9Severity.ValueType] = {
    Phq9Severity.MINIMAL: pb.PHQ9_SEVERITY_MINIMAL,
    Phq9Severity.MILD: pb.PHQ9_SEVERITY_MILD,
    Phq9Severity.MODERATE: pb.PHQ9_SEVERITY_MODERATE,
    Phq9Severity.MODERATELY_SEVERE: pb.PHQ9_SEVERITY_MODERATELY_SEVERE,
    Phq9Severity.SEVERE: pb.PHQ9_SEVERITY_SEVERE,
}


GAD7_TO_PB: dict[Gad7Severity, pb.Gad7Severity.ValueType] = {
    Gad7Severity.MINIMAL: pb.GAD7_SEVERITY_MINIMAL,
    Gad7Severity.MILD: pb.GAD7_SEVERITY_MILD,
    Gad7Severity.MODERATE: pb.GAD7_SEVERITY_MODERATE,
    Gad7Severity.SEVERE: pb.GAD7_SEVERITY_SEVERE,
}


CSSRS_TO_PB: dict[CssrsRisk, pb.CssrsRisk.ValueType] = {
    CssrsRisk.NONE: pb.CSSRS_RISK_NONE,
    CssrsRisk.LOW: pb.CSSRS_RISK_LOW,
    CssrsRisk.MODERATE: pb.CSSRS_RISK_MODERATE,
    CssrsRisk.HIGH: pb.CSSRS_RISK_HIGH,
}


SELF_BOOKING_TO_PB: dict[SelfBooking, pb.SelfBooking.ValueType] = {
    SelfBooking.ALLOWED: pb.SELF_BOOKING_ALLOWED,
    SelfBooking.ALLOWED_WITH_CLINICIAN_REVIEW: pb.SELF_BOOKING_ALLOWED_WITH_CLINICIAN_REVIEW,
    SelfBooking.BLOCKED: pb.SELF_BOOKING_BLOCKED,
}


CHANNEL_TO_PB: dict[CrisisChannel, pb.CrisisChannel.ValueType] = {
    CrisisChannel.CALL: pb.CRISIS_CHANNEL_CALL,
    CrisisChannel.TEXT: pb.CRISIS_CHANNEL_TEXT,
    CrisisChannel.CHAT: pb.CRISIS_CHANNEL_CHAT,
}


def state_from_pb(value: int, field_path: str, *, required: bool = True) -> str | None:
    """A `Jurisdiction` value as its USPS code; INVALID_ARGUMENT when required and unset or unknown."""
    if value == jurisdiction_pb2.JURISDICTION_UNSPECIFIED:
        if required:
            raise InvalidArgument.field(field_path, "is required (a US state or territory)")
        return None
    code = jurisdiction_code(value)
    if code is None:
        raise InvalidArgument.field(field_path, "is not a known jurisdiction")
    return code


def modality_from_pb(value: int, field_path: str) -> Modality:
    try:
        return MODALITY_FROM_PB[value]
    except KeyError:
        raise InvalidArgument.field(field_path, "must be VIDEO, AUDIO_ONLY or LIVE_CHAT") from None


def optional_modality_from_pb(value: int, field_path: str) -> Modality | None:
    if value == pb.MODALITY_UNSPECIFIED:
        return None
    return modality_from_pb(value, field_path)


def set_ts(target: Timestamp, value: datetime | None) -> None:
    if value is not None:
        target.FromDatetime(value.astimezone(UTC))


def from_ts(value: Timestamp, field_path: str) -> datetime:
    """A required Timestamp field (an unset field reads as the epoch, which is never valid here)."""
    if value.seconds == 0 and value.nanos == 0:
        raise InvalidArgument.field(field_path, "is required")
    if not 0 <= value.nanos < 1_000_000_000:
        raise InvalidArgument.field(field_path, "is not a valid timestamp")
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument.field(field_path, "is out of range") from None


def time_range_to_pb(target: common_time_pb2.TimeRange, value: TimeRange) -> None:
    target.start.FromDatetime(value.start)
    target.end.FromDatetime(value.end)


def time_range_from_pb(value: common_time_pb2.TimeRange, field_path: str) -> TimeRange:
    start = from_ts(value.start, f"{field_path}.start")
    end = from_ts(value.end, f"{field_path}.end")
    if not start < end:
        raise InvalidArgument.field(f"{field_path}.end", "must be after start")
    return TimeRange(start, end)


def date_to_pb(target: common_time_pb2.LocalDate, value: date | None) -> None:
    if value is not None:
        target.year, target.month, target.day = value.year, value.month, value.day


def date_from_pb(value: common_time_pb2.LocalDate, field_path: str) -> date:
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidArgument.field(field_path, "must be a valid date (year, month, day)") from None


def optional_date_from_pb(value: common_time_pb2.LocalDate, field_path: str) -> date | None:
    if value.year == 0 and value.month == 0 and value.day == 0:
        return None
    return date_from_pb(value, field_path)


def time_of_day_from_pb(value: scheduling_pb2.TimeOfDay, field_path: str) -> time:
    if not (0 <= value.hours <= 23 and 0 <= value.minutes <= 59):
        raise InvalidArgument.field(field_path, "hours must be 0-23 and minutes 0-59")
    return time(value.hours, value.minutes)


def time_of_day_to_pb(target: scheduling_pb2.TimeOfDay, value: time) -> None:
    target.hours, target.minutes = value.hour, value.minute


def fee_to_pb(target: scheduling_pb2.FeeOutcome, fee: FeeDecision) -> None:
    target.applies = fee.applies
    money_to_pb(target.amount, fee.amount)
    if fee.waived_because is not None:
        target.waived_because = FEE_WAIVER_TO_PB[fee.waived_because]


def local_iso(value: datetime, zone_name: str) -> str:
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(zone_name)).isoformat()


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


def completed_facts_pb(facts: CompletedSessionFacts) -> pb.CompletedSessionFacts:
    return pb.CompletedSessionFacts(
        duration_minutes=facts.duration_minutes,
        modality=MODALITY_TO_PB[facts.modality],
        client_state=state_to_pb(facts.client_state),
        at_home=facts.at_home,
        place_of_service=facts.place_of_service.value,
        modifier=facts.modifier.value if facts.modifier else "",
    )


# ------------------------------------------------------------------------------------------ request values
def require_id(value: str, field_path: str) -> UUID:
    if not value:
        raise InvalidArgument.field(field_path, "is required")
    parsed = parse_id(value)
    if parsed is None:
        raise InvalidArgument.field(field_path, "must be a UUID")
    return parsed


def optional_id(value: str, field_path: str) -> UUID | None:
    return require_id(value, field_path) if value else None


def ids(values: Iterable[str], field_path: str) -> frozenset[UUID]:
    out: set[UUID] = set()
    for index, value in enumerate(values):
        parsed = parse_id(value)
        if parsed is None:
            raise InvalidArgument.field(f"{field_path}[{index}]", "must be a UUID")
        out.add(parsed)
    return frozenset(out)


def modalities(values: Iterable[int], field_path: str) -> frozenset[Modality]:
    return frozenset(modality_from_pb(v, f"{field_path}[{i}]") for i, v in enumerate(values))


def weekday(value: pb.Weekday.ValueType, field_path: str) -> Weekday:
    try:
        return WEEKDAY_FROM_PB[value]
    except KeyError:
        raise InvalidArgument.field(field_path, "must be a weekday") from None


def time_windows(values: Iterable[pb.TimeWindow], field_path: str) -> tuple[TimeOfDayWindow, ...]:
    out = []
    for i, w in enumerate(values):
        path = f"{field_path}[{i}]"
        days = frozenset(weekday(d, f"{path}.weekdays") for d in w.weekdays) or frozenset(Weekday)
        start = time_of_day_from_pb(w.start, f"{path}.start")
        end = time_of_day_from_pb(w.end, f"{path}.end")
        if not start < end:
            raise InvalidArgument.field(f"{path}.end", "must be after start")
        out.append(TimeOfDayWindow(start, end, days))
    return tuple(out)


# ---------------------------------------------------------------------------------- availability commands
def set_weekly_schedule(request: pb.SetWeeklyScheduleRequest) -> commands.SetWeeklySchedule:
    rules = []
    for i, r in enumerate(request.weekly_rules):
        path = f"weekly_rules[{i}]"
        rules.append(
            WeeklyRule(
                weekday=weekday(r.weekday, f"{path}.weekday"),
                start=time_of_day_from_pb(r.start, f"{path}.start"),
                end=time_of_day_from_pb(r.end, f"{path}.end"),
                modalities=modalities(r.modalities, f"{path}.modalities") or None,
            )
        )
    if not request.modalities:
        raise InvalidArgument.field("modalities", "offer at least one modality")
    return commands.SetWeeklySchedule(
        clinician_id=require_id(request.clinician_id, "clinician_id"),
        time_zone=request.time_zone,
        location_state=state_from_pb(request.location, "location") or "",
        modalities=modalities(request.modalities, "modalities"),
        session_type_codes=frozenset(request.session_type_codes),
        rules=tuple(rules),
    )


def add_availability_exception(
    request: pb.AddAvailabilityExceptionRequest,
) -> commands.AddAvailabilityException:
    e = request.exception
    if e.kind not in _EXCEPTION_KINDS:
        raise InvalidArgument.field("exception.kind", "must be EXTRA or BLOCKED")
    has_times = e.HasField("start") or e.HasField("end")
    exception = DateException(
        day=date_from_pb(e.date, "exception.date"),
        kind=_EXCEPTION_KINDS[e.kind],
        start=time_of_day_from_pb(e.start, "exception.start") if has_times else None,
        end=time_of_day_from_pb(e.end, "exception.end") if has_times else None,
        modalities=modalities(e.modalities, "exception.modalities") or None,
    )
    return commands.AddAvailabilityException(require_id(request.clinician_id, "clinician_id"), exception)


def remove_availability_exception(
    request: pb.RemoveAvailabilityExceptionRequest,
) -> commands.RemoveAvailabilityException:
    return commands.RemoveAvailabilityException(
        require_id(request.clinician_id, "clinician_id"), require_id(request.exception_id, "exception_id")
    )


def add_time_off(request: pb.AddTimeOffRequest) -> commands.AddTimeOff:
    return commands.AddTimeOff(
        require_id(request.clinician_id, "clinician_id"), time_range_from_pb(request.range, "range")
    )


def remove_time_off(request: pb.RemoveTimeOffRequest) -> commands.RemoveTimeOff:
    return commands.RemoveTimeOff(
        require_id(request.clinician_id, "clinician_id"), require_id(request.time_off_id, "time_off_id")
    )


def search_slots(request: pb.SearchSlotsRequest) -> commands.SearchSlots:
    return commands.SearchSlots(
        client_id=require_id(request.client_id, "client_id"),
        session_type_code=request.session_type_code,
        modality=optional_modality_from_pb(request.modality, "modality"),
        window=time_range_from_pb(request.window, "window"),
        client_state=state_from_pb(request.client_state, "client_state", required=False),
        clinician_ids=ids(request.clinician_ids, "clinician_ids"),
        time_windows=time_windows(request.time_windows, "time_windows"),
        max_results=request.max_results,
    )


# ---------------------------------------------------------------------------------- availability messages
def session_type_pb(value: SessionType) -> pb.SessionType:
    return pb.SessionType(
        code=value.code,
        kind=KIND_TO_PB[value.kind],
        duration_minutes=value.duration_minutes,
        buffer_minutes=value.buffer.seconds // 60,
        modalities=sorted(MODALITY_TO_PB[m] for m in value.modalities),
    )


def weekly_rule_pb(rule: WeeklyRule) -> pb.WeeklyRule:
    out = pb.WeeklyRule(weekday=WEEKDAY_TO_PB[rule.weekday])
    time_of_day_to_pb(out.start, rule.start)
    time_of_day_to_pb(out.end, rule.end)
    if rule.modalities is not None:
        out.modalities.extend(sorted(MODALITY_TO_PB[m] for m in rule.modalities))
    return out


def exception_pb(record: AvailabilityExceptionRecord) -> pb.AvailabilityException:
    exc = record.exception
    out = pb.AvailabilityException(
        exception_id=str(record.id),
        kind=pb.EXCEPTION_KIND_EXTRA if exc.kind is ExceptionKind.EXTRA else pb.EXCEPTION_KIND_BLOCKED,
    )
    date_to_pb(out.date, exc.day)
    if exc.start is not None and exc.end is not None:
        time_of_day_to_pb(out.start, exc.start)
        time_of_day_to_pb(out.end, exc.end)
    if exc.modalities is not None:
        out.modalities.extend(sorted(MODALITY_TO_PB[m] for m in exc.modalities))
    return out


def time_off_pb(record: TimeOffRecord) -> pb.TimeOff:
    out = pb.TimeOff(time_off_id=str(record.id))
    time_range_to_pb(out.range, record.span)
    return out


def schedule_pb(value: ClinicianSchedule) -> pb.ClinicianSchedule:
    record = value.schedule
    out = pb.ClinicianSchedule(
        clinician_id=str(record.clinician_id),
        time_zone=record.availability.time_zone,
        location=state_to_pb(record.location_state),
        modalities=sorted(MODALITY_TO_PB[m] for m in record.availability.modalities_offered),
        session_type_codes=sorted(record.session_type_codes),
        weekly_rules=[weekly_rule_pb(r) for r in record.availability.rules],
        exceptions=[exception_pb(e) for e in value.exceptions],
        time_off=[time_off_pb(t) for t in value.time_off],
        version=record.version,
    )
    set_ts(out.update_time, record.updated_at)
    return out


def slot_pb(value: ClinicianSlot) -> pb.Slot:
    slot = value.slot
    out = pb.Slot(
        clinician_id=str(value.clinician_id),
        modalities=sorted(MODALITY_TO_PB[m] for m in slot.modalities),
        client_local_start=slot.client_local_start.isoformat(),
        client_local_end=slot.client_local_end.isoformat(),
        clinician_local_start=local_iso(slot.start, value.clinician_time_zone),
    )
    time_range_to_pb(out.time, slot.range)
    return out


def search_slots_response(found: SlotSearchResult) -> pb.SearchSlotsResponse:
    return pb.SearchSlotsResponse(
        slots=[slot_pb(s) for s in found.slots],
        client_time_zone=found.client_time_zone,
        client_state=state_to_pb(found.client_state),
    )


# ---------------------------------------------------------------------------------- appointment commands
def book_slot(
    request: pb.BookAppointmentRequest | pb.HoldSlotRequest, catalogue: SessionTypeCatalogue
) -> commands.BookSlot:
    errors = ValidationCollector()
    client_id = parse_id(request.client_id)
    clinician_id = parse_id(request.clinician_id)
    errors.require(client_id is not None, "client_id", "must be a UUID")
    errors.require(clinician_id is not None, "clinician_id", "must be a UUID")
    errors.require(request.HasField("start_time"), "start_time", "is required")
    errors.raise_if_any()
    assert client_id is not None
    assert clinician_id is not None
    return commands.BookSlot(
        client_id=client_id,
        clinician_id=clinician_id,
        session_type=session_type(catalogue, request.session_type_code),
        modality=modality_from_pb(request.modality, "modality"),
        start=from_ts(request.start_time, "start_time"),
        client_state=state_from_pb(request.client_state, "client_state", required=False),
    )


def session_type(
    catalogue: SessionTypeCatalogue, code: str, field_path: str = "session_type_code"
) -> SessionType:
    if not code:
        raise InvalidArgument.field(field_path, "is required")
    for item in catalogue.session_types:
        if item.code == code:
            return item
    raise InvalidArgument.field(field_path, "is not a session type of the practice (ListSessionTypes)")


def reschedule_appointment(request: pb.RescheduleAppointmentRequest) -> commands.RescheduleAppointment:
    return commands.RescheduleAppointment(
        require_id(request.appointment_id, "appointment_id"),
        from_ts(request.new_start_time, "new_start_time"),
    )


def list_appointments(request: pb.ListAppointmentsRequest) -> commands.ListAppointments:
    statuses = []
    for i, value in enumerate(request.statuses):
        if value not in STATUS_FROM_PB:
            raise InvalidArgument.field(f"statuses[{i}]", "is not an appointment status")
        statuses.append(STATUS_FROM_PB[value])
    return commands.ListAppointments(
        client_id=optional_id(request.client_id, "client_id"),
        clinician_id=optional_id(request.clinician_id, "clinician_id"),
        statuses=tuple(dict.fromkeys(statuses)),
        window=time_range_from_pb(request.range, "range") if request.HasField("range") else None,
        page_size=request.page.page_size,
        page_token=request.page.page_token,
    )


def set_cancellation_policy(request: pb.SetCancellationPolicyRequest) -> commands.SetCancellationPolicy:
    p = request.policy

    def money(field: str) -> Money | None:
        if not p.HasField(field):  # type: ignore[arg-type]
            return None
        value = getattr(p, field)
        if value.amount_minor < 0:
            raise InvalidArgument.field(f"policy.{field}.amount_minor", "must not be negative")
        try:
            return Money(value.amount_minor, value.currency)
        except InvalidArgument:
            raise InvalidArgument.field(f"policy.{field}.currency", "must be an ISO 4217 code") from None

    return commands.SetCancellationPolicy(
        CancellationPolicy(
            late_cancel_window=timedelta(minutes=p.late_cancel_window_minutes),
            no_show_grace=timedelta(minutes=p.no_show_grace_minutes),
            late_cancel_fee=money("late_cancel_fee"),
            no_show_fee=money("no_show_fee"),
        )
    )


# ---------------------------------------------------------------------------------- appointment messages
def policy_pb(policy: CancellationPolicy) -> pb.CancellationPolicy:
    out = pb.CancellationPolicy(
        late_cancel_window_minutes=policy.late_cancel_window.seconds // 60
        + policy.late_cancel_window.days * 1440,
        no_show_grace_minutes=policy.no_show_grace.seconds // 60,
    )
    money_to_pb(out.late_cancel_fee, policy.late_cancel_fee)
    money_to_pb(out.no_show_fee, policy.no_show_fee)
    if policy.late_cancel_fee is None:
        out.ClearField("late_cancel_fee")
    if policy.no_show_fee is None:
        out.ClearField("no_show_fee")
    return out


def cancel_appointment_response(result: Cancellation) -> pb.CancelAppointmentResponse:
    response = pb.CancelAppointmentResponse(appointment=appointment_pb(result.appointment))
    if result.outcome is None:  # a hold was released: no policy applies
        response.fee.waived_because = pb.FEE_WAIVER_NOT_APPLICABLE
    else:
        response.late = result.outcome.late
        response.fee.CopyFrom(fee_pb(result.outcome.fee))
    return response


def appointment_page_pb(page: AppointmentPage) -> pb.ListAppointmentsResponse:
    response = pb.ListAppointmentsResponse(appointments=[appointment_pb(r) for r in page.appointments])
    if page.next_page_token:
        response.page.next_page_token = page.next_page_token
    return response


# ---------------------------------------------------------------------------------------- waitlist
def join_waitlist(request: pb.JoinWaitlistRequest) -> commands.JoinWaitlist:
    return commands.JoinWaitlist(
        client_id=require_id(request.client_id, "client_id"),
        session_type_codes=frozenset(request.session_type_codes),
        modalities=modalities(request.modalities, "modalities"),
        clinician_ids=ids(request.clinician_ids, "clinician_ids"),
        time_windows=time_windows(request.time_windows, "time_windows"),
    )


def accept_waitlist_offer(request: pb.AcceptWaitlistOfferRequest) -> commands.AcceptWaitlistOffer:
    return commands.AcceptWaitlistOffer(
        offer_id=require_id(request.offer_id, "offer_id"),
        modality=modality_from_pb(request.modality, "modality"),
        client_state=state_from_pb(request.client_state, "client_state", required=False),
    )


# ---------------------------------------------------------------------------------------- sessions
def check_in(request: pb.CheckInRequest) -> commands.CheckIn:
    if not request.HasField("location"):
        raise InvalidArgument.field("location", "is required: where the client physically is now")
    loc = request.location
    location = ClientLocation(
        state=state_from_pb(loc.state, "location.state") or "",
        at_home=loc.at_home,
        emergency_address_ref=loc.emergency_address_ref or None,
    )
    return commands.CheckIn(
        require_id(request.appointment_id, "appointment_id"), location, request.identity_confirmed
    )


def complete_session(request: pb.CompleteSessionRequest) -> commands.CompleteSession:
    return commands.CompleteSession(
        require_id(request.appointment_id, "appointment_id"),
        request.actual_minutes,
        optional_modality_from_pb(request.delivered_modality, "delivered_modality"),
    )


def join_link_pb(link: JoinLink) -> pb.GetJoinLinkResponse:
    response = pb.GetJoinLinkResponse(url=link.url, moderator=link.moderator)
    response.expire_time.FromDatetime(link.expires_at)
    return response


# ---------------------------------------------------------------------------------------------- series
_FREQUENCIES = {
    pb.RECURRENCE_FREQUENCY_WEEKLY: RecurrenceFrequency.WEEKLY,
    pb.RECURRENCE_FREQUENCY_BIWEEKLY: RecurrenceFrequency.BIWEEKLY,
}
_PROBLEMS = {
    OccurrenceProblem.TOO_SOON: pb.OCCURRENCE_PROBLEM_TOO_SOON,
    OccurrenceProblem.UNAVAILABLE: pb.OCCURRENCE_PROBLEM_UNAVAILABLE,
    OccurrenceProblem.NOT_AUTHORIZED: pb.OCCURRENCE_PROBLEM_NOT_AUTHORIZED,
    OccurrenceProblem.CONFLICT: pb.OCCURRENCE_PROBLEM_CONFLICT,
}


def create_series(request: pb.CreateSeriesRequest, catalogue: SessionTypeCatalogue) -> commands.CreateSeries:
    if request.frequency not in _FREQUENCIES:
        raise InvalidArgument.field("frequency", "must be WEEKLY or BIWEEKLY")
    if request.count < 0:
        raise InvalidArgument.field("count", "must not be negative")
    return commands.CreateSeries(
        client_id=require_id(request.client_id, "client_id"),
        clinician_id=require_id(request.clinician_id, "clinician_id"),
        session_type=session_type(catalogue, request.session_type_code),
        modality=modality_from_pb(request.modality, "modality"),
        first_start=from_ts(request.first_start_time, "first_start_time"),
        frequency=_FREQUENCIES[request.frequency],
        count=request.count or None,
        until=optional_date_from_pb(request.until, "until"),
        client_state=state_from_pb(request.client_state, "client_state", required=False),
    )


def skip_occurrence(request: pb.SkipOccurrenceRequest) -> commands.SkipOccurrence:
    return commands.SkipOccurrence(
        require_id(request.series_id, "series_id"), date_from_pb(request.occurrence_date, "occurrence_date")
    )


def move_occurrence(request: pb.MoveOccurrenceRequest) -> commands.MoveOccurrence:
    return commands.MoveOccurrence(
        require_id(request.series_id, "series_id"),
        date_from_pb(request.occurrence_date, "occurrence_date"),
        from_ts(request.new_start_time, "new_start_time"),
    )


def reschedule_following(request: pb.RescheduleFollowingRequest) -> commands.RescheduleFollowing:
    if (
        request.new_frequency != pb.RECURRENCE_FREQUENCY_UNSPECIFIED
        and request.new_frequency not in _FREQUENCIES
    ):
        raise InvalidArgument.field("new_frequency", "must be WEEKLY or BIWEEKLY")
    return commands.RescheduleFollowing(
        series_id=require_id(request.series_id, "series_id"),
        from_date=date_from_pb(request.from_date, "from_date"),
        new_first_date=optional_date_from_pb(request.new_first_date, "new_first_date"),
        new_local_start=time_of_day_from_pb(request.new_local_start, "new_local_start")
        if request.HasField("new_local_start")
        else None,
        new_frequency=_FREQUENCIES.get(request.new_frequency),
    )


def cancel_following(request: pb.CancelFollowingRequest) -> commands.CancelFollowing:
    return commands.CancelFollowing(
        require_id(request.series_id, "series_id"), date_from_pb(request.from_date, "from_date")
    )


def occurrence_conflict_pb(conflict: OccurrenceConflict) -> pb.OccurrenceConflict:
    out = pb.OccurrenceConflict(problem=_PROBLEMS[conflict.problem], rule_ids=list(conflict.rule_ids))
    date_to_pb(out.occurrence_date, conflict.occurrence.original_date)
    time_range_to_pb(out.time, conflict.occurrence.range)
    return out


def occurrence_change_fields(
    change: OccurrenceChange, response: pb.SkipOccurrenceResponse | pb.MoveOccurrenceResponse
) -> None:
    response.series.CopyFrom(series_pb(change.series))
    if change.appointment is not None:
        response.appointment.CopyFrom(appointment_pb(change.appointment))


def skip_occurrence_response(change: OccurrenceChange) -> pb.SkipOccurrenceResponse:
    response = pb.SkipOccurrenceResponse()
    occurrence_change_fields(change, response)
    if change.cancellation is not None:
        response.late = change.cancellation.late
        response.fee.CopyFrom(fee_pb(change.cancellation.fee))
    return response


def series_booking_fields(
    booking: SeriesBooking, response: pb.CreateSeriesResponse | pb.RescheduleFollowingResponse
) -> None:
    response.appointments.extend(appointment_pb(r) for r in booking.appointments)
    response.conflicts.extend(occurrence_conflict_pb(c) for c in booking.conflicts)


# ------------------------------------------------------------------------------------------- screening
def submit_screening(request: pb.SubmitScreeningRequest) -> commands.SubmitScreening:
    cssrs = None
    if request.HasField("cssrs"):
        c = request.cssrs
        cssrs = CssrsAnswers(
            wish_to_be_dead=c.wish_to_be_dead,
            suicidal_thoughts=c.suicidal_thoughts,
            thoughts_with_method=c.thoughts_with_method if c.HasField("thoughts_with_method") else None,
            intent_without_plan=c.intent_without_plan if c.HasField("intent_without_plan") else None,
            intent_with_plan=c.intent_with_plan if c.HasField("intent_with_plan") else None,
            suicidal_behaviour_lifetime=c.suicidal_behaviour_lifetime,
            suicidal_behaviour_past_3_months=c.suicidal_behaviour_past_3_months
            if c.HasField("suicidal_behaviour_past_3_months")
            else None,
        )
    return commands.SubmitScreening(
        client_id=require_id(request.client_id, "client_id"),
        phq9=tuple(request.phq9.answers) if request.HasField("phq9") else None,
        gad7=tuple(request.gad7.answers) if request.HasField("gad7") else None,
        cssrs=cssrs,
    )


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


def screening_pb(screening: ScreeningRecord) -> pb.Screening:
    results, outcome = screening.results, screening.outcome
    out = pb.Screening(
        screening_id=str(screening.id),
        client_id=str(screening.client_id),
        triage_level=TRIAGE_TO_PB[outcome.level],
        self_booking=SELF_BOOKING_TO_PB[outcome.self_booking],
        reasons=[RISK_REASON_TO_PB[r] for r in outcome.reasons],
        actions=sorted(ACTION_TO_PB[a] for a in outcome.actions),
        crisis_resources=crisis_resources_pb(outcome),
        rule_ids=list(outcome.rule_ids),
        risk_flag_id=str(screening.risk_flag_id) if screening.risk_flag_id else "",
    )
    if results.phq9 is not None:
        out.phq9_total = results.phq9.total
        out.phq9_severity = PHQ9_TO_PB[results.phq9.severity]
        out.phq9_item9_positive = results.phq9.risk_review_required
    if results.gad7 is not None:
        out.gad7_total = results.gad7.total
        out.gad7_severity = GAD7_TO_PB[results.gad7.severity]
    if results.cssrs is not None:
        out.cssrs_risk = CSSRS_TO_PB[results.cssrs.risk]
        out.cssrs_band_is_assumption = results.cssrs.band_is_assumption
    set_ts(out.submit_time, screening.submitted_at)
    return out

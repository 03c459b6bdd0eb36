"""Wire <-> domain for the API: requests -> commands (INVALID_ARGUMENT naming the field), records ->
response messages. With the servicers, the only place that touches the scheduling API messages.

The enum tables and time conversions shared with the event messages are in
``confide_scheduling.mapping``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from uuid import UUID

from confide.scheduling.v1 import scheduling_pb2 as pb
from confide_chassis.errors import InvalidArgument, ValidationCollector
from confide_chassis.ids import parse_id
from confide_scheduling.app import commands
from confide_scheduling.app.booking import AppointmentPage, Cancellation
from confide_scheduling.app.ports import (
    AvailabilityExceptionRecord,
    ClinicianSchedule,
    ClinicianSlot,
    SlotSearchResult,
    TimeOffRecord,
)
from confide_scheduling.app.views import appointment_pb, fee_pb
from confide_scheduling.domain.availability import DateException, ExceptionKind, WeeklyRule
from confide_scheduling.domain.catalog import Modality, SessionType, Weekday
from confide_scheduling.domain.policy import CancellationPolicy, Money
from confide_scheduling.domain.waitlist import TimeOfDayWindow
from confide_scheduling.mapping import (
    KIND_TO_PB,
    MODALITY_TO_PB,
    STATUS_FROM_PB,
    WEEKDAY_FROM_PB,
    WEEKDAY_TO_PB,
    date_from_pb,
    date_to_pb,
    from_ts,
    local_iso,
    modality_from_pb,
    money_to_pb,
    optional_modality_from_pb,
    set_ts,
    state_from_pb,
    state_to_pb,
    time_of_day_from_pb,
    time_of_day_to_pb,
    time_range_from_pb,
    time_range_to_pb,
)
from confide_scheduling.reference_data import SessionTypeCatalogue

_EXCEPTION_KINDS = {
    pb.EXCEPTION_KIND_EXTRA: ExceptionKind.EXTRA,
    pb.EXCEPTION_KIND_BLOCKED: ExceptionKind.BLOCKED,
}


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

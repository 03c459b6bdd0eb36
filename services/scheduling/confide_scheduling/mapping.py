"""Conversions between domain values and the protobuf types of the API and the events."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from google.protobuf.timestamp_pb2 import Timestamp

from confide.common.v1 import jurisdiction_pb2, money_pb2
from confide.common.v1 import time_pb2 as common_time_pb2
from confide.scheduling.v1 import events_pb2, scheduling_pb2
from confide_chassis import roles
from confide_chassis.errors import InvalidArgument
from confide_chassis.wire import jurisdiction_code, jurisdiction_value
from confide_scheduling.domain.appointments import AppointmentStatus, CancelReason
from confide_scheduling.domain.catalog import Modality, SessionKind, Weekday
from confide_scheduling.domain.policy import CancelledBy, FeeDecision, FeeWaiver, Money
from confide_scheduling.domain.screening import (
    CrisisChannel,
    CssrsRisk,
    Gad7Severity,
    Phq9Severity,
    RequiredAction,
    RiskReason,
    SelfBooking,
    TriageLevel,
)
from confide_scheduling.domain.timekit import TimeRange

pb = scheduling_pb2

MODALITY_TO_PB: dict[Modality, pb.Modality.ValueType] = {
    Modality.VIDEO: pb.MODALITY_VIDEO,
    Modality.AUDIO: pb.MODALITY_AUDIO_ONLY,
    Modality.LIVE_CHAT: pb.MODALITY_LIVE_CHAT,
}
MODALITY_FROM_PB: dict[int, Modality] = {v: k for k, v in MODALITY_TO_PB.items()}

KIND_TO_PB: dict[SessionKind, pb.SessionKind.ValueType] = {
    SessionKind.INTAKE: pb.SESSION_KIND_INTAKE,
    SessionKind.PSYCHOTHERAPY: pb.SESSION_KIND_PSYCHOTHERAPY,
    SessionKind.FAMILY: pb.SESSION_KIND_FAMILY,
}

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
TRIAGE_TO_PB: dict[TriageLevel, pb.TriageLevel.ValueType] = {
    TriageLevel.ROUTINE: pb.TRIAGE_LEVEL_ROUTINE,
    TriageLevel.CLINICIAN_REVIEW: pb.TRIAGE_LEVEL_CLINICIAN_REVIEW,
    TriageLevel.HIGH_RISK: pb.TRIAGE_LEVEL_HIGH_RISK,
}
SELF_BOOKING_TO_PB: dict[SelfBooking, pb.SelfBooking.ValueType] = {
    SelfBooking.ALLOWED: pb.SELF_BOOKING_ALLOWED,
    SelfBooking.ALLOWED_WITH_CLINICIAN_REVIEW: pb.SELF_BOOKING_ALLOWED_WITH_CLINICIAN_REVIEW,
    SelfBooking.BLOCKED: pb.SELF_BOOKING_BLOCKED,
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
CHANNEL_TO_PB: dict[CrisisChannel, pb.CrisisChannel.ValueType] = {
    CrisisChannel.CALL: pb.CRISIS_CHANNEL_CALL,
    CrisisChannel.TEXT: pb.CRISIS_CHANNEL_TEXT,
    CrisisChannel.CHAT: pb.CRISIS_CHANNEL_CHAT,
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


def money_to_pb(target: money_pb2.Money, value: Money | None) -> None:
    if value is not None:
        target.amount_minor, target.currency = value.amount_minor, value.currency


def fee_to_pb(target: scheduling_pb2.FeeOutcome, fee: FeeDecision) -> None:
    target.applies = fee.applies
    money_to_pb(target.amount, fee.amount)
    if fee.waived_because is not None:
        target.waived_because = FEE_WAIVER_TO_PB[fee.waived_because]


def local_iso(value: datetime, zone_name: str) -> str:
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(zone_name)).isoformat()

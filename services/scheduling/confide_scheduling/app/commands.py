"""Commands (and queries) of the use cases: frozen values holding domain types, built from requests by
``api/mapping.py`` (which names the field of anything malformed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from uuid import UUID

from confide_scheduling.domain.appointments import AppointmentStatus
from confide_scheduling.domain.availability import DateException, WeeklyRule
from confide_scheduling.domain.catalog import Modality, SessionType
from confide_scheduling.domain.location import ClientLocation
from confide_scheduling.domain.policy import CancellationPolicy
from confide_scheduling.domain.recurrence import RecurrenceFrequency
from confide_scheduling.domain.screening import CssrsAnswers
from confide_scheduling.domain.timekit import TimeRange
from confide_scheduling.domain.waitlist import TimeOfDayWindow


# ---------------------------------------------------------------------------------------- availability
@dataclass(frozen=True, slots=True)
class SetWeeklySchedule:
    clinician_id: UUID
    time_zone: str
    location_state: str
    modalities: frozenset[Modality]
    session_type_codes: frozenset[str]
    rules: tuple[WeeklyRule, ...]


@dataclass(frozen=True, slots=True)
class AddAvailabilityException:
    clinician_id: UUID
    exception: DateException


@dataclass(frozen=True, slots=True)
class RemoveAvailabilityException:
    clinician_id: UUID
    exception_id: UUID


@dataclass(frozen=True, slots=True)
class AddTimeOff:
    clinician_id: UUID
    span: TimeRange


@dataclass(frozen=True, slots=True)
class RemoveTimeOff:
    clinician_id: UUID
    time_off_id: UUID


@dataclass(frozen=True, slots=True)
class SearchSlots:
    """A query, not a change: the slots a client may book."""

    client_id: UUID
    session_type_code: str
    modality: Modality | None
    window: TimeRange
    client_state: str | None
    clinician_ids: frozenset[UUID]
    time_windows: tuple[TimeOfDayWindow, ...]
    max_results: int


# ---------------------------------------------------------------------------------------- appointments
@dataclass(frozen=True, slots=True)
class BookSlot:
    """Book (or hold) a slot: the domain values of BookAppointment / HoldSlot."""

    client_id: UUID
    clinician_id: UUID
    session_type: SessionType
    modality: Modality
    start: datetime
    client_state: str | None  # None = home state


@dataclass(frozen=True, slots=True)
class ConfirmHold:
    appointment_id: UUID


@dataclass(frozen=True, slots=True)
class ReleaseHold:
    appointment_id: UUID


@dataclass(frozen=True, slots=True)
class RescheduleAppointment:
    appointment_id: UUID
    new_start: datetime


@dataclass(frozen=True, slots=True)
class CancelAppointment:
    appointment_id: UUID


@dataclass(frozen=True, slots=True)
class MarkNoShow:
    appointment_id: UUID


@dataclass(frozen=True, slots=True)
class RecheckAuthorization:
    appointment_id: UUID


@dataclass(frozen=True, slots=True)
class SetCancellationPolicy:
    policy: CancellationPolicy


@dataclass(frozen=True, slots=True)
class ListAppointments:
    """A query: the caller's own appointments (a client's, a clinician's) or, for an admin, the practice's."""

    client_id: UUID | None
    clinician_id: UUID | None
    statuses: tuple[AppointmentStatus, ...]
    window: TimeRange | None
    page_size: int
    page_token: str


# -------------------------------------------------------------------------------------------- waitlist
@dataclass(frozen=True, slots=True)
class JoinWaitlist:
    client_id: UUID
    session_type_codes: frozenset[str]
    modalities: frozenset[Modality]
    clinician_ids: frozenset[UUID]
    time_windows: tuple[TimeOfDayWindow, ...]


@dataclass(frozen=True, slots=True)
class LeaveWaitlist:
    entry_id: UUID


@dataclass(frozen=True, slots=True)
class AcceptWaitlistOffer:
    offer_id: UUID
    modality: Modality
    client_state: str | None  # None = home state


@dataclass(frozen=True, slots=True)
class DeclineWaitlistOffer:
    offer_id: UUID


# -------------------------------------------------------------------------------------------- sessions
@dataclass(frozen=True, slots=True)
class CheckIn:
    appointment_id: UUID
    location: ClientLocation
    identity_confirmed: bool


@dataclass(frozen=True, slots=True)
class StartSession:
    appointment_id: UUID


@dataclass(frozen=True, slots=True)
class CompleteSession:
    appointment_id: UUID
    actual_minutes: int
    delivered_modality: Modality | None


# ---------------------------------------------------------------------------------------------- series
@dataclass(frozen=True, slots=True)
class CreateSeries:
    client_id: UUID
    clinician_id: UUID
    session_type: SessionType
    modality: Modality
    first_start: datetime
    frequency: RecurrenceFrequency
    count: int | None
    until: date | None
    client_state: str | None


@dataclass(frozen=True, slots=True)
class SkipOccurrence:
    series_id: UUID
    occurrence_date: date


@dataclass(frozen=True, slots=True)
class MoveOccurrence:
    series_id: UUID
    occurrence_date: date
    new_start: datetime


@dataclass(frozen=True, slots=True)
class RescheduleFollowing:
    series_id: UUID
    from_date: date
    new_first_date: date | None
    new_local_start: time | None
    new_frequency: RecurrenceFrequency | None


@dataclass(frozen=True, slots=True)
class CancelFollowing:
    series_id: UUID
    from_date: date


# ------------------------------------------------------------------------------------------- screening
@dataclass(frozen=True, slots=True)
class SubmitScreening:
    client_id: UUID
    phq9: tuple[int, ...] | None
    gad7: tuple[int, ...] | None
    cssrs: CssrsAnswers | None

"""Ports: what the use cases need from the outside world, as protocols, and the records that cross them.

- ``UnitOfWork``: persistence, one repository per aggregate; implemented over PostgreSQL by
  ``confide_scheduling.db.uow`` and ``db.repositories`` (state and outbox events commit together).
- ``AuthorizationPort``: compliance, implemented over gRPC by ``confide_scheduling.adapters.compliance``.
- ``VideoRoomPort``: join links, implemented for Jitsi Meet by ``confide_scheduling.adapters.jitsi``.

Records are plain immutable values around the domain types: the domain object plus what only the app
and the database need.
"""

from __future__ import annotations

import dataclasses
import enum
import secrets
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol
from uuid import UUID

from google.protobuf.message import Message

from confide_scheduling.domain.appointments import Appointment, AppointmentStatus, AuthorizationDecision
from confide_scheduling.domain.availability import DateException, Slot, WeeklyAvailability
from confide_scheduling.domain.catalog import Modality
from confide_scheduling.domain.policy import CancellationOutcome, CancellationPolicy, CancelledBy, PayerType
from confide_scheduling.domain.recurrence import Occurrence, RecurringSeries
from confide_scheduling.domain.screening import ScreeningResults, TriageOutcome
from confide_scheduling.domain.timekit import TimeRange
from confide_scheduling.domain.waitlist import WaitlistEntry, WaitlistOffer


def practice_uuid(value: str) -> UUID:
    # practice ids are opaque strings in tokens; the domain wants a UUID. Non-UUID practice ids (only in
    # hand-made test data) are mapped deterministically.
    try:
        return UUID(value)
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"confide:practice:{value}")


# ------------------------------------------------------------------------------------------------ records
@dataclass(frozen=True, slots=True)
class AppointmentRecord:
    """The domain appointment plus what only the app and the database need."""

    appointment: Appointment
    practice_id: str
    authorized_state: str
    clinician_time_zone: str
    video_room: str
    booked_by: str
    cancelled_by: CancelledBy | None = None
    actual_minutes: int | None = None

    @property
    def id(self) -> UUID:
        return self.appointment.id

    def with_appointment(self, appointment: Appointment, **changes: Any) -> AppointmentRecord:
        return dataclasses.replace(self, appointment=appointment, **changes)


@dataclass(frozen=True, slots=True)
class AppointmentFilter:
    practice_id: str
    client_id: UUID | None = None
    clinician_id: UUID | None = None
    statuses: tuple[AppointmentStatus, ...] = ()
    window: TimeRange | None = None
    series_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    clinician_id: UUID
    practice_id: str
    availability: WeeklyAvailability
    location_state: str
    session_type_codes: frozenset[str]
    version: int
    updated_at: datetime

    def offers(self, session_type_code: str) -> bool:
        return not self.session_type_codes or session_type_code in self.session_type_codes


@dataclass(frozen=True, slots=True)
class ClientProfile:
    client_id: UUID
    practice_id: str
    home_state: str | None
    time_zone: str | None
    payer_type: PayerType
    is_minor: bool
    guardian_consent_required: bool
    profile_version: int


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    signature_id: str
    client_id: UUID
    practice_id: str
    document_id: str
    document_version: int
    jurisdiction: str | None
    modalities: frozenset[Modality]
    signer_role: str  # "client" | "guardian"
    document_effective_at: datetime | None
    signed_at: datetime


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    series: RecurringSeries
    practice_id: str
    clinician_id: UUID
    client_id: UUID
    session_type_code: str
    modality: Modality
    client_state: str
    cancelled: bool
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class ScreeningRow:
    id: UUID
    practice_id: str
    client_id: UUID
    phq9_answers: tuple[int, ...] | None
    gad7_answers: tuple[int, ...] | None
    cssrs_answers: dict[str, Any] | None
    risk_flag_id: UUID | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ScreeningRecord:
    """A scored and triaged screening, as submitted (SAFE-20..24)."""

    id: UUID
    client_id: UUID
    results: ScreeningResults
    outcome: TriageOutcome
    risk_flag_id: UUID | None
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class AvailabilityExceptionRecord:
    id: UUID
    exception: DateException


@dataclass(frozen=True, slots=True)
class TimeOffRecord:
    id: UUID
    span: TimeRange


@dataclass(frozen=True, slots=True)
class ClinicianSchedule:
    """A clinician's schedule with its date exceptions and time off."""

    schedule: ScheduleRecord
    exceptions: tuple[AvailabilityExceptionRecord, ...]
    time_off: tuple[TimeOffRecord, ...]


@dataclass(frozen=True, slots=True)
class ClinicianSlot:
    """A bookable slot of one clinician, with only the modalities the client may book."""

    clinician_id: UUID
    clinician_time_zone: str
    slot: Slot


@dataclass(frozen=True, slots=True)
class SlotSearchResult:
    slots: tuple[ClinicianSlot, ...]
    client_time_zone: str
    client_state: str


class OccurrenceProblem(enum.StrEnum):
    TOO_SOON = "too_soon"
    UNAVAILABLE = "unavailable"
    NOT_AUTHORIZED = "not_authorized"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class OccurrenceConflict:
    """An occurrence of a series that was not booked, and why (with the rule ids)."""

    occurrence: Occurrence
    problem: OccurrenceProblem
    rule_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SeriesBooking:
    series: SeriesRecord
    appointments: tuple[AppointmentRecord, ...]
    conflicts: tuple[OccurrenceConflict, ...]


@dataclass(frozen=True, slots=True)
class OccurrenceChange:
    """One occurrence skipped or moved: the series and the appointment it touched (with the
    cancellation outcome when a booked appointment was cancelled)."""

    series: SeriesRecord
    appointment: AppointmentRecord | None
    cancellation: CancellationOutcome | None


@dataclass(frozen=True, slots=True)
class FollowingRescheduled:
    original: SeriesRecord | None  # None when the change started at the first occurrence
    following: SeriesBooking


# ----------------------------------------------------------------------------------------------- persistence
class AppointmentRepository(Protocol):
    """Appointments: reads, writes, the per-clinician booking lock, the calendar's busy time."""

    async def get(self, appointment_id: UUID, *, for_update: bool = False) -> AppointmentRecord | None: ...

    async def add(self, rec: AppointmentRecord) -> None: ...

    async def save(self, rec: AppointmentRecord, expected_version: int) -> None: ...

    async def lock_clinician(self, clinician_id: UUID) -> None: ...

    async def busy_ranges(
        self,
        clinician_id: UUID,
        window: TimeRange,
        now: datetime,
        *,
        exclude: UUID | None = None,
    ) -> list[TimeRange]: ...

    async def busy_ranges_by_clinician(
        self, clinician_ids: Collection[UUID], window: TimeRange, now: datetime
    ) -> dict[UUID, list[TimeRange]]: ...

    async def has_completed_session(self, clinician_id: UUID, client_id: UUID) -> bool: ...

    async def find(
        self,
        filters: AppointmentFilter,
        *,
        limit: int,
        after: tuple[datetime, UUID] | None = None,
    ) -> list[AppointmentRecord]: ...

    async def series_occurrence(
        self, series_id: UUID, occurrence_date: date, *, active_only: bool = True
    ) -> AppointmentRecord | None: ...

    async def future_of_series(self, series_id: UUID, from_date: date) -> list[AppointmentRecord]: ...

    async def to_flag(
        self,
        clinician_id: UUID,
        states: Sequence[str],
        modalities: Sequence[Modality],
        from_instant: datetime,
    ) -> list[AppointmentRecord]: ...

    async def claim_past_flagged(self, now: datetime, limit: int) -> list[AppointmentRecord]: ...


class HoldRepository(Protocol):
    """Holds (appointments in status held) whose time is up."""

    async def expire_stale(self, clinician_id: UUID, window: TimeRange, now: datetime) -> list[UUID]: ...

    async def lock_client(self, client_id: UUID) -> None: ...

    async def count_open(self, client_id: UUID, now: datetime) -> int: ...

    async def claim_expired(self, now: datetime, limit: int) -> list[AppointmentRecord]: ...


class ReminderRepository(Protocol):
    """Reminder candidates and the dedupe rows of sent reminders (MSG-03)."""

    async def candidates(
        self, now: datetime, horizon: timedelta, limit: int = 500
    ) -> list[AppointmentRecord]: ...

    async def sent_keys(self, appointment_ids: Sequence[UUID]) -> set[str]: ...

    async def record(
        self,
        dedupe_key: str,
        appointment_id: UUID,
        offset_minutes: int,
        start: datetime,
        now: datetime,
    ) -> bool: ...


class ScheduleRepository(Protocol):
    """Clinician availability: weekly schedule, date exceptions, time off."""

    async def get(self, clinician_id: UUID, *, for_update: bool = False) -> ScheduleRecord | None: ...

    async def list_for_practice(self, practice_id: str) -> list[ScheduleRecord]: ...

    async def save(self, record: ScheduleRecord) -> None: ...

    async def exceptions(
        self, clinician_id: UUID, first_day: date | None = None, last_day: date | None = None
    ) -> list[tuple[UUID, DateException]]: ...

    async def exceptions_by_clinician(
        self, clinician_ids: Collection[UUID], first_day: date, last_day: date
    ) -> dict[UUID, list[DateException]]: ...

    async def add_exception(
        self, exception_id: UUID, clinician_id: UUID, exc: DateException, now: datetime
    ) -> None: ...

    async def remove_exception(self, clinician_id: UUID, exception_id: UUID) -> bool: ...

    async def time_off(
        self, clinician_id: UUID, window: TimeRange | None = None
    ) -> list[tuple[UUID, TimeRange]]: ...

    async def time_off_by_clinician(
        self, clinician_ids: Collection[UUID], window: TimeRange
    ) -> dict[UUID, list[TimeRange]]: ...

    async def add_time_off(
        self, time_off_id: UUID, clinician_id: UUID, span: TimeRange, now: datetime
    ) -> None: ...

    async def remove_time_off(self, clinician_id: UUID, time_off_id: UUID) -> bool: ...


class ClientRepository(Protocol):
    """Projections of identity facts: client profiles, consents, care-team links."""

    async def profile(self, client_id: UUID) -> ClientProfile | None: ...

    async def save_profile(self, profile: ClientProfile, changed_at: datetime) -> None: ...

    async def add_consent(self, consent: ConsentRecord) -> None: ...

    async def consents(self, client_id: UUID) -> list[ConsentRecord]: ...

    async def current_consent_version(self, practice_id: str, now: datetime) -> int | None: ...

    async def set_care_team_link(
        self,
        *,
        link_id: str,
        client_id: UUID,
        clinician_id: UUID,
        practice_id: str,
        active: bool,
        changed_at: datetime,
    ) -> None: ...

    async def on_care_team(self, clinician_id: UUID, client_id: UUID, practice_id: str) -> bool: ...

    async def care_team(self, client_id: UUID) -> list[UUID]: ...


class SeriesRepository(Protocol):
    """Recurring series."""

    async def get(self, series_id: UUID) -> SeriesRecord | None: ...

    async def save(self, rec: SeriesRecord, *, expected_version: int | None) -> None: ...


class WaitlistRepository(Protocol):
    """Waitlist entries and the offers made to them."""

    async def add_entry(self, entry: WaitlistEntry, practice_id: str) -> None: ...

    async def get_entry(self, entry_id: UUID, *, for_update: bool = False) -> WaitlistEntry | None: ...

    async def entry_practice(self, entry_id: UUID) -> str | None: ...

    async def save_entry_status(self, entry: WaitlistEntry) -> None: ...

    async def waiting_entries(self, practice_id: str, limit: int = 500) -> list[WaitlistEntry]: ...

    async def client_entries(self, client_id: UUID) -> list[WaitlistEntry]: ...

    async def lock_client(self, client_id: UUID) -> None: ...

    async def add_offer(self, offer: WaitlistOffer, practice_id: str) -> None: ...

    async def get_offer(self, offer_id: UUID, *, for_update: bool = False) -> WaitlistOffer | None: ...

    async def resolve_offer(self, offer: WaitlistOffer, appointment_id: UUID | None = None) -> None: ...

    async def pending_offers_of_entries(self, entry_ids: Sequence[UUID]) -> list[WaitlistOffer]: ...

    async def entries_offered_slot(self, clinician_id: UUID, start: datetime) -> frozenset[UUID]: ...

    async def claim_expired_offers(self, now: datetime, limit: int = 100) -> list[WaitlistOffer]: ...

    async def offer_practice(self, offer_id: UUID) -> str | None: ...


class ScreeningRepository(Protocol):
    """Intake screenings."""

    async def add(
        self,
        row: ScreeningRow,
        *,
        submitted_by: str,
        submitted_role: str,
        triage_level: str,
        self_booking: str,
        clinician_review_required: bool,
        risk_flag_id: UUID | None,
    ) -> None: ...

    async def latest(self, client_id: UUID) -> ScreeningRow | None: ...


class PolicyRepository(Protocol):
    """Practice cancellation policies."""

    async def get(self, practice_id: str) -> CancellationPolicy | None: ...

    async def save(self, practice_id: str, policy: CancellationPolicy, now: datetime) -> None: ...


class Repositories(Protocol):
    """One repository per aggregate, all on the same transaction. Constraint violations that mean "a
    concurrent change won" raise ``Conflict`` (ABORTED); the exclusion constraint is the last guard
    against double booking."""

    @property
    def appointments(self) -> AppointmentRepository: ...

    @property
    def holds(self) -> HoldRepository: ...

    @property
    def reminders(self) -> ReminderRepository: ...

    @property
    def schedules(self) -> ScheduleRepository: ...

    @property
    def clients(self) -> ClientRepository: ...

    @property
    def series(self) -> SeriesRepository: ...

    @property
    def waitlist(self) -> WaitlistRepository: ...

    @property
    def screenings(self) -> ScreeningRepository: ...

    @property
    def policies(self) -> PolicyRepository: ...


class UnitOfWork(Repositories, Protocol):
    """One business transaction: changes through the repositories and the published events commit
    together at ``commit()``; leaving the block without it rolls everything back."""

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def publish(self, *events: Message) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


# --------------------------------------------------------------------------------------------- compliance
@dataclass(frozen=True, slots=True)
class AuthorizationQuery:
    """One question for compliance ``CheckAuthorization`` (LIC-01, LIC-02, LIC-03)."""

    clinician_id: UUID
    client_state: str  # where the client is (will be) at session time
    clinician_state: str  # where the clinician practises from
    session_start: datetime
    client_time_zone: str
    modality: Modality
    existing_client: bool
    purpose: str  # "booking" | "check_in" | "recheck"
    appointment_id: UUID | None = None


class AuthorizationPort(Protocol):
    """Compliance, asked with the caller's own bearer token. Implementations fail closed: no answer in
    time raises ``Unavailable``; a deny is a normal answer (``allowed=False`` with rule ids)."""

    async def check(self, query: AuthorizationQuery, *, bearer_token: str) -> AuthorizationDecision: ...

    async def find_authorized(
        self,
        *,
        client_state: str,
        session_start: datetime,
        client_time_zone: str,
        modality: Modality,
        clinician_ids: Collection[UUID],
        bearer_token: str,
    ) -> frozenset[UUID]: ...


# ---------------------------------------------------------------------------------------------- video rooms
def new_room_name() -> str:
    """An unguessable room name without PHI (``confide-`` + 32 hex digits = 128 random bits)."""
    return f"confide-{secrets.token_hex(16)}"


@dataclass(frozen=True, slots=True)
class JoinLink:
    url: str
    expires_at: datetime
    moderator: bool


class VideoRoomPort(Protocol):
    """Signed links into a video room. ``room`` is unguessable and free of PHI (``new_room_name``)."""

    def join_link(
        self, *, room: str, user_id: str, moderator: bool, not_before: datetime, expires_at: datetime
    ) -> JoinLink: ...

"""Inputs of billing's state-changing use cases, already converted to domain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from confide_billing.domain.coding import Modality, SessionKind
from confide_billing.domain.estimates import PayerType
from confide_billing.domain.money import Money
from confide_billing.domain.pricing import SlidingScaleTier
from confide_billing.domain.records import ClinicianFacts


@dataclass(frozen=True, slots=True)
class SetPriceList:
    currency: str
    fees: dict[str, Money]
    tiers: dict[str, SlidingScaleTier]
    late_cancel_fee: Money | None
    no_show_fee: Money | None


@dataclass(frozen=True, slots=True)
class SetBillingProfile:
    legal_name: str
    group_npi: str
    tax_id: str
    address: str
    phone: str
    clinicians: tuple[ClinicianFacts, ...]


@dataclass(frozen=True, slots=True)
class RecordSlidingScale:
    client_id: str
    tier_code: str
    evidence: str
    review_on: date


@dataclass(frozen=True, slots=True)
class CreatePlan:
    name: str
    price: Money
    messaging: bool
    live_sessions_per_period: int


@dataclass(frozen=True, slots=True)
class IssueInvoice:
    client_id: str
    period_start: date
    period_end: date


@dataclass(frozen=True, slots=True)
class PayInvoice:
    invoice_id: str
    payment_method: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class RecordManualPayment:
    invoice_id: str
    amount: Money
    method: str


@dataclass(frozen=True, slots=True)
class RefundPayment:
    payment_id: str
    amount: Money
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class Superbill:
    client_id: str
    from_date: date
    to_date: date
    client_name: str
    client_date_of_birth: date | None


# Facts from other services' events.
@dataclass(frozen=True, slots=True)
class ClientProfileChanged:
    client_id: str
    practice_id: str
    payer_type: PayerType


@dataclass(frozen=True, slots=True)
class AppointmentBooked:
    appointment_id: str
    practice_id: str
    client_id: str
    clinician_id: str
    kind: SessionKind
    scheduled_minutes: int
    start_time: datetime
    booked_at: datetime


@dataclass(frozen=True, slots=True)
class SessionCompleted:
    appointment_id: str
    practice_id: str
    client_id: str
    clinician_id: str
    kind: SessionKind
    minutes: int
    modality: Modality
    at_home: bool
    completed_at: datetime


@dataclass(frozen=True, slots=True)
class MissedAppointment:
    appointment_id: str
    practice_id: str
    client_id: str
    clinician_id: str
    no_show: bool  # else a late cancellation
    fee_applies: bool
    scheduling_fee: Money | None
    occurred_at: datetime

"""Billing's aggregates as plain records (what use cases return and repositories store)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime

from confide_billing.domain.coding import (
    FEDERAL_PROGRAM,
    SELF_PAY,
    CodedSession,
    PayerProfile,
    ServiceLine,
    SessionKind,
)
from confide_billing.domain.estimates import EstimateContents, PayerType
from confide_billing.domain.money import Money
from confide_chassis.errors import FailedPrecondition, InvalidArgument, RuleViolation


@dataclass(frozen=True, slots=True)
class ClientAccount:
    client_id: str
    practice_id: str
    payer_type: PayerType = PayerType.UNKNOWN
    fee_policy_version: int | None = None
    fee_policy_accepted_at: datetime | None = None

    @property
    def fee_policy_accepted(self) -> bool:
        return self.fee_policy_accepted_at is not None

    @property
    def payer_profile(self) -> PayerProfile:
        return FEDERAL_PROGRAM if self.payer_type is PayerType.FEDERAL_PROGRAM else SELF_PAY


@dataclass(frozen=True, slots=True)
class ClinicianFacts:
    clinician_id: str
    display_name: str
    npi: str
    license: str


@dataclass(frozen=True, slots=True)
class BillingProfile:
    practice_id: str
    legal_name: str
    group_npi: str
    tax_id: str
    address: str
    phone: str
    clinicians: tuple[ClinicianFacts, ...] = ()

    def clinician(self, clinician_id: str) -> ClinicianFacts | None:
        return next((c for c in self.clinicians if c.clinician_id == clinician_id), None)


@dataclass(frozen=True, slots=True)
class ExpectedSession:
    """A booked appointment as billing sees it: what a Good Faith Estimate must cover."""

    appointment_id: str
    practice_id: str
    client_id: str
    clinician_id: str
    kind: SessionKind
    scheduled_minutes: int
    start_time: datetime
    booked_at: datetime
    status: str = "booked"


@dataclass(frozen=True, slots=True)
class Estimate:
    estimate_id: str
    practice_id: str
    client_id: str
    clinician_id: str
    version: int
    contents: EstimateContents
    issued_at: datetime
    due_on: date | None
    superseded: bool = False

    @property
    def late(self) -> bool:
        return self.due_on is not None and self.issued_at.date() > self.due_on


@dataclass(frozen=True, slots=True)
class PricedLine:
    line: ServiceLine
    amount: Money


@dataclass(frozen=True, slots=True)
class Charge:
    charge_id: str
    practice_id: str
    client_id: str
    clinician_id: str | None
    appointment_id: str | None
    kind: str  # session | late_cancel_fee | no_show_fee | plan
    service_date: date
    lines: tuple[PricedLine, ...]
    coding: CodedSession | None
    amount: Money
    covered_by_plan: bool = False
    diagnosis_codes: tuple[str, ...] = ()
    invoice_id: str | None = None
    exceeds_estimate: bool = False

    def with_diagnoses(self, codes: tuple[str, ...]) -> Charge:
        return replace(self, diagnosis_codes=codes)


@dataclass(frozen=True, slots=True)
class Invoice:
    invoice_id: str
    practice_id: str
    client_id: str
    period_start: date
    period_end: date
    charge_ids: tuple[str, ...]
    total: Money
    paid: Money

    @property
    def status(self) -> str:
        return "paid" if self.paid.amount_minor >= self.total.amount_minor else "open"

    @property
    def balance(self) -> Money:
        return self.total - self.paid

    def pay(self, amount: Money) -> Invoice:
        if amount.amount_minor <= 0:
            raise InvalidArgument.field("amount", "must be positive")
        if amount.amount_minor > self.balance.amount_minor:
            raise FailedPrecondition(RuleViolation("BILL-91", "the payment is larger than the open balance"))
        return replace(self, paid=self.paid + amount)

    def refund(self, amount: Money) -> Invoice:
        return replace(self, paid=self.paid - amount)


@dataclass(frozen=True, slots=True)
class Payment:
    payment_id: str
    practice_id: str
    client_id: str
    invoice_id: str
    amount: Money
    method: str  # card | cash | check
    status: str  # succeeded | failed
    provider_ref: str | None = None
    payment_method_ref: str | None = None
    failure_reason: str | None = None
    attempts: int = 1
    next_retry_at: datetime | None = None
    first_failed_at: datetime | None = None
    refunded: Money = field(default_factory=Money.zero)

    def refundable(self) -> Money:
        return self.amount - self.refunded

    def refund(self, amount: Money) -> Payment:
        if self.status != "succeeded":
            raise FailedPrecondition(RuleViolation("BILL-92", "only a succeeded payment can be refunded"))
        if amount.amount_minor <= 0:
            raise InvalidArgument.field("amount", "must be positive")
        if amount.amount_minor > self.refundable().amount_minor:
            raise FailedPrecondition(
                RuleViolation("BILL-92", "the refund is larger than what is left to refund")
            )
        return replace(self, refunded=self.refunded + amount)

"""Good Faith Estimates for self-pay and uninsured clients (No Surprises Act; BILL-30..34).

Pure rules: who gets one, by when, what it must contain, how long it may cover, and when a bill
exceeds it enough for the client to start patient-provider dispute resolution.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta

from confide_billing.domain.calendar import add_business_days, business_days_between, subtract_business_days
from confide_billing.domain.money import Money, total


class PayerType(enum.Enum):
    SELF_PAY = "self_pay"
    INSURANCE = "insurance"
    FEDERAL_PROGRAM = "federal_program"
    UNKNOWN = "unknown"


def gfe_required(payer: PayerType) -> bool:
    """BILL-30: uninsured or self-pay clients get a GFE; federal-program enrollees are not entitled
    to one, and a client who files with insurance does not need one."""
    return payer is PayerType.SELF_PAY


def gfe_due_date(scheduled_on: date, service_on: date) -> date | None:
    """BILL-31: scheduled >= 10 business days ahead → within 3 business days after scheduling;
    >= 3 business days ahead → within 1 business day; closer than that no deadline applies (we
    still issue at once). The GFE never needs to come after the service itself."""
    ahead = business_days_between(scheduled_on, service_on)
    if ahead >= 10:
        return add_business_days(scheduled_on, 3)
    if ahead >= 3:
        return add_business_days(scheduled_on, 1)
    return None


def reissue_due_date(service_on: date) -> date:
    """BILL-31: when the expected services change, a new GFE no later than 1 business day before."""
    return subtract_business_days(service_on, 1)


# BILL-34: one estimate covers recurring services for at most 12 months.
MAX_COVERAGE = timedelta(days=365)

# BILL-33: a bill at least $400 above the estimate (per provider) opens dispute resolution.
DISPUTE_THRESHOLD = Money(40_000, "USD")
DISPUTE_WINDOW_DAYS = 120

DISCLAIMERS: tuple[str, ...] = (
    "This Good Faith Estimate shows the costs of items and services that are reasonably expected for "
    "your health care needs for an item or service. The estimate is based on information known at the "
    "time the estimate was created.",
    "The Good Faith Estimate does not include any unknown or unexpected costs that may arise during "
    "treatment. You could be charged more if complications or special circumstances occur. Other items "
    "or services may be recommended as part of your care and would be scheduled separately and are not "
    "reflected in this estimate.",
    "This is only an estimate; actual items, services or charges may differ.",
    "If you are billed for at least $400 more than this Good Faith Estimate, you have the right to "
    "dispute the bill through the patient-provider dispute resolution process within 120 calendar days "
    "of the date on the bill. Information: www.cms.gov/nosurprises or 1-800-985-3059. Starting a dispute "
    "will not affect the quality of the care you receive.",
    "You have the right to receive a Good Faith Estimate for the total expected cost of any "
    "non-emergency items or services. Keep a copy of this estimate.",
)


@dataclass(frozen=True, slots=True)
class EstimatedService:
    """One expected line: a service code, how often, at which fee."""

    service_code: str
    description: str
    quantity: int
    unit_fee: Money

    @property
    def amount(self) -> Money:
        return self.unit_fee.times(self.quantity)


@dataclass(frozen=True, slots=True)
class EstimateContents:
    services: tuple[EstimatedService, ...]
    covers_from: date
    covers_until: date

    @property
    def total(self) -> Money:
        currency = self.services[0].unit_fee.currency if self.services else "USD"
        return total([s.amount for s in self.services], currency)

    def fingerprint(self) -> tuple[object, ...]:
        """What the client was told to expect; a change means a new estimate (BILL-31)."""
        return tuple((s.service_code, s.quantity, s.unit_fee.amount_minor) for s in self.services)


def coverage_window(first_service_on: date) -> tuple[date, date]:
    return first_service_on, first_service_on + MAX_COVERAGE - timedelta(days=1)


def exceeds_estimate(billed: Money, estimated: Money) -> bool:
    """BILL-33: the bill is at least $400 more than the estimate."""
    return (billed - estimated).amount_minor >= DISPUTE_THRESHOLD.amount_minor

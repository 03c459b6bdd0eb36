"""A practice's price list and sliding-scale determinations (BILL-42).

Fees are set per service code (CPT). A sliding-scale tier lowers a client's fee only through an
explicit, recorded determination (tier, evidence, who approved, when it must be reviewed): routine,
unrecorded discounts are what payer contracts and federal law forbid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from confide_billing.domain.money import Money
from confide_chassis.errors import FailedPrecondition, InvalidArgument, RuleViolation

# Basis points: 10 000 = 100 %. Integer, so a discount never introduces a float.
FULL = 10_000


@dataclass(frozen=True, slots=True)
class SlidingScaleTier:
    code: str
    discount_bp: int  # 2500 = 25 % off

    def __post_init__(self) -> None:
        if not 0 <= self.discount_bp < FULL:
            raise InvalidArgument.field("discount_bp", "must be 0..9999 basis points")


@dataclass(frozen=True, slots=True)
class PriceList:
    practice_id: str
    currency: str
    fees: Mapping[str, Money]  # CPT code → full fee
    tiers: Mapping[str, SlidingScaleTier]
    late_cancel_fee: Money | None = None
    no_show_fee: Money | None = None
    version: int = 1

    def full_fee(self, cpt: str) -> Money:
        fee = self.fees.get(cpt)
        if fee is None:
            raise FailedPrecondition(
                RuleViolation("BILL-32", f"the practice has no fee for service code {cpt[:8]}")
            )
        return fee


@dataclass(frozen=True, slots=True)
class SlidingScaleDetermination:
    """An individual determination of financial need (BILL-42), kept as evidence."""

    client_id: str
    tier_code: str
    evidence: str
    approved_by: str
    determined_on: date
    review_on: date

    def applies_on(self, day: date) -> bool:
        return self.determined_on <= day < self.review_on


def fee_for(
    prices: PriceList, cpt: str, *, day: date, determination: SlidingScaleDetermination | None
) -> Money:
    """The fee actually expected to be charged: the full fee, less the client's determined tier."""
    fee = prices.full_fee(cpt)
    if determination is None or not determination.applies_on(day):
        return fee
    tier = prices.tiers.get(determination.tier_code)
    if tier is None:
        return fee
    return fee.fraction(FULL - tier.discount_bp, FULL)

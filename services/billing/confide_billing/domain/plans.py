"""Subscription plans with entitlements (messaging only, messaging + N live sessions per period).

Unused live sessions do not roll over; a plan change mid-period is prorated by the days left; a
cancellation takes effect at the end of the paid period.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from confide_billing.domain.money import Money
from confide_chassis.errors import FailedPrecondition, InvalidArgument, RuleViolation

PERIOD_DAYS = 30


@dataclass(frozen=True, slots=True)
class Plan:
    plan_id: str
    practice_id: str
    name: str
    price: Money  # per period
    messaging: bool
    live_sessions_per_period: int

    def __post_init__(self) -> None:
        if self.live_sessions_per_period < 0 or self.live_sessions_per_period > 31:
            raise InvalidArgument.field("live_sessions_per_period", "must be 0..31")
        if self.price.is_negative():
            raise InvalidArgument.field("price", "must not be negative")


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    client_id: str
    plan: Plan
    period_start: date
    sessions_used: int = 0
    cancel_at_period_end: bool = False
    cancelled: bool = False

    @property
    def period_end(self) -> date:
        """The first day after the paid period."""
        return self.period_start + timedelta(days=PERIOD_DAYS)

    def covers(self, day: date) -> bool:
        return not self.cancelled and self.period_start <= day < self.period_end

    def sessions_left(self) -> int:
        return max(self.plan.live_sessions_per_period - self.sessions_used, 0)

    def consume_session(self, day: date) -> Subscription | None:
        """The subscription after a live session on `day` used one entitlement, or None when the plan
        does not cover it (the session is then charged at the price list fee)."""
        if not self.covers(day) or self.sessions_left() == 0:
            return None
        return replace(self, sessions_used=self.sessions_used + 1)

    def renew(self) -> Subscription:
        """The next period: entitlements reset, nothing rolls over."""
        if self.cancel_at_period_end:
            return replace(self, cancelled=True)
        return replace(self, period_start=self.period_end, sessions_used=0)

    def cancel(self) -> Subscription:
        return replace(self, cancel_at_period_end=True)


@dataclass(frozen=True, slots=True)
class Proration:
    credit: Money  # unused part of the old plan
    charge: Money  # remaining part of the new plan

    @property
    def net(self) -> Money:
        return self.charge - self.credit


def prorate_change(subscription: Subscription, new_plan: Plan, on: date) -> Proration:
    """Credit the unused days of the current plan and charge the new plan for the same days."""
    if not subscription.covers(on):
        raise FailedPrecondition(RuleViolation("BILL-90", "the subscription does not cover that day"))
    if new_plan.price.currency != subscription.plan.price.currency:
        raise InvalidArgument.field("plan_id", "the new plan is priced in another currency")
    days_left = (subscription.period_end - on).days
    return Proration(
        credit=subscription.plan.price.fraction(days_left, PERIOD_DAYS),
        charge=new_plan.price.fraction(days_left, PERIOD_DAYS),
    )

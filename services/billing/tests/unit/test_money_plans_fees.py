"""Money without floats, sliding scale, proration, entitlements, missed-appointment fees, dunning."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from confide_billing.domain.coding import FEDERAL_PROGRAM, SELF_PAY
from confide_billing.domain.dunning import next_retry
from confide_billing.domain.fees import missed_appointment_fee
from confide_billing.domain.money import Money
from confide_billing.domain.plans import Plan, Subscription, prorate_change
from confide_billing.domain.pricing import PriceList, SlidingScaleDetermination, SlidingScaleTier, fee_for
from confide_chassis.errors import FailedPrecondition, InvalidArgument


def test_fraction_rounds_half_up_in_integers() -> None:
    assert Money(1001).fraction(1, 2) == Money(501)
    assert Money(1000).fraction(1, 3) == Money(333)
    assert Money(-1001).fraction(1, 2) == Money(-501)


def test_currencies_never_mix() -> None:
    with pytest.raises(InvalidArgument):
        _ = Money(100, "USD") + Money(100, "EUR")


PRICES = PriceList(
    practice_id="p",
    currency="USD",
    fees={"90834": Money(15_000), "90837": Money(18_000)},
    tiers={"B": SlidingScaleTier("B", 4_000)},
)


def test_bill_42_sliding_scale_needs_a_recorded_current_determination() -> None:
    determination = SlidingScaleDetermination(
        "c", "B", "income statement 2026", "admin-1", date(2026, 1, 1), date(2027, 1, 1)
    )
    assert fee_for(PRICES, "90834", day=date(2026, 6, 1), determination=None) == Money(15_000)
    assert fee_for(PRICES, "90834", day=date(2026, 6, 1), determination=determination) == Money(9_000)
    # After the review date the full fee applies again until a new determination is recorded.
    assert fee_for(PRICES, "90834", day=date(2027, 1, 1), determination=determination) == Money(15_000)


def test_a_code_without_a_fee_is_a_precondition_failure() -> None:
    with pytest.raises(FailedPrecondition):
        fee_for(PRICES, "90791", day=date(2026, 6, 1), determination=None)


MESSAGING = Plan("m", "p", "Messaging", Money(26_000), messaging=True, live_sessions_per_period=0)
PREMIUM = Plan("x", "p", "Messaging + 1 live", Money(31_600), messaging=True, live_sessions_per_period=1)


def test_entitlements_are_consumed_and_do_not_roll_over() -> None:
    sub = Subscription("s", "c", PREMIUM, period_start=date(2026, 12, 1))
    used = sub.consume_session(date(2026, 12, 5))
    assert used is not None
    assert used.consume_session(date(2026, 12, 6)) is None  # second session: charged normally
    renewed = used.renew()
    assert renewed.period_start == date(2026, 12, 31)
    assert renewed.sessions_left() == 1  # reset, not 1 + leftover


def test_cancellation_takes_effect_at_period_end() -> None:
    sub = Subscription("s", "c", PREMIUM, period_start=date(2026, 12, 1)).cancel()
    assert sub.covers(date(2026, 12, 29))
    assert not sub.renew().covers(date(2026, 12, 31))


def test_proration_on_a_mid_period_change() -> None:
    sub = Subscription("s", "c", MESSAGING, period_start=date(2026, 12, 1))
    change = prorate_change(sub, PREMIUM, on=date(2026, 12, 16))  # 15 of 30 days left
    assert change.credit == Money(13_000)
    assert change.charge == Money(15_800)
    assert change.net == Money(2_800)


def test_bill_41_missed_appointment_fees() -> None:
    fee = Money(5_000)
    agreed = missed_appointment_fee(fee, client_agreed=True, payer=SELF_PAY, scheduling_says_fee_applies=True)
    assert agreed.fee == fee
    not_agreed = missed_appointment_fee(
        fee, client_agreed=False, payer=SELF_PAY, scheduling_says_fee_applies=True
    )
    assert not_agreed.fee is None
    federal = missed_appointment_fee(
        fee, client_agreed=True, payer=FEDERAL_PROGRAM, scheduling_says_fee_applies=True
    )
    assert federal.fee is None
    assert "BILL-41" in federal.reason
    excused = missed_appointment_fee(
        fee, client_agreed=True, payer=SELF_PAY, scheduling_says_fee_applies=False
    )
    assert excused.fee is None


def test_dunning_schedule_gives_up_after_three_retries() -> None:
    first = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert next_retry(first, 1) == datetime(2026, 12, 2, 9, tzinfo=UTC)
    assert next_retry(first, 3) == datetime(2026, 12, 8, 9, tzinfo=UTC)
    assert next_retry(first, 4) is None

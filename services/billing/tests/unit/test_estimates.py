"""Good Faith Estimate rules: who, by when over weekends and holidays, coverage, disputes (BILL-30..34)."""

from __future__ import annotations

from datetime import date

import pytest

from confide_billing.domain.calendar import add_business_days, federal_holidays, is_business_day
from confide_billing.domain.estimates import (
    PayerType,
    coverage_window,
    exceeds_estimate,
    gfe_due_date,
    gfe_required,
    reissue_due_date,
)
from confide_billing.domain.money import Money


def test_bill_30_only_self_pay_clients_get_an_estimate() -> None:
    assert gfe_required(PayerType.SELF_PAY)
    assert not gfe_required(PayerType.INSURANCE)
    assert not gfe_required(PayerType.FEDERAL_PROGRAM)


def test_federal_holidays_with_observed_days() -> None:
    assert date(2026, 7, 3) in federal_holidays(2026)  # July 4th 2026 is a Saturday
    assert date(2027, 12, 31) in federal_holidays(2027)  # Jan 1st 2028 is a Saturday
    assert date(2026, 11, 26) in federal_holidays(2026)  # Thanksgiving: 4th Thursday
    assert date(2026, 5, 25) in federal_holidays(2026)  # Memorial Day: last Monday
    assert date(2026, 6, 19) in federal_holidays(2026)  # Juneteenth
    assert not is_business_day(date(2026, 1, 19))  # MLK day
    assert is_business_day(date(2026, 1, 20))


def test_business_days_skip_weekends_and_holidays() -> None:
    assert add_business_days(date(2026, 12, 4), 1) == date(2026, 12, 7)  # Friday → Monday
    assert add_business_days(date(2026, 12, 24), 1) == date(2026, 12, 28)  # Christmas, weekend
    assert add_business_days(date(2026, 11, 25), 1) == date(2026, 11, 27)  # over Thanksgiving


@pytest.mark.parametrize(
    ("scheduled", "service", "due"),
    [
        # 10+ business days ahead: within 3 business days (Fri + 3 → Wed).
        (date(2026, 12, 4), date(2026, 12, 21), date(2026, 12, 9)),
        # 3..9 business days ahead: within 1 business day (Fri → Mon).
        (date(2026, 12, 4), date(2026, 12, 10), date(2026, 12, 7)),
        # Over Christmas: Dec 23 + 1 business day skips the 25th and the weekend.
        (date(2026, 12, 23), date(2027, 1, 4), date(2026, 12, 24)),
        (date(2026, 12, 24), date(2027, 1, 5), date(2026, 12, 28)),
    ],
)
def test_bill_31_deadline_arithmetic(scheduled: date, service: date, due: date) -> None:
    assert gfe_due_date(scheduled, service) == due


def test_bill_31_no_deadline_when_scheduled_fewer_than_three_business_days_ahead() -> None:
    assert gfe_due_date(date(2026, 12, 4), date(2026, 12, 8)) is None  # Mon, Tue: two business days
    assert gfe_due_date(date(2026, 12, 4), date(2026, 12, 5)) is None


def test_bill_31_three_business_days_ahead_is_the_boundary() -> None:
    # Friday Dec 4 → Mon 7, Tue 8, Wed 9: the 9th is exactly three business days ahead.
    assert gfe_due_date(date(2026, 12, 4), date(2026, 12, 9)) == date(2026, 12, 7)


def test_bill_31_reissue_one_business_day_before_the_service() -> None:
    assert reissue_due_date(date(2026, 12, 7)) == date(2026, 12, 4)  # Monday → Friday


def test_bill_34_coverage_is_at_most_twelve_months() -> None:
    start, end = coverage_window(date(2026, 3, 1))
    assert (start, end) == (date(2026, 3, 1), date(2027, 2, 28))


def test_bill_33_dispute_threshold_is_four_hundred_dollars_more() -> None:
    estimate = Money(120_000)
    assert not exceeds_estimate(Money(159_999), estimate)
    assert exceeds_estimate(Money(160_000), estimate)

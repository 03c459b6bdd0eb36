"""Money as integer minor units and an ISO 4217 currency: no floats anywhere (BILL rules)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from confide_chassis.errors import InvalidArgument

_CURRENCY = re.compile(r"^[A-Z]{3}$")
# A bound far above any therapy bill, so sums of many lines can never overflow an int64 column.
MAX_AMOUNT_MINOR = 10**11


@dataclass(frozen=True, slots=True, order=True)
class Money:
    amount_minor: int
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not _CURRENCY.match(self.currency):
            raise ValueError("currency must be an ISO 4217 code such as USD")
        if abs(self.amount_minor) > MAX_AMOUNT_MINOR:
            raise ValueError("amount out of range")

    @classmethod
    def zero(cls, currency: str = "USD") -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidArgument.field("currency", "amounts in different currencies cannot be combined")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def times(self, count: int) -> Money:
        return Money(self.amount_minor * count, self.currency)

    def fraction(self, numerator: int, denominator: int) -> Money:
        """self * numerator / denominator, rounded half up to the minor unit (integer arithmetic)."""
        if denominator <= 0:
            raise ValueError("denominator must be positive")
        product = self.amount_minor * numerator
        sign = -1 if product < 0 else 1
        return Money(sign * ((abs(product) * 2 + denominator) // (2 * denominator)), self.currency)

    def is_negative(self) -> bool:
        return self.amount_minor < 0

    def __str__(self) -> str:
        sign = "-" if self.amount_minor < 0 else ""
        whole, cents = divmod(abs(self.amount_minor), 100)
        return f"{sign}{whole:,}.{cents:02d} {self.currency}"


def total(amounts: list[Money], currency: str = "USD") -> Money:
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result

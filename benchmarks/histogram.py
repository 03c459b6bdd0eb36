"""A small HDR-style latency histogram: log-spaced buckets, constant memory, ~1 % relative error.

Values are milliseconds. Each bucket covers [base**i, base**(i+1)) with base = 1 + precision, so a
percentile is exact to within `precision` of the true value however many samples are recorded, and
the exact minimum and maximum are kept beside the buckets.
"""

from __future__ import annotations

import math


class Histogram:
    def __init__(self, precision: float = 0.01) -> None:
        self._log_base = math.log1p(precision)
        self._base = 1.0 + precision
        self._counts: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    def record(self, value_ms: float) -> None:
        value = max(value_ms, 1e-3)  # a microsecond floor: log of zero has no bucket
        index = math.floor(math.log(value) / self._log_base)
        self._counts[index] = self._counts.get(index, 0) + 1
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def percentile(self, q: float) -> float:
        """The value at quantile `q` (0-100): the upper edge of its bucket, never beyond the maximum."""
        if not self.count:
            return math.nan
        rank = max(1, math.ceil(self.count * q / 100))
        seen = 0
        for index in sorted(self._counts):
            seen += self._counts[index]
            if seen >= rank:
                return min(self._base ** (index + 1), self.max)
        return self.max

    def summary(self) -> dict[str, float]:
        if not self.count:
            return {"count": 0}
        return {
            "count": self.count,
            "mean_ms": round(self.total / self.count, 3),
            "p50_ms": round(self.percentile(50), 3),
            "p95_ms": round(self.percentile(95), 3),
            "p99_ms": round(self.percentile(99), 3),
            "max_ms": round(self.max, 3),
        }

"""When a failed plan payment is tried again, and when the subscription lapses."""

from __future__ import annotations

from datetime import datetime, timedelta

# Retry 1, 3 and 7 days after the first failure; after the last failure the plan is cancelled.
RETRY_AFTER_DAYS: tuple[int, ...] = (1, 3, 7)


def next_retry(first_failure: datetime, failures_so_far: int) -> datetime | None:
    """The time of the next attempt after `failures_so_far` failed attempts, or None: give up."""
    if failures_so_far < 1:
        raise ValueError("at least one failure precedes a retry")
    if failures_so_far > len(RETRY_AFTER_DAYS):
        return None
    return first_failure + timedelta(days=RETRY_AFTER_DAYS[failures_so_far - 1])

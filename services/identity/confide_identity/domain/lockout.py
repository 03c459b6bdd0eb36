"""Sign-in throttling: lock after repeated failures, with exponential backoff.

After `max_failures` failed attempts (password or second factor) within `window`, the sign-in identifier is
locked for `base_lock * 2**level` (1, 2, 4, 8 ... minutes), capped at `max_lock` (1 h). The level goes up
with each lock and falls back to zero after a successful sign-in or after `escalation_reset_after`
without failures.

Not revealing whether an account exists: key the state by the normalised sign-in identifier (the e-mail
address as typed), not by the account, and apply it identically whether or not an account exists. The
errors are the same for every caller: a wrong e-mail and a wrong password give the same
`invalid_credentials_error()`, and a lock gives the same `ResourceExhausted`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from confide_chassis.errors import ResourceExhausted, Unauthenticated
from confide_identity.domain.common import require_positive, require_utc


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    base_lock: timedelta = timedelta(minutes=1)
    max_lock: timedelta = timedelta(hours=1)
    escalation_reset_after: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be >= 1")
        for name in ("window", "base_lock", "max_lock", "escalation_reset_after"):
            require_positive(getattr(self, name), name)
        if self.max_lock < self.base_lock:
            raise ValueError("max_lock must be >= base_lock")

    def lock_duration(self, level: int) -> timedelta:
        """Length of the lock at escalation `level` (0 for the first lock)."""
        if level >= 32:
            return self.max_lock
        scaled: timedelta = self.base_lock * (2**level)
        return min(scaled, self.max_lock)


@dataclass(frozen=True, slots=True)
class SignInThrottle:
    """Throttle state of one sign-in identifier. The initial state is `SignInThrottle()`."""

    failures: int = 0
    window_started_at: datetime | None = None
    last_failure_at: datetime | None = None
    lock_level: int = 0
    locked_until: datetime | None = None

    def is_locked(self, now: datetime) -> bool:
        require_utc(now)
        return self.locked_until is not None and now < self.locked_until

    def retry_after(self, now: datetime) -> timedelta:
        if not self.is_locked(now) or self.locked_until is None:
            return timedelta(0)
        return self.locked_until - now


def invalid_credentials_error() -> Unauthenticated:
    """The one error for unknown e-mail, wrong password or wrong second factor."""
    return Unauthenticated("the e-mail address or password is incorrect")


def too_many_attempts_error(retry_after: timedelta) -> ResourceExhausted:
    seconds = max(1, math.ceil(retry_after.total_seconds()))
    return ResourceExhausted(
        "too many sign-in attempts; try again later",
        metadata={"retry_after_seconds": str(seconds)},
    )


def ensure_sign_in_allowed(state: SignInThrottle, *, now: datetime) -> None:
    """Call before checking any credential: a locked identifier is refused without evaluating it."""
    if state.is_locked(now):
        raise too_many_attempts_error(state.retry_after(now))


def record_failed_sign_in(state: SignInThrottle, *, now: datetime, policy: LockoutPolicy) -> SignInThrottle:
    require_utc(now)
    if state.is_locked(now):
        return state  # attempts during a lock are refused before evaluation and do not count
    level = state.lock_level
    if state.last_failure_at is not None and now - state.last_failure_at >= policy.escalation_reset_after:
        level = 0
    if state.window_started_at is None or now - state.window_started_at >= policy.window:
        failures, window_started_at = 1, now
    else:
        failures, window_started_at = state.failures + 1, state.window_started_at
    if failures >= policy.max_failures:
        return SignInThrottle(
            failures=0,
            window_started_at=None,
            last_failure_at=now,
            lock_level=level + 1,
            locked_until=now + policy.lock_duration(level),
        )
    return replace(
        state,
        failures=failures,
        window_started_at=window_started_at,
        last_failure_at=now,
        lock_level=level,
        locked_until=None,
    )


def record_successful_sign_in(state: SignInThrottle) -> SignInThrottle:
    """A full successful sign-in clears failures and escalation."""
    return SignInThrottle()

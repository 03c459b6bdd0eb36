from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from confide_chassis.errors import ResourceExhausted
from confide_identity.domain.lockout import (
    LockoutPolicy,
    SignInThrottle,
    ensure_sign_in_allowed,
    invalid_credentials_error,
    record_failed_sign_in,
    record_successful_sign_in,
)

POLICY = LockoutPolicy()


def fail(state: SignInThrottle, at: datetime, times: int = 1) -> SignInThrottle:
    for _ in range(times):
        state = record_failed_sign_in(state, now=at, policy=POLICY)
    return state


def test_four_failures_do_not_lock(now: datetime) -> None:
    state = fail(SignInThrottle(), now, 4)
    assert not state.is_locked(now)
    ensure_sign_in_allowed(state, now=now)


def test_fifth_failure_within_the_window_locks_for_one_minute(now: datetime) -> None:
    state = fail(SignInThrottle(), now, 5)
    assert state.locked_until == now + timedelta(minutes=1)
    with pytest.raises(ResourceExhausted) as raised:
        ensure_sign_in_allowed(state, now=now + timedelta(seconds=30))
    assert raised.value.metadata == {"retry_after_seconds": "30"}
    ensure_sign_in_allowed(state, now=now + timedelta(minutes=1))


def test_failures_outside_the_window_do_not_add_up(now: datetime) -> None:
    state = fail(SignInThrottle(), now, 4)
    state = fail(state, now + timedelta(minutes=16), 1)
    assert state.failures == 1
    assert not state.is_locked(now + timedelta(minutes=16))


def test_locks_escalate_exponentially_and_cap_at_one_hour(now: datetime) -> None:
    moment = now
    durations = []
    state = SignInThrottle()
    for _ in range(9):
        state = fail(state, moment, 5)
        assert state.locked_until is not None
        durations.append(state.locked_until - moment)
        moment = state.locked_until
    assert [int(d.total_seconds() // 60) for d in durations] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_attempts_during_a_lock_are_not_evaluated_or_counted(now: datetime) -> None:
    state = fail(SignInThrottle(), now, 5)
    assert fail(state, now + timedelta(seconds=10), 3) == state


def test_success_resets_failures_and_escalation(now: datetime) -> None:
    state = fail(SignInThrottle(), now, 5)
    state = fail(state, now + timedelta(minutes=1), 5)
    assert state.lock_level == 2
    assert record_successful_sign_in(state) == SignInThrottle()


def test_escalation_decays_after_a_quiet_day(now: datetime) -> None:
    state = fail(SignInThrottle(), now, 5)
    state = fail(state, now + timedelta(minutes=1), 5)
    later = now + timedelta(days=2)
    state = fail(state, later, 5)
    assert state.locked_until == later + timedelta(minutes=1)


def test_errors_are_generic() -> None:
    error = invalid_credentials_error()
    assert error.message == "the e-mail address or password is incorrect"
    assert error.metadata == {}


@given(st.integers(min_value=0, max_value=200))
def test_lock_duration_is_monotonic_and_capped(level: int) -> None:
    duration = POLICY.lock_duration(level)
    assert timedelta(minutes=1) <= duration <= timedelta(hours=1)
    assert POLICY.lock_duration(level + 1) >= duration


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        LockoutPolicy(max_failures=0)
    with pytest.raises(ValueError, match="max_lock"):
        LockoutPolicy(base_lock=timedelta(hours=2))

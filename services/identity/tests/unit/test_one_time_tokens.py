from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from confide_chassis.errors import Unauthenticated
from confide_identity.domain.one_time_tokens import (
    IssuedToken,
    TokenPurpose,
    TokenStatus,
    check_one_time_token,
    consume_one_time_token,
    hash_token,
    issue_one_time_token,
    token_status,
)


@pytest.fixture
def issued(now: datetime, random_bytes: Callable[[int], bytes]) -> IssuedToken:
    return issue_one_time_token(
        user_id=uuid4(), purpose=TokenPurpose.PASSWORD_RESET, random_bytes=random_bytes(32), now=now
    )


def test_only_the_hash_is_stored(issued: IssuedToken) -> None:
    assert issued.record.token_hash == hash_token(issued.token)
    assert issued.token not in repr(issued.record)
    assert len(issued.token) == 43  # 32 bytes, unpadded base64url


def test_default_lifetimes(now: datetime, random_bytes: Callable[[int], bytes]) -> None:
    reset = issue_one_time_token(
        user_id=uuid4(), purpose=TokenPurpose.PASSWORD_RESET, random_bytes=random_bytes(32), now=now
    )
    verify = issue_one_time_token(
        user_id=uuid4(), purpose=TokenPurpose.EMAIL_VERIFICATION, random_bytes=random_bytes(32), now=now
    )
    assert reset.record.expires_at - now == timedelta(minutes=30)
    assert verify.record.expires_at - now == timedelta(hours=24)


def test_valid_token_is_accepted_and_consumed_once(issued: IssuedToken, now: datetime) -> None:
    later = now + timedelta(minutes=5)
    record = check_one_time_token(issued.record, issued.token, purpose=TokenPurpose.PASSWORD_RESET, now=later)
    used = consume_one_time_token(record, issued.token, purpose=TokenPurpose.PASSWORD_RESET, now=later)
    assert used.used_at == later
    assert (
        token_status(used, issued.token, purpose=TokenPurpose.PASSWORD_RESET, now=later) is TokenStatus.USED
    )
    with pytest.raises(Unauthenticated):
        consume_one_time_token(used, issued.token, purpose=TokenPurpose.PASSWORD_RESET, now=later)


def test_expired_token_is_refused(issued: IssuedToken) -> None:
    at_expiry = issued.record.expires_at
    assert (
        token_status(issued.record, issued.token, purpose=TokenPurpose.PASSWORD_RESET, now=at_expiry)
        is TokenStatus.EXPIRED
    )
    with pytest.raises(Unauthenticated):
        check_one_time_token(issued.record, issued.token, purpose=TokenPurpose.PASSWORD_RESET, now=at_expiry)


def test_mismatch_wrong_purpose_and_missing_record(issued: IssuedToken, now: datetime) -> None:
    reset = TokenPurpose.PASSWORD_RESET
    assert token_status(issued.record, issued.token + "x", purpose=reset, now=now) is TokenStatus.MISMATCH
    assert (
        token_status(issued.record, issued.token, purpose=TokenPurpose.EMAIL_VERIFICATION, now=now)
        is TokenStatus.WRONG_PURPOSE
    )
    assert token_status(None, issued.token, purpose=reset, now=now) is TokenStatus.NOT_FOUND


def test_every_failure_gives_the_same_generic_error(issued: IssuedToken, now: datetime) -> None:
    messages = set()
    used = consume_one_time_token(issued.record, issued.token, purpose=TokenPurpose.PASSWORD_RESET, now=now)
    cases = [
        (None, issued.token, TokenPurpose.PASSWORD_RESET, now),
        (issued.record, "wrong", TokenPurpose.PASSWORD_RESET, now),
        (issued.record, issued.token, TokenPurpose.EMAIL_VERIFICATION, now),
        (issued.record, issued.token, TokenPurpose.PASSWORD_RESET, now + timedelta(days=1)),
        (used, issued.token, TokenPurpose.PASSWORD_RESET, now),
    ]
    for record, token, purpose, moment in cases:
        with pytest.raises(Unauthenticated) as raised:
            check_one_time_token(record, token, purpose=purpose, now=moment)
        messages.add((raised.value.message, tuple(raised.value.metadata.items())))
    assert len(messages) == 1


def test_needs_enough_randomness_and_an_aware_clock(now: datetime) -> None:
    with pytest.raises(ValueError, match="random_bytes"):
        issue_one_time_token(
            user_id=uuid4(), purpose=TokenPurpose.PASSWORD_RESET, random_bytes=b"short", now=now
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        issue_one_time_token(
            user_id=uuid4(),
            purpose=TokenPurpose.PASSWORD_RESET,
            random_bytes=bytes(32),
            now=now.replace(tzinfo=None),
        )

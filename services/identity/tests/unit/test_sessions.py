from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from confide_chassis.errors import InvalidArgument, Unauthenticated
from confide_identity.domain.sessions import (
    NewSession,
    Rejected,
    RejectReason,
    RevocationReason,
    Rotated,
    SessionPolicy,
    hash_refresh_token,
    revoke_all,
    revoke_family,
    rotate_refresh_token,
    session_policy,
    start_session,
)

POLICY = SessionPolicy(idle_timeout=timedelta(minutes=30), absolute_lifetime=timedelta(hours=12))


@pytest.fixture
def session(now: datetime, random_bytes: Callable[[int], bytes]) -> NewSession:
    return start_session(
        family_id=uuid4(),
        user_id=uuid4(),
        practice_id=uuid4(),
        mfa=True,
        random_bytes=random_bytes(32),
        now=now,
    )


def rotate(
    new: NewSession | Rotated, token: str, at: datetime, random_bytes: Callable[[int], bytes]
) -> Rotated | Rejected:
    return rotate_refresh_token(new.family, token, random_bytes=random_bytes(32), now=at, policy=POLICY)


def test_refresh_tokens_are_stored_hashed(session: NewSession) -> None:
    assert session.family.current.token_hash == hash_refresh_token(session.refresh_token)
    assert session.refresh_token not in repr(session.family)


def test_rotation_issues_a_new_token_in_the_same_family(
    session: NewSession, now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    later = now + timedelta(minutes=10)
    outcome = rotate(session, session.refresh_token, later, random_bytes)
    assert isinstance(outcome, Rotated)
    assert outcome.refresh_token != session.refresh_token
    assert outcome.family.family_id == session.family.family_id
    assert outcome.family.current.generation == 1
    assert outcome.family.tokens[0].used_at == later
    assert outcome.family.last_used_at == later


def test_reuse_of_a_used_token_revokes_the_whole_family(
    session: NewSession, now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    first = rotate(session, session.refresh_token, now + timedelta(minutes=1), random_bytes)
    assert isinstance(first, Rotated)
    second = rotate(first, first.refresh_token, now + timedelta(minutes=2), random_bytes)
    assert isinstance(second, Rotated)

    # an attacker replays the first (already used) token
    replay = rotate(second, session.refresh_token, now + timedelta(minutes=3), random_bytes)
    assert isinstance(replay, Rejected)
    assert replay.reason is RejectReason.REUSE_DETECTED
    assert replay.family_changed
    assert replay.family is not None
    assert replay.family.revoked_reason is RevocationReason.REUSE_DETECTED

    # the legitimate holder's newest token is now dead too
    after = rotate_refresh_token(
        replay.family,
        second.refresh_token,
        random_bytes=random_bytes(32),
        now=now + timedelta(minutes=4),
        policy=POLICY,
    )
    assert isinstance(after, Rejected)
    assert after.reason is RejectReason.REVOKED
    assert isinstance(after.error(), Unauthenticated)


def test_unknown_token_is_rejected_without_touching_the_family(
    session: NewSession, now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    outcome = rotate(session, "not-a-token", now, random_bytes)
    assert isinstance(outcome, Rejected)
    assert outcome.reason is RejectReason.UNKNOWN_TOKEN
    assert not outcome.family_changed
    none = rotate_refresh_token(None, "x", random_bytes=random_bytes(32), now=now, policy=POLICY)
    assert isinstance(none, Rejected)
    assert none.family is None


def test_sec_01_idle_timeout_ends_the_session(
    session: NewSession, now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    just_in_time = rotate(
        session, session.refresh_token, now + timedelta(minutes=29, seconds=59), random_bytes
    )
    assert isinstance(just_in_time, Rotated)
    # idle is measured from the last refresh, not from sign-in
    idle_from = just_in_time.family.last_used_at
    outcome = rotate(
        just_in_time, just_in_time.refresh_token, idle_from + timedelta(minutes=30), random_bytes
    )
    assert isinstance(outcome, Rejected)
    assert outcome.reason is RejectReason.IDLE_TIMEOUT
    assert outcome.family is not None
    assert outcome.family.revoked_reason is RevocationReason.IDLE_TIMEOUT


def test_sec_01_absolute_lifetime_ends_an_active_session(
    session: NewSession, now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    current: NewSession | Rotated = session
    token = session.refresh_token
    moment = now
    while moment + timedelta(minutes=20) < now + timedelta(hours=12):
        moment += timedelta(minutes=20)
        outcome = rotate(current, token, moment, random_bytes)
        assert isinstance(outcome, Rotated)
        current, token = outcome, outcome.refresh_token
    final = rotate(current, token, now + timedelta(hours=12), random_bytes)
    assert isinstance(final, Rejected)
    assert final.reason is RejectReason.ABSOLUTE_TIMEOUT


def test_sec_01_idle_timeout_is_configurable_per_practice(
    now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    strict = SessionPolicy(idle_timeout=timedelta(minutes=10), absolute_lifetime=timedelta(hours=8))
    new = start_session(
        family_id=uuid4(),
        user_id=uuid4(),
        practice_id=uuid4(),
        mfa=False,
        random_bytes=random_bytes(32),
        now=now,
    )
    outcome = rotate_refresh_token(
        new.family,
        new.refresh_token,
        random_bytes=random_bytes(32),
        now=now + timedelta(minutes=11),
        policy=strict,
    )
    assert isinstance(outcome, Rejected)
    assert outcome.reason is RejectReason.IDLE_TIMEOUT
    assert strict.access_token_ttl == timedelta(minutes=10)
    assert POLICY.access_token_ttl == timedelta(minutes=15)


def test_sign_out_revokes_one_family(
    session: NewSession, now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    revoked = revoke_family(session.family, reason=RevocationReason.SIGN_OUT, now=now)
    assert revoked.revoked_reason is RevocationReason.SIGN_OUT
    assert revoke_family(revoked, reason=RevocationReason.ADMIN, now=now + timedelta(minutes=1)) == revoked
    outcome = rotate_refresh_token(
        revoked, session.refresh_token, random_bytes=random_bytes(32), now=now, policy=POLICY
    )
    assert isinstance(outcome, Rejected)
    assert outcome.reason is RejectReason.REVOKED


def test_sign_out_everywhere_revokes_every_active_family(
    now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    user, practice = uuid4(), uuid4()
    families = [
        start_session(
            family_id=uuid4(),
            user_id=user,
            practice_id=practice,
            mfa=True,
            random_bytes=random_bytes(32),
            now=now,
        ).family
        for _ in range(3)
    ]
    already = revoke_family(families[0], reason=RevocationReason.SIGN_OUT, now=now)
    changed = revoke_all([already, *families[1:]], now=now + timedelta(minutes=1))
    assert len(changed) == 2
    assert all(family.revoked_reason is RevocationReason.SIGN_OUT_EVERYWHERE for family in changed)
    assert all(not family.is_active(now=now + timedelta(minutes=1), policy=POLICY) for family in changed)


def test_family_expiry_is_the_earlier_of_idle_and_absolute(session: NewSession, now: datetime) -> None:
    assert session.family.expires_at(POLICY) == now + timedelta(minutes=30)
    assert session.family.is_active(now=now, policy=POLICY)


@pytest.mark.parametrize(
    ("idle", "absolute", "field"),
    [
        (60, 3600, "session_policy.idle_timeout"),
        (3600, 1800, "session_policy.absolute_lifetime"),
        (1800, 60 * 86400, "session_policy.absolute_lifetime"),
        (10**12, 3600, "session_policy.idle_timeout"),
        (10**15, 3600, "session_policy"),
    ],
)
def test_session_policy_validation_names_the_field(idle: int, absolute: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        session_policy(idle_timeout_seconds=idle, absolute_lifetime_seconds=absolute)
    assert field in [v.field for v in raised.value.violations]

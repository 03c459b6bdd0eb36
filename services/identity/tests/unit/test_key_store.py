"""The in-memory key snapshot as the chassis token verifier sees it (a `JwksSource`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from confide_identity.app.keys import KeySnapshot, KeyStore
from confide_identity.domain.tokens import KeyRecord, KeyRing, KeyRotationPolicy, SigningKey


def _record(seed: int, created_at: datetime, **times: datetime) -> KeyRecord:
    key = SigningKey.from_seed(bytes([seed]) * 32)
    return KeyRecord(kid=key.kid, public_key=key.public_key, created_at=created_at, **times)


def test_keys_stay_the_same_object_until_the_published_set_changes(now: datetime) -> None:
    """The verifier drops its verified-token memory whenever `keys()` returns a different object."""
    policy = KeyRotationPolicy()
    clock = [now]
    store = KeyStore(policy, lambda: clock[0])
    old = _record(1, now - timedelta(days=40), activated_at=now - timedelta(days=40), retired_at=now)
    new = _record(2, now - timedelta(days=1), activated_at=now)
    store.update(KeySnapshot(ring=KeyRing(keys=(old, new)), signing_key=None))

    first = store.keys()
    assert set(first) == {old.kid, new.kid}
    assert store.keys() is first
    store.update(KeySnapshot(ring=KeyRing(keys=(old, new)), signing_key=None))  # a reload, nothing new
    assert store.keys() is first

    clock[0] = now + policy.overlap  # the retired key leaves the JWKS
    assert set(store.keys()) == {new.kid}
    assert set(first) == {old.kid, new.kid}  # what a caller already holds is never changed

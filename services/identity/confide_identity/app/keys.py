"""Token-signing keys: stored sealed in the database, cached in memory, rotated with the domain KeyRing.

- `KeyStore` is the in-memory snapshot every request reads: the active private key (to sign) and the
  published public keys (the JWKS; also what identity's own interceptor verifies against).
- `KeyManager` changes the ring inside a unit of work under a database lock (replicas never rotate at
  the same time), then reloads the snapshot. Each replica also reloads on a timer, so a rotation made by
  one replica reaches the others within `IDENTITY_KEY_REFRESH_SECONDS`; the publish lead (IDN-KEY-01)
  is longer than that, so a key is in every replica's JWKS before any replica signs with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confide_chassis.errors import Unavailable
from confide_chassis.logging import get_logger
from confide_identity.app.models import StoredSigningKey
from confide_identity.app.ports import UnitOfWorkFactory
from confide_identity.crypto import Sealer
from confide_identity.domain.tokens import (
    KeyRecord,
    KeyRing,
    KeyRotationPolicy,
    KeyState,
    SigningKey,
)

log = get_logger(__name__)

SOURCE_GENERATED = "generated"
SOURCE_IMPORTED = "imported"


def _context(kid: str) -> str:
    return f"signing_key:{kid}"


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    ring: KeyRing
    signing_key: SigningKey | None


class KeyStore:
    """The current key snapshot. `keys()` makes it a chassis `JwksSource` (kid -> public key)."""

    def __init__(self, policy: KeyRotationPolicy, clock: Callable[[], datetime]) -> None:
        self.policy = policy
        self._clock = clock
        self._snapshot = KeySnapshot(ring=KeyRing(), signing_key=None)
        self._published_keys: dict[str, Any] = {}

    def update(self, snapshot: KeySnapshot) -> None:
        self._snapshot = snapshot

    @property
    def ring(self) -> KeyRing:
        return self._snapshot.ring

    def signing_key(self) -> SigningKey:
        key = self._snapshot.signing_key
        if key is None:
            raise Unavailable("no signing key is available yet; retry shortly")
        return key

    def published(self) -> tuple[KeyRecord, ...]:
        return self._snapshot.ring.published(now=self._clock(), policy=self.policy)

    def keys(self) -> Mapping[str, Any]:
        """The same mapping object for as long as the published kids stay the same: the chassis verifier
        forgets its verified tokens whenever the object changes, so a fresh dict per call would make it
        check every token's signature again on every request. A kid is the key's thumbprint (RFC 7638),
        so equal kids mean equal keys."""
        published = self.published()
        if [record.kid for record in published] != list(self._published_keys):
            self._published_keys = {record.kid: record.public_key for record in published}
        return self._published_keys

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self._snapshot.ring.jwks(now=self._clock(), policy=self.policy)

    def jwks_json(self) -> str:
        return json.dumps(self.jwks(), separators=(",", ":"), sort_keys=True)


def load_private_key_file(path: str | Path) -> SigningKey:
    """An Ed25519 private key from a PKCS#8 PEM file (e.g. the dev stack's key) and its RFC 7638 kid."""
    loaded = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return SigningKey.from_private_key(loaded)


class KeyManager:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        sealer: Sealer,
        store: KeyStore,
        *,
        clock: Callable[[], datetime],
        random_bytes: Callable[[int], bytes],
    ) -> None:
        self._uow = uow
        self._sealer = sealer
        self._store = store
        self._clock = clock
        self._random = random_bytes

    @property
    def policy(self) -> KeyRotationPolicy:
        return self._store.policy

    def _seal(self, key: SigningKey) -> bytes:
        raw = key.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return self._sealer.seal(raw, context=_context(key.kid))

    def _open(self, stored: StoredSigningKey) -> SigningKey:
        raw = self._sealer.open(stored.private_key_sealed, context=_context(stored.record.kid))
        key = SigningKey.from_private_key(Ed25519PrivateKey.from_private_bytes(raw))
        if key.kid != stored.record.kid:
            raise ValueError("a stored signing key does not match its kid")
        return key

    def _generate(self, now: datetime) -> StoredSigningKey:
        key = SigningKey.from_seed(self._random(32))
        return StoredSigningKey(
            record=KeyRecord.for_signing_key(key, created_at=now),
            private_key_sealed=self._seal(key),
            source=SOURCE_GENERATED,
        )

    async def reload(self) -> KeySnapshot:
        async with self._uow() as uow:
            stored = await uow.keys.all()
        ring = KeyRing(keys=tuple(item.record for item in stored))
        active = ring.active()
        signing = None
        if active is not None:
            signing = self._open(next(item for item in stored if item.record.kid == active.kid))
        snapshot = KeySnapshot(ring=ring, signing_key=signing)
        self._store.update(snapshot)
        return snapshot

    async def bootstrap(self, signing_key_file: str | None) -> None:
        """At start: import the configured key once (as the active key); make sure some key is active."""
        now = self._clock()
        async with self._uow() as uow:
            await uow.keys.lock()
            stored = list(await uow.keys.all())
            ring = KeyRing(keys=tuple(item.record for item in stored))
            if signing_key_file:
                imported = load_private_key_file(signing_key_file)
                if ring.get(imported.kid) is None:
                    # An operator-supplied key (the dev stack's) is already in the verifiers' JWKS file,
                    # so it may sign at once: the publish lead of IDN-KEY-01 is satisfied out of band.
                    current = ring.active()
                    kept = list(ring.keys)
                    if current is not None:
                        retired = replace(current, retired_at=now)
                        await uow.keys.save_states([_with_record(stored, retired)])
                        kept = [retired if key.kid == current.kid else key for key in kept]
                    record = replace(KeyRecord.for_signing_key(imported, created_at=now), activated_at=now)
                    await uow.keys.add(
                        StoredSigningKey(
                            record=record, private_key_sealed=self._seal(imported), source=SOURCE_IMPORTED
                        )
                    )
                    log.info("imported the configured signing key as the active key", kid=imported.kid)
                    ring = KeyRing(keys=(*kept, record))
            if ring.active() is None:
                fresh = self._generate(now)
                # The first key of an empty ring may sign at once (nothing verifies against it yet).
                ring = ring.add_pending(fresh.record).activate(fresh.record.kid, now=now, policy=self.policy)
                await uow.keys.add(replace(fresh, record=ring.get(fresh.record.kid) or fresh.record))
                log.info("generated the first signing key", kid=fresh.record.kid)
            await uow.commit()
        await self.reload()

    async def rotate_step(self, *, force: bool) -> tuple[KeyRecord, ...]:
        """One step of rotation (see AuthService.RotateSigningKey); `force` adds a pending key even when
        rotation is not due yet. Returns every key after the step."""
        now = self._clock()
        async with self._uow() as uow:
            await uow.keys.lock()
            stored = list(await uow.keys.all())
            ring = KeyRing(keys=tuple(item.record for item in stored))
            pruned = ring.prune(now=now, policy=self.policy)
            gone = [key.kid for key in ring.keys if pruned.get(key.kid) is None]
            if gone:
                await uow.keys.delete(gone)
                log.info("pruned retired signing keys", kids=gone)
            ring = pruned
            pending = sorted(
                (key for key in ring.keys if key.state is KeyState.PENDING), key=lambda key: key.created_at
            )
            ready = [key for key in pending if now >= key.created_at + self.policy.publish_lead]
            if ready:
                before = {key.kid: key for key in ring.keys}
                ring = ring.activate(ready[0].kid, now=now, policy=self.policy)
                changed = [key for key in ring.keys if before[key.kid] != key]
                await uow.keys.save_states([_with_record(stored, key) for key in changed])
                log.info("activated a signing key", kid=ready[0].kid)
            elif not pending and (force or ring.rotation_due(now=now, policy=self.policy)):
                fresh = self._generate(now)
                ring = ring.add_pending(fresh.record)
                await uow.keys.add(fresh)
                log.info("published a new pending signing key", kid=fresh.record.kid)
            await uow.commit()
        await self.reload()
        return tuple(sorted(ring.keys, key=lambda key: key.created_at))

    async def run(self, stop: asyncio.Event, *, interval: float, auto_rotate: bool) -> None:
        """Background task: reload the snapshot every `interval` seconds and rotate when due."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            try:
                if auto_rotate:
                    await self.rotate_step(force=False)
                else:
                    await self.reload()
            except Exception as exc:  # keep serving with the last snapshot; the next round retries
                log.warning("signing-key refresh failed", error=type(exc).__name__)


def _with_record(stored: Sequence[StoredSigningKey], record: KeyRecord) -> StoredSigningKey:
    for item in stored:
        if item.record.kid == record.kid:
            return replace(item, record=record)
    raise KeyError(record.kid)

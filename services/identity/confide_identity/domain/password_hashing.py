"""Password hashing behind a port, with an argon2id implementation.

`Argon2PasswordHasher` is the one place in the domain package that uses randomness: argon2-cffi draws the
salt itself. It does no I/O and needs no clock, so it lives next to the port; the app layer depends on
the `PasswordHasher` protocol only and tests may substitute cheaper parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from confide_identity.domain.passwords import normalize_password


class PasswordHasher(Protocol):
    """Port: hash and verify memorized secrets; tell when a stored hash should be upgraded."""

    def hash(self, password: str) -> str: ...

    def verify(self, stored_hash: str, password: str) -> bool: ...

    def needs_rehash(self, stored_hash: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """argon2id cost parameters.

    Default = RFC 9106 §4 second recommended option ("memory-constrained"): t=3, m=64 MiB, p=4,
    16-byte salt, 32-byte tag; it is above the OWASP Password Storage Cheat Sheet minimum
    (m=19 MiB, t=2, p=1). Tune on production hardware for ~0.2-0.5 s per hash.
    """

    time_cost: int = 3
    memory_cost_kib: int = 64 * 1024
    parallelism: int = 4
    hash_len: int = 32
    salt_len: int = 16

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1:
            raise ValueError("argon2 time_cost and parallelism must be >= 1")
        if self.memory_cost_kib < 8 * self.parallelism:
            raise ValueError("argon2 memory_cost must be >= 8 KiB per lane")
        if self.hash_len < 16 or self.salt_len < 16:
            raise ValueError("argon2 hash_len and salt_len must be >= 16 bytes")


PRODUCTION_ARGON2_PARAMS: Final = Argon2Params()


class Argon2PasswordHasher:
    """argon2id via argon2-cffi with explicit parameters. Passwords are NFKC-normalised first."""

    def __init__(self, params: Argon2Params = PRODUCTION_ARGON2_PARAMS) -> None:
        self.params = params
        self._hasher = argon2.PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism,
            hash_len=params.hash_len,
            salt_len=params.salt_len,
            type=argon2.Type.ID,
        )
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalize_password(password))

    def verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, normalize_password(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True for hashes made with other parameters or another algorithm/variant (upgrade on sign-in)."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def dummy_hash(self) -> str:
        """A hash of a fixed throwaway password with the current parameters (see `verify_or_dummy`)."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hash("confide-dummy-password-for-timing")
        return self._dummy_hash


def verify_or_dummy(hasher: Argon2PasswordHasher, stored_hash: str | None, password: str) -> bool:
    """Verify against `stored_hash`, or, when there is no account, against a dummy hash and return False.

    Unknown accounts then cost the same argon2 work as known ones, so response time does not reveal
    whether an account exists.
    """
    if stored_hash is None:
        hasher.verify(hasher.dummy_hash(), password)
        return False
    return hasher.verify(stored_hash, password)

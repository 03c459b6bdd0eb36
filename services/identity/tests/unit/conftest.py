"""Shared fixtures for the identity domain unit tests (pure: no I/O, fixed clock, seeded bytes)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from confide_identity.domain.age_of_consent import AgeOfConsentTable
from confide_identity.domain.password_hashing import Argon2Params, Argon2PasswordHasher
from confide_identity.reference_data import load_age_of_consent_table, load_common_passwords

NOW = datetime(2026, 3, 2, 15, 30, 0, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def random_bytes() -> Callable[[int], bytes]:
    """Deterministic 'random' bytes: each call returns fresh, distinct bytes."""
    counter = 0

    def draw(size: int) -> bytes:
        nonlocal counter
        counter += 1
        out = b""
        block = 0
        while len(out) < size:
            out += hashlib.sha256(f"seed-{counter}-{block}".encode()).digest()
            block += 1
        return out[:size]

    return draw


@pytest.fixture
def practice_id() -> UUID:
    return uuid4()


@pytest.fixture
def other_practice_id() -> UUID:
    return uuid4()


@pytest.fixture(scope="session")
def fast_hasher() -> Argon2PasswordHasher:
    """argon2id with tiny costs so the tests stay fast; production params are tested separately."""
    return Argon2PasswordHasher(Argon2Params(time_cost=1, memory_cost_kib=1024, parallelism=1))


@pytest.fixture(scope="session")
def common_passwords() -> frozenset[str]:
    return load_common_passwords()


@pytest.fixture(scope="session")
def consent_table() -> AgeOfConsentTable:
    return load_age_of_consent_table()

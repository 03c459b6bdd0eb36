from __future__ import annotations

import pytest

from confide_identity.domain.password_hashing import (
    PRODUCTION_ARGON2_PARAMS,
    Argon2Params,
    Argon2PasswordHasher,
    PasswordHasher,
    verify_or_dummy,
)


def test_hash_is_argon2id_with_explicit_parameters(fast_hasher: Argon2PasswordHasher) -> None:
    encoded = fast_hasher.hash("violet-lantern-87-orbit")
    assert encoded.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert "violet" not in encoded


def test_production_parameters_follow_rfc_9106() -> None:
    assert Argon2Params(time_cost=3, memory_cost_kib=65536, parallelism=4) == PRODUCTION_ARGON2_PARAMS


def test_verify_accepts_the_right_password_and_rejects_others(fast_hasher: Argon2PasswordHasher) -> None:
    encoded = fast_hasher.hash("violet-lantern-87-orbit")
    assert fast_hasher.verify(encoded, "violet-lantern-87-orbit")
    assert not fast_hasher.verify(encoded, "violet-lantern-87-orbiT")
    assert not fast_hasher.verify("not-a-hash", "violet-lantern-87-orbit")


def test_salts_differ_per_hash(fast_hasher: Argon2PasswordHasher) -> None:
    assert fast_hasher.hash("same password here") != fast_hasher.hash("same password here")


def test_passwords_are_nfkc_normalised_before_hashing(fast_hasher: Argon2PasswordHasher) -> None:
    encoded = fast_hasher.hash("ﬁsh and chips together")  # U+FB01 ligature
    assert fast_hasher.verify(encoded, "fish and chips together")


def test_needs_rehash_when_parameters_change(fast_hasher: Argon2PasswordHasher) -> None:
    stronger = Argon2PasswordHasher(Argon2Params(time_cost=2, memory_cost_kib=2048, parallelism=1))
    old = fast_hasher.hash("violet-lantern-87-orbit")
    assert not fast_hasher.needs_rehash(old)
    assert stronger.needs_rehash(old)
    assert stronger.verify(old, "violet-lantern-87-orbit")  # old hashes still verify, then get upgraded
    assert not stronger.needs_rehash(stronger.hash("violet-lantern-87-orbit"))


def test_needs_rehash_for_other_variants_and_garbage(fast_hasher: Argon2PasswordHasher) -> None:
    argon2i = (
        "$argon2i$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"
    )
    assert fast_hasher.needs_rehash(argon2i)
    assert fast_hasher.needs_rehash("$2b$12$legacybcrypthash")


def test_hasher_satisfies_the_port(fast_hasher: Argon2PasswordHasher) -> None:
    port: PasswordHasher = fast_hasher
    assert port.verify(port.hash("violet-lantern-87-orbit"), "violet-lantern-87-orbit")


def test_unknown_account_still_costs_a_verification(fast_hasher: Argon2PasswordHasher) -> None:
    assert verify_or_dummy(fast_hasher, None, "anything at all here") is False
    assert fast_hasher.dummy_hash().startswith("$argon2id$")
    encoded = fast_hasher.hash("violet-lantern-87-orbit")
    assert verify_or_dummy(fast_hasher, encoded, "violet-lantern-87-orbit") is True


@pytest.mark.parametrize(
    "params",
    [
        {"time_cost": 0},
        {"parallelism": 0},
        {"memory_cost_kib": 4, "parallelism": 1},
        {"hash_len": 8},
        {"salt_len": 8},
    ],
)
def test_weak_parameters_are_refused(params: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"argon2"):
        Argon2Params(**params)

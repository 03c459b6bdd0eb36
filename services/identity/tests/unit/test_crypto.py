"""Secrets at rest (IDN-KEY-02): AES-256-GCM sealing under the KEK, KEK rotation, keyed hashes, and the
service refusing to start without a KEK outside dev mode."""

from __future__ import annotations

import base64
import os

import pytest

from confide_chassis.settings import ConfigurationError
from confide_identity.crypto import SealedDataError, Sealer, sealer_from_settings
from confide_identity.settings import IdentitySettings


def kek() -> bytes:
    return os.urandom(32)


def test_seal_and_open_round_trip_with_context_binding() -> None:
    sealer = Sealer(current=kek())
    blob = sealer.seal(b"JBSWY3DPEHPK3PXP", context="totp:user-1")
    assert b"JBSWY3DPEHPK3PXP" not in blob
    assert sealer.open(blob, context="totp:user-1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(SealedDataError):
        sealer.open(blob, context="totp:user-2")  # copied to another row
    with pytest.raises(SealedDataError):
        sealer.open(blob[:-1] + bytes([blob[-1] ^ 1]), context="totp:user-1")  # tampered
    assert sealer.seal(b"x", context="c") != sealer.seal(b"x", context="c")  # fresh nonce each time


def test_previous_keks_still_open_and_reseal_is_detected() -> None:
    old, new = kek(), kek()
    blob = Sealer(current=old).seal(b"secret", context="c")
    rotated = Sealer(current=new, previous=(old,))
    assert rotated.open(blob, context="c") == b"secret"
    assert rotated.needs_reseal(blob)
    assert not rotated.needs_reseal(rotated.seal(b"secret", context="c"))
    with pytest.raises(SealedDataError):
        Sealer(current=new).open(blob, context="c")


def test_keyed_hashes_are_stable_per_kek_and_purpose() -> None:
    key = kek()
    a, b = Sealer(current=key), Sealer(current=key)
    assert a.keyed_hash("throttle", "p:x@example.test") == b.keyed_hash("throttle", "p:x@example.test")
    assert a.keyed_hash("throttle", "p:x@example.test") != a.keyed_hash("other", "p:x@example.test")
    assert a.keyed_hash("throttle", "p:x@example.test") != Sealer(current=kek()).keyed_hash(
        "throttle", "p:x@example.test"
    )


def test_the_service_refuses_to_start_without_a_kek() -> None:
    with pytest.raises(ConfigurationError, match="IDENTITY_KEY_ENCRYPTION_KEY is required"):
        sealer_from_settings(IdentitySettings(database_url="postgresql+asyncpg://x/y"))


@pytest.mark.parametrize("value", ["not base64!!", base64.b64encode(b"short").decode()])
def test_a_malformed_kek_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError):
        sealer_from_settings(IdentitySettings(key_encryption_key=value))


def test_kek_from_the_environment_standard_or_urlsafe_base64(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = bytes(range(32))
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        monkeypatch.setenv("IDENTITY_KEY_ENCRYPTION_KEY", encoded)
        assert IdentitySettings().key_encryption_key is not None
        assert sealer_from_settings(IdentitySettings()).current == raw


def test_dev_mode_derives_a_stable_kek_per_database() -> None:
    one = sealer_from_settings(IdentitySettings(dev_mode=True, database_url="postgresql+asyncpg://h/a"))
    again = sealer_from_settings(IdentitySettings(dev_mode=True, database_url="postgresql+asyncpg://h/a"))
    other = sealer_from_settings(IdentitySettings(dev_mode=True, database_url="postgresql+asyncpg://h/b"))
    assert one.current == again.current != other.current


def test_settings_defaults_follow_the_conventions() -> None:
    settings = IdentitySettings()
    assert (settings.service_name, settings.grpc_port, settings.metrics_port) == ("identity", 50051, 9101)
    assert settings.auto_rotate
    assert not IdentitySettings(signing_key_file="/k.pem").auto_rotate

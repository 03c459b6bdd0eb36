"""Secrets at rest: AES-256-GCM under a key-encryption key (KEK), and keyed hashes.

What is sealed: TOTP shared secrets and private signing keys (IDN-KEY-02). Passwords are argon2id hashes
and high-entropy tokens are SHA-256 hashes (domain), so they need no encryption.

Sealed blob: ``0x01 || kek_id (8 bytes) || nonce (12 bytes) || ciphertext+tag``. The associated data is
the header plus a caller-chosen context (e.g. ``totp:<user id>``), so a blob copied to another row does
not decrypt. `kek_id` names the KEK that sealed it; previous KEKs (``IDENTITY_PREVIOUS_KEY_ENCRYPTION_KEYS``)
keep decrypting after a rotation, and `needs_reseal` tells which blobs to re-encrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from confide_chassis.logging import get_logger
from confide_chassis.settings import ConfigurationError
from confide_identity.settings import IdentitySettings

log = get_logger(__name__)

KEK_BYTES: Final = 32
_VERSION: Final = b"\x01"
_KEK_ID_BYTES: Final = 8
_NONCE_BYTES: Final = 12
_HEADER: Final = len(_VERSION) + _KEK_ID_BYTES


class SealedDataError(RuntimeError):
    """A sealed blob does not open: wrong KEK, wrong context or tampering. A bug or an attack."""


def kek_id(kek: bytes) -> bytes:
    return hashlib.sha256(b"confide-identity-kek-id\x00" + kek).digest()[:_KEK_ID_BYTES]


def _decode_kek(value: str, name: str) -> bytes:
    text = value.strip()
    try:
        raw = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None
        )
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"{name} is not valid base64") from exc
    if len(raw) != KEK_BYTES:
        raise ConfigurationError(f"{name} must decode to exactly {KEK_BYTES} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True, slots=True)
class Sealer:
    """Seals and opens secrets with the current KEK; opens with previous ones too."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for key in (self.current, *self.previous):
            if len(key) != KEK_BYTES:
                raise ConfigurationError(f"a key-encryption key is {KEK_BYTES} bytes")

    def _by_id(self) -> dict[bytes, bytes]:
        return {kek_id(key): key for key in (*self.previous, self.current)}

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        header = _VERSION + kek_id(self.current)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(self.current).encrypt(nonce, plaintext, header + context.encode("utf-8"))
        return header + nonce + ciphertext

    def open(self, blob: bytes, *, context: str) -> bytes:
        if len(blob) < _HEADER + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise SealedDataError("not a sealed blob")
        header, nonce, ciphertext = (
            blob[:_HEADER],
            blob[_HEADER : _HEADER + _NONCE_BYTES],
            blob[_HEADER + _NONCE_BYTES :],
        )
        key = self._by_id().get(header[1:])
        if key is None:
            raise SealedDataError("sealed with an unknown key-encryption key")
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, header + context.encode("utf-8"))
        except InvalidTag as exc:
            raise SealedDataError("sealed blob failed authentication") from exc

    def needs_reseal(self, blob: bytes) -> bool:
        """True when `blob` was sealed with a previous KEK (re-seal it with the current one)."""
        return blob[1:_HEADER] != kek_id(self.current)

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte subkey of the current KEK for one purpose (HKDF-SHA256)."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"confide-identity:{purpose}".encode()
        ).derive(self.current)

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of `value` under the purpose's subkey: a lookup key that does not reveal `value`
        and cannot be brute-forced from a database dump without the KEK."""
        return hmac.new(self.derive_key(purpose), value.encode("utf-8"), hashlib.sha256).hexdigest()


def _split(values: str | None) -> Iterable[str]:
    return [part for part in (values or "").split(",") if part.strip()]


def sealer_from_settings(settings: IdentitySettings) -> Sealer:
    """The KEK from ``IDENTITY_KEY_ENCRYPTION_KEY``; without it, refuse to start unless dev mode."""
    previous = tuple(
        _decode_kek(value, "IDENTITY_PREVIOUS_KEY_ENCRYPTION_KEYS")
        for value in _split(
            settings.previous_key_encryption_keys.get_secret_value()
            if settings.previous_key_encryption_keys
            else None
        )
    )
    if settings.key_encryption_key is not None and settings.key_encryption_key.get_secret_value().strip():
        current = _decode_kek(settings.key_encryption_key.get_secret_value(), "IDENTITY_KEY_ENCRYPTION_KEY")
        return Sealer(current=current, previous=previous)
    if not settings.dev_mode:
        raise ConfigurationError(
            "IDENTITY_KEY_ENCRYPTION_KEY is required (base64 of 32 random bytes, e.g. "
            '`python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"`); '
            "set IDENTITY_DEV_MODE=true only on a developer machine"
        )
    # Dev mode: a stable key per database, so restarts can still decrypt what earlier runs sealed.
    seed = f"confide-identity-dev-kek\x00{settings.database_url or ''}".encode()
    log.warning("IDENTITY_DEV_MODE: using a derived key-encryption key; never do this in production")
    return Sealer(current=hashlib.sha256(seed).digest(), previous=previous)

"""Envelope encryption of message bodies (MSG-01, SEC-02; docs/adr/0017-messaging.md).

- Each thread has a random 256-bit data key. Bodies (and amendment reasons) are sealed with
  AES-256-GCM under it, a fresh 96-bit nonce per value, and associated data naming the thread and
  the message, so a ciphertext copied onto another row does not decrypt.
- The data key is stored only wrapped (AES-256-GCM) by a key-encryption key (KEK) named by its id.
  KEKs come from settings (a Kubernetes Secret), never the database.
- Rotation adds a new KEK, makes it active, and re-wraps every data key (`rotate-kek`); bodies are
  not touched and reads keep working throughout, since any configured KEK unwraps its own keys.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from confide_chassis.settings import ConfigurationError

NONCE_BYTES = 12
KEY_BYTES = 32
FORMAT = b"\x01"  # first byte of every sealed value: nonce || ciphertext+tag follow


class KeyUnavailable(RuntimeError):
    """A wrapped key names a KEK this process does not have (configuration, not a caller's error)."""


@dataclass(frozen=True, slots=True)
class WrappedKey:
    kek_id: str
    wrapped: bytes


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if not sealed.startswith(FORMAT):
        raise ValueError("unknown ciphertext format")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    return AESGCM(key).decrypt(nonce, body, aad)


def _wrap_aad(thread_id: UUID, kek_id: str) -> bytes:
    return f"confide.messaging/thread-key/v1/{thread_id}/{kek_id}".encode()


def body_aad(thread_id: UUID, message_id: UUID, part: str = "body") -> bytes:
    return f"confide.messaging/{part}/v1/{thread_id}/{message_id}".encode()


class KeyRing:
    """The configured KEKs; wraps with the active one, unwraps with whichever a key names."""

    def __init__(self, keks: dict[str, bytes], active_kek_id: str) -> None:
        if active_kek_id not in keks:
            raise ConfigurationError(f"MESSAGING_ACTIVE_KEK_ID {active_kek_id!r} is not in MESSAGING_KEKS")
        for kek_id, key in keks.items():
            if len(key) != KEY_BYTES:
                raise ConfigurationError(f"KEK {kek_id!r} must be {KEY_BYTES} bytes (base64 of 32 bytes)")
        self._keks = dict(keks)
        self.active_kek_id = active_kek_id
        self._data_keys: OrderedDict[UUID, bytes] = OrderedDict()

    @classmethod
    def parse(cls, spec: str, active_kek_id: str | None) -> KeyRing:
        """`<id>:<base64>,<id>:<base64>`; the active KEK defaults to the first."""
        keks: dict[str, bytes] = {}
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            kek_id, sep, encoded = part.partition(":")
            if not sep or not kek_id:
                raise ConfigurationError("MESSAGING_KEKS entries are <kek id>:<base64 key>")
            try:
                keks[kek_id.strip()] = base64.b64decode(encoded.strip(), validate=True)
            except ValueError:
                raise ConfigurationError(f"MESSAGING_KEKS: KEK {kek_id!r} is not valid base64") from None
        if not keks:
            raise ConfigurationError("MESSAGING_KEKS names no key")
        return cls(keks, active_kek_id or next(iter(keks)))

    @classmethod
    def development(cls) -> KeyRing:
        """A fixed, well-known KEK for `make run` only (dev mode); never for real data."""
        return cls({"dev-1": hashlib.sha256(b"confide messaging development kek").digest()}, "dev-1")

    def new_data_key(self, thread_id: UUID) -> tuple[bytes, WrappedKey]:
        key = AESGCM.generate_key(bit_length=256)
        return key, self.wrap(thread_id, key)

    def wrap(self, thread_id: UUID, data_key: bytes) -> WrappedKey:
        kek_id = self.active_kek_id
        return WrappedKey(kek_id, _seal(self._keks[kek_id], data_key, _wrap_aad(thread_id, kek_id)))

    def unwrap(self, thread_id: UUID, wrapped: WrappedKey) -> bytes:
        kek = self._keks.get(wrapped.kek_id)
        if kek is None:
            raise KeyUnavailable(f"KEK {wrapped.kek_id!r} is not configured")
        try:
            return _open(kek, wrapped.wrapped, _wrap_aad(thread_id, wrapped.kek_id))
        except InvalidTag as exc:
            raise KeyUnavailable(f"KEK {wrapped.kek_id!r} does not open this key") from exc

    def kek(self, kek_id: str) -> bytes:
        found = self._keks.get(kek_id)
        if found is None:
            raise KeyUnavailable(f"KEK {kek_id!r} is not configured")
        return found

    def rewrap(self, thread_id: UUID, wrapped: WrappedKey) -> WrappedKey:
        return self.wrap(thread_id, self.unwrap(thread_id, wrapped))

    def data_key(self, thread_id: UUID, wrapped: WrappedKey) -> bytes:
        """Unwrapped data key, remembered for a bounded number of threads (a chat reads the same key
        on every message)."""
        key = self._data_keys.get(thread_id)
        if key is None:
            key = self.unwrap(thread_id, wrapped)
            self._data_keys[thread_id] = key
            if len(self._data_keys) > 1024:
                self._data_keys.popitem(last=False)
        else:
            self._data_keys.move_to_end(thread_id)
        return key


def seal_text(data_key: bytes, text: str, aad: bytes) -> bytes:
    return _seal(data_key, text.encode("utf-8"), aad)


def open_text(data_key: bytes, sealed: bytes, aad: bytes) -> str:
    return _open(data_key, sealed, aad).decode("utf-8")


class StoredAnswerSealer:
    """Seals the answers the chassis stores for idempotent RPCs (`confide_chassis.idempotency`):
    SendMessage and AmendMessage answer with the message body, which must not sit in plaintext
    beside the sealed copy (MSG-01).

    Envelope encryption like a thread's: a fresh data key per answer, wrapped by the active KEK and
    stored with it (`FORMAT | kek id length | kek id | wrapped key length | wrapped key | sealed
    answer`), the stored row's name as associated data. Answers are kept for
    `IDEMPOTENCY_RETENTION_HOURS`: keep a retired KEK configured at least that long after rotating.
    """

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    def seal(self, row: bytes, response: bytes) -> bytes:
        kek_id = self._keys.active_kek_id
        data_key = AESGCM.generate_key(bit_length=256)
        wrapped = _seal(self._keys.kek(kek_id), data_key, _answer_aad(row, kek_id))
        encoded_id = kek_id.encode()
        return b"".join(
            (
                FORMAT,
                len(encoded_id).to_bytes(1, "big"),
                encoded_id,
                len(wrapped).to_bytes(2, "big"),
                wrapped,
                _seal(data_key, response, _answer_aad(row, kek_id)),
            )
        )

    def open(self, row: bytes, sealed: bytes) -> bytes:
        if not sealed.startswith(FORMAT):
            # Stored before answers were sealed (pruned within the retention): a serialized protobuf
            # never starts with 0x01 (field number 0 does not exist), so this is that plain answer.
            return sealed
        id_end = 2 + sealed[1]
        kek_id = sealed[2:id_end].decode()
        wrapped_end = id_end + 2 + int.from_bytes(sealed[id_end : id_end + 2], "big")
        aad = _answer_aad(row, kek_id)
        data_key = _open(self._keys.kek(kek_id), sealed[id_end + 2 : wrapped_end], aad)
        return _open(data_key, sealed[wrapped_end:], aad)


def _answer_aad(row: bytes, kek_id: str) -> bytes:
    return b"confide.messaging/stored-answer/v1/" + kek_id.encode() + b"/" + row

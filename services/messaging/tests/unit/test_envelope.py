"""MSG-01/SEC-02: bodies sealed with AES-256-GCM under a per-thread key wrapped by a KEK."""

from __future__ import annotations

import base64
import os
import uuid

import pytest
from cryptography.exceptions import InvalidTag

from confide_chassis.settings import ConfigurationError
from confide_messaging.db.envelope import (
    KeyRing,
    KeyUnavailable,
    StoredAnswerSealer,
    body_aad,
    open_text,
    seal_text,
)


def kek() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_a_sealed_body_opens_only_with_its_thread_and_message_ids() -> None:
    ring = KeyRing.parse(f"k1:{kek()}", None)
    thread, message, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    key, _ = ring.new_data_key(thread)
    sealed = seal_text(key, "I had a hard week", body_aad(thread, message))
    assert b"hard week" not in sealed
    assert open_text(key, sealed, body_aad(thread, message)) == "I had a hard week"
    with pytest.raises(InvalidTag):
        open_text(key, sealed, body_aad(thread, other))  # copied onto another message's row
    with pytest.raises(InvalidTag):
        open_text(key, sealed, body_aad(thread, message, "reason"))


def test_the_same_text_seals_differently_each_time() -> None:
    key, _ = KeyRing.parse(f"k1:{kek()}", None).new_data_key(uuid.uuid4())
    aad = body_aad(uuid.uuid4(), uuid.uuid4())
    assert seal_text(key, "same", aad) != seal_text(key, "same", aad)


def test_rotation_rewraps_the_data_key_under_the_new_kek_and_the_old_ciphertext_still_opens() -> None:
    old, new = kek(), kek()
    thread, message = uuid.uuid4(), uuid.uuid4()
    before = KeyRing.parse(f"k1:{old}", None)
    key, wrapped = before.new_data_key(thread)
    sealed = seal_text(key, "body", body_aad(thread, message))

    during = KeyRing.parse(f"k1:{old},k2:{new}", "k2")
    rewrapped = during.rewrap(thread, wrapped)
    assert rewrapped.kek_id == "k2"

    after = KeyRing.parse(f"k2:{new}", None)  # the old KEK retired
    assert open_text(after.unwrap(thread, rewrapped), sealed, body_aad(thread, message)) == "body"
    with pytest.raises(KeyUnavailable):
        after.unwrap(thread, wrapped)


def test_a_wrapped_key_does_not_unwrap_for_another_thread() -> None:
    ring = KeyRing.parse(f"k1:{kek()}", None)
    _, wrapped = ring.new_data_key(uuid.uuid4())
    with pytest.raises(KeyUnavailable):
        ring.unwrap(uuid.uuid4(), wrapped)


@pytest.mark.parametrize(
    ("spec", "active"),
    [("", None), ("k1", None), ("k1:not base64!", None), (f"k1:{base64.b64encode(b'short').decode()}", None),
     (f"k1:{base64.b64encode(os.urandom(32)).decode()}", "k9")],
)  # fmt: skip
def test_misconfigured_keks_stop_the_service(spec: str, active: str | None) -> None:
    with pytest.raises(ConfigurationError):
        KeyRing.parse(spec, active)


def test_a_stored_answer_is_sealed_and_opens_only_on_its_own_row() -> None:
    k1 = kek()
    sealer = StoredAnswerSealer(KeyRing.parse(f"k1:{k1}", None))
    row, other_row = b"user-1\0/Send\0key-1", b"user-2\0/Send\0key-1"
    sealed = sealer.seal(row, b"answer with the body I had a hard week")
    assert b"hard week" not in sealed
    assert sealer.open(row, sealed) == b"answer with the body I had a hard week"
    with pytest.raises(InvalidTag):
        sealer.open(other_row, sealed)  # copied onto another caller's row


def test_a_stored_answer_opens_after_rotation_while_its_kek_is_configured() -> None:
    k1, k2 = kek(), kek()
    sealed = StoredAnswerSealer(KeyRing.parse(f"k1:{k1}", None)).seal(b"row", b"answer")
    rotated = StoredAnswerSealer(KeyRing.parse(f"k1:{k1},k2:{k2}", "k2"))
    assert rotated.open(b"row", sealed) == b"answer"
    with pytest.raises(KeyUnavailable):
        StoredAnswerSealer(KeyRing.parse(f"k2:{k2}", None)).open(b"row", sealed)


def test_an_answer_stored_before_sealing_began_still_replays() -> None:
    sealer = StoredAnswerSealer(KeyRing.parse(f"k1:{kek()}", None))
    plain = b"\x0a\x05hello"  # a serialized protobuf: field 1, length-delimited
    assert sealer.open(b"row", plain) == plain

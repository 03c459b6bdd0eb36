"""Small pure helpers shared by the identity domain modules."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta


def require_utc(moment: datetime, name: str = "now") -> datetime:
    """Return `moment` if it is timezone-aware; a naive datetime is a programming error."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC)")
    return moment


def require_positive(value: timedelta, name: str) -> None:
    if value <= timedelta(0):
        raise ValueError(f"{name} must be positive")


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a UTF-8 string: how high-entropy secrets (tokens, codes) are stored."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def constant_time_equals(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5), as used by JOSE and for opaque tokens."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def require_random_bytes(data: bytes, minimum: int, name: str = "random_bytes") -> None:
    """Guard against callers passing too little entropy (a bug, not a user error)."""
    if len(data) < minimum:
        raise ValueError(f"{name} must hold at least {minimum} bytes, got {len(data)}")

"""TOTP multi-factor authentication (RFC 6238 via pyotp) and recovery codes.

SEC-03: MFA is required for clinicians, practice admins, compliance officers and platform operators and
offered to clients (`roles.mfa_required`).

TOTP: SHA-1, 6 digits, 30-second steps (what every authenticator app supports). A code is accepted for the
current step and one step either side (clock drift), and replay protection keeps the last accepted step:
a code for that step or any earlier one is refused, so each code works at most once.

Recovery codes: 10 single-use codes of 80 random bits each, shown once, stored as SHA-256 hashes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

import pyotp

from confide_chassis.errors import Unauthenticated
from confide_identity.domain.common import constant_time_equals, require_random_bytes, require_utc, sha256_hex
from confide_identity.domain.roles import Role, mfa_required

TOTP_DIGITS: Final = 6
TOTP_PERIOD_SECONDS: Final = 30
TOTP_SECRET_BYTES: Final = 20
"""160-bit shared secret (RFC 4226 §4 recommends >= 160 bits)."""
TOTP_WINDOW_STEPS: Final = 1
DEFAULT_ISSUER: Final = "Confide"

RECOVERY_CODE_COUNT: Final = 10
RECOVERY_CODE_BYTES: Final = 10
"""80 bits per code: 16 base32 characters, shown as four groups of four."""

_CODE_RE: Final = re.compile(r"^\d{6}$")
_B32_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz234567"


def invalid_mfa_code_error() -> Unauthenticated:
    return Unauthenticated("the verification code is not valid")


class SignInStep(StrEnum):
    COMPLETE = "complete"
    """Issue tokens (mfa=False): a client without a second factor."""
    MFA_CHALLENGE = "mfa_challenge"
    """Ask for a TOTP or recovery code, then issue tokens with mfa=True."""
    MFA_ENROLMENT_REQUIRED = "mfa_enrolment_required"
    """SEC-03: staff without a confirmed factor get a session that may only enrol MFA or sign out."""


def next_sign_in_step(roles: Iterable[Role], *, totp_confirmed: bool) -> SignInStep:
    """What follows a correct password."""
    if totp_confirmed:
        return SignInStep.MFA_CHALLENGE
    if mfa_required(roles):
        return SignInStep.MFA_ENROLMENT_REQUIRED
    return SignInStep.COMPLETE


# --- TOTP ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TotpCredential:
    """A user's TOTP factor. `secret` is base32; store it encrypted at rest (it is a shared secret)."""

    secret: str
    created_at: datetime
    confirmed_at: datetime | None = None
    last_used_step: int | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    credential: TotpCredential
    provisioning_uri: str
    """otpauth:// URI for the QR code; show once during enrolment, never log."""


def time_step(now: datetime) -> int:
    return int(require_utc(now).timestamp()) // TOTP_PERIOD_SECONDS


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS)


def begin_totp_enrolment(
    *, random_bytes: bytes, account_name: str, now: datetime, issuer: str = DEFAULT_ISSUER
) -> TotpEnrolment:
    """A fresh, unconfirmed factor from `random_bytes` (>= 20 bytes) and its provisioning URI.

    `account_name` is what the authenticator app displays (typically the e-mail address).
    """
    require_utc(now)
    require_random_bytes(random_bytes, TOTP_SECRET_BYTES)
    secret = base64.b32encode(random_bytes[:TOTP_SECRET_BYTES]).decode("ascii").rstrip("=")
    credential = TotpCredential(secret=secret, created_at=now)
    uri = _totp(secret).provisioning_uri(name=account_name, issuer_name=issuer)
    return TotpEnrolment(credential=credential, provisioning_uri=uri)


def totp_code_at(secret: str, step: int) -> str:
    """The code for one time step (used by tests and by clients of the domain that need it)."""
    return _totp(secret).generate_otp(step)


def verify_totp(
    credential: TotpCredential, code: str, *, now: datetime, window: int = TOTP_WINDOW_STEPS
) -> TotpCredential:
    """Accept `code` if it matches a step within +-`window` of now that is later than the last used step.

    Returns the credential with `last_used_step` advanced (persist it); raises a generic `Unauthenticated`
    for a wrong, stale or replayed code, or when enrolment was never confirmed.
    """
    if not credential.confirmed:
        raise invalid_mfa_code_error()
    return _verify(credential, code, now=now, window=window)


def _verify(credential: TotpCredential, code: str, *, now: datetime, window: int) -> TotpCredential:
    if not 0 <= window <= 2:
        raise ValueError("TOTP window must be between 0 and 2 steps")
    candidate = code.replace(" ", "").strip()
    if not _CODE_RE.fullmatch(candidate):
        raise invalid_mfa_code_error()
    current = time_step(now)
    matched: int | None = None
    for step in range(current - window, current + window + 1):
        if credential.last_used_step is not None and step <= credential.last_used_step:
            continue
        if constant_time_equals(totp_code_at(credential.secret, step), candidate) and matched is None:
            matched = step
    if matched is None:
        raise invalid_mfa_code_error()
    return replace(credential, last_used_step=matched)


def confirm_totp_enrolment(credential: TotpCredential, code: str, *, now: datetime) -> TotpCredential:
    """Enrolment completes only when the user proves the authenticator produces valid codes."""
    if credential.confirmed:
        raise invalid_mfa_code_error()
    verified = _verify(credential, code, now=now, window=TOTP_WINDOW_STEPS)
    return replace(verified, confirmed_at=now)


# --- recovery codes -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecoveryCode:
    code_hash: str
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecoveryCodeSet:
    codes: tuple[RecoveryCode, ...]
    generated_at: datetime

    @property
    def remaining(self) -> int:
        return sum(1 for code in self.codes if code.used_at is None)


@dataclass(frozen=True, slots=True)
class IssuedRecoveryCodes:
    codes: tuple[str, ...]
    """Plaintext codes: show once, never store or log."""
    stored: RecoveryCodeSet


def normalize_recovery_code(code: str) -> str:
    return re.sub(r"[\s-]+", "", code).lower()


def _format_recovery_code(chunk: bytes) -> str:
    number = int.from_bytes(chunk, "big")
    characters = "".join(_B32_ALPHABET[(number >> (5 * index)) & 31] for index in range(16))
    return "-".join(characters[index : index + 4] for index in range(0, 16, 4))


def generate_recovery_codes(*, random_bytes: bytes, now: datetime) -> IssuedRecoveryCodes:
    """Ten fresh codes from `random_bytes` (>= 100 bytes); a new set replaces any previous set entirely."""
    require_utc(now)
    require_random_bytes(random_bytes, RECOVERY_CODE_COUNT * RECOVERY_CODE_BYTES)
    plain = tuple(
        _format_recovery_code(random_bytes[index * RECOVERY_CODE_BYTES : (index + 1) * RECOVERY_CODE_BYTES])
        for index in range(RECOVERY_CODE_COUNT)
    )
    if len(set(plain)) != len(plain):
        raise ValueError("random_bytes produced duplicate recovery codes")
    stored = RecoveryCodeSet(
        codes=tuple(RecoveryCode(code_hash=sha256_hex(normalize_recovery_code(code))) for code in plain),
        generated_at=now,
    )
    return IssuedRecoveryCodes(codes=plain, stored=stored)


def use_recovery_code(codes: RecoveryCodeSet, presented: str, *, now: datetime) -> RecoveryCodeSet:
    """Spend one unused code; returns the updated set (persist it). Generic `Unauthenticated` otherwise."""
    require_utc(now)
    presented_hash = sha256_hex(normalize_recovery_code(presented))
    match: int | None = None
    for index, code in enumerate(codes.codes):
        # compare against every code so timing does not depend on the position of a match
        equal = constant_time_equals(code.code_hash, presented_hash)
        if equal and code.used_at is None and match is None:
            match = index
    if match is None:
        raise invalid_mfa_code_error()
    updated = tuple(
        replace(code, used_at=now) if index == match else code for index, code in enumerate(codes.codes)
    )
    return replace(codes, codes=updated)

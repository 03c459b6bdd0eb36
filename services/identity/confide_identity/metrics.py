"""Identity's domain counters, exported beside the chassis' metrics on the metrics port.

Labels are the `service` (like the chassis metrics) and small fixed sets of codes: never a user,
practice, e-mail address or token. The helpers below refuse codes outside those sets, so a caller
cannot mint series.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

SERVICE: Final = "identity"

SIGN_IN_FAILURE_REASONS: Final = frozenset(
    {
        "invalid_credentials",  # unknown address, wrong password or deactivated account (one answer)
        "email_not_verified",
        "locked",  # refused without evaluation: the identifier is locked (too many failures)
        "mfa_challenge_expired",
    }
)
MFA_FACTORS: Final = frozenset({"totp", "recovery_code", "enrolment"})
SIGN_UP_OUTCOMES: Final = frozenset(
    {
        "created",  # a new client account, verification e-mail sent
        "verification_resent",  # the address has an unverified self-sign-up: a new verification e-mail
        "account_exists",  # the address has an account: an "account exists" e-mail
        "ignored",  # nothing sent (deactivated account, or the e-mail quota of the address is spent)
    }
)

sign_in_failures_total = Counter(
    "confide_identity_sign_in_failures_total",
    "Sign-in attempts refused, by reason (invalid_credentials, email_not_verified, locked, "
    "mfa_challenge_expired).",
    ["service", "reason"],
)
lockouts_total = Counter(
    "confide_identity_lockouts_total",
    "Sign-in identifiers locked after repeated failed passwords or second factors.",
    ["service"],
)
mfa_failures_total = Counter(
    "confide_identity_mfa_failures_total",
    "Wrong second-factor codes, by factor (totp, recovery_code at sign-in; enrolment when confirming).",
    ["service", "factor"],
)
sign_ups_total = Counter(
    "confide_identity_sign_ups_total",
    "Self sign-up requests accepted, by outcome (created, verification_resent, account_exists, ignored).",
    ["service", "outcome"],
)
refresh_token_reuse_total = Counter(
    "confide_identity_refresh_token_reuse_detections_total",
    "Refresh tokens presented again after rotation: the session was revoked (IDN-SESSION-01).",
    ["service"],
)


def _known(value: str, allowed: frozenset[str]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown metric label value {value!r}")
    return value


def sign_in_failed(reason: str) -> None:
    sign_in_failures_total.labels(SERVICE, _known(reason, SIGN_IN_FAILURE_REASONS)).inc()


def locked_out() -> None:
    lockouts_total.labels(SERVICE).inc()


def mfa_failed(factor: str) -> None:
    mfa_failures_total.labels(SERVICE, _known(factor, MFA_FACTORS)).inc()


def signed_up(outcome: str) -> None:
    sign_ups_total.labels(SERVICE, _known(outcome, SIGN_UP_OUTCOMES)).inc()


def refresh_token_reused() -> None:
    refresh_token_reuse_total.labels(SERVICE).inc()

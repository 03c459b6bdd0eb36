from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from confide_chassis.errors import Unauthenticated
from confide_identity.domain.mfa import (
    RECOVERY_CODE_COUNT,
    SignInStep,
    TotpCredential,
    begin_totp_enrolment,
    confirm_totp_enrolment,
    generate_recovery_codes,
    next_sign_in_step,
    time_step,
    totp_code_at,
    use_recovery_code,
    verify_totp,
)
from confide_identity.domain.roles import MFA_REQUIRED_ROLES, Role, mfa_required


@pytest.fixture
def credential(now: datetime, random_bytes: Callable[[int], bytes]) -> TotpCredential:
    enrolment = begin_totp_enrolment(random_bytes=random_bytes(20), account_name="pat@example.com", now=now)
    code = totp_code_at(enrolment.credential.secret, time_step(now))
    return confirm_totp_enrolment(enrolment.credential, code, now=now)


def test_enrolment_gives_secret_and_provisioning_uri(
    now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    enrolment = begin_totp_enrolment(random_bytes=random_bytes(20), account_name="pat@example.com", now=now)
    uri = urlparse(enrolment.provisioning_uri)
    query = parse_qs(uri.query)
    assert uri.scheme == "otpauth"
    assert uri.netloc == "totp"
    assert query["secret"] == [enrolment.credential.secret]
    assert query["issuer"] == ["Confide"]
    assert len(enrolment.credential.secret) == 32  # 160 bits in base32
    assert not enrolment.credential.confirmed


def test_codes_match_a_standard_authenticator(credential: TotpCredential, now: datetime) -> None:
    assert totp_code_at(credential.secret, time_step(now)) == pyotp.TOTP(credential.secret).at(now)


def test_unconfirmed_factor_cannot_be_used_to_sign_in(
    now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    enrolment = begin_totp_enrolment(random_bytes=random_bytes(20), account_name="pat@example.com", now=now)
    code = totp_code_at(enrolment.credential.secret, time_step(now))
    with pytest.raises(Unauthenticated):
        verify_totp(enrolment.credential, code, now=now)


def test_enrolment_needs_a_valid_code(now: datetime, random_bytes: Callable[[int], bytes]) -> None:
    enrolment = begin_totp_enrolment(random_bytes=random_bytes(20), account_name="pat@example.com", now=now)
    with pytest.raises(Unauthenticated):
        confirm_totp_enrolment(enrolment.credential, "000000", now=now)


def test_valid_code_is_accepted(credential: TotpCredential, now: datetime) -> None:
    later = now + timedelta(seconds=60)
    code = totp_code_at(credential.secret, time_step(later))
    updated = verify_totp(credential, code, now=later)
    assert updated.last_used_step == time_step(later)


def test_invalid_codes_are_rejected(credential: TotpCredential, now: datetime) -> None:
    later = now + timedelta(seconds=60)
    good = totp_code_at(credential.secret, time_step(later))
    bad = f"{(int(good) + 1) % 1_000_000:06d}"
    for code in (bad, "12345", "abcdef", "", "1234567"):
        with pytest.raises(Unauthenticated):
            verify_totp(credential, code, now=later)


def test_code_with_spaces_is_accepted(credential: TotpCredential, now: datetime) -> None:
    later = now + timedelta(seconds=60)
    code = totp_code_at(credential.secret, time_step(later))
    verify_totp(credential, f"{code[:3]} {code[3:]}", now=later)


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_window_is_one_step_either_side(
    credential: TotpCredential, now: datetime, offset: int, accepted: bool
) -> None:
    later = now + timedelta(minutes=5)
    fresh = replace(credential, last_used_step=None)
    code = totp_code_at(credential.secret, time_step(later) + offset)
    if accepted:
        assert verify_totp(fresh, code, now=later).last_used_step == time_step(later) + offset
    else:
        with pytest.raises(Unauthenticated):
            verify_totp(fresh, code, now=later)


def test_replayed_code_is_rejected(credential: TotpCredential, now: datetime) -> None:
    later = now + timedelta(minutes=5)
    code = totp_code_at(credential.secret, time_step(later))
    used = verify_totp(credential, code, now=later)
    with pytest.raises(Unauthenticated):
        verify_totp(used, code, now=later)
    # still refused in the next step although it is inside the window
    with pytest.raises(Unauthenticated):
        verify_totp(used, code, now=later + timedelta(seconds=30))


def test_older_step_than_last_used_is_rejected(credential: TotpCredential, now: datetime) -> None:
    later = now + timedelta(minutes=5)
    current = time_step(later)
    used = verify_totp(credential, totp_code_at(credential.secret, current), now=later)
    with pytest.raises(Unauthenticated):
        verify_totp(used, totp_code_at(credential.secret, current - 1), now=later)


def test_recovery_codes_are_ten_unique_and_stored_hashed(
    now: datetime, random_bytes: Callable[[int], bytes]
) -> None:
    issued = generate_recovery_codes(random_bytes=random_bytes(100), now=now)
    assert len(issued.codes) == RECOVERY_CODE_COUNT == 10
    assert len(set(issued.codes)) == 10
    assert all(len(code) == 19 and code.count("-") == 3 for code in issued.codes)
    stored_hashes = {code.code_hash for code in issued.stored.codes}
    assert not stored_hashes & set(issued.codes)
    assert issued.stored.remaining == 10


def test_recovery_code_works_once(now: datetime, random_bytes: Callable[[int], bytes]) -> None:
    issued = generate_recovery_codes(random_bytes=random_bytes(100), now=now)
    code = issued.codes[3]
    after = use_recovery_code(issued.stored, code.upper().replace("-", " "), now=now)
    assert after.remaining == 9
    with pytest.raises(Unauthenticated):
        use_recovery_code(after, code, now=now)
    after_two = use_recovery_code(after, issued.codes[4], now=now)
    assert after_two.remaining == 8


def test_unknown_recovery_code_is_rejected(now: datetime, random_bytes: Callable[[int], bytes]) -> None:
    issued = generate_recovery_codes(random_bytes=random_bytes(100), now=now)
    with pytest.raises(Unauthenticated):
        use_recovery_code(issued.stored, "aaaa-bbbb-cccc-dddd", now=now)


def test_sec_03_mfa_required_for_staff_roles_optional_for_clients() -> None:
    assert {
        Role.CLINICIAN,
        Role.PRACTICE_ADMIN,
        Role.COMPLIANCE_OFFICER,
        Role.PLATFORM_OPERATOR,
    } == MFA_REQUIRED_ROLES
    assert not mfa_required([Role.CLIENT])
    for role in MFA_REQUIRED_ROLES:
        assert mfa_required([role])


def test_sec_03_sign_in_steps() -> None:
    assert next_sign_in_step([Role.CLIENT], totp_confirmed=False) is SignInStep.COMPLETE
    assert next_sign_in_step([Role.CLIENT], totp_confirmed=True) is SignInStep.MFA_CHALLENGE
    assert next_sign_in_step([Role.CLINICIAN], totp_confirmed=False) is SignInStep.MFA_ENROLMENT_REQUIRED
    assert next_sign_in_step([Role.PRACTICE_ADMIN], totp_confirmed=True) is SignInStep.MFA_CHALLENGE

"""NPI check digit (LIC-73), BC-TMH (LIC-80) and credential / request validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from confide_chassis.errors import InvalidArgument
from confide_compliance.domain import (
    AuthorizationRequest,
    ClinicianCredentials,
    CompactAuthority,
    CompactAuthorityKind,
    CredentialStatus,
    Npi,
    NpiEntityType,
    Profession,
    StateLicense,
    Usage,
    UsageKey,
    decide,
    is_valid_npi,
    npi_check_digit,
)
from confide_compliance.reference_data import load_reference_data
from confide_compliance.testing import bc_tmh, credentials, license_, request


def luhn_valid(number: str) -> bool:
    """Textbook Luhn over the full card number, independent of the implementation under test."""
    total = 0
    for i, char in enumerate(reversed(number)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


KNOWN_VALID = ["1234567893", "1245319599", "1003000126", "1679576722", "2000000002"]


@pytest.mark.parametrize("npi", KNOWN_VALID)
def test_lic_73_known_valid_npis(npi: str) -> None:
    assert luhn_valid("80840" + npi)  # the test data itself is right
    assert is_valid_npi(npi)
    assert Npi(npi).value == npi


def test_lic_73_cms_example_check_digit() -> None:
    # CMS example: base 123456789 -> check digit 3 (Luhn with the 80840 prefix, i.e. +24).
    assert npi_check_digit("123456789") == 3


@pytest.mark.parametrize(
    ("npi", "why"),
    [
        ("1234567890", "wrong check digit"),
        ("1234567894", "wrong check digit"),
        ("3234567893", "must start with 1 or 2"),
        ("0234567893", "must start with 1 or 2"),
        ("123456789", "nine digits"),
        ("12345678931", "eleven digits"),
        ("12345678a3", "not a digit"),
        ("\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff13", "full-width digits are not ASCII"),
        ("", "empty"),
    ],
)
def test_lic_73_invalid_npis(npi: str, why: str) -> None:
    assert not is_valid_npi(npi), why
    with pytest.raises(InvalidArgument) as err:
        Npi(npi)
    assert err.value.violations[0].field == "npi"


@given(st.text(alphabet="0123456789", min_size=9, max_size=9), st.sampled_from("12"))
def test_lic_73_check_digit_matches_textbook_luhn(base: str, first: str) -> None:
    nine = first + base[1:]
    npi = nine + str(npi_check_digit(nine))
    assert luhn_valid("80840" + npi)
    assert is_valid_npi(npi)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), st.integers(0, 9), st.integers(1, 9))
def test_lic_73_every_single_digit_error_is_caught(base: str, position: int, delta: int) -> None:
    nine = "1" + base
    npi = nine + str(npi_check_digit(nine))
    changed = npi[:position] + str((int(npi[position]) + delta) % 10) + npi[position + 1 :]
    assert not is_valid_npi(changed)


def test_lic_73_clinician_npi_must_be_type_1() -> None:
    org = Npi("1234567893", NpiEntityType.ORGANIZATION)
    with pytest.raises(InvalidArgument):
        ClinicianCredentials("clin-1", npi=org)
    assert ClinicianCredentials("clin-1", npi=Npi("1234567893")).npi is not None


def test_lic_73_an_npi_is_an_identifier_not_a_license() -> None:
    only_npi = ClinicianCredentials("clin-1", npi=Npi("1234567893"))
    decision = decide(
        request("TX", profession=Profession.PROFESSIONAL_COUNSELOR), only_npi, load_reference_data()
    )
    assert not decision.allowed
    assert decision.authority is None


def test_lic_80_bc_tmh_never_authorizes() -> None:
    ref = load_reference_data()
    creds = credentials(bc_tmh())
    decision = decide(request("TX", profession=Profession.PROFESSIONAL_COUNSELOR), creds, ref)
    assert not decision.allowed
    assert "LIC-80" in decision.rule_ids


# -- validation -------------------------------------------------------------------------------------


def test_license_refuses_unknown_jurisdiction_and_bad_dates() -> None:
    with pytest.raises(InvalidArgument) as err:
        StateLicense(
            id="l",
            clinician_id="c",
            jurisdiction="ON",
            profession=Profession.PSYCHOLOGIST,
            license_type="Psychologist",
            number="1",
            status=CredentialStatus.ACTIVE,
            issued_on=date(2026, 1, 2),
            expires_on=date(2026, 1, 1),
        )
    fields = {v.field for v in err.value.violations}
    assert fields == {"license.jurisdiction", "license.expires_on"}


def test_license_normalizes_jurisdiction_case() -> None:
    assert license_("l", "ca").jurisdiction == "CA"
    assert license_("l", "DC").jurisdiction == "DC"
    assert license_("l", "MP").jurisdiction == "MP"  # PSYPACT's CNMI


def test_lic_16_apit_needs_e_passport_and_expiry() -> None:
    with pytest.raises(InvalidArgument) as err:
        CompactAuthority(
            id="a",
            clinician_id="c",
            kind=CompactAuthorityKind.PSYPACT_APIT,
            status=CredentialStatus.ACTIVE,
            issued_on=date(2026, 1, 1),
        )
    assert {v.field for v in err.value.violations} == {"authority.expires_on", "authority.prerequisite_id"}


def test_lic_20_privilege_needs_remote_state_and_home_license() -> None:
    with pytest.raises(InvalidArgument) as err:
        CompactAuthority(
            id="p",
            clinician_id="c",
            kind=CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
            status=CredentialStatus.ACTIVE,
            issued_on=date(2026, 1, 1),
        )
    assert {v.field for v in err.value.violations} == {"authority.jurisdiction", "authority.home_license_id"}


def test_credentials_refuse_foreign_and_duplicate_ids() -> None:
    with pytest.raises(InvalidArgument):
        credentials(license_("l", "CA"), license_("l", "TX"))
    with pytest.raises(InvalidArgument):
        credentials(license_("l", "CA", clinician_id="someone-else"))


def test_request_refuses_naive_time_and_inconsistent_local_date() -> None:
    with pytest.raises(InvalidArgument):
        AuthorizationRequest(
            "c", "psychologist", "CA", "CA", datetime(2026, 3, 10, 17), date(2026, 3, 10), "video"
        )
    with pytest.raises(InvalidArgument):
        AuthorizationRequest(
            "c", "psychologist", "CA", "CA", datetime(2026, 3, 10, 17, tzinfo=UTC), date(2026, 3, 13), "video"
        )
    # 23:30 in Honolulu is already the next day in UTC: the local date is what counts.
    hst = timezone(timedelta(hours=-10))
    req = AuthorizationRequest(
        "c", "psychologist", "HI", "HI", datetime(2026, 3, 10, 23, 30, tzinfo=hst), date(2026, 3, 10), "video"
    )
    assert req.session_date == date(2026, 3, 10)


def test_decide_refuses_credentials_of_another_clinician() -> None:
    ref = load_reference_data()
    with pytest.raises(InvalidArgument):
        decide(request("CA", clinician_id="clin-2"), credentials(license_("l", "CA")), ref)


def test_usage_refuses_days_outside_the_key_year() -> None:
    with pytest.raises(InvalidArgument):
        Usage({UsageKey("tap-1", "CO", 2026): frozenset({date(2025, 12, 31)})})
    usage = Usage().with_day(UsageKey("tap-1", "CO", 2026), date(2026, 1, 5))
    assert usage.used(UsageKey("tap-1", "CO", 2026)) == {date(2026, 1, 5)}

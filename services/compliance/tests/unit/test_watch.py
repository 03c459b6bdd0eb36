"""Expiry watch (LIC-16 reminders at 90/60/30 days, expired, suspended) and coverage diffs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from confide_compliance.domain import (
    CompactAuthorityKind,
    Coverage,
    CredentialStatus,
    Milestone,
    ModalityClass,
    Profession,
    coverage,
    coverage_diff,
    due_notices,
)
from confide_compliance.reference_data import load_reference_data
from confide_compliance.testing import (
    apit,
    authority,
    bc_tmh,
    credentials,
    e_passport,
    exception_,
    license_,
    privilege,
)

REF = load_reference_data()
EXPIRES = date(2026, 12, 31)


def notices_for(days_left: int, status: CredentialStatus = CredentialStatus.ACTIVE) -> list[Milestone]:
    creds = credentials(
        license_("lic-1", "CA", expires_on=EXPIRES, status=status, status_since=date(2026, 6, 1))
    )
    return [n.milestone for n in due_notices(creds, EXPIRES - timedelta(days=days_left))]


@pytest.mark.parametrize(
    ("days_left", "expected"),
    [
        (120, []),
        (91, []),
        (90, [Milestone.EXPIRING_90]),
        (61, [Milestone.EXPIRING_90]),
        (60, [Milestone.EXPIRING_60]),
        (31, [Milestone.EXPIRING_60]),
        (30, [Milestone.EXPIRING_30]),
        (1, [Milestone.EXPIRING_30]),
        (0, [Milestone.EXPIRING_30]),  # the expiry date is the last valid day
        (-1, [Milestone.EXPIRED]),
        (-400, [Milestone.EXPIRED]),
    ],
)
def test_lic_16_expiry_milestones(days_left: int, expected: list[Milestone]) -> None:
    assert notices_for(days_left) == expected


def test_suspended_and_revoked_are_notified_instead_of_reminders() -> None:
    assert notices_for(45, CredentialStatus.SUSPENDED) == [Milestone.SUSPENDED]
    assert notices_for(45, CredentialStatus.REVOKED) == [Milestone.REVOKED]
    assert notices_for(45, CredentialStatus.EXPIRED) == [Milestone.EXPIRED]
    assert notices_for(45, CredentialStatus.INACTIVE) == []
    assert notices_for(45, CredentialStatus.PROBATION) == [Milestone.EXPIRING_60]


def test_dedupe_keys_are_stable_and_rearm_on_renewal() -> None:
    creds = credentials(license_("lic-1", "CA", expires_on=EXPIRES))
    day_a = due_notices(creds, EXPIRES - timedelta(days=89))
    day_b = due_notices(creds, EXPIRES - timedelta(days=70))
    assert [n.dedupe_key for n in day_a] == [n.dedupe_key for n in day_b] == ["lic-1:expiring_90:2026-12-31"]
    renewed = credentials(license_("lic-1", "CA", expires_on=date(2028, 12, 31)))
    later = due_notices(renewed, date(2028, 12, 31) - timedelta(days=80))
    assert later[0].dedupe_key == "lic-1:expiring_90:2028-12-31"
    suspended = credentials(
        license_("lic-1", "CA", status=CredentialStatus.SUSPENDED, status_since=date(2026, 5, 2))
    )
    assert due_notices(suspended, date(2026, 5, 3))[0].dedupe_key == "lic-1:suspended:2026-05-02"


def test_notices_cover_every_credential_kind_with_its_rule() -> None:
    creds = credentials(
        license_("lic-1", "TX", expires_on=date(2026, 4, 1)),
        e_passport(expires_on=date(2026, 4, 1)),
        apit(expires_on=date(2026, 4, 1)),
        privilege("priv-1", "MN", "lic-1", expires_on=date(2026, 4, 1)),
        exception_("exc-1", "FL", "FL-456.47", "lic-1", valid_until=date(2026, 4, 1)),
        bc_tmh(),
    )
    notices = due_notices(creds, date(2026, 3, 10))
    by_id = {n.credential_id: n for n in notices}
    assert set(by_id) == {"lic-1", "ep-1", "apit-1", "priv-1", "exc-1"}  # BC-TMH expires 2028
    assert by_id["apit-1"].rule_id == "LIC-16"
    assert by_id["priv-1"].rule_id == "LIC-22"
    assert by_id["exc-1"].jurisdiction == "FL"
    assert all(n.milestone is Milestone.EXPIRING_30 and n.days_left == 22 for n in notices)
    assert list(notices) == sorted(notices)


def test_privilege_without_own_expiry_gets_no_reminder() -> None:
    creds = credentials(
        license_("lic-1", "AZ", Profession.PROFESSIONAL_COUNSELOR), privilege("priv-1", "MN", "lic-1")
    )
    assert [n.credential_id for n in due_notices(creds, date(2027, 11, 1))] == ["lic-1"]


# -- coverage ----------------------------------------------------------------------------------------

SYNC, AUDIO, ASYNC, IN_PERSON = (
    ModalityClass.SYNCHRONOUS_TELEHEALTH,
    ModalityClass.AUDIO_ONLY,
    ModalityClass.ASYNCHRONOUS,
    ModalityClass.IN_PERSON,
)
DAY = date(2026, 3, 10)


def test_coverage_of_a_licensed_psychologist_with_apit() -> None:
    creds = credentials(license_("tx-psy", "TX"), e_passport(), apit(), practice_jurisdiction="TX")
    covered = coverage(creds, REF, DAY)
    assert {Coverage("TX", c) for c in ModalityClass} <= covered
    assert {Coverage("CO", SYNC), Coverage("CO", AUDIO), Coverage("CO", ASYNC)} <= covered
    assert Coverage("CO", IN_PERSON) not in covered  # APIT is telepsychology only (LIC-10)
    assert not any(c.jurisdiction == "CA" for c in covered)  # CA is not in PSYPACT


def test_coverage_without_a_known_location_has_no_telehealth() -> None:
    creds = credentials(license_("tx-psy", "TX"))
    assert coverage(creds, REF, DAY) == frozenset({Coverage("TX", IN_PERSON)})


def test_lic_61_florida_registration_coverage_excludes_audio_and_async() -> None:
    creds = credentials(
        license_("ga-lpc", "GA", Profession.PROFESSIONAL_COUNSELOR),
        exception_("exc-fl", "FL", "FL-456.47", "ga-lpc", approved_on=date(2026, 1, 1)),
        practice_jurisdiction="GA",
    )
    florida = {c for c in coverage(creds, REF, DAY) if c.jurisdiction == "FL"}
    assert florida == {Coverage("FL", SYNC)}


def test_coverage_diff_detects_authorization_changes() -> None:
    before_creds = credentials(license_("tx-psy", "TX"), e_passport(), apit(), practice_jurisdiction="TX")
    after_creds = credentials(
        license_("tx-psy", "TX", status=CredentialStatus.SUSPENDED),
        e_passport(),
        apit(),
        practice_jurisdiction="TX",
    )
    before = coverage(before_creds, REF, DAY)
    after = coverage(after_creds, REF, DAY)
    diff = coverage_diff(before, after)
    assert diff.changed
    assert after == frozenset()
    assert diff.lost == before
    assert not diff.gained
    assert not coverage_diff(before, coverage(before_creds, REF, DAY)).changed


def test_coverage_changes_when_a_credential_expires_overnight() -> None:
    creds = credentials(
        license_("az-lpc", "AZ", Profession.PROFESSIONAL_COUNSELOR),
        privilege("priv-mn", "MN", "az-lpc", expires_on=date(2026, 3, 10)),
        practice_jurisdiction="AZ",
    )
    today = coverage(creds, REF, date(2026, 3, 10), jurisdictions=["AZ", "MN"])
    tomorrow = coverage(creds, REF, date(2026, 3, 11), jurisdictions=["AZ", "MN"])
    assert {c.jurisdiction for c in coverage_diff(today, tomorrow).lost} == {"MN"}


def test_nurse_coverage_via_nlc() -> None:
    creds = credentials(
        license_("tx-rn", "TX", Profession.REGISTERED_NURSE),
        authority("nlc-tx", CompactAuthorityKind.NLC_MULTISTATE_LICENSE, jurisdiction="TX"),
        practice_jurisdiction="TX",
    )
    covered = coverage(creds, REF, DAY, jurisdictions=["TX", "FL", "CA"])
    assert {c.jurisdiction for c in covered} == {"TX", "FL"}

"""Table-driven jurisdiction cases for the authorization engine (LIC-01..LIC-80).

Each case is named after the rule it exercises and asserts the decision (allowed / denied), the kind
of authority used, and the rule ids among the reasons: `failed` must appear as FAILED reasons,
`cited` anywhere among the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from confide_compliance.domain import (
    AuthorityKind,
    AuthorizationRequest,
    ClinicianCredentials,
    CompactAuthority,
    CompactAuthorityKind,
    CredentialStatus,
    Encumbrance,
    EncumbranceKind,
    LicenseLevel,
    Modality,
    Outcome,
    Profession,
    SocialWorkCategory,
    StateLicense,
    Usage,
    UsageKey,
    decide,
    find_authorized,
)
from confide_compliance.domain.credentials import Credential
from confide_compliance.reference_data import load_reference_data
from confide_compliance.testing import (
    SESSION_DAY,
    apit,
    authority,
    bc_tmh,
    credentials,
    e_passport,
    exception_,
    ipc,
    license_,
    privilege,
    request,
    tap,
)

REF = load_reference_data()
D = SESSION_DAY  # 2026-03-10
PSY = Profession.PSYCHOLOGIST
LPC = Profession.PROFESSIONAL_COUNSELOR
LCSW = Profession.CLINICAL_SOCIAL_WORKER
RN = Profession.REGISTERED_NURSE
PMHNP = Profession.PSYCHIATRIC_NURSE_PRACTITIONER
MD = Profession.PSYCHIATRIST
IN_PERSON = Modality.IN_PERSON


def days_before(day: date, n: int) -> frozenset[date]:
    """`n` distinct days of the same year before `day`."""
    days = frozenset(day - timedelta(days=i) for i in range(1, n + 1))
    assert all(d.year == day.year for d in days)
    return days


def usage(authority_id: str, jurisdiction: str, days: frozenset[date], year: int = D.year) -> Usage:
    return Usage({UsageKey(authority_id, jurisdiction, year): days})


# -- standard clinicians ------------------------------------------------------------------------------

# Psychologist licensed in TX with E.Passport + APIT and IPC + TAP.
PSYPACT_TX = credentials(license_("tx-psy", "TX"), e_passport(), apit(), ipc(), tap())


def psypact_tx(**changes: Credential | None) -> ClinicianCredentials:
    """PSYPACT_TX with credentials replaced or removed (keyword = credential id with '_' for '-')."""
    base: dict[str, Credential | None] = {
        "tx_psy": license_("tx-psy", "TX"),
        "ep_1": e_passport(),
        "apit_1": apit(),
        "ipc_1": ipc(),
        "tap_1": tap(),
    }
    base.update(changes)
    return credentials(*[c for c in base.values() if c is not None])


# Counselor licensed in AZ (a live Counseling Compact state) with privileges for MN (live) and CO
# (enacted, not live).
COUNSELOR_AZ_HOME = license_("az-lpc", "AZ", LPC)


def counselor(
    *,
    home: StateLicense = COUNSELOR_AZ_HOME,
    extra: tuple[Credential, ...] = (),
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 9, 30),
) -> ClinicianCredentials:
    return credentials(
        home,
        privilege("priv-mn", "MN", "az-lpc", status=status, issued_on=issued_on),
        privilege("priv-co", "CO", "az-lpc"),
        *extra,
    )


COUNSELING_DAY = date(2025, 10, 15)


# Psychologist licensed in TX using California's temporary-practice rule (BPC 2912).
def ca_temporary(approved: bool = True) -> ClinicianCredentials:
    return credentials(
        license_("tx-psy", "TX"),
        exception_(
            "exc-ca", "CA", "CA-BPC-2912", "tx-psy", approved_on=date(2026, 3, 1) if approved else None
        ),
    )


FL_COUNSELOR = credentials(
    license_("ga-lpc", "GA", LPC),
    exception_("exc-fl-491", "FL", "FL-491.014-4-d", "ga-lpc"),
)
FL_REGISTERED = credentials(
    license_("ga-lpc", "GA", LPC),
    exception_("exc-fl-456", "FL", "FL-456.47", "ga-lpc", approved_on=date(2025, 12, 1)),
)
FL_UNREGISTERED = credentials(
    license_("ga-lpc", "GA", LPC),
    exception_("exc-fl-456", "FL", "FL-456.47", "ga-lpc"),
)


def mt_psychologist(notice: bool) -> ClinicianCredentials:
    return credentials(
        license_("wy-psy", "WY"),
        exception_(
            "exc-mt",
            "MT",
            "MT-PSYCH-NONRESIDENT",
            "wy-psy",
            notice_filed_on=date(2026, 2, 1) if notice else None,
        ),
    )


NURSE_TX = credentials(
    license_("tx-rn", "TX", RN),
    authority(
        "nlc-tx", CompactAuthorityKind.NLC_MULTISTATE_LICENSE, jurisdiction="TX", expires_on=date(2027, 6, 30)
    ),
)
PMHNP_TX = credentials(
    license_("tx-np", "TX", PMHNP),
    license_("tx-rn", "TX", RN),
    authority(
        "nlc-tx", CompactAuthorityKind.NLC_MULTISTATE_LICENSE, jurisdiction="TX", expires_on=date(2027, 6, 30)
    ),
)
SOCIAL_WORKER_KS = credentials(
    license_("ks-lcsw", "KS", LCSW),
    authority(
        "sw-ks",
        CompactAuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE,
        jurisdiction="KS",
        category=SocialWorkCategory.CLINICAL,
        expires_on=date(2027, 6, 30),
    ),
)


@dataclass(frozen=True)
class Case:
    name: str
    creds: ClinicianCredentials
    req: AuthorizationRequest
    allowed: bool
    kind: AuthorityKind | None = None
    failed: tuple[str, ...] = ()
    cited: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)


ENC_ACTIVE = Encumbrance(EncumbranceKind.RESTRICTION, date(2026, 1, 1))
ENC_LIFTED = Encumbrance(EncumbranceKind.RESTRICTION, date(2022, 1, 1), date(2023, 6, 30))
ENC_RECENT = Encumbrance(EncumbranceKind.DISCIPLINE, date(2024, 6, 1), date(2024, 12, 31))

CASES: list[Case] = [
    # ---- LIC-01 / LIC-03 option 1: a license issued by the client's state --------------------------
    Case(
        "lic_03_active_license_in_client_state_allows",
        credentials(license_("ca-psy", "CA")),
        request("CA"),
        True,
        AuthorityKind.STATE_LICENSE,
        cited=("LIC-01", "LIC-03"),
    ),
    Case(
        "lic_03_no_license_in_client_state_denies",
        credentials(license_("ca-psy", "CA")),
        request("NY", "CA"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_license_expires_day_after_session_allows",
        credentials(license_("ca-psy", "CA", expires_on=D + timedelta(days=1))),
        request("CA"),
        True,
        AuthorityKind.STATE_LICENSE,
    ),
    Case(
        "lic_03_license_expires_on_session_day_allows_inclusive",
        credentials(license_("ca-psy", "CA", expires_on=D)),
        request("CA"),
        True,
        AuthorityKind.STATE_LICENSE,
    ),
    Case(
        "lic_03_license_expired_day_before_session_denies",
        credentials(license_("ca-psy", "CA", expires_on=D - timedelta(days=1))),
        request("CA"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_license_issued_on_session_day_allows",
        credentials(license_("ca-psy", "CA", issued_on=D)),
        request("CA"),
        True,
        AuthorityKind.STATE_LICENSE,
    ),
    Case(
        "lic_03_license_not_yet_issued_denies",
        credentials(license_("ca-psy", "CA", issued_on=D + timedelta(days=1))),
        request("CA"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_suspended_license_denies",
        credentials(license_("ca-psy", "CA", status=CredentialStatus.SUSPENDED)),
        request("CA"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_revoked_license_denies",
        credentials(license_("ca-psy", "CA", status=CredentialStatus.REVOKED)),
        request("CA"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_inactive_license_denies",
        credentials(license_("ca-psy", "CA", status=CredentialStatus.INACTIVE)),
        request("CA"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_license_with_expired_status_denies",
        credentials(license_("ca-psy", "CA", status=CredentialStatus.EXPIRED)),
        request("CA"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_license_on_probation_denies",
        credentials(license_("ca-psy", "CA", status=CredentialStatus.PROBATION)),
        request("CA"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_encumbered_license_denies",
        credentials(license_("ca-psy", "CA", restrictions=[ENC_ACTIVE])),
        request("CA"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_lifted_restriction_allows",
        credentials(license_("ca-psy", "CA", restrictions=[ENC_LIFTED])),
        request("CA"),
        True,
        AuthorityKind.STATE_LICENSE,
    ),
    Case(
        "lic_03_associate_level_license_denies",
        credentials(license_("ca-lpcc", "CA", LPC, level=LicenseLevel.ASSOCIATE)),
        request("CA", profession=LPC),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_license_of_another_profession_denies",
        credentials(license_("ca-lmft", "CA", Profession.MARRIAGE_AND_FAMILY_THERAPIST)),
        request("CA", profession=PSY),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_70_unverified_license_denies",
        credentials(license_("ca-psy", "CA", is_verified=False)),
        request("CA"),
        False,
        failed=("LIC-70",),
    ),
    Case(
        "lic_01_client_travelling_is_judged_by_physical_state",
        credentials(license_("ca-psy", "CA")),
        request("NV", "CA"),  # a California client on a trip to Nevada
        False,
        failed=("LIC-03",),
        cited=("LIC-01",),
    ),
    Case(
        "lic_01_client_travelling_to_a_licensed_state_allows",
        credentials(license_("ca-psy", "CA"), license_("ny-psy", "NY")),
        request("NY", "CA"),
        True,
        AuthorityKind.STATE_LICENSE,
        cited=("LIC-01",),
    ),
    Case(
        "lic_01_in_person_needs_clinician_in_client_state",
        credentials(license_("ca-psy", "CA")),
        request("CA", "NV", modality=IN_PERSON),
        False,
        failed=("LIC-01",),
    ),
    # ---- fail closed ----------------------------------------------------------------------------------
    Case(
        "lic_01_unknown_client_jurisdiction_fails_closed",
        credentials(license_("ca-psy", "CA")),
        request("XX", "CA"),
        False,
        failed=("LIC-01",),
    ),
    Case(
        "lic_02_unknown_clinician_jurisdiction_fails_closed",
        credentials(license_("ca-psy", "CA")),
        request("CA", "ZZ"),
        False,
        failed=("LIC-02",),
    ),
    Case(
        "lic_03_unknown_profession_fails_closed",
        credentials(license_("ca-psy", "CA")),
        request("CA", profession="life_coach"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_unknown_modality_fails_closed",
        credentials(license_("ca-psy", "CA")),
        request("CA", modality="fax"),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_11_compact_data_past_review_date_fails_closed",
        psypact_tx(ep_1=e_passport(expires_on=date(2028, 1, 1)), apit_1=apit(expires_on=date(2028, 1, 1))),
        request("CO", "TX", on=REF.document("compacts.yaml").review_by + timedelta(days=1)),
        False,
        failed=("LIC-11",),
    ),
    Case(
        "lic_03_license_needs_no_reference_data_after_review_date",
        credentials(license_("ca-psy", "CA", expires_on=date(2030, 1, 1))),
        request("CA", on=REF.document("compacts.yaml").review_by + timedelta(days=1)),
        True,
        AuthorityKind.STATE_LICENSE,
    ),
    # ---- PSYPACT APIT (LIC-10, LIC-11, LIC-12, LIC-14, LIC-15, LIC-16, LIC-17) -------------------------
    Case(
        "lic_11_apit_home_state_to_receiving_state_allows",
        PSYPACT_TX,
        request("CO", "TX"),
        True,
        AuthorityKind.PSYPACT_APIT,
        cited=("LIC-10", "LIC-11", "LIC-14", "LIC-16"),
    ),
    Case(
        "lic_11_apit_requires_clinician_in_home_state",  # RULES LIC-11 test: TX licensee physically in CO
        PSYPACT_TX,
        request("GA", "CO"),
        False,
        failed=("LIC-11", "LIC-03"),
    ),
    Case(
        "lic_11_apit_requires_clinician_in_home_state_even_for_client_in_co",
        PSYPACT_TX,
        request("CO", "CO"),
        False,
        failed=("LIC-11",),
    ),
    Case(
        "lic_11_apit_client_in_non_psypact_state_denies",
        PSYPACT_TX,
        request("CA", "TX"),
        False,
        failed=("LIC-11",),
    ),
    Case(
        "lic_11_apit_clinician_in_non_psypact_state_denies",
        credentials(license_("ca-psy", "CA"), e_passport(), apit()),
        request("CO", "CA"),
        False,
        failed=("LIC-11",),
    ),
    Case(
        "lic_11_apit_home_license_suspended_denies",
        psypact_tx(tx_psy=license_("tx-psy", "TX", status=CredentialStatus.SUSPENDED)),
        request("CO", "TX"),
        False,
        failed=("LIC-11", "LIC-15"),
    ),
    Case(
        "lic_15_apit_denied_while_any_psychology_license_disciplined",
        credentials(
            license_("tx-psy", "TX"),
            license_("ok-psy", "OK", status=CredentialStatus.PROBATION),
            e_passport(),
            apit(),
        ),
        request("CO", "TX"),
        False,
        failed=("LIC-15",),
    ),
    Case(
        "lic_10_apit_does_not_cover_in_person",
        psypact_tx(tap_1=None, ipc_1=None),
        request("CO", "CO", modality=IN_PERSON),
        False,
        failed=("LIC-10",),
    ),
    Case(
        "lic_10_apit_is_for_psychologists_only",
        credentials(license_("tx-psy", "TX"), license_("tx-lpc", "TX", LPC), e_passport(), apit()),
        request("CO", "TX", profession=LPC),
        False,
        failed=("LIC-10",),
    ),
    Case(
        "lic_16_apit_expired_day_before_session_denies",
        psypact_tx(apit_1=apit(expires_on=D - timedelta(days=1))),
        request("CO", "TX"),
        False,
        failed=("LIC-16",),
    ),
    Case(
        "lic_16_apit_expires_on_session_day_allows",
        psypact_tx(apit_1=apit(expires_on=D), ep_1=e_passport(expires_on=D)),
        request("CO", "TX"),
        True,
        AuthorityKind.PSYPACT_APIT,
        cited=("LIC-16",),
    ),
    Case(
        "lic_16_apit_requires_unexpired_e_passport",
        psypact_tx(ep_1=e_passport(expires_on=D - timedelta(days=1))),
        request("CO", "TX"),
        False,
        failed=("LIC-16",),
    ),
    Case(
        "lic_16_apit_requires_active_e_passport",
        psypact_tx(ep_1=e_passport(status=CredentialStatus.INACTIVE)),
        request("CO", "TX"),
        False,
        failed=("LIC-16",),
    ),
    Case(
        "lic_16_apit_without_e_passport_on_record_denies",
        psypact_tx(ep_1=None),
        request("CO", "TX"),
        False,
        failed=("LIC-16",),
    ),
    Case(
        "lic_17_unverified_apit_denies",
        psypact_tx(apit_1=apit(is_verified=False)),
        request("CO", "TX"),
        False,
        failed=("LIC-17",),
    ),
    Case(
        "lic_14_supervisee_cannot_use_apit",
        PSYPACT_TX,
        request("CO", "TX", is_supervisee=True),
        False,
        failed=("LIC-14",),
    ),
    Case(
        "lic_14_trainee_flag_on_credentials_blocks_apit",
        credentials(license_("tx-psy", "TX"), e_passport(), apit(), is_supervisee=True),
        request("CO", "TX"),
        False,
        failed=("LIC-14",),
    ),
    Case(
        "lic_12_license_preferred_over_apit_when_licensed_in_both",
        credentials(license_("tx-psy", "TX"), license_("co-psy", "CO"), e_passport(), apit()),
        request("CO", "TX"),
        True,
        AuthorityKind.STATE_LICENSE,
        cited=("LIC-12",),
    ),
    # ---- PSYPACT TAP (LIC-10, LIC-13, LIC-14, LIC-16) ----------------------------------------------
    Case(
        "lic_13_tap_in_person_in_distant_state_allows",
        PSYPACT_TX,
        request("CO", "CO", modality=IN_PERSON),
        True,
        AuthorityKind.PSYPACT_TAP,
        cited=("LIC-10", "LIC-13", "LIC-16"),
    ),
    Case(
        "lic_13_tap_day_29_allows",
        PSYPACT_TX,
        request("CO", "CO", modality=IN_PERSON),
        True,
        AuthorityKind.PSYPACT_TAP,
        usage=usage("tap-1", "CO", days_before(D, 28)),
    ),
    Case(
        "lic_13_tap_day_30_allows",
        PSYPACT_TX,
        request("CO", "CO", modality=IN_PERSON),
        True,
        AuthorityKind.PSYPACT_TAP,
        usage=usage("tap-1", "CO", days_before(D, 29)),
    ),
    Case(
        "lic_13_tap_day_31_denies",
        PSYPACT_TX,
        request("CO", "CO", modality=IN_PERSON),
        False,
        failed=("LIC-13",),
        usage=usage("tap-1", "CO", days_before(D, 30)),
    ),
    Case(
        "lic_13_tap_second_session_on_a_counted_day_allows",
        PSYPACT_TX,
        request("CO", "CO", modality=IN_PERSON),
        True,
        AuthorityKind.PSYPACT_TAP,
        usage=usage("tap-1", "CO", days_before(D, 29) | {D}),
    ),
    Case(
        "lic_13_tap_days_count_per_state",
        PSYPACT_TX,
        request("CO", "CO", modality=IN_PERSON),
        True,
        AuthorityKind.PSYPACT_TAP,
        usage=usage("tap-1", "GA", days_before(D, 30)),
    ),
    Case(
        "lic_13_tap_days_reset_each_calendar_year",
        PSYPACT_TX,
        request("CO", "CO", modality=IN_PERSON),
        True,
        AuthorityKind.PSYPACT_TAP,
        usage=usage(
            "tap-1", "CO", frozenset(date(2025, 12, 31) - timedelta(days=i) for i in range(30)), 2025
        ),
    ),
    Case(
        "lic_10_tap_does_not_cover_telehealth",
        psypact_tx(apit_1=None, ep_1=None),
        request("CO", "CO"),
        False,
        failed=("LIC-10",),
    ),
    Case(
        "lic_13_tap_requires_psypact_distant_state",
        PSYPACT_TX,
        request("CA", "CA", modality=IN_PERSON),
        False,
        failed=("LIC-13",),
    ),
    Case(
        "lic_16_tap_requires_valid_ipc",
        psypact_tx(ipc_1=ipc(expires_on=D - timedelta(days=1))),
        request("CO", "CO", modality=IN_PERSON),
        False,
        failed=("LIC-16",),
    ),
    Case(
        "lic_16_tap_expired_denies",
        psypact_tx(tap_1=tap(expires_on=D - timedelta(days=1))),
        request("CO", "CO", modality=IN_PERSON),
        False,
        failed=("LIC-16",),
    ),
    Case(
        "lic_14_supervisee_cannot_use_tap",
        PSYPACT_TX,
        request("CO", "CO", modality=IN_PERSON, is_supervisee=True),
        False,
        failed=("LIC-14",),
    ),
    # ---- Counseling Compact (LIC-20..24) ---------------------------------------------------------------
    Case(
        "lic_24_privilege_in_live_state_mn_allows",
        counselor(),
        request("MN", "AZ", profession=LPC, on=COUNSELING_DAY),
        True,
        AuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
        cited=("LIC-20", "LIC-22", "LIC-24"),
    ),
    Case(
        "lic_24_privilege_in_live_state_az_allows",
        credentials(license_("mn-lpc", "MN", LPC), privilege("priv-az", "AZ", "mn-lpc")),
        request("AZ", "MN", profession=LPC, on=COUNSELING_DAY),
        True,
        AuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
    ),
    Case(
        "lic_24_privilege_on_go_live_day_allows",
        counselor(),
        request("MN", "AZ", profession=LPC, on=date(2025, 9, 30)),
        True,
        AuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
    ),
    Case(
        "lic_24_privilege_day_before_go_live_denies",
        counselor(issued_on=date(2025, 9, 1)),
        request("MN", "AZ", profession=LPC, on=date(2025, 9, 29)),
        False,
        failed=("LIC-24",),
    ),
    Case(
        "lic_24_privilege_in_enacted_not_live_state_denies",
        counselor(),
        request("CO", "AZ", profession=LPC, on=COUNSELING_DAY),
        False,
        failed=("LIC-24",),
    ),
    Case(
        "lic_20_privilege_only_for_its_own_state",
        counselor(),
        request("UT", "AZ", profession=LPC, on=COUNSELING_DAY),
        False,
        failed=("LIC-20", "LIC-03"),
    ),
    Case(
        "lic_22_privilege_lost_when_home_license_expired",
        counselor(home=license_("az-lpc", "AZ", LPC, expires_on=COUNSELING_DAY - timedelta(days=1))),
        request("MN", "AZ", profession=LPC, on=COUNSELING_DAY),
        False,
        failed=("LIC-22",),
    ),
    Case(
        "lic_22_privilege_lost_when_home_license_encumbered",
        counselor(
            home=license_(
                "az-lpc",
                "AZ",
                LPC,
                restrictions=[Encumbrance(EncumbranceKind.ENCUMBRANCE, date(2025, 10, 1))],
            )
        ),
        request("MN", "AZ", profession=LPC, on=COUNSELING_DAY),
        False,
        failed=("LIC-22",),
    ),
    Case(
        "lic_22_privilege_removed_by_remote_state_denies",
        counselor(status=CredentialStatus.SUSPENDED),
        request("MN", "AZ", profession=LPC, on=COUNSELING_DAY),
        False,
        failed=("LIC-22",),
    ),
    Case(
        "lic_21_privilege_needs_two_clean_years",
        counselor(extra=(license_("nv-lpc", "NV", LPC, restrictions=[ENC_RECENT]),)),
        request("MN", "AZ", profession=LPC, on=COUNSELING_DAY),
        False,
        failed=("LIC-21",),
    ),
    Case(
        "lic_21_privilege_needs_independent_home_license",
        counselor(home=license_("az-lpc", "AZ", LPC, level=LicenseLevel.ASSOCIATE)),
        request("MN", "AZ", profession=LPC, on=COUNSELING_DAY),
        False,
        failed=("LIC-21",),
    ),
    Case(
        "lic_21_supervisee_cannot_practise_under_privilege",
        counselor(),
        request("MN", "AZ", profession=LPC, on=COUNSELING_DAY, is_supervisee=True),
        False,
        failed=("LIC-21",),
    ),
    # ---- Social Work Compact (LIC-30, LIC-31) ---------------------------------------------------------
    Case(
        "lic_31_social_work_multistate_license_not_usable_before_issuance",
        SOCIAL_WORKER_KS,
        request("MO", "KS", profession=LCSW),
        False,
        failed=("LIC-31", "LIC-03"),
    ),
    Case(
        "lic_03_social_worker_uses_state_license_while_compact_not_issuing",
        SOCIAL_WORKER_KS,
        request("KS", profession=LCSW),
        True,
        AuthorityKind.STATE_LICENSE,
    ),
    # ---- NLC (LIC-50) and APRN Compact (LIC-51) --------------------------------------------------------
    Case(
        "lic_50_nlc_multistate_license_covers_rn_scope",
        NURSE_TX,
        request("FL", "TX", profession=RN),
        True,
        AuthorityKind.NLC_MULTISTATE_LICENSE,
        cited=("LIC-50",),
    ),
    Case(
        "lic_50_nlc_client_state_not_in_compact_denies",
        NURSE_TX,
        request("CA", "TX", profession=RN),
        False,
        failed=("LIC-50",),
    ),
    Case(
        "lic_50_nlc_never_covers_psychiatric_np",
        PMHNP_TX,
        request("FL", "TX", profession=PMHNP),
        False,
        failed=("LIC-50",),
        cited=("LIC-51",),
    ),
    Case(
        "lic_03_psychiatric_np_with_aprn_license_in_client_state_allows",
        credentials(license_("tx-np", "TX", PMHNP)),
        request("TX", profession=PMHNP),
        True,
        AuthorityKind.STATE_LICENSE,
    ),
    # ---- IMLC (LIC-40) -----------------------------------------------------------------------------------
    Case(
        "lic_40_psychiatrist_needs_a_license_from_client_state",
        credentials(license_("tx-md", "TX", MD)),
        request("OK", "TX", profession=MD),
        False,
        failed=("LIC-03",),
        cited=("LIC-40",),
    ),
    Case(
        "lic_03_imlc_issued_license_is_an_ordinary_state_license",
        credentials(license_("tx-md", "TX", MD), license_("ok-md-imlc", "OK", MD)),
        request("OK", "TX", profession=MD),
        True,
        AuthorityKind.STATE_LICENSE,
    ),
    # ---- BC-TMH (LIC-80) -----------------------------------------------------------------------------------
    Case(
        "lic_80_bc_tmh_is_not_an_authority_to_practise",
        credentials(license_("tx-lpc", "TX", LPC), bc_tmh()),
        request("OK", "TX", profession=LPC),
        False,
        failed=("LIC-03",),
        cited=("LIC-80",),
    ),
    # ---- State exceptions (LIC-03 option 3, LIC-60, LIC-61) ------------------------------------------------
    Case(
        "lic_60_ca_temporary_practice_existing_client_with_approval_allows",
        ca_temporary(),
        request("CA", "TX", existing_client=True),
        True,
        AuthorityKind.STATE_EXCEPTION,
        cited=("LIC-03", "LIC-60"),
    ),
    Case(
        "lic_03_ca_temporary_practice_needs_existing_client",
        ca_temporary(),
        request("CA", "TX", existing_client=False),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_ca_temporary_practice_needs_prior_approval",
        ca_temporary(approved=False),
        request("CA", "TX", existing_client=True),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_60_ca_temporary_practice_day_30_of_consecutive_window_allows",
        ca_temporary(),
        request("CA", "TX", existing_client=True, on=date(2026, 3, 30)),
        True,
        AuthorityKind.STATE_EXCEPTION,
        usage=usage("exc-ca", "CA", frozenset({date(2026, 3, 1)})),
    ),
    Case(
        "lic_60_ca_temporary_practice_beyond_30_consecutive_days_denies",
        ca_temporary(),
        request("CA", "TX", existing_client=True, on=date(2026, 3, 31)),
        False,
        failed=("LIC-60",),
        usage=usage("exc-ca", "CA", frozenset({date(2026, 3, 1)})),
    ),
    Case(
        "lic_03_ca_temporary_practice_not_for_other_professions",
        credentials(
            license_("tx-lpc", "TX", LPC),
            exception_("exc-ca", "CA", "CA-BPC-2912", "tx-lpc", approved_on=date(2026, 3, 1)),
        ),
        request("CA", "TX", profession=LPC, existing_client=True),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_60_fl_491_day_15_allows",
        FL_COUNSELOR,
        request("FL", "GA", profession=LPC),
        True,
        AuthorityKind.STATE_EXCEPTION,
        cited=("LIC-60",),
        usage=usage("exc-fl-491", "FL", days_before(D, 14)),
    ),
    Case(
        "lic_60_fl_491_day_16_denies",
        FL_COUNSELOR,
        request("FL", "GA", profession=LPC),
        False,
        failed=("LIC-60",),
        usage=usage("exc-fl-491", "FL", days_before(D, 15)),
    ),
    Case(
        "lic_03_fl_491_home_license_expired_denies",
        credentials(
            license_("ga-lpc", "GA", LPC, expires_on=D - timedelta(days=1)),
            exception_("exc-fl-491", "FL", "FL-491.014-4-d", "ga-lpc"),
        ),
        request("FL", "GA", profession=LPC),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_fl_456_registration_covers_video",
        FL_REGISTERED,
        request("FL", "GA", profession=LPC),
        True,
        AuthorityKind.STATE_EXCEPTION,
        cited=("LIC-03",),
    ),
    Case(
        "lic_61_fl_456_registration_excludes_audio_only",
        FL_REGISTERED,
        request("FL", "GA", profession=LPC, modality=Modality.AUDIO),
        False,
        failed=("LIC-61",),
    ),
    Case(
        "lic_61_fl_456_registration_excludes_async_messaging",
        FL_REGISTERED,
        request("FL", "GA", profession=LPC, modality=Modality.MESSAGING),
        False,
        failed=("LIC-61",),
    ),
    Case(
        "lic_03_fl_456_registration_excludes_in_person",
        FL_REGISTERED,
        request("FL", "FL", profession=LPC, modality=IN_PERSON),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_03_fl_456_needs_registration_on_record",
        FL_UNREGISTERED,
        request("FL", "GA", profession=LPC),
        False,
        failed=("LIC-03",),
    ),
    Case(
        "lic_60_mt_day_10_needs_no_notice",
        mt_psychologist(notice=False),
        request("MT", "WY"),
        True,
        AuthorityKind.STATE_EXCEPTION,
        usage=usage("exc-mt", "MT", days_before(D, 9)),
    ),
    Case(
        "lic_60_mt_day_11_without_notice_denies",
        mt_psychologist(notice=False),
        request("MT", "WY"),
        False,
        failed=("LIC-60",),
        usage=usage("exc-mt", "MT", days_before(D, 10)),
    ),
    Case(
        "lic_60_mt_day_11_with_notice_allows",
        mt_psychologist(notice=True),
        request("MT", "WY"),
        True,
        AuthorityKind.STATE_EXCEPTION,
        usage=usage("exc-mt", "MT", days_before(D, 10)),
    ),
    Case(
        "lic_03_exception_with_unknown_rule_fails_closed",
        credentials(license_("tx-psy", "TX"), exception_("exc-zz", "NY", "NY-NO-SUCH-RULE", "tx-psy")),
        request("NY", "TX"),
        False,
        failed=("LIC-03",),
    ),
    # ---- LIC-02: the clinician's own location and licensing board -----------------------------------------
    Case(
        "lic_02_ca_licensee_serving_elsewhere_gets_warning",
        credentials(license_("ca-psy", "CA"), license_("tx-psy", "TX")),
        request("TX", "CA"),
        True,
        AuthorityKind.STATE_LICENSE,
        cited=("LIC-02",),
    ),
    Case(
        "lic_02_clinician_travelling_outside_licensed_states_gets_warning",
        credentials(license_("tx-psy", "TX")),
        request("TX", "NV"),
        True,
        AuthorityKind.STATE_LICENSE,
        cited=("LIC-02",),
    ),
]


def _ids(case: Case) -> str:
    return case.name


def test_the_table_is_big_enough_and_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) >= 45
    assert len(set(names)) == len(names)
    assert all(n.startswith("lic_") for n in names)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_jurisdiction_case(case: Case) -> None:
    decision = decide(case.req, case.creds, REF, case.usage)
    context = f"\n{decision.explanation}"
    assert decision.allowed is case.allowed, context
    if case.allowed:
        assert decision.authority is not None, context
        assert decision.authority.kind is case.kind, context
    else:
        assert decision.authority is None, context
        assert decision.failed_rule_ids, context
    for rule_id in case.failed:
        assert rule_id in decision.failed_rule_ids, f"{rule_id} not among failed reasons{context}"
    for rule_id in case.cited:
        assert rule_id in decision.rule_ids, f"{rule_id} not cited{context}"
    assert decision.reference_data_version == REF.version
    # The reason for the rule the case is named after is present.
    named = "LIC-" + case.name.split("_")[1]
    assert named in decision.rule_ids, f"{named} not cited{context}"


def test_allowed_decisions_have_no_failed_reason_on_the_authority_used() -> None:
    for case in CASES:
        decision = decide(case.req, case.creds, REF, case.usage)
        if decision.authority is None:
            continue
        on_authority = [r for r in decision.reasons if r.credential_id == decision.authority.id]
        assert on_authority, case.name
        assert all(r.outcome is not Outcome.FAILED for r in on_authority), case.name


def test_day_limited_authorities_report_the_counter_to_increment() -> None:
    tap_decision = decide(request("CO", "CO", modality=IN_PERSON), PSYPACT_TX, REF)
    assert tap_decision.usage_key == UsageKey("tap-1", "CO", 2026)
    apit_decision = decide(request("CO", "TX"), PSYPACT_TX, REF)
    assert apit_decision.usage_key is None
    fl = decide(request("FL", "GA", profession=LPC), FL_COUNSELOR, REF)
    assert fl.usage_key == UsageKey("exc-fl-491", "FL", 2026)


def test_decisions_relying_on_unverified_membership_carry_a_warning() -> None:
    decision = decide(request("CO", "TX"), PSYPACT_TX, REF)
    assert decision.allowed
    assert any(w.rule_id == "LIC-11" and "confidence U" in w.message for w in decision.warnings)


def test_unknown_values_are_not_echoed_in_reasons() -> None:
    secret = "123 Main Street, Springfield"
    decision = decide(request(secret, "CA"), credentials(license_("ca-psy", "CA")), REF)
    assert not decision.allowed
    assert all(secret not in r.message for r in decision.reasons)
    assert secret not in decision.explanation


def test_find_authorized_for_matching() -> None:
    roster = [
        credentials(license_("co-psy", "CO", clinician_id="a"), clinician_id="a", practice_jurisdiction="CO"),
        credentials(
            license_("tx-psy", "TX", clinician_id="b"),
            authority("ep-b", CompactAuthorityKind.PSYPACT_E_PASSPORT, clinician_id="b"),
            authority("apit-b", CompactAuthorityKind.PSYPACT_APIT, prerequisite_id="ep-b", clinician_id="b"),
            clinician_id="b",
            practice_jurisdiction="TX",
        ),
        credentials(license_("ca-psy", "CA", clinician_id="c"), clinician_id="c", practice_jurisdiction="CA"),
        credentials(
            license_("tx-psy-d", "TX", clinician_id="d"),
            authority("ep-d", CompactAuthorityKind.PSYPACT_E_PASSPORT, clinician_id="d"),
            authority("apit-d", CompactAuthorityKind.PSYPACT_APIT, prerequisite_id="ep-d", clinician_id="d"),
            clinician_id="d",
            practice_jurisdiction="TX",
            is_supervisee=True,  # LIC-14
        ),
        credentials(license_("tx-psy-e", "TX", clinician_id="e"), e_passport_for("e"), clinician_id="e"),
    ]
    at = datetime(2026, 3, 10, 17, tzinfo=UTC)
    video = find_authorized(reversed(roster), "CO", at, D, Modality.VIDEO, REF)
    assert [(f.clinician_id, f.authority.kind) for f in video] == [
        ("a", AuthorityKind.STATE_LICENSE),
        ("b", AuthorityKind.PSYPACT_APIT),
    ]
    assert all(f.profession is PSY for f in video)
    in_person = find_authorized(roster, "CO", at, D, IN_PERSON, REF)
    assert [f.clinician_id for f in in_person] == ["a"]
    # The clinician's location at session time can be given explicitly (clinician travelling).
    travelling = find_authorized(
        roster, "CO", at, D, Modality.VIDEO, REF, clinician_jurisdictions={"b": "NM"}
    )
    assert [f.clinician_id for f in travelling] == ["a"]


def e_passport_for(clinician_id: str) -> CompactAuthority:
    return authority(f"ep-{clinician_id}", CompactAuthorityKind.PSYPACT_E_PASSPORT, clinician_id=clinician_id)

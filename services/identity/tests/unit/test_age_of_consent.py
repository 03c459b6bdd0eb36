"""Minor detection by the state's age of consent for outpatient mental-health care (docs/rules.md §2.5,
SAFE-30)."""

from __future__ import annotations

from datetime import date

import pytest

from confide_identity.domain.age_of_consent import (
    AgeOfConsentTable,
    Confidence,
    age_on,
    is_minor_for_consent,
    parse_age_of_consent_table,
)

# (state, consent age used by default, confidence) for every entry in the bundled table
EXPECTED = [
    ("CA", 12, Confidence.VERIFIED),
    ("IL", 12, Confidence.VERIFIED),
    ("WA", 13, Confidence.VERIFIED),
    ("PA", 14, Confidence.VERIFIED),
    ("TX", 18, Confidence.VERIFIED),
    ("AZ", 18, Confidence.SECONDARY),
    # [U] entries that would let a younger person consent alone fall back to the default 18
    ("CO", 18, Confidence.UNVERIFIED),
    ("FL", 18, Confidence.UNVERIFIED),
    ("NY", 18, Confidence.UNVERIFIED),
    ("AL", 18, Confidence.UNVERIFIED),
    # [U] entries that are stricter than the default are kept (conservative)
    ("NE", 19, Confidence.UNVERIFIED),
    ("MS", 21, Confidence.UNVERIFIED),
]


def birthday(years_before: date, years: int) -> date:
    return years_before.replace(year=years_before.year - years)


def test_table_carries_as_of_and_source(consent_table: AgeOfConsentTable) -> None:
    assert consent_table.as_of == date(2026, 2, 28)
    assert "docs/rules.md" in consent_table.source
    assert consent_table.default.consent_age == 18
    assert consent_table.default.confidence is Confidence.UNVERIFIED
    assert {code for code, _, _ in EXPECTED} == set(consent_table.rules)


@pytest.mark.parametrize(("state", "age", "confidence"), EXPECTED)
def test_birthday_boundary_in_every_state(
    consent_table: AgeOfConsentTable, state: str, age: int, confidence: Confidence
) -> None:
    on = date(2026, 6, 15)
    assert consent_table.rule_for(state).confidence is confidence
    born_exactly = birthday(on, age)  # turns `age` today
    born_tomorrow = date(born_exactly.year, 6, 16)  # turns `age` tomorrow
    assert not is_minor_for_consent(born_exactly, state, on, table=consent_table)
    assert is_minor_for_consent(born_tomorrow, state, on, table=consent_table)
    assert consent_table.assess(born_exactly, state, on).effective_consent_age == age


@pytest.mark.parametrize(("state", "age"), [("CO", 15), ("FL", 13), ("NY", 16), ("AL", 14)])
def test_unverified_ages_apply_only_when_the_caller_opts_in(
    consent_table: AgeOfConsentTable, state: str, age: int
) -> None:
    on = date(2026, 6, 15)
    dob = birthday(on, age)
    assert is_minor_for_consent(dob, state, on, table=consent_table)
    assert not is_minor_for_consent(dob, state, on, table=consent_table, accept_unverified=True)
    assert consent_table.assess(dob, state, on).used_conservative_fallback


def test_unknown_state_uses_the_default_marked_unverified(consent_table: AgeOfConsentTable) -> None:
    on = date(2026, 6, 15)
    assessment = consent_table.assess(birthday(on, 17), "OH", on)
    assert assessment.rule.is_default
    assert assessment.rule.confidence is Confidence.UNVERIFIED
    assert assessment.is_minor_for_consent
    assert not consent_table.assess(birthday(on, 18), "oh", on).is_minor_for_consent


def test_california_minor_of_13_consents_alone_but_is_still_a_minor(consent_table: AgeOfConsentTable) -> None:
    on = date(2026, 6, 15)
    assessment = consent_table.assess(birthday(on, 13), "CA", on)
    assert not assessment.is_minor_for_consent
    assert assessment.is_minor
    assert assessment.rule.guardian_involvement_expected
    assert not assessment.guardian_consent_required


def test_illinois_session_limit_without_guardian_applies_under_17(consent_table: AgeOfConsentTable) -> None:
    on = date(2026, 6, 15)
    fifteen = consent_table.assess(birthday(on, 15), "IL", on)
    assert fifteen.guardian_session_limit is not None
    assert (fifteen.guardian_session_limit.sessions, fifteen.guardian_session_limit.max_minutes) == (8, 90)
    assert consent_table.assess(birthday(on, 17), "IL", on).guardian_session_limit is None
    assert (
        consent_table.assess(birthday(on, 11), "IL", on).guardian_session_limit is None
    )  # needs consent anyway


def test_leap_day_birthday_counts_from_1_march_in_common_years() -> None:
    dob = date(2008, 2, 29)
    assert age_on(dob, date(2026, 2, 28)) == 17
    assert age_on(dob, date(2026, 3, 1)) == 18
    assert age_on(dob, date(2028, 2, 29)) == 20


def test_age_on_rejects_dates_before_birth() -> None:
    with pytest.raises(ValueError, match="before"):
        age_on(date(2020, 1, 2), date(2020, 1, 1))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "as_of"),
        (
            {"as_of": date(2026, 1, 1), "default": {"consent_age": 18, "confidence": "U", "source": "x"}},
            "states",
        ),
        (
            {
                "as_of": date(2026, 1, 1),
                "source": "x",
                "default": {"consent_age": 18, "confidence": "U", "source": "x"},
                "states": {"ZZ": {"consent_age": 12, "confidence": "V", "source": "x"}},
            },
            "ZZ",
        ),
        (
            {
                "as_of": date(2026, 1, 1),
                "source": "x",
                "default": {"consent_age": 18, "confidence": "maybe", "source": "x"},
                "states": {},
            },
            "confidence",
        ),
    ],
)
def test_malformed_reference_data_is_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_age_of_consent_table(data)

"""The shared age-of-consent table: one packaged document, typed and validated (docs/rules.md §2.5)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import yaml

from confide_chassis.age_of_consent import (
    AgeOfConsentError,
    Confidence,
    document_text,
    load_age_of_consent,
    parse_age_of_consent,
)


def document() -> dict[str, Any]:
    data = yaml.safe_load(document_text())
    assert isinstance(data, dict)
    return data


def test_the_packaged_table_loads_with_every_state_and_its_facts() -> None:
    table = load_age_of_consent()
    assert table.as_of == date(2026, 2, 28)
    assert table.default.consent_age == 18
    assert table.default.confidence is Confidence.UNVERIFIED
    assert table.jurisdictions() == {"CA", "IL", "WA", "PA", "TX", "AZ", "CO", "FL", "NY", "AL", "NE", "MS"}
    california = table.current_rule("CA")
    assert california is not None
    assert (california.consent_age, california.confidence) == (12, Confidence.VERIFIED)
    assert california.guardian_involvement_expected
    assert "§6924" in california.citation
    illinois = table.current_rule("il")
    assert illinois is not None
    assert illinois.session_limit_without_guardian is not None
    assert illinois.session_limit_without_guardian.max_sessions == 8
    assert illinois.session_limit_without_guardian.max_minutes_per_session == 90
    assert illinois.session_limit_without_guardian.applies_below_age == 17
    alabama = table.current_rule("AL")
    assert alabama is not None
    assert alabama.age_of_majority == 19


def test_a_rule_applies_from_its_effective_date() -> None:
    table = load_age_of_consent()
    assert table.rule_for("CA", date(2024, 6, 30)) is None  # only the AB 665 version is recorded
    rule = table.rule_for("CA", date(2024, 7, 1))
    assert rule is not None
    assert rule.consent_age == 12
    assert table.rule_for("NJ", date(2026, 6, 1)) is None


def test_every_bad_entry_is_reported_with_its_path() -> None:
    data = document()
    data["entries"][0]["consent_age"] = "twelve"
    data["entries"][2]["jurisdiction"] = "XX"
    data["entries"][3]["confidence"] = "maybe"
    with pytest.raises(AgeOfConsentError) as err:
        parse_age_of_consent(data)
    assert [path for path, _ in err.value.problems] == [
        "entries[0].consent_age",
        "entries[2].jurisdiction",
        "entries[3].confidence",
    ]


def test_a_rule_must_say_where_it_comes_from_and_may_not_repeat() -> None:
    data = document()
    data["entries"][0].pop("citation")
    data["entries"][0].pop("source")
    data["entries"].append(dict(data["entries"][1]))
    with pytest.raises(AgeOfConsentError) as err:
        parse_age_of_consent(data)
    problems = dict(err.value.problems)
    assert "citation or source" in problems["entries[0]"]
    assert "listed twice" in problems[f"entries[{len(data['entries']) - 1}]"]


def test_unknown_keys_and_schema_are_refused() -> None:
    data = document()
    data["entries"][0]["minimum_age"] = 12
    with pytest.raises(AgeOfConsentError, match="unknown key"):
        parse_age_of_consent(data)
    with pytest.raises(AgeOfConsentError, match="schema"):
        parse_age_of_consent({**document(), "schema": 1})

"""Reference data: the packaged files load, and the parser refuses bad data with clear errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from confide_compliance.domain import CompactId, Confidence, Modality, Profession, ReferenceDataError
from confide_compliance.domain.reference import FILES, parse_reference_data
from confide_compliance.reference_data import load_reference_data, read_documents

DOCS = read_documents()


def parse_with(name: str, edit: Callable[[str], str]) -> ReferenceDataError:
    documents = dict(DOCS)
    documents[name] = edit(documents[name])
    with pytest.raises(ReferenceDataError) as err:
        parse_reference_data(documents)
    return err.value


def fields(err: ReferenceDataError) -> list[str]:
    return [v.field for v in err.violations]


# -- the packaged data -------------------------------------------------------------------------------


def test_packaged_reference_data_loads_with_a_version() -> None:
    ref = load_reference_data()
    assert ref.as_of == date(2026, 2, 28)
    assert ref.version.startswith("2026-02-28.")
    assert len(ref.digest) == 64
    assert set(ref.documents) == set(FILES)
    for doc in ref.documents.values():
        assert doc.source
        assert doc.review_by >= doc.as_of


def test_lic_24_counseling_compact_only_az_and_mn_live() -> None:
    counseling = load_reference_data().compact(CompactId.COUNSELING)
    live = [m.jurisdiction for m in counseling.members if m.live_on is not None]
    assert live == ["AZ", "MN"]
    assert all(m.live_on == date(2025, 9, 30) for m in counseling.members if m.live_on)
    assert len(counseling.members) == 39  # 38 states + DC enacted
    assert not counseling.live_member("CO", date(2026, 3, 10))
    assert counseling.effective_member("CO", date(2026, 3, 10))
    assert not counseling.effective_member("NV", date(2025, 12, 31))
    assert counseling.effective_member("NV", date(2026, 1, 1))


def test_lic_11_psypact_membership_is_data_with_confidence() -> None:
    psypact = load_reference_data().compact(CompactId.PSYPACT)
    assert len(psypact.members) == 42
    assert psypact.membership("MP") is not None  # CNMI
    assert psypact.membership("CA") is None
    assert all(m.confidence is Confidence.UNVERIFIED for m in psypact.members)


def test_lic_31_lic_51_compacts_not_operational() -> None:
    ref = load_reference_data()
    assert not ref.compact(CompactId.SOCIAL_WORK).operational(date(2026, 3, 10))
    assert not ref.compact(CompactId.APRN).operational(date(2026, 3, 10))
    assert not ref.compact(CompactId.IMLC).authorizes_practice
    assert Profession.PSYCHIATRIC_NURSE_PRACTITIONER not in ref.compact(CompactId.NLC).professions


def test_lic_61_florida_registration_excludes_audio_with_unverified_confidence() -> None:
    rule = load_reference_data().exception_rule("FL-456.47")
    assert rule is not None
    audio = rule.exclusion_for(Modality.AUDIO)
    assert audio is not None
    assert audio.rule_id == "LIC-61"
    assert audio.confidence is Confidence.UNVERIFIED
    assert rule.exclusion_for(Modality.VIDEO) is None


def test_age_of_consent_table() -> None:
    ref = load_reference_data()
    on = date(2026, 3, 10)
    expected = {
        "CA": 12,
        "IL": 12,
        "WA": 13,
        "PA": 14,
        "TX": 18,
        "AZ": 18,
        "CO": 15,
        "FL": 13,
        "NY": 16,
        "AL": 14,
    }
    for state, age in expected.items():
        rule = ref.age_of_consent_for(state, on)
        assert rule is not None, state
        assert rule.consent_age == age, state
    il = ref.age_of_consent_for("IL", on)
    assert il is not None
    assert il.session_limit_without_guardian is not None
    assert il.session_limit_without_guardian.max_sessions == 8
    assert ref.age_of_consent_for("CA", date(2024, 6, 30)) is None  # only the AB 665 version is recorded
    assert ref.age_of_consent_for("NJ", on) is None
    co = ref.age_of_consent_for("CO", on)
    assert co is not None
    assert co.confidence is Confidence.UNVERIFIED


def test_version_ignores_comments_but_not_content() -> None:
    base = parse_reference_data(DOCS)
    commented = dict(DOCS)
    commented["compacts.yaml"] = "# a new comment\n" + DOCS["compacts.yaml"]
    assert parse_reference_data(commented).version == base.version
    changed = dict(DOCS)
    changed["compacts.yaml"] = DOCS["compacts.yaml"].replace(
        "{jurisdiction: CO, effective_on: 2025-09-01, confidence: S}",
        "{jurisdiction: CO, effective_on: 2025-09-01, live_on: 2026-06-01, confidence: S}",
    )
    assert parse_reference_data(changed).version != base.version


def test_loads_from_a_directory(tmp_path: Path) -> None:
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert load_reference_data(tmp_path).version == load_reference_data().version
    (tmp_path / "age_of_consent.yaml").unlink()
    with pytest.raises(ReferenceDataError) as err:
        load_reference_data(tmp_path)
    assert fields(err.value) == ["age_of_consent.yaml"]


# -- errors ------------------------------------------------------------------------------------------


def test_missing_and_unexpected_documents() -> None:
    documents = {k: v for k, v in DOCS.items() if k != "licensee_rules.yaml"}
    documents["extra.yaml"] = "schema: 1"
    with pytest.raises(ReferenceDataError) as err:
        parse_reference_data(documents)
    assert fields(err.value) == ["licensee_rules.yaml", "extra.yaml"]


def test_invalid_yaml_is_reported_per_file() -> None:
    err = parse_with("compacts.yaml", lambda t: t + "\n  - : : [\n")
    assert fields(err)[0] == "compacts.yaml"
    assert "not valid YAML" in err.violations[0].description


def test_duplicate_keys_are_refused() -> None:
    err = parse_with("licensee_rules.yaml", lambda t: t.replace("schema: 1", "schema: 1\nschema: 1"))
    assert "duplicate key" in err.violations[0].description


def test_unknown_jurisdiction_names_the_path() -> None:
    err = parse_with(
        "compacts.yaml",
        lambda t: t.replace(
            "{jurisdiction: AL, effective_on: 2025-10-01", "{jurisdiction: QQ, effective_on: 2025-10-01"
        ),
    )
    assert "compacts.yaml: compacts[0].members[0].jurisdiction" in fields(err)
    assert "unknown jurisdiction 'QQ'" in str(err)


def test_missing_as_of_and_bad_review_by() -> None:
    err = parse_with("age_of_consent.yaml", lambda t: t.replace("as_of: 2026-02-28\n", ""))
    assert "age_of_consent.yaml: as_of" in fields(err)
    err = parse_with(
        "age_of_consent.yaml", lambda t: t.replace("review_by: 2027-06-30", "review_by: 2020-01-01")
    )
    assert "age_of_consent.yaml: review_by" in fields(err)


def test_unknown_fields_are_refused() -> None:
    err = parse_with(
        "state_exceptions.yaml",
        lambda t: t.replace(
            "    kind: temporary_practice\n", "    kind: temporary_practice\n    max_dayz: 3\n", 1
        ),
    )
    assert "state_exceptions.yaml: rules[0].max_dayz" in fields(err)


def test_live_before_effective_is_refused() -> None:
    err = parse_with(
        "compacts.yaml",
        lambda t: t.replace(
            "{jurisdiction: AZ, effective_on: 2025-09-01, live_on: 2025-09-30",
            "{jurisdiction: AZ, effective_on: 2025-10-01, live_on: 2025-09-30",
        ),
    )
    assert any(f.endswith(".live_on") for f in fields(err))


def test_duplicate_member_and_missing_compact() -> None:
    err = parse_with(
        "compacts.yaml",
        lambda t: t.replace(
            "      - {jurisdiction: AR, effective_on: 2025-10-01, confidence: U}\n",
            "      - {jurisdiction: AL, effective_on: 2025-10-01, confidence: U}\n",
            1,
        ),
    )
    assert "AL is listed twice" in str(err)
    err = parse_with("compacts.yaml", lambda t: t.replace("  - id: imlc", "  - id: imlc_typo"))
    assert "'imlc_typo' is not one of" in str(err)
    assert "compact 'imlc' is missing" in str(err)


def test_bad_enum_values_and_professions() -> None:
    err = parse_with("compacts.yaml", lambda t: t.replace("confidence: U}", "confidence: maybe}", 1))
    assert "'maybe' is not one of: V, S, U" in str(err)
    err = parse_with(
        "licensee_rules.yaml", lambda t: t.replace("professions: [psychologist]", "professions: [wizard]")
    )
    assert "unknown profession 'wizard'" in str(err)


def test_approval_kind_must_match_prior_approval_flag() -> None:
    err = parse_with(
        "state_exceptions.yaml", lambda t: t.replace("    approval_kind: board_approval\n", "", 1)
    )
    assert "state_exceptions.yaml: rules[0].approval_kind" in fields(err)


def test_rule_ids_and_modalities_are_checked() -> None:
    err = parse_with("state_exceptions.yaml", lambda t: t.replace("rule_id: LIC-61", "rule_id: FLORIDA", 1))
    assert "'FLORIDA' is not a rule id" in str(err)
    err = parse_with(
        "state_exceptions.yaml", lambda t: t.replace("modality: audio", "modality: carrier_pigeon", 1)
    )
    assert "'carrier_pigeon' is not one of" in str(err)


def test_all_problems_are_reported_at_once() -> None:
    def edit(t: str) -> str:
        return t.replace("consent_age: 12", "consent_age: twelve").replace(
            "jurisdiction: WA", "jurisdiction: XX"
        )

    err = parse_with("age_of_consent.yaml", edit)
    assert len(err.violations) >= 3
    assert "reference data is invalid" in str(err)

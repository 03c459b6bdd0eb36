"""Profile content rules and the review cycle."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from confide_chassis.errors import FailedPrecondition, InvalidArgument
from confide_directory.domain.profiles import (
    FeeRange,
    Modality,
    Profession,
    ProfileContent,
    ProfileStatus,
    canonical_language,
    new_profile,
    validate_content,
)
from confide_directory.reference_data import load_vocabulary

VOCABULARY = load_vocabulary()
NOW = datetime(2026, 12, 6, tzinfo=UTC)

CONTENT = ProfileContent(
    display_name="Dr. Test",
    profession=Profession.PSYCHOLOGIST,
    specialties=("anxiety",),
    approaches=("cbt",),
    populations=("adults",),
    languages=("en",),
    modalities=(Modality.VIDEO,),
    fees=FeeRange(10000, 15000, True),
    accepts_self_pay=True,
    accepts_plans=False,
    bio="Hello.",
    time_zone="America/Denver",
)


def fields(error: InvalidArgument) -> list[str]:
    return [v.field for v in error.violations]


def test_unknown_vocabulary_terms_are_rejected_naming_the_field() -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_content(
            replace(CONTENT, specialties=("anxiety", "astrology"), approaches=("vibes",)), VOCABULARY
        )
    assert fields(error.value) == ["content.specialties[1]", "content.approaches[0]"]


def test_languages_must_be_bcp47_and_are_canonicalized() -> None:
    valid = validate_content(replace(CONTENT, languages=("EN", "zh-hant", "es-419")), VOCABULARY)
    assert valid.languages == ("en", "zh-Hant", "es-419")
    with pytest.raises(InvalidArgument) as error:
        validate_content(replace(CONTENT, languages=("english",)), VOCABULARY)
    assert fields(error.value) == ["content.languages[0]"]
    assert canonical_language("pt-br") == "pt-BR"
    assert canonical_language("x") is None


def test_bio_fees_time_zone_and_payment_are_bounded() -> None:
    bad = replace(
        CONTENT,
        bio="x" * 2001,
        fees=FeeRange(20000, 10000, False),
        time_zone="Mars/Olympus",
        accepts_self_pay=False,
        accepts_plans=False,
    )
    with pytest.raises(InvalidArgument) as error:
        validate_content(bad, VOCABULARY)
    assert set(fields(error.value)) == {
        "content.bio",
        "content.fees.min_minor",
        "content.time_zone",
        "content.accepts_self_pay",
    }


def test_coach_is_always_labelled_not_therapy() -> None:
    assert Profession.COACH.label == "Coach — not therapy"
    assert all("not therapy" not in p.label for p in Profession if p is not Profession.COACH)


def test_dir_01_approval_is_of_the_reviewed_version_and_a_change_needs_approval_again() -> None:
    profile = new_profile("c1", "p1", CONTENT)
    approved = profile.approve(reviewed_version=1, by="admin", now=NOW)
    assert approved.status is ProfileStatus.APPROVED
    assert approved.listing is not None
    changed = approved.revise(replace(CONTENT, bio="New text."))
    assert changed.status is ProfileStatus.PENDING_REVIEW
    assert changed.draft_version == 2
    assert changed.listing == approved.listing  # the approved text stays listed meanwhile
    with pytest.raises(FailedPrecondition) as stale:
        changed.approve(reviewed_version=1, by="admin", now=NOW)
    assert stale.value.rule_ids == ("DIR-01",)
    assert changed.approve(reviewed_version=2, by="admin", now=NOW).listing.content.bio == "New text."  # type: ignore[union-attr]


def test_resubmitting_the_same_text_keeps_it_approved() -> None:
    approved = new_profile("c1", "p1", CONTENT).approve(reviewed_version=1, by="admin", now=NOW)
    assert approved.revise(CONTENT) is approved


def test_dir_02_a_deactivated_clinician_is_not_approved() -> None:
    profile = replace(new_profile("c1", "p1", CONTENT), deactivated=True)
    with pytest.raises(FailedPrecondition) as error:
        profile.approve(reviewed_version=1, by="admin", now=NOW)
    assert error.value.rule_ids == ("DIR-02",)


def test_packaged_vocabulary_loads() -> None:
    assert VOCABULARY.version
    assert "anxiety" in VOCABULARY.specialties
    assert "couples" in VOCABULARY.populations

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from confide_chassis.errors import FailedPrecondition, InvalidArgument
from confide_scheduling.domain.screening import (
    US_CRISIS_RESOURCES,
    Booker,
    CrisisChannel,
    CssrsAnswers,
    CssrsRisk,
    Gad7Severity,
    Phq9Severity,
    RequiredAction,
    RiskReason,
    ScreeningResults,
    SelfBooking,
    TriageLevel,
    check_booking_allowed,
    score_cssrs,
    score_gad7,
    score_phq9,
    triage,
)


def answers_with_total(total: int, items: int, *, last_item: int | None = None) -> list[int]:
    """Spread ``total`` over the items, filling from the first; optionally pin the last item."""
    values = [0] * items
    fixed = items - 1 if last_item is not None else items
    if last_item is not None:
        values[-1] = last_item
        total -= last_item
    for i in range(fixed):
        values[i] = min(3, total)
        total -= values[i]
    assert total == 0
    return values


# ------------------------------------------------------------------------------------------------ PHQ-9
@pytest.mark.parametrize(
    ("total", "severity"),
    [
        (0, Phq9Severity.MINIMAL),
        (4, Phq9Severity.MINIMAL),
        (5, Phq9Severity.MILD),
        (9, Phq9Severity.MILD),
        (10, Phq9Severity.MODERATE),
        (14, Phq9Severity.MODERATE),
        (15, Phq9Severity.MODERATELY_SEVERE),
        (19, Phq9Severity.MODERATELY_SEVERE),
        (20, Phq9Severity.SEVERE),
        (24, Phq9Severity.SEVERE),
        (27, Phq9Severity.SEVERE),
    ],
)
def test_phq9_bands_at_every_cut_point(total: int, severity: Phq9Severity) -> None:
    answers = answers_with_total(total, 9, last_item=max(0, total - 24))
    result = score_phq9(answers)
    assert result.total == total
    assert result.severity is severity


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_safe_22_phq9_item9_positive_triggers_risk_review(item9: int) -> None:
    result = score_phq9([0, 0, 0, 0, 0, 0, 0, 0, item9])
    assert result.severity is Phq9Severity.MINIMAL  # regardless of a low total
    assert result.risk_review_required


def test_safe_22_phq9_item9_zero_does_not_trigger_even_when_severe() -> None:
    result = score_phq9([3, 3, 3, 3, 3, 3, 3, 3, 0])
    assert result.total == 24
    assert not result.risk_review_required


def test_phq9_validation_reports_field_paths() -> None:
    with pytest.raises(InvalidArgument) as err:
        score_phq9([0, 1, 2, 4, 0, -1, 0, 0, 0])
    assert [v.field for v in err.value.violations] == ["phq9.answers[3]", "phq9.answers[5]"]
    with pytest.raises(InvalidArgument) as count:
        score_phq9([0] * 8)
    assert count.value.violations[0].field == "phq9.answers"
    with pytest.raises(InvalidArgument) as booleans:
        score_phq9([True, 0, 0, 0, 0, 0, 0, 0, 0])
    assert booleans.value.violations[0].field == "phq9.answers[0]"


# ------------------------------------------------------------------------------------------------ GAD-7
@pytest.mark.parametrize(
    ("total", "severity"),
    [
        (0, Gad7Severity.MINIMAL),
        (4, Gad7Severity.MINIMAL),
        (5, Gad7Severity.MILD),
        (9, Gad7Severity.MILD),
        (10, Gad7Severity.MODERATE),
        (14, Gad7Severity.MODERATE),
        (15, Gad7Severity.SEVERE),
        (21, Gad7Severity.SEVERE),
    ],
)
def test_gad7_bands_at_every_cut_point(total: int, severity: Gad7Severity) -> None:
    result = score_gad7(answers_with_total(total, 7))
    assert result.total == total
    assert result.severity is severity


def test_gad7_validation_reports_field_paths() -> None:
    with pytest.raises(InvalidArgument) as err:
        score_gad7([0, 0, 0, 0, 0, 0, 0, 0])
    assert err.value.violations[0].field == "gad7.answers"
    with pytest.raises(InvalidArgument) as item:
        score_gad7([0, 0, 0, 0, 0, 0, 9])
    assert item.value.violations[0].field == "gad7.answers[6]"


# ---------------------------------------------------------------------------------------------- C-SSRS
def thoughts(method: bool = False, intent: bool = False, plan: bool = False) -> CssrsAnswers:
    return CssrsAnswers(True, True, method, intent, plan)


@pytest.mark.parametrize(
    ("answers", "risk"),
    [
        (CssrsAnswers(False, False), CssrsRisk.NONE),
        (CssrsAnswers(True, False), CssrsRisk.LOW),
        (thoughts(), CssrsRisk.LOW),
        (thoughts(method=True), CssrsRisk.MODERATE),
        (thoughts(intent=True), CssrsRisk.HIGH),
        (thoughts(plan=True), CssrsRisk.HIGH),
        (CssrsAnswers(False, False, suicidal_behaviour_lifetime=True, suicidal_behaviour_past_3_months=False),
         CssrsRisk.MODERATE),
        (CssrsAnswers(False, False, suicidal_behaviour_lifetime=True, suicidal_behaviour_past_3_months=True),
         CssrsRisk.HIGH),
    ],
    ids=["all_no", "wish_only", "thoughts", "method", "intent", "plan", "behaviour_old", "behaviour_recent"],
)  # fmt: skip
def test_safe_23_cssrs_risk_levels(answers: CssrsAnswers, risk: CssrsRisk) -> None:
    result = score_cssrs(answers)
    assert result.risk is risk
    assert result.band_is_assumption is (risk in {CssrsRisk.LOW, CssrsRisk.MODERATE})


def test_safe_23_high_risk_paths_are_items_4_5_or_recent_behaviour() -> None:
    assert score_cssrs(thoughts(method=True, intent=True, plan=True)).positive_items == (1, 2, 3, 4, 5)
    recent = CssrsAnswers(
        False, False, suicidal_behaviour_lifetime=True, suicidal_behaviour_past_3_months=True
    )
    assert score_cssrs(recent).positive_items == (6,)


@pytest.mark.parametrize("field", ["thoughts_with_method", "intent_without_plan", "intent_with_plan"])
def test_safe_23_cssrs_skip_logic_items_3_to_5_only_after_item_2_yes(field: str) -> None:
    answered_when_skipped = CssrsAnswers(True, False, **{field: False})
    with pytest.raises(InvalidArgument) as err:
        score_cssrs(answered_when_skipped)
    assert [v.field for v in err.value.violations] == [f"cssrs.{field}"]
    missing = {"thoughts_with_method": False, "intent_without_plan": False, "intent_with_plan": False}
    del missing[field]
    with pytest.raises(InvalidArgument) as required:
        score_cssrs(CssrsAnswers(False, True, **missing))
    assert [v.field for v in required.value.violations] == [f"cssrs.{field}"]


def test_safe_23_cssrs_behaviour_follow_up_skip_logic() -> None:
    with pytest.raises(InvalidArgument) as err:
        score_cssrs(CssrsAnswers(False, False, suicidal_behaviour_lifetime=True))
    assert err.value.violations[0].field == "cssrs.suicidal_behaviour_past_3_months"
    with pytest.raises(InvalidArgument):
        score_cssrs(CssrsAnswers(False, False, suicidal_behaviour_past_3_months=False))


# --------------------------------------------------------------------------------------------- triage
def test_routine_screen_allows_self_booking() -> None:
    outcome = triage(
        ScreeningResults(
            score_phq9([1] * 8 + [0]), score_gad7([1] * 7), score_cssrs(CssrsAnswers(False, False))
        )
    )
    assert outcome.level is TriageLevel.ROUTINE
    assert outcome.self_booking is SelfBooking.ALLOWED
    assert not outcome.emit_risk_flag
    assert outcome.crisis_resources == ()


def test_safe_24_high_risk_blocks_self_booking_and_routes_to_crisis_care() -> None:
    outcome = triage(ScreeningResults(cssrs=score_cssrs(thoughts(plan=True))))
    assert outcome.level is TriageLevel.HIGH_RISK
    assert outcome.self_booking is SelfBooking.BLOCKED
    assert outcome.emit_risk_flag
    assert outcome.actions >= {
        RequiredAction.SHOW_CRISIS_RESOURCES,
        RequiredAction.ALERT_ON_CALL_CLINICIAN,
        RequiredAction.LIVE_ASSESSMENT_OR_IN_PERSON_REFERRAL,
        RequiredAction.NO_ASYNC_ONLY_CARE,
    }
    assert set(outcome.rule_ids) >= {"SAFE-23", "SAFE-24"}
    contacts = {(r.channel, r.contact, r.instruction) for r in outcome.crisis_resources}
    assert (CrisisChannel.CALL, "988", "") in contacts
    assert (CrisisChannel.TEXT, "988", "") in contacts
    assert (CrisisChannel.CALL, "911", "or the local emergency number") in contacts
    assert (CrisisChannel.CALL, "988", "then press 1") in contacts  # Veterans Crisis Line


def test_safe_24_recent_behaviour_is_high_risk_even_without_current_thoughts() -> None:
    cssrs = score_cssrs(
        CssrsAnswers(False, False, suicidal_behaviour_lifetime=True, suicidal_behaviour_past_3_months=True)
    )
    assert triage(ScreeningResults(cssrs=cssrs)).self_booking is SelfBooking.BLOCKED


def test_safe_22_item9_positive_without_cssrs_requires_structured_assessment_and_review() -> None:
    outcome = triage(ScreeningResults(phq9=score_phq9([0] * 8 + [1])))
    assert outcome.level is TriageLevel.CLINICIAN_REVIEW
    assert outcome.self_booking is SelfBooking.ALLOWED_WITH_CLINICIAN_REVIEW
    assert outcome.reasons == (RiskReason.PHQ9_ITEM9_POSITIVE,)
    assert RequiredAction.STRUCTURED_RISK_ASSESSMENT in outcome.actions
    assert outcome.emit_risk_flag  # never a silent queue
    assert outcome.crisis_resources == US_CRISIS_RESOURCES
    assert outcome.rule_ids[0] == "SAFE-22"


def test_safe_22_item9_positive_with_negative_cssrs_still_needs_review() -> None:
    outcome = triage(
        ScreeningResults(phq9=score_phq9([0] * 8 + [2]), cssrs=score_cssrs(CssrsAnswers(False, False)))
    )
    assert outcome.self_booking is SelfBooking.ALLOWED_WITH_CLINICIAN_REVIEW
    assert RequiredAction.STRUCTURED_RISK_ASSESSMENT not in outcome.actions


def test_safe_22_item9_positive_with_high_cssrs_is_high_risk() -> None:
    outcome = triage(
        ScreeningResults(phq9=score_phq9([0] * 8 + [3]), cssrs=score_cssrs(thoughts(intent=True)))
    )
    assert outcome.level is TriageLevel.HIGH_RISK
    assert set(outcome.reasons) == {RiskReason.CSSRS_HIGH, RiskReason.PHQ9_ITEM9_POSITIVE}


def test_safe_23_cssrs_moderate_or_low_positive_means_review_and_crisis_lines() -> None:
    for answers in (thoughts(method=True), CssrsAnswers(True, False)):
        outcome = triage(ScreeningResults(cssrs=score_cssrs(answers)))
        assert outcome.self_booking is SelfBooking.ALLOWED_WITH_CLINICIAN_REVIEW
        assert outcome.crisis_resources == US_CRISIS_RESOURCES
        assert outcome.rule_ids[0] == "SAFE-23"


def test_safe_20_severe_symptoms_without_suicidality_need_clinician_review() -> None:
    phq9 = triage(ScreeningResults(phq9=score_phq9([3, 3, 3, 3, 3, 3, 2, 0, 0])))
    assert phq9.reasons == (RiskReason.PHQ9_SEVERE,)
    gad7 = triage(ScreeningResults(gad7=score_gad7([3, 3, 3, 3, 3, 0, 0])))
    assert gad7.reasons == (RiskReason.GAD7_SEVERE,)
    for outcome in (phq9, gad7):
        assert outcome.self_booking is SelfBooking.ALLOWED_WITH_CLINICIAN_REVIEW
        assert outcome.rule_ids == ("SAFE-20",)
        assert outcome.emit_risk_flag


cssrs_answers = st.one_of(
    st.builds(CssrsAnswers, st.booleans(), st.just(False)),
    st.builds(CssrsAnswers, st.booleans(), st.just(True), st.booleans(), st.booleans(), st.booleans()),
).flatmap(
    lambda a: st.one_of(
        st.just(a),
        st.booleans().map(
            lambda recent: CssrsAnswers(
                a.wish_to_be_dead,
                a.suicidal_thoughts,
                a.thoughts_with_method,
                a.intent_without_plan,
                a.intent_with_plan,
                True,
                recent,
            )
        ),
    )
)


@given(
    phq9=st.one_of(st.none(), st.lists(st.integers(0, 3), min_size=9, max_size=9)),
    gad7=st.one_of(st.none(), st.lists(st.integers(0, 3), min_size=7, max_size=7)),
    cssrs=st.one_of(st.none(), cssrs_answers),
)
def test_property_safe_24_never_a_silent_queue(
    phq9: list[int] | None, gad7: list[int] | None, cssrs: CssrsAnswers | None
) -> None:
    results = ScreeningResults(
        score_phq9(phq9) if phq9 is not None else None,
        score_gad7(gad7) if gad7 is not None else None,
        score_cssrs(cssrs) if cssrs is not None else None,
    )
    outcome = triage(results)
    assert (outcome.level is not TriageLevel.ROUTINE) == outcome.emit_risk_flag
    assert (outcome.level is TriageLevel.HIGH_RISK) == (outcome.self_booking is SelfBooking.BLOCKED)
    high = results.cssrs is not None and results.cssrs.risk is CssrsRisk.HIGH
    assert high == (outcome.level is TriageLevel.HIGH_RISK)
    if results.phq9 is not None and results.phq9.risk_review_required:
        assert outcome.level is not TriageLevel.ROUTINE


# ----------------------------------------------------------------------------------------- booking gate
def test_safe_24_client_cannot_self_book_after_high_risk_screen() -> None:
    high = triage(ScreeningResults(cssrs=score_cssrs(thoughts(intent=True))))
    with pytest.raises(FailedPrecondition) as err:
        check_booking_allowed(Booker.CLIENT, high)
    assert err.value.rule_ids == ("SAFE-23", "SAFE-24")
    assert check_booking_allowed(Booker.CLINICIAN, high) is True  # the live assessment, flagged for review


def test_booking_gate_sets_review_flag() -> None:
    review = triage(ScreeningResults(phq9=score_phq9([0] * 8 + [1])))
    assert check_booking_allowed(Booker.CLIENT, review) is True
    assert check_booking_allowed(Booker.CLIENT, triage(ScreeningResults())) is False
    assert check_booking_allowed(Booker.CLIENT, None) is False

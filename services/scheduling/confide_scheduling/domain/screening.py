"""Intake screening — PHQ-9, GAD-7 and the C-SSRS screener — and triage (SAFE-20..24).

Scores are computed exactly as published:

- **PHQ-9**: 9 items scored 0-3, total 0-27; severity 0-4 minimal, 5-9 mild, 10-14 moderate,
  15-19 moderately severe, 20-27 severe. Item 9 (thoughts of being better off dead or of self-harm)
  ≥ 1 requires a structured suicide-risk review (SAFE-22), whatever the total.
- **GAD-7**: 7 items scored 0-3, total 0-21; 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe.
- **C-SSRS screener** (SAFE-23): items 1 (wish to be dead) and 2 (suicidal thoughts); items 3-5
  (method, intent without plan, intent with plan) only if item 2 is yes; item 6 (suicidal behaviour,
  lifetime) always, with its follow-up "within the past 3 months?" only if item 6 is yes.
  **High risk = yes to item 4 or 5, or behaviour within the past 3 months** (confirmed rule).
  ASSUMPTION [U] (docs/rules.md §7.4; colour bands vary by EHR): *moderate* = yes to item 3 or lifetime
  behaviour more than 3 months ago; *low* = yes to item 1 and/or 2 only. Results in those two bands
  carry ``band_is_assumption=True``.

Answers are validated with field paths (``phq9.answers[3]``, zero-based like the API's repeated field).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from confide_chassis.errors import FailedPrecondition, RuleViolation, ValidationCollector

from . import rules

__all__ = [
    "US_CRISIS_RESOURCES",
    "Booker",
    "CrisisChannel",
    "CrisisResource",
    "CssrsAnswers",
    "CssrsResult",
    "CssrsRisk",
    "Gad7Result",
    "Gad7Severity",
    "Phq9Result",
    "Phq9Severity",
    "RequiredAction",
    "RiskReason",
    "ScreeningResults",
    "SelfBooking",
    "TriageLevel",
    "TriageOutcome",
    "check_booking_allowed",
    "score_cssrs",
    "score_gad7",
    "score_phq9",
    "triage",
]

PHQ9_ITEMS = 9
GAD7_ITEMS = 7
ITEM_MAX = 3


def _validate_items(name: str, answers: Sequence[int], expected: int) -> tuple[int, ...]:
    errors = ValidationCollector()
    if len(answers) != expected:
        errors.add(f"{name}.answers", f"must have exactly {expected} answers, got {len(answers)}")
    for index, value in enumerate(answers):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= ITEM_MAX:
            errors.add(f"{name}.answers[{index}]", f"must be an integer from 0 to {ITEM_MAX}")
    errors.raise_if_any()
    return tuple(answers)


# ------------------------------------------------------------------------------------------------ PHQ-9
class Phq9Severity(enum.StrEnum):
    MINIMAL = "minimal"  # 0-4
    MILD = "mild"  # 5-9
    MODERATE = "moderate"  # 10-14
    MODERATELY_SEVERE = "moderately_severe"  # 15-19
    SEVERE = "severe"  # 20-27


def phq9_severity(total: int) -> Phq9Severity:
    if not 0 <= total <= PHQ9_ITEMS * ITEM_MAX:
        raise ValueError("PHQ-9 total is 0..27")
    if total <= 4:
        return Phq9Severity.MINIMAL
    if total <= 9:
        return Phq9Severity.MILD
    if total <= 14:
        return Phq9Severity.MODERATE
    if total <= 19:
        return Phq9Severity.MODERATELY_SEVERE
    return Phq9Severity.SEVERE


@dataclass(frozen=True, slots=True)
class Phq9Result:
    answers: tuple[int, ...]
    total: int
    severity: Phq9Severity

    @property
    def item9(self) -> int:
        return self.answers[8]

    @property
    def risk_review_required(self) -> bool:
        """SAFE-22: any answer >= 1 ("several days" or more) on item 9."""
        return self.item9 >= 1


def score_phq9(answers: Sequence[int]) -> Phq9Result:
    items = _validate_items("phq9", answers, PHQ9_ITEMS)
    total = sum(items)
    return Phq9Result(items, total, phq9_severity(total))


# ------------------------------------------------------------------------------------------------ GAD-7
class Gad7Severity(enum.StrEnum):
    MINIMAL = "minimal"  # 0-4
    MILD = "mild"  # 5-9
    MODERATE = "moderate"  # 10-14
    SEVERE = "severe"  # 15-21


def gad7_severity(total: int) -> Gad7Severity:
    if not 0 <= total <= GAD7_ITEMS * ITEM_MAX:
        raise ValueError("GAD-7 total is 0..21")
    if total <= 4:
        return Gad7Severity.MINIMAL
    if total <= 9:
        return Gad7Severity.MILD
    if total <= 14:
        return Gad7Severity.MODERATE
    return Gad7Severity.SEVERE


@dataclass(frozen=True, slots=True)
class Gad7Result:
    answers: tuple[int, ...]
    total: int
    severity: Gad7Severity


def score_gad7(answers: Sequence[int]) -> Gad7Result:
    items = _validate_items("gad7", answers, GAD7_ITEMS)
    total = sum(items)
    return Gad7Result(items, total, gad7_severity(total))


# ---------------------------------------------------------------------------------------------- C-SSRS
@dataclass(frozen=True, slots=True)
class CssrsAnswers:
    """C-SSRS screener answers (items 1-5 about the past month). ``None`` = not asked (skip logic)."""

    wish_to_be_dead: bool  # item 1
    suicidal_thoughts: bool  # item 2
    thoughts_with_method: bool | None = None  # item 3, only if item 2 is yes
    intent_without_plan: bool | None = None  # item 4, only if item 2 is yes
    intent_with_plan: bool | None = None  # item 5, only if item 2 is yes
    suicidal_behaviour_lifetime: bool = False  # item 6
    suicidal_behaviour_past_3_months: bool | None = None  # item 6 follow-up, only if item 6 is yes


class CssrsRisk(enum.StrEnum):
    NONE = "none"
    LOW = "low"  # assumption [U]
    MODERATE = "moderate"  # assumption [U]
    HIGH = "high"  # SAFE-23


_FOLLOW_UPS = ("thoughts_with_method", "intent_without_plan", "intent_with_plan")


@dataclass(frozen=True, slots=True)
class CssrsResult:
    answers: CssrsAnswers
    risk: CssrsRisk
    positive_items: tuple[int, ...]  # item numbers answered yes (6 = lifetime behaviour)

    @property
    def band_is_assumption(self) -> bool:
        """True for the low/moderate bands, whose mapping is not confirmed (docs/rules.md SAFE-23 [U])."""
        return self.risk in {CssrsRisk.LOW, CssrsRisk.MODERATE}

    @property
    def positive(self) -> bool:
        return bool(self.positive_items)


def _validate_cssrs(answers: CssrsAnswers) -> None:
    errors = ValidationCollector()
    for name in _FOLLOW_UPS:
        value = getattr(answers, name)
        if answers.suicidal_thoughts and value is None:
            errors.add(f"cssrs.{name}", "is required when suicidal_thoughts is yes")
        if not answers.suicidal_thoughts and value is not None:
            errors.add(f"cssrs.{name}", "must be skipped when suicidal_thoughts is no (C-SSRS skip logic)")
    recent = answers.suicidal_behaviour_past_3_months
    if answers.suicidal_behaviour_lifetime and recent is None:
        errors.add("cssrs.suicidal_behaviour_past_3_months", "is required when suicidal behaviour is yes")
    if not answers.suicidal_behaviour_lifetime and recent is not None:
        errors.add("cssrs.suicidal_behaviour_past_3_months", "must be skipped when suicidal behaviour is no")
    errors.raise_if_any()


def score_cssrs(answers: CssrsAnswers) -> CssrsResult:
    _validate_cssrs(answers)
    flags = (
        answers.wish_to_be_dead,
        answers.suicidal_thoughts,
        answers.thoughts_with_method is True,
        answers.intent_without_plan is True,
        answers.intent_with_plan is True,
        answers.suicidal_behaviour_lifetime,
    )
    positive = tuple(number for number, yes in enumerate(flags, start=1) if yes)
    if answers.intent_without_plan or answers.intent_with_plan or answers.suicidal_behaviour_past_3_months:
        risk = CssrsRisk.HIGH
    elif answers.thoughts_with_method or answers.suicidal_behaviour_lifetime:
        risk = CssrsRisk.MODERATE
    elif answers.wish_to_be_dead or answers.suicidal_thoughts:
        risk = CssrsRisk.LOW
    else:
        risk = CssrsRisk.NONE
    return CssrsResult(answers, risk, positive)


# --------------------------------------------------------------------------------------------- triage
class CrisisChannel(enum.StrEnum):
    CALL = "call"
    TEXT = "text"
    CHAT = "chat"


@dataclass(frozen=True, slots=True)
class CrisisResource:
    code: str
    name: str
    channel: CrisisChannel
    contact: str
    instruction: str = ""


# SAFE-24 [S]: 988 (call/text/chat, live since 16 Jul 2022), 911 or the local emergency number, Veterans
# Crisis Line (988 then press 1; text 838255).
US_CRISIS_RESOURCES: tuple[CrisisResource, ...] = (
    CrisisResource("988_call", "988 Suicide & Crisis Lifeline", CrisisChannel.CALL, "988"),
    CrisisResource("988_text", "988 Suicide & Crisis Lifeline", CrisisChannel.TEXT, "988"),
    CrisisResource(
        "988_chat", "988 Suicide & Crisis Lifeline", CrisisChannel.CHAT, "https://988lifeline.org/chat"
    ),
    CrisisResource(
        "emergency", "Emergency services", CrisisChannel.CALL, "911", "or the local emergency number"
    ),
    CrisisResource("veterans_call", "Veterans Crisis Line", CrisisChannel.CALL, "988", "then press 1"),
    CrisisResource("veterans_text", "Veterans Crisis Line", CrisisChannel.TEXT, "838255"),
)


@dataclass(frozen=True, slots=True)
class ScreeningResults:
    phq9: Phq9Result | None = None
    gad7: Gad7Result | None = None
    cssrs: CssrsResult | None = None


class TriageLevel(enum.StrEnum):
    ROUTINE = "routine"
    CLINICIAN_REVIEW = "clinician_review"
    HIGH_RISK = "high_risk"


class SelfBooking(enum.StrEnum):
    ALLOWED = "allowed"
    ALLOWED_WITH_CLINICIAN_REVIEW = "allowed_with_clinician_review"
    BLOCKED = "blocked"


class RiskReason(enum.StrEnum):
    CSSRS_HIGH = "cssrs_high"
    CSSRS_MODERATE = "cssrs_moderate"
    CSSRS_LOW = "cssrs_low"
    PHQ9_ITEM9_POSITIVE = "phq9_item9_positive"
    PHQ9_SEVERE = "phq9_severe"
    GAD7_SEVERE = "gad7_severe"


class RequiredAction(enum.StrEnum):
    SHOW_CRISIS_RESOURCES = "show_crisis_resources"  # SAFE-24 (b)
    EMIT_RISK_FLAG = "emit_risk_flag"  # event for the care team: never a silent queue
    ALERT_ON_CALL_CLINICIAN = "alert_on_call_clinician"  # SAFE-24 (c)
    LIVE_ASSESSMENT_OR_IN_PERSON_REFERRAL = "live_assessment_or_in_person_referral"  # SAFE-23, SAFE-24 (d)
    NO_ASYNC_ONLY_CARE = "no_async_only_care"  # SAFE-24 (a)
    STRUCTURED_RISK_ASSESSMENT = "structured_risk_assessment"  # SAFE-22: C-SSRS not yet done
    CLINICIAN_REVIEW_BEFORE_SESSION = "clinician_review_before_session"  # SAFE-20/22/23


@dataclass(frozen=True, slots=True)
class TriageOutcome:
    level: TriageLevel
    self_booking: SelfBooking
    reasons: tuple[RiskReason, ...]
    actions: frozenset[RequiredAction]
    crisis_resources: tuple[CrisisResource, ...]
    rule_ids: tuple[str, ...]

    @property
    def emit_risk_flag(self) -> bool:
        return RequiredAction.EMIT_RISK_FLAG in self.actions

    @property
    def clinician_review_required(self) -> bool:
        return self.level is not TriageLevel.ROUTINE


def triage(results: ScreeningResults) -> TriageOutcome:
    """Apply the SAFE-24 design rule set to screening results.

    - **high risk** (C-SSRS high): self-booking of online sessions blocked; crisis resources (988 call/
      text/chat, 911 or local emergency number, Veterans Crisis Line); live assessment or referral to
      in-person/emergency care; on-call clinician alerted; no async-only care; risk flag emitted.
    - **suicidality signal, not high** (PHQ-9 item 9 >= 1, or a C-SSRS low/moderate positive): booking
      allowed only with a clinician-review flag; crisis resources shown; risk flag emitted; a C-SSRS is
      required if item 9 was positive and none was done (SAFE-22).
    - **severe symptoms** without suicidality (PHQ-9 >= 20 or GAD-7 >= 15): allowed with clinician review
      of telehealth suitability (SAFE-20; ASSUMPTION: this trigger is a platform policy choice); the
      review is still published as a flag.
    - otherwise routine.

    Every non-routine outcome carries ``EMIT_RISK_FLAG``: nothing waits in a silent queue.
    """
    reasons: list[RiskReason] = []
    cssrs = results.cssrs
    phq9 = results.phq9
    if cssrs is not None and cssrs.risk is not CssrsRisk.NONE:
        reasons.append(
            {
                CssrsRisk.HIGH: RiskReason.CSSRS_HIGH,
                CssrsRisk.MODERATE: RiskReason.CSSRS_MODERATE,
                CssrsRisk.LOW: RiskReason.CSSRS_LOW,
            }[cssrs.risk]
        )
    if phq9 is not None and phq9.risk_review_required:
        reasons.append(RiskReason.PHQ9_ITEM9_POSITIVE)
    if phq9 is not None and phq9.severity is Phq9Severity.SEVERE:
        reasons.append(RiskReason.PHQ9_SEVERE)
    if results.gad7 is not None and results.gad7.severity is Gad7Severity.SEVERE:
        reasons.append(RiskReason.GAD7_SEVERE)

    if RiskReason.CSSRS_HIGH in reasons:
        return TriageOutcome(
            level=TriageLevel.HIGH_RISK,
            self_booking=SelfBooking.BLOCKED,
            reasons=tuple(reasons),
            actions=frozenset(
                {
                    RequiredAction.SHOW_CRISIS_RESOURCES,
                    RequiredAction.EMIT_RISK_FLAG,
                    RequiredAction.ALERT_ON_CALL_CLINICIAN,
                    RequiredAction.LIVE_ASSESSMENT_OR_IN_PERSON_REFERRAL,
                    RequiredAction.NO_ASYNC_ONLY_CARE,
                }
            ),
            crisis_resources=US_CRISIS_RESOURCES,
            rule_ids=(rules.SAFE_23, rules.SAFE_24, rules.SAFE_21),
        )

    suicidality = {RiskReason.CSSRS_MODERATE, RiskReason.CSSRS_LOW, RiskReason.PHQ9_ITEM9_POSITIVE}
    if suicidality & set(reasons):
        actions = {
            RequiredAction.SHOW_CRISIS_RESOURCES,
            RequiredAction.EMIT_RISK_FLAG,
            RequiredAction.CLINICIAN_REVIEW_BEFORE_SESSION,
        }
        rule_ids = [rules.SAFE_24]
        if RiskReason.PHQ9_ITEM9_POSITIVE in reasons:
            rule_ids.insert(0, rules.SAFE_22)
            if cssrs is None:
                actions.add(RequiredAction.STRUCTURED_RISK_ASSESSMENT)
        if cssrs is not None and cssrs.positive:
            rule_ids.insert(0, rules.SAFE_23)
        return TriageOutcome(
            level=TriageLevel.CLINICIAN_REVIEW,
            self_booking=SelfBooking.ALLOWED_WITH_CLINICIAN_REVIEW,
            reasons=tuple(reasons),
            actions=frozenset(actions),
            crisis_resources=US_CRISIS_RESOURCES,
            rule_ids=tuple(rule_ids),
        )

    if reasons:
        return TriageOutcome(
            level=TriageLevel.CLINICIAN_REVIEW,
            self_booking=SelfBooking.ALLOWED_WITH_CLINICIAN_REVIEW,
            reasons=tuple(reasons),
            actions=frozenset(
                {RequiredAction.EMIT_RISK_FLAG, RequiredAction.CLINICIAN_REVIEW_BEFORE_SESSION}
            ),
            crisis_resources=(),
            rule_ids=(rules.SAFE_20,),
        )

    return TriageOutcome(
        level=TriageLevel.ROUTINE,
        self_booking=SelfBooking.ALLOWED,
        reasons=(),
        actions=frozenset(),
        crisis_resources=(),
        rule_ids=(),
    )


class Booker(enum.StrEnum):
    CLIENT = "client"
    CLINICIAN = "clinician"
    PRACTICE_ADMIN = "practice_admin"


def check_booking_allowed(booked_by: Booker, outcome: TriageOutcome | None) -> bool:
    """Gate a booking on the client's latest triage. Returns whether the appointment must carry the
    clinician-review flag; raises FailedPrecondition (SAFE-23/24) when a client tries to self-book after
    a high-risk screen. Clinicians and admins may book (e.g. the required live assessment).

    ``outcome`` None means no screening on file; whether intake screening is mandatory before the first
    booking is decided by the app layer.
    """
    if outcome is None:
        return False
    if outcome.self_booking is SelfBooking.BLOCKED and booked_by is Booker.CLIENT:
        raise FailedPrecondition(
            [
                RuleViolation(rules.SAFE_23, "a high-risk screening result needs a live assessment first"),
                RuleViolation(rules.SAFE_24, "online self-booking is blocked; crisis resources apply"),
            ]
        )
    return outcome.clinician_review_required

"""Minor detection: the state's minimum age to consent alone to outpatient mental-health care.

Data, not code: the per-state table lives in `reference_data/age_of_consent.yaml` with an `as_of` date,
sources and the confidence tags of docs/rules.md (V verified, S secondary, U unverified).
docs/rules.md §2.5; SAFE-30
(other service types - substance use, inpatient, medication - have other ages; this table is outpatient
therapy only).

Conservative by default: a state without an entry gets the table default (18, tagged U), and an entry
tagged U that would let a *younger* person consent alone is not trusted unless the caller opts in
(`accept_unverified=True`): docs/rules.md says to confirm [U] facts before coding them.

Age is counted in whole years on a calendar date (`on_date`, the date in the client's own time zone).
Someone born on 29 February becomes a year older on 1 March in common years (the later, safer reading).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from confide_identity.domain.jurisdictions import US_JURISDICTIONS


class Confidence(StrEnum):
    VERIFIED = "V"
    SECONDARY = "S"
    UNVERIFIED = "U"


@dataclass(frozen=True, slots=True)
class SessionLimitWithoutGuardian:
    """E.g. Illinois: under 17, at most 8 sessions of <= 90 minutes until a parent consents."""

    sessions: int
    max_minutes: int
    applies_below_age: int


@dataclass(frozen=True, slots=True)
class ConsentAgeRule:
    jurisdiction: str | None
    """USPS code; None for the table default."""
    consent_age: int
    confidence: Confidence
    source: str
    age_of_majority: int = 18
    notes: str = ""
    guardian_involvement_expected: bool = False
    """The law expects a parent/guardian to be involved even when the minor consents (e.g. CA), unless the
    clinician documents why that would be inappropriate. Involvement is not a consent signature."""
    session_limit_without_guardian: SessionLimitWithoutGuardian | None = None

    @property
    def is_default(self) -> bool:
        return self.jurisdiction is None


@dataclass(frozen=True, slots=True)
class MinorConsentAssessment:
    """What the age-of-consent rules say about one client on one date. Coded facts only (no DOB)."""

    jurisdiction: str
    age: int
    rule: ConsentAgeRule
    effective_consent_age: int
    used_conservative_fallback: bool
    is_minor_for_consent: bool
    """Below the age to consent alone: a parent/guardian must consent (guardian consent required)."""
    is_minor: bool
    """Below the age of majority (may still be able to consent alone)."""
    guardian_session_limit: SessionLimitWithoutGuardian | None
    """A limit that applies to this client while no guardian has consented (e.g. IL under 17)."""

    @property
    def guardian_consent_required(self) -> bool:
        return self.is_minor_for_consent


def age_on(date_of_birth: date, on_date: date) -> int:
    """Completed years on `on_date` (0 before the first birthday; negative inputs are a bug)."""
    if on_date < date_of_birth:
        raise ValueError("on_date is before the date of birth")
    before_birthday = (on_date.month, on_date.day) < (date_of_birth.month, date_of_birth.day)
    return on_date.year - date_of_birth.year - int(before_birthday)


@dataclass(frozen=True, slots=True)
class AgeOfConsentTable:
    as_of: date
    source: str
    default: ConsentAgeRule
    rules: Mapping[str, ConsentAgeRule] = field(default_factory=lambda: MappingProxyType({}))

    def rule_for(self, jurisdiction: str) -> ConsentAgeRule:
        return self.rules.get(jurisdiction.strip().upper(), self.default)

    def assess(
        self, date_of_birth: date, jurisdiction: str, on_date: date, *, accept_unverified: bool = False
    ) -> MinorConsentAssessment:
        code = jurisdiction.strip().upper()
        rule = self.rule_for(code)
        effective = rule.consent_age
        fallback = False
        distrust = rule.confidence is Confidence.UNVERIFIED and not rule.is_default and not accept_unverified
        if distrust and rule.consent_age < self.default.consent_age:
            effective, fallback = self.default.consent_age, True
        age = age_on(date_of_birth, on_date)
        minor_for_consent = age < effective
        limit = rule.session_limit_without_guardian
        applicable_limit = (
            limit if limit is not None and not minor_for_consent and age < limit.applies_below_age else None
        )
        return MinorConsentAssessment(
            jurisdiction=code,
            age=age,
            rule=rule,
            effective_consent_age=effective,
            used_conservative_fallback=fallback,
            is_minor_for_consent=minor_for_consent,
            is_minor=age < max(rule.age_of_majority, effective),
            guardian_session_limit=applicable_limit,
        )

    def is_minor_for_consent(
        self, date_of_birth: date, jurisdiction: str, on_date: date, *, accept_unverified: bool = False
    ) -> bool:
        return self.assess(
            date_of_birth, jurisdiction, on_date, accept_unverified=accept_unverified
        ).is_minor_for_consent


def is_minor_for_consent(
    date_of_birth: date,
    state: str,
    on_date: date,
    *,
    table: AgeOfConsentTable,
    accept_unverified: bool = False,
) -> bool:
    """True when a client born on `date_of_birth`, in `state`, cannot consent alone on `on_date`."""
    return table.is_minor_for_consent(date_of_birth, state, on_date, accept_unverified=accept_unverified)


# --- parsing the reference data ----------------------------------------------------------------------


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 25:
        raise ValueError(f"{where}: expected an age in whole years")
    return value


def _str(value: Any, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{where}: expected a non-empty string")
    return value.strip()


def _rule(jurisdiction: str | None, raw: Any, where: str) -> ConsentAgeRule:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping")
    limit_raw = raw.get("session_limit_without_guardian")
    limit = None
    if limit_raw is not None:
        if not isinstance(limit_raw, Mapping):
            raise ValueError(f"{where}.session_limit_without_guardian: expected a mapping")
        limit = SessionLimitWithoutGuardian(
            sessions=_int(limit_raw.get("sessions"), f"{where}.session_limit_without_guardian.sessions"),
            max_minutes=int(limit_raw.get("max_minutes", 0)),
            applies_below_age=_int(
                limit_raw.get("applies_below_age"),
                f"{where}.session_limit_without_guardian.applies_below_age",
            ),
        )
    try:
        confidence = Confidence(str(raw.get("confidence")))
    except ValueError as exc:
        raise ValueError(f"{where}.confidence: expected one of V, S, U") from exc
    return ConsentAgeRule(
        jurisdiction=jurisdiction,
        consent_age=_int(raw.get("consent_age"), f"{where}.consent_age"),
        confidence=confidence,
        source=_str(raw.get("source"), f"{where}.source"),
        age_of_majority=_int(raw.get("age_of_majority", 18), f"{where}.age_of_majority"),
        notes=_str(raw.get("notes"), f"{where}.notes", required=False),
        guardian_involvement_expected=bool(raw.get("guardian_involvement_expected", False)),
        session_limit_without_guardian=limit,
    )


def parse_age_of_consent_table(data: Mapping[str, Any]) -> AgeOfConsentTable:
    """Validate and build the table from the parsed YAML document; `ValueError` names the bad path."""
    as_of = data.get("as_of")
    if not isinstance(as_of, date):
        raise ValueError("as_of: expected a date (YYYY-MM-DD)")
    default = _rule(None, data.get("default"), "default")
    states_raw = data.get("states")
    if not isinstance(states_raw, Mapping):
        raise ValueError("states: expected a mapping of USPS codes")
    rules: dict[str, ConsentAgeRule] = {}
    for code, raw in states_raw.items():
        if not isinstance(code, str) or code not in US_JURISDICTIONS:
            raise ValueError(f"states.{code}: not a US jurisdiction code")
        rules[code] = _rule(code, raw, f"states.{code}")
    return AgeOfConsentTable(
        as_of=as_of,
        source=_str(data.get("source"), "source"),
        default=default,
        rules=MappingProxyType(rules),
    )

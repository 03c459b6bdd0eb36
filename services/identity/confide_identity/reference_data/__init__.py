"""Versioned reference data bundled with the service (each file carries an `as_of` date).

Loaded once at start-up and handed to the pure domain functions as parameters.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from types import MappingProxyType

from confide_chassis import age_of_consent as shared
from confide_identity.domain.age_of_consent import (
    AgeOfConsentTable,
    Confidence,
    ConsentAgeRule,
    SessionLimitWithoutGuardian,
)
from confide_identity.domain.passwords import parse_common_passwords

_PACKAGE = __name__


def _read_text(name: str) -> str:
    return resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")


@cache
def load_common_passwords() -> frozenset[str]:
    """The bundled list of common passwords (casefolded, NFKC)."""
    return parse_common_passwords(_read_text("common_passwords.txt").splitlines())


def _rule(rule: shared.ConsentAgeRule) -> ConsentAgeRule:
    limit = rule.session_limit_without_guardian
    return ConsentAgeRule(
        jurisdiction=rule.jurisdiction,
        consent_age=rule.consent_age,
        confidence=Confidence(rule.confidence.value),
        source=rule.source or rule.citation,
        age_of_majority=rule.age_of_majority,
        notes=rule.notes or "; ".join((*rule.conditions, *rule.exceptions)),
        guardian_involvement_expected=rule.guardian_involvement_expected,
        session_limit_without_guardian=SessionLimitWithoutGuardian(
            sessions=limit.max_sessions,
            max_minutes=limit.max_minutes_per_session,
            applies_below_age=limit.applies_below_age,
        )
        if limit is not None
        else None,
    )


@cache
def load_age_of_consent_table() -> AgeOfConsentTable:
    """The platform's age-of-consent table for outpatient mental-health care (docs/rules.md §2.5),
    shared in the chassis (`confide_chassis.age_of_consent`): each state's latest rule."""
    table = shared.load_age_of_consent()
    rules = {
        code: _rule(rule)
        for code in sorted(table.jurisdictions())
        if (rule := table.current_rule(code)) is not None
    }
    return AgeOfConsentTable(
        as_of=table.as_of,
        source=table.source,
        default=_rule(table.default),
        rules=MappingProxyType(rules),
    )

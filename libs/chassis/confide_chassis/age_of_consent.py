"""The age-of-consent table every service shares: the minimum age at which a minor may consent alone
to outpatient mental-health care, per US jurisdiction (docs/rules.md §2.5, SAFE-30).

One data file, `confide_chassis/reference_data/age_of_consent.yaml` (with `as_of`, `review_by`,
sources and confidence tags), and this typed loader. Services turn it into their own domain values
(identity's minor detection, compliance's reference data); none keeps a copy of the facts.

    table = load_age_of_consent()
    rule = table.rule_for("CA", on=date(2026, 6, 15))   # None when the state has no entry
    rule = table.current_rule("CA")                      # the latest version, whatever the date
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml

from confide.common.v1 import jurisdiction_pb2

OUTPATIENT_MENTAL_HEALTH = "outpatient_mental_health"
DOCUMENT = "age_of_consent.yaml"
SCHEMA = 2

# USPS codes of the platform's Jurisdiction enum (states, DC, territories).
_JURISDICTIONS = frozenset(
    value.name.removeprefix("JURISDICTION_")
    for value in jurisdiction_pb2.Jurisdiction.DESCRIPTOR.values
    if value.number != jurisdiction_pb2.JURISDICTION_UNSPECIFIED
)
_ENTRY_KEYS = frozenset(
    {
        "jurisdiction",
        "service",
        "consent_age",
        "age_of_majority",
        "effective_on",
        "conditions",
        "exceptions",
        "notes",
        "guardian_involvement_expected",
        "session_limit_without_guardian",
        "citation",
        "source",
        "confidence",
    }
)
_DOCUMENT_KEYS = frozenset({"schema", "as_of", "review_by", "source", "default", "entries"})


class Confidence(StrEnum):
    """How far a fact may be relied on (the tags of docs/rules.md)."""

    VERIFIED = "V"  # read in the statute or official page
    SECONDARY = "S"  # a reputable secondary source
    UNVERIFIED = "U"  # unverified, stale or conflicting: confirm before relying on it


@dataclass(frozen=True, slots=True)
class SessionLimitWithoutGuardian:
    """E.g. Illinois: under 17, at most 8 sessions of up to 90 minutes until a parent consents."""

    applies_below_age: int
    max_sessions: int
    max_minutes_per_session: int


@dataclass(frozen=True, slots=True)
class ConsentAgeRule:
    """One jurisdiction's rule for one service type (or the table default: `jurisdiction` None)."""

    jurisdiction: str | None
    service: str
    consent_age: int
    confidence: Confidence
    age_of_majority: int = 18
    effective_on: date | None = None  # None: in force as of the table's `as_of`, start not recorded
    conditions: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()
    notes: str = ""
    # The law expects a parent/guardian to be involved even when the minor consents (e.g. CA).
    guardian_involvement_expected: bool = False
    session_limit_without_guardian: SessionLimitWithoutGuardian | None = None
    citation: str = ""  # the law
    source: str = ""  # where it was read

    @property
    def is_default(self) -> bool:
        return self.jurisdiction is None


@dataclass(frozen=True, slots=True)
class AgeOfConsentTable:
    as_of: date
    review_by: date
    source: str
    default: ConsentAgeRule
    entries: tuple[ConsentAgeRule, ...]

    def versions(self, jurisdiction: str, service: str = OUTPATIENT_MENTAL_HEALTH) -> list[ConsentAgeRule]:
        code = jurisdiction.strip().upper()
        return sorted(
            (e for e in self.entries if e.jurisdiction == code and e.service == service),
            key=lambda e: e.effective_on or date.min,
        )

    def rule_for(
        self, jurisdiction: str, on: date, service: str = OUTPATIENT_MENTAL_HEALTH
    ) -> ConsentAgeRule | None:
        """The rule in force on `on` (latest `effective_on` not after `on`), or None if not recorded."""
        in_force = [
            e for e in self.versions(jurisdiction, service) if e.effective_on is None or e.effective_on <= on
        ]
        return in_force[-1] if in_force else None

    def current_rule(
        self, jurisdiction: str, service: str = OUTPATIENT_MENTAL_HEALTH
    ) -> ConsentAgeRule | None:
        """The latest version recorded for the jurisdiction, or None."""
        versions = self.versions(jurisdiction, service)
        return versions[-1] if versions else None

    def jurisdictions(self, service: str = OUTPATIENT_MENTAL_HEALTH) -> frozenset[str]:
        return frozenset(e.jurisdiction for e in self.entries if e.service == service and e.jurisdiction)


# --- parsing ------------------------------------------------------------------------------------------


class AgeOfConsentError(ValueError):
    """The table cannot be used. `problems`: every (path inside the document, problem) found, e.g.
    ``("entries[3].consent_age", "expected an age in whole years (1-25)")``."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            f"{DOCUMENT}: "
            + "; ".join(f"{path}: {problem}" if path else problem for path, problem in self.problems)
        )


def _fail(path: str, problem: str) -> AgeOfConsentError:
    return AgeOfConsentError([(path, problem)])


def _mapping(value: Any, path: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, "expected a mapping")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(unknown)}")
    return value


def _age(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 25:
        raise _fail(path, "expected an age in whole years (1-25)")
    return value


def _text(value: Any, path: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(path, "expected a non-empty string" if required else "expected a string")
    return value.strip()


def _day(value: Any, path: str, *, required: bool = True) -> date | None:
    if value is None and not required:
        return None
    if not isinstance(value, date):
        raise _fail(path, "expected a date (YYYY-MM-DD)")
    return value


def _texts(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise _fail(path, "expected a list of strings")
    return tuple(_text(item, f"{path}[{i}]", required=True) for i, item in enumerate(value))


def _rule(raw: Any, path: str, *, default: bool) -> ConsentAgeRule:
    m = _mapping(raw, path, _ENTRY_KEYS)
    jurisdiction: str | None = None
    if not default:
        code = _text(m.get("jurisdiction"), f"{path}.jurisdiction", required=True).upper()
        if code not in _JURISDICTIONS:
            raise _fail(f"{path}.jurisdiction", "not a US jurisdiction code")
        jurisdiction = code
    try:
        confidence = Confidence(str(m.get("confidence")))
    except ValueError:
        raise _fail(f"{path}.confidence", "expected one of V, S, U") from None
    limit = None
    if m.get("session_limit_without_guardian") is not None:
        lp = f"{path}.session_limit_without_guardian"
        lm = _mapping(
            m["session_limit_without_guardian"],
            lp,
            frozenset({"applies_below_age", "max_sessions", "max_minutes_per_session"}),
        )
        sessions, minutes = lm.get("max_sessions"), lm.get("max_minutes_per_session")
        if isinstance(sessions, bool) or not isinstance(sessions, int) or sessions < 1:
            raise _fail(f"{lp}.max_sessions", "expected a positive number of sessions")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise _fail(f"{lp}.max_minutes_per_session", "expected a positive number of minutes")
        limit = SessionLimitWithoutGuardian(
            _age(lm.get("applies_below_age"), f"{lp}.applies_below_age"), sessions, minutes
        )
    citation = _text(m.get("citation"), f"{path}.citation")
    source = _text(m.get("source"), f"{path}.source")
    if not (citation or source):
        raise _fail(path, "say where the rule comes from: citation or source")
    return ConsentAgeRule(
        jurisdiction=jurisdiction,
        service=_text(m.get("service"), f"{path}.service") or OUTPATIENT_MENTAL_HEALTH,
        consent_age=_age(m.get("consent_age"), f"{path}.consent_age"),
        confidence=confidence,
        age_of_majority=_age(m.get("age_of_majority", 18), f"{path}.age_of_majority"),
        effective_on=_day(m.get("effective_on"), f"{path}.effective_on", required=False),
        conditions=_texts(m.get("conditions"), f"{path}.conditions"),
        exceptions=_texts(m.get("exceptions"), f"{path}.exceptions"),
        notes=_text(m.get("notes"), f"{path}.notes"),
        guardian_involvement_expected=bool(m.get("guardian_involvement_expected", False)),
        session_limit_without_guardian=limit,
        citation=citation,
        source=source,
    )


def parse_age_of_consent(document: Mapping[str, Any]) -> AgeOfConsentTable:
    """Validate the parsed YAML document; `AgeOfConsentError` names the bad path."""
    doc = _mapping(document, "", _DOCUMENT_KEYS)
    if doc.get("schema") != SCHEMA:
        raise _fail("schema", f"expected {SCHEMA}")
    as_of = _day(doc.get("as_of"), "as_of")
    review_by = _day(doc.get("review_by"), "review_by")
    if as_of is None or review_by is None:  # _day requires them; this narrows the types
        raise _fail("as_of", "required")
    problems: list[tuple[str, str]] = []
    default: ConsentAgeRule | None = None
    try:
        default = _rule(doc.get("default"), "default", default=True)
    except AgeOfConsentError as exc:
        problems.extend(exc.problems)
    raw_entries = doc.get("entries")
    if not isinstance(raw_entries, list):
        raise AgeOfConsentError([*problems, ("entries", "expected a list")])
    entries: list[ConsentAgeRule] = []
    seen: set[tuple[str | None, str, date | None]] = set()
    for i, raw in enumerate(raw_entries):
        try:
            entry = _rule(raw, f"entries[{i}]", default=False)
        except AgeOfConsentError as exc:  # keep going: report every bad entry at once
            problems.extend(exc.problems)
            continue
        key = (entry.jurisdiction, entry.service, entry.effective_on)
        if key in seen:
            problems.append(
                (
                    f"entries[{i}]",
                    f"{entry.jurisdiction}/{entry.service} from {entry.effective_on} is listed twice",
                )
            )
        seen.add(key)
        entries.append(entry)
    if problems or default is None:
        raise AgeOfConsentError(problems)
    return AgeOfConsentTable(
        as_of=as_of,
        review_by=review_by,
        source=_text(doc.get("source"), "source", required=True),
        default=default,
        entries=tuple(entries),
    )


def document_text() -> str:
    """The packaged YAML document (for services that version their reference data by content)."""
    return resources.files("confide_chassis.reference_data").joinpath(DOCUMENT).read_text(encoding="utf-8")


@cache
def load_age_of_consent() -> AgeOfConsentTable:
    """The packaged table, parsed and validated once per process."""
    return parse_age_of_consent(yaml.safe_load(document_text()))

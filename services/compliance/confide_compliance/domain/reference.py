"""Reference data: compact membership, state exception rules, licensee rules, age of consent.

Law that changes every legislative session is data, not code (docs/rules.md header). The YAML files live in
`confide_compliance/reference_data/`; this module is the pure parser and the typed model. The parser
checks every field and reports *all* problems at once as a `ReferenceDataError` whose violations name
the file and the path inside it, e.g. ``compacts.yaml: compacts[0].members[3].jurisdiction``.

Every document has ``as_of`` (the date its content was last checked), ``review_by`` (the last session
date it may be used for: later dates fail closed) and ``source``. Items carry a ``confidence`` of
V (verified in the official text), S (reputable secondary source) or U (unverified - decisions that rely
on a U item say so in a warning).

`ReferenceData.version` identifies the exact content (``<latest as_of>.<sha256 prefix>``); every
authorization decision records it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

import yaml

from confide_chassis.age_of_consent import DOCUMENT as AGE_OF_CONSENT_DOCUMENT
from confide_chassis.age_of_consent import (
    OUTPATIENT_MENTAL_HEALTH,
    AgeOfConsentError,
    ConsentAgeRule,
    parse_age_of_consent,
)
from confide_chassis.age_of_consent import SCHEMA as AGE_OF_CONSENT_SCHEMA
from confide_chassis.age_of_consent import Confidence as SharedConfidence
from confide_chassis.errors import FieldViolation, InvalidArgument
from confide_compliance.domain.credentials import Profession
from confide_compliance.domain.jurisdictions import normalize_jurisdiction
from confide_compliance.domain.modality import Modality

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


class ReferenceDataError(InvalidArgument):
    """Reference data that cannot be used. Raised at load time: the service must not start on it."""


# The confidence tags and the age-of-consent model are the platform's shared vocabulary.
Confidence = SharedConfidence
AgeOfConsentRule = ConsentAgeRule


class CompactId(StrEnum):
    PSYPACT = "psypact"
    COUNSELING = "counseling_compact"
    SOCIAL_WORK = "social_work_compact"
    NLC = "nlc"
    IMLC = "imlc"
    APRN = "aprn_compact"


class ExceptionKind(StrEnum):
    TEMPORARY_PRACTICE = "temporary_practice"
    TELEHEALTH_REGISTRATION = "telehealth_registration"


class DayUnit(StrEnum):
    """How a state counts temporary-practice days (LIC-60: not standardised, so stored per rule)."""

    # distinct calendar days with any contact in the state, per calendar year
    CALENDAR_DAYS_PER_YEAR = "calendar_days_per_calendar_year"
    # one run of consecutive days per calendar year: first to last day of use spans at most max_days
    CONSECUTIVE_DAYS_PER_YEAR = "consecutive_days_per_calendar_year"


class ApprovalKind(StrEnum):
    BOARD_APPROVAL = "board_approval"
    TELEHEALTH_REGISTRATION = "telehealth_registration"


FILES: tuple[str, ...] = (
    "compacts.yaml",
    "state_exceptions.yaml",
    "licensee_rules.yaml",
    "age_of_consent.yaml",
)


# --------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    name: str
    as_of: date
    review_by: date
    source: str

    def covers(self, day: date) -> bool:
        """True if decisions for `day` may rely on this document (fail closed after `review_by`)."""
        return day <= self.review_by


@dataclass(frozen=True, slots=True)
class CompactMembership:
    """One jurisdiction's membership of a compact.

    `effective_on` None means enacted but not yet effective. `live_on` is used by the Counseling
    Compact: the date the state started issuing/honouring privileges (LIC-24)."""

    jurisdiction: str
    effective_on: date | None
    live_on: date | None
    confidence: Confidence
    note: str = ""

    def effective(self, day: date) -> bool:
        return self.effective_on is not None and self.effective_on <= day

    def live(self, day: date) -> bool:
        return self.live_on is not None and self.live_on <= day


@dataclass(frozen=True, slots=True)
class Compact:
    id: CompactId
    name: str
    professions: frozenset[Profession]
    authorizes_practice: bool  # False for the IMLC: a pathway to separate state licenses (LIC-40)
    operational_on: date | None  # None: not issuing / not operational (LIC-31, LIC-51)
    members: tuple[CompactMembership, ...]
    confidence: Confidence
    source: str
    note: str = ""
    _members: Mapping[str, CompactMembership] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_members", MappingProxyType({m.jurisdiction: m for m in self.members}))

    def operational(self, day: date) -> bool:
        return self.operational_on is not None and self.operational_on <= day

    def membership(self, jurisdiction: str) -> CompactMembership | None:
        return self._members.get(jurisdiction)

    def effective_member(self, jurisdiction: str, day: date) -> bool:
        m = self.membership(jurisdiction)
        return m is not None and m.effective(day)

    def live_member(self, jurisdiction: str, day: date) -> bool:
        m = self.membership(jurisdiction)
        return m is not None and m.effective(day) and m.live(day)


@dataclass(frozen=True, slots=True)
class DayLimit:
    unit: DayUnit
    max_days: int


@dataclass(frozen=True, slots=True)
class ModalityExclusion:
    modality: Modality
    rule_id: str
    confidence: Confidence
    note: str = ""


@dataclass(frozen=True, slots=True)
class ExceptionRule:
    """A state's temporary-practice allowance or telehealth registration (docs/rules.md §1.7)."""

    id: str
    jurisdiction: str
    kind: ExceptionKind
    professions: frozenset[Profession]
    citation: str
    effective_on: date
    day_limit: DayLimit | None
    notice_after_days: int | None  # a notice must be on file before exceeding this many days (MT)
    existing_client_required: bool
    prior_approval_required: bool
    approval_kind: ApprovalKind | None
    excluded_modalities: tuple[ModalityExclusion, ...]
    confidence: Confidence
    source: str
    note: str = ""

    def exclusion_for(self, modality: Modality) -> ModalityExclusion | None:
        return next((x for x in self.excluded_modalities if x.modality is modality), None)


@dataclass(frozen=True, slots=True)
class LicenseeRule:
    """A board rule binding its own licensees when they serve clients elsewhere (LIC-02)."""

    id: str
    jurisdiction: str
    professions: frozenset[Profession]
    rule_id: str
    citation: str
    requirement: str
    confidence: Confidence
    source: str


@dataclass(frozen=True, slots=True)
class ReferenceData:
    version: str
    digest: str  # full sha256 of the canonical content of every document
    documents: Mapping[str, DocumentInfo]
    compacts: Mapping[CompactId, Compact]
    exception_rules: Mapping[str, ExceptionRule]
    licensee_rules: tuple[LicenseeRule, ...]
    age_of_consent: tuple[AgeOfConsentRule, ...]

    @property
    def as_of(self) -> date:
        return max(d.as_of for d in self.documents.values())

    def compact(self, compact_id: CompactId) -> Compact:
        return self.compacts[compact_id]

    def document(self, name: str) -> DocumentInfo:
        return self.documents[name]

    def exception_rule(self, rule_id: str) -> ExceptionRule | None:
        return self.exception_rules.get(rule_id)

    def age_of_consent_for(
        self, jurisdiction: str, on: date, service: str = OUTPATIENT_MENTAL_HEALTH
    ) -> AgeOfConsentRule | None:
        """The rule in force on `on` (latest `effective_on` not after `on`), or None if not recorded."""
        candidates = [
            r
            for r in self.age_of_consent
            if r.jurisdiction == jurisdiction
            and r.service == service
            and (r.effective_on is None or r.effective_on <= on)
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda r: r.effective_on or date.min)


# --------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Reader:
    """Typed access to one parsed YAML document, collecting violations with their paths."""

    def __init__(self, document: str, errors: list[FieldViolation]) -> None:
        self.document = document
        self.errors = errors

    def error(self, path: str, description: str) -> None:
        self.errors.append(FieldViolation(f"{self.document}: {path}", description))

    def mapping(self, value: object, path: str, allowed: Sequence[str]) -> Mapping[str, object] | None:
        if not isinstance(value, Mapping):
            self.error(path, f"expected a mapping, got {type(value).__name__}")
            return None
        for key in value:
            if key not in allowed:
                self.error(
                    f"{path}.{key}" if path else str(key), f"unknown field (allowed: {', '.join(allowed)})"
                )
        return value

    def sequence(self, m: Mapping[str, object], key: str, path: str) -> Sequence[object]:
        value = m.get(key)
        if value is None:
            self.error(self._join(path, key), "required list is missing")
            return ()
        if not isinstance(value, list):
            self.error(self._join(path, key), f"expected a list, got {type(value).__name__}")
            return ()
        return value

    def text(self, m: Mapping[str, object], key: str, path: str, *, required: bool = True) -> str:
        value = m.get(key)
        if value is None:
            if required:
                self.error(self._join(path, key), "required field is missing")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.error(self._join(path, key), "expected a non-empty string")
            return ""
        return value.strip()

    def boolean(self, m: Mapping[str, object], key: str, path: str) -> bool:
        value = m.get(key)
        if not isinstance(value, bool):
            self.error(self._join(path, key), "expected true or false")
            return False
        return value

    def integer(self, m: Mapping[str, object], key: str, path: str, *, required: bool = True) -> int | None:
        value = m.get(key)
        if value is None:
            if required:
                self.error(self._join(path, key), "required field is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.error(self._join(path, key), "expected a non-negative integer")
            return None
        return value

    def day(self, m: Mapping[str, object], key: str, path: str, *, required: bool = True) -> date | None:
        value = m.get(key)
        if value is None:
            if required:
                self.error(self._join(path, key), "required date is missing (YYYY-MM-DD)")
            return None
        if isinstance(value, date):  # PyYAML turns unquoted YYYY-MM-DD into a date
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.error(self._join(path, key), f"expected a date YYYY-MM-DD, got {value!r}")
        return None

    def jurisdiction(self, m: Mapping[str, object], key: str, path: str) -> str:
        value = m.get(key)
        code = normalize_jurisdiction(value)
        if code is None:
            self.error(self._join(path, key), f"unknown jurisdiction {value!r}")
            return ""
        return code

    def enum(self, enum_type: type[E], m: Mapping[str, object], key: str, path: str) -> E | None:
        value = m.get(key)
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            return enum_type(value)
        except ValueError:
            allowed = ", ".join(str(e.value) for e in enum_type)
            self.error(self._join(path, key), f"{value!r} is not one of: {allowed}")
            return None

    def professions(self, m: Mapping[str, object], key: str, path: str) -> frozenset[Profession]:
        result: set[Profession] = set()
        for i, item in enumerate(self.sequence(m, key, path)):
            profession = Profession.parse(item)
            if profession is None:
                self.error(f"{self._join(path, key)}[{i}]", f"unknown profession {item!r}")
            else:
                result.add(profession)
        return frozenset(result)

    def rule_id(self, m: Mapping[str, object], key: str, path: str) -> str:
        value = self.text(m, key, path)
        if value and not _is_rule_id(value):
            self.error(self._join(path, key), f"{value!r} is not a rule id like LIC-61")
        return value

    def items(
        self, m: Mapping[str, object], key: str, path: str, parse: Callable[[object, str], T | None]
    ) -> list[T]:
        parsed: list[T] = []
        for i, raw in enumerate(self.sequence(m, key, path)):
            item = parse(raw, f"{self._join(path, key)}[{i}]")
            if item is not None:
                parsed.append(item)
        return parsed

    @staticmethod
    def _join(path: str, key: str) -> str:
        return f"{path}.{key}" if path else key


def _is_rule_id(value: str) -> bool:
    prefix, _, number = value.partition("-")
    return prefix in {"LIC", "SAFE", "SEC", "BILL", "MSG"} and number.isdigit()


_HEADER = ("schema", "as_of", "review_by", "source")


def _header(r: _Reader, doc: Mapping[str, object]) -> DocumentInfo | None:
    schema = AGE_OF_CONSENT_SCHEMA if r.document == AGE_OF_CONSENT_DOCUMENT else 1
    if doc.get("schema") != schema:
        r.error("schema", f"expected schema: {schema}")
    as_of = r.day(doc, "as_of", "")
    review_by = r.day(doc, "review_by", "")
    source = r.text(doc, "source", "")
    if as_of is None or review_by is None:
        return None
    if review_by < as_of:
        r.error("review_by", "must not be before as_of")
    return DocumentInfo(r.document, as_of, review_by, source)


def _parse_compacts(r: _Reader, doc: Mapping[str, object]) -> dict[CompactId, Compact]:
    def member(raw: object, path: str) -> CompactMembership | None:
        m = r.mapping(raw, path, ("jurisdiction", "effective_on", "live_on", "confidence", "note"))
        if m is None:
            return None
        jurisdiction = r.jurisdiction(m, "jurisdiction", path)
        effective_on = r.day(m, "effective_on", path, required=False)
        live_on = r.day(m, "live_on", path, required=False)
        confidence = r.enum(Confidence, m, "confidence", path)
        note = r.text(m, "note", path, required=False)
        if live_on is not None and (effective_on is None or live_on < effective_on):
            r.error(f"{path}.live_on", "a state cannot be live before its membership is effective")
        if not jurisdiction or confidence is None:
            return None
        return CompactMembership(jurisdiction, effective_on, live_on, confidence, note)

    def compact(raw: object, path: str) -> Compact | None:
        m = r.mapping(
            raw,
            path,
            (
                "id",
                "name",
                "professions",
                "authorizes_practice",
                "operational_on",
                "confidence",
                "source",
                "note",
                "members",
            ),
        )
        if m is None:
            return None
        compact_id = r.enum(CompactId, m, "id", path)
        name = r.text(m, "name", path)
        professions = r.professions(m, "professions", path)
        authorizes = r.boolean(m, "authorizes_practice", path)
        operational_on = r.day(m, "operational_on", path, required=False)
        confidence = r.enum(Confidence, m, "confidence", path)
        source = r.text(m, "source", path)
        note = r.text(m, "note", path, required=False)
        members = r.items(m, "members", path, member)
        seen: set[str] = set()
        for i, mem in enumerate(members):
            if mem.jurisdiction in seen:
                r.error(f"{path}.members[{i}].jurisdiction", f"{mem.jurisdiction} is listed twice")
            seen.add(mem.jurisdiction)
        if compact_id is None or confidence is None:
            return None
        return Compact(
            compact_id,
            name,
            professions,
            authorizes,
            operational_on,
            tuple(sorted(members, key=lambda x: x.jurisdiction)),
            confidence,
            source,
            note,
        )

    result: dict[CompactId, Compact] = {}
    for i, c in enumerate(r.items(doc, "compacts", "", compact)):
        if c.id in result:
            r.error(f"compacts[{i}].id", f"compact {c.id} is defined twice")
        result[c.id] = c
    for required in CompactId:
        if required not in result:
            r.error("compacts", f"compact {required.value!r} is missing: the engine needs it")
    return result


def _parse_exception_rules(r: _Reader, doc: Mapping[str, object]) -> dict[str, ExceptionRule]:
    def exclusion(raw: object, path: str) -> ModalityExclusion | None:
        m = r.mapping(raw, path, ("modality", "rule_id", "confidence", "note"))
        if m is None:
            return None
        modality = r.enum(Modality, m, "modality", path)
        rule_id = r.rule_id(m, "rule_id", path)
        confidence = r.enum(Confidence, m, "confidence", path)
        note = r.text(m, "note", path, required=False)
        if modality is None or confidence is None or not rule_id:
            return None
        return ModalityExclusion(modality, rule_id, confidence, note)

    def day_limit(raw: object, path: str) -> DayLimit | None:
        m = r.mapping(raw, path, ("unit", "max_days"))
        if m is None:
            return None
        unit = r.enum(DayUnit, m, "unit", path)
        max_days = r.integer(m, "max_days", path)
        if max_days == 0:
            r.error(f"{path}.max_days", "must be at least 1")
        if unit is None or not max_days:
            return None
        return DayLimit(unit, max_days)

    def rule(raw: object, path: str) -> ExceptionRule | None:
        m = r.mapping(
            raw,
            path,
            (
                "id",
                "jurisdiction",
                "kind",
                "professions",
                "citation",
                "effective_on",
                "day_limit",
                "notice_after_days",
                "existing_client_required",
                "prior_approval_required",
                "approval_kind",
                "excluded_modalities",
                "confidence",
                "source",
                "note",
            ),
        )
        if m is None:
            return None
        rule_id = r.text(m, "id", path)
        jurisdiction = r.jurisdiction(m, "jurisdiction", path)
        kind = r.enum(ExceptionKind, m, "kind", path)
        professions = r.professions(m, "professions", path)
        if not professions:
            r.error(f"{path}.professions", "name at least one profession")
        citation = r.text(m, "citation", path)
        effective_on = r.day(m, "effective_on", path)
        limit = day_limit(m["day_limit"], f"{path}.day_limit") if m.get("day_limit") is not None else None
        if "day_limit" not in m:
            r.error(f"{path}.day_limit", "required field is missing (null when the rule has no day limit)")
        notice_after = r.integer(m, "notice_after_days", path, required=False)
        existing = r.boolean(m, "existing_client_required", path)
        approval = r.boolean(m, "prior_approval_required", path)
        approval_kind = (
            r.enum(ApprovalKind, m, "approval_kind", path) if m.get("approval_kind") is not None else None
        )
        if approval and approval_kind is None:
            r.error(f"{path}.approval_kind", "required when prior_approval_required is true")
        if not approval and approval_kind is not None:
            r.error(f"{path}.approval_kind", "only allowed when prior_approval_required is true")
        exclusions = r.items(m, "excluded_modalities", path, exclusion) if "excluded_modalities" in m else []
        confidence = r.enum(Confidence, m, "confidence", path)
        source = r.text(m, "source", path)
        note = r.text(m, "note", path, required=False)
        if kind is None or confidence is None or effective_on is None or not rule_id or not jurisdiction:
            return None
        return ExceptionRule(
            id=rule_id,
            jurisdiction=jurisdiction,
            kind=kind,
            professions=professions,
            citation=citation,
            effective_on=effective_on,
            day_limit=limit,
            notice_after_days=notice_after,
            existing_client_required=existing,
            prior_approval_required=approval,
            approval_kind=approval_kind,
            excluded_modalities=tuple(exclusions),
            confidence=confidence,
            source=source,
            note=note,
        )

    result: dict[str, ExceptionRule] = {}
    for i, rule_ in enumerate(r.items(doc, "rules", "", rule)):
        if rule_.id in result:
            r.error(f"rules[{i}].id", f"rule id {rule_.id!r} is used twice")
        result[rule_.id] = rule_
    return result


def _parse_licensee_rules(r: _Reader, doc: Mapping[str, object]) -> list[LicenseeRule]:
    def rule(raw: object, path: str) -> LicenseeRule | None:
        m = r.mapping(
            raw,
            path,
            (
                "id",
                "jurisdiction",
                "professions",
                "rule_id",
                "citation",
                "requirement",
                "confidence",
                "source",
            ),
        )
        if m is None:
            return None
        rule_key = r.text(m, "id", path)
        jurisdiction = r.jurisdiction(m, "jurisdiction", path)
        professions = r.professions(m, "professions", path)
        rule_id = r.rule_id(m, "rule_id", path)
        citation = r.text(m, "citation", path)
        requirement = r.text(m, "requirement", path)
        confidence = r.enum(Confidence, m, "confidence", path)
        source = r.text(m, "source", path)
        if confidence is None or not jurisdiction or not rule_key:
            return None
        return LicenseeRule(
            rule_key, jurisdiction, professions, rule_id, citation, requirement, confidence, source
        )

    return sorted(r.items(doc, "rules", "", rule), key=lambda x: x.id)


def _parse_age_of_consent(r: _Reader, doc: Mapping[str, object]) -> list[AgeOfConsentRule]:
    """The shared table (`confide_chassis.age_of_consent`): its own parser checks it."""
    try:
        table = parse_age_of_consent(doc)
    except AgeOfConsentError as exc:
        for path, problem in exc.problems:
            r.error(path, problem)
        return []
    return sorted(table.entries, key=lambda e: (e.jurisdiction or "", e.service, e.effective_on or date.min))


def _canonical(value: object) -> object:
    """JSON-ready form of parsed YAML, dates as ISO strings, for the content digest."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


_BODY: Mapping[str, tuple[str, ...]] = {
    "compacts.yaml": ("compacts",),
    "state_exceptions.yaml": ("rules",),
    "licensee_rules.yaml": ("rules",),
    "age_of_consent.yaml": ("default", "entries"),
}


def parse_reference_data(documents: Mapping[str, str]) -> ReferenceData:
    """Parse and validate the reference data documents (file name → YAML text).

    Pure: no file access. Raises `ReferenceDataError` listing every problem found.
    """
    errors: list[FieldViolation] = []
    loaded: dict[str, Mapping[str, object]] = {}
    for name in FILES:
        if name not in documents:
            errors.append(FieldViolation(name, "document is missing"))
            continue
        try:
            raw = yaml.load(documents[name], Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            errors.append(FieldViolation(name, f"not valid YAML: {exc}".replace("\n", " ")))
            continue
        r = _Reader(name, errors)
        doc = r.mapping(raw, "", (*_HEADER, *_BODY[name]))
        if doc is not None:
            loaded[name] = doc
    for name in sorted(set(documents) - set(FILES)):
        errors.append(FieldViolation(name, f"unexpected document (expected: {', '.join(FILES)})"))

    infos: dict[str, DocumentInfo] = {}
    for name, doc in loaded.items():
        info = _header(_Reader(name, errors), doc)
        if info is not None:
            infos[name] = info

    compacts = (
        _parse_compacts(_Reader("compacts.yaml", errors), loaded["compacts.yaml"])
        if "compacts.yaml" in loaded
        else {}
    )
    rules = (
        _parse_exception_rules(_Reader("state_exceptions.yaml", errors), loaded["state_exceptions.yaml"])
        if "state_exceptions.yaml" in loaded
        else {}
    )
    licensee = (
        _parse_licensee_rules(_Reader("licensee_rules.yaml", errors), loaded["licensee_rules.yaml"])
        if "licensee_rules.yaml" in loaded
        else []
    )
    ages = (
        _parse_age_of_consent(_Reader("age_of_consent.yaml", errors), loaded["age_of_consent.yaml"])
        if "age_of_consent.yaml" in loaded
        else []
    )
    if errors:
        details = "; ".join(f"{v.field}: {v.description}" for v in errors)
        raise ReferenceDataError(errors, f"reference data is invalid ({len(errors)} problem(s)): {details}")

    canonical = json.dumps(
        {name: _canonical(loaded[name]) for name in FILES},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    digest = hashlib.sha256(canonical).hexdigest()
    latest = max(info.as_of for info in infos.values())
    return ReferenceData(
        version=f"{latest.isoformat()}.{digest[:16]}",
        digest=digest,
        documents=MappingProxyType(dict(sorted(infos.items()))),
        compacts=MappingProxyType(dict(sorted(compacts.items()))),
        exception_rules=MappingProxyType(dict(sorted(rules.items()))),
        licensee_rules=tuple(licensee),
        age_of_consent=tuple(ages),
    )

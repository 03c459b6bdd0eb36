"""The licensure authorization engine: may this clinician hold this session? (LIC-01, LIC-03)

`decide(request, credentials, reference_data, usage)` is a pure function. It checks, in a fixed order:

0. the request itself: client location, clinician location, profession and modality must be known
   (fail closed otherwise); an in-person session needs clinician and client in the same place;
1. a license issued by the client's state (LIC-03 option 1);
2. PSYPACT APIT - telepsychology (LIC-10, LIC-11, LIC-14..17);
3. PSYPACT TAP - temporary in-person practice (LIC-10, LIC-13..17);
4. a Counseling Compact privilege for the client's state (LIC-20..24);
5. a Social Work Compact multistate license (LIC-30, LIC-31);
6. an NLC multistate license, RN/LPN scope only (LIC-50);
7. a state temporary-practice allowance or telehealth registration (LIC-03 option 3, LIC-60, LIC-61);

and stops at the first credential that authorizes the session. Every credential examined leaves
reasons (rule id + message) in evaluation order; then notes and warnings are added (LIC-12, LIC-02,
LIC-40, LIC-51, LIC-80, reliance on unverified reference data). Credentials are examined in id order,
so the same inputs always give the same decision with the same reasons in the same order.

Dates: the *session date* is the calendar date at the client's location when the session starts (the
"originating site", LIC-01). Every validity range is inclusive: a credential expiring on 2026-03-10 is
valid for a session on 2026-03-10 and not for one on 2026-03-11.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from types import MappingProxyType

from confide_chassis.errors import FieldViolation, InvalidArgument
from confide_compliance.domain.credentials import (
    ClinicianCredentials,
    CompactAuthority,
    CompactAuthorityKind,
    CredentialStatus,
    LicenseLevel,
    Profession,
    SocialWorkCategory,
    StateException,
    StateLicense,
)
from confide_compliance.domain.jurisdictions import normalize_jurisdiction
from confide_compliance.domain.modality import Modality
from confide_compliance.domain.reference import (
    CompactId,
    Confidence,
    DayUnit,
    ExceptionRule,
    ReferenceData,
)

TAP_DAYS_PER_STATE_PER_YEAR = 30  # LIC-13: PSYPACT model text, "thirty (30) days within a calendar year"
PRIVILEGE_CLEAN_RECORD_YEARS = 2  # LIC-21: no encumbrance on any license in the previous 2 years

COMPACTS_DOCUMENT = "compacts.yaml"
EXCEPTIONS_DOCUMENT = "state_exceptions.yaml"


class AuthorityKind(StrEnum):
    """What authorized a session (the kinds of LIC-03)."""

    STATE_LICENSE = "state_license"
    PSYPACT_APIT = "psypact_apit"
    PSYPACT_TAP = "psypact_tap"
    COUNSELING_COMPACT_PRIVILEGE = "counseling_compact_privilege"
    SOCIAL_WORK_MULTISTATE_LICENSE = "social_work_multistate_license"
    NLC_MULTISTATE_LICENSE = "nlc_multistate_license"
    STATE_EXCEPTION = "state_exception"


class Outcome(StrEnum):
    SATISFIED = "satisfied"  # a condition of the authority used was met
    FAILED = "failed"  # a condition was not met (for the credential named, or for the request)
    WARNING = "warning"  # does not change the decision; a compliance officer should look
    INFO = "info"  # context for the explanation


@dataclass(frozen=True, slots=True)
class AuthorityRef:
    kind: AuthorityKind
    id: str


@dataclass(frozen=True, slots=True)
class Reason:
    rule_id: str
    outcome: Outcome
    message: str
    credential_id: str | None = None

    def render(self) -> str:
        subject = f" ({self.credential_id})" if self.credential_id else ""
        return f"[{self.rule_id}] {self.outcome.value}{subject}: {self.message}"


@dataclass(frozen=True, slots=True, order=True)
class UsageKey:
    """A day counter: days of practice under one authority, in one state, in one calendar year."""

    authority_id: str
    jurisdiction: str
    year: int


@dataclass(frozen=True, slots=True)
class Usage:
    """Days already used under day-limited authorities (TAP, temporary-practice exceptions).

    Each key maps to the set of session dates already counted, so that a second session on a day
    already used does not count twice. The session being decided is added by the engine.
    """

    days: Mapping[UsageKey, frozenset[date]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        normalized: dict[UsageKey, frozenset[date]] = {}
        violations: list[FieldViolation] = []
        for key in sorted(self.days):
            dates = frozenset(self.days[key])
            for day in sorted(dates):
                if day.year != key.year:
                    violations.append(
                        FieldViolation(f"usage[{key.authority_id}]", f"{day} is not in year {key.year}")
                    )
            normalized[key] = dates
        if violations:
            raise InvalidArgument(violations)
        object.__setattr__(self, "days", MappingProxyType(normalized))

    def used(self, key: UsageKey) -> frozenset[date]:
        return self.days.get(key, frozenset())

    def with_day(self, key: UsageKey, day: date) -> Usage:
        """A new Usage with `day` recorded under `key`."""
        updated = dict(self.days)
        updated[key] = self.used(key) | {day}
        return Usage(updated)

    @classmethod
    def of(cls, entries: Mapping[UsageKey, Iterable[date]]) -> Usage:
        return cls({key: frozenset(days) for key, days in entries.items()})


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One session to authorize (LIC-03 tuple).

    `profession` and `modality` may be raw codes from an untrusted caller: an unknown code is denied
    with a reason, never guessed. The jurisdictions are USPS codes of where the client and the
    clinician are *physically* at session time (LIC-01, LIC-04, LIC-11). `session_date` is the local
    date at the client's location; it must be within a day of `session_start` (UTC).
    """

    clinician_id: str
    profession: Profession | str
    client_jurisdiction: str
    clinician_jurisdiction: str
    session_start: datetime
    session_date: date
    modality: Modality | str
    existing_client: bool = False
    is_supervisee: bool = False

    def __post_init__(self) -> None:
        violations: list[FieldViolation] = []
        if not self.clinician_id or not self.clinician_id.strip():
            violations.append(FieldViolation("clinician_id", "must not be empty"))
        if self.session_start.tzinfo is None or self.session_start.utcoffset() is None:
            violations.append(FieldViolation("session_start", "must be timezone-aware"))
        elif abs((self.session_start.astimezone(UTC).date() - self.session_date).days) > 1:
            violations.append(
                FieldViolation(
                    "session_date", "must be the local date of session_start (within one day of UTC)"
                )
            )
        if violations:
            raise InvalidArgument(violations)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer, with every reason. `allowed` is true exactly when `authority` is set."""

    allowed: bool
    authority: AuthorityRef | None
    reasons: tuple[Reason, ...]
    reference_data_version: str
    request: AuthorizationRequest
    usage_key: UsageKey | None = None  # the day counter this session consumes, when day-limited

    def __post_init__(self) -> None:
        if self.allowed != (self.authority is not None):
            raise ValueError("a decision allows exactly when it names an authority")

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Every rule id cited, first occurrence order."""
        return tuple(dict.fromkeys(r.rule_id for r in self.reasons))

    @property
    def failed_rule_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.rule_id for r in self.reasons if r.outcome is Outcome.FAILED))

    @property
    def warnings(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.outcome is Outcome.WARNING)

    @property
    def explanation(self) -> str:
        req = self.request
        if self.authority is not None:
            head = f"ALLOWED under {self.authority.kind.value} {self.authority.id}"
        else:
            head = "DENIED"
        # Only recognised codes are shown: an unknown value may be free text (PHI) from a caller.
        profession = Profession.parse(req.profession)
        modality = Modality.parse(req.modality)
        client = normalize_jurisdiction(req.client_jurisdiction) or "unknown"
        clinician_at = normalize_jurisdiction(req.clinician_jurisdiction) or "unknown"
        lines = [
            f"{head}: {profession.value if profession else 'unknown profession'} session by "
            f"{req.clinician_id} with a client in {client}, clinician in {clinician_at}, "
            f"{modality.value if modality else 'unknown modality'}, on {req.session_date.isoformat()} "
            f"(reference data {self.reference_data_version})",
        ]
        lines.extend(f"{i}. {reason.render()}" for i, reason in enumerate(self.reasons, start=1))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------------------


def decide(
    request: AuthorizationRequest,
    credentials: ClinicianCredentials,
    reference_data: ReferenceData,
    usage: Usage | None = None,
) -> Decision:
    """Decide whether `request` is authorized by `credentials` (LIC-03). Pure and deterministic."""
    if credentials.clinician_id != request.clinician_id:
        raise InvalidArgument.field("clinician_id", "the credentials given belong to another clinician")
    return _Evaluation(request, credentials, reference_data, usage or Usage()).run()


def day_limit_exceeded(
    authority: CompactAuthority | StateException, used: frozenset[date], reference_data: ReferenceData
) -> bool:
    """Whether the days recorded under a day-limited authority in one state and year (`used`) are
    more than it allows (LIC-13: TAP, 30 calendar days; LIC-60: a state exception's day limit).

    A session's day is recorded when the session starts, after the check-in decision allowed it, so
    two sessions on different days checked in before either started can both pass the check: this
    tells the recorder that it just happened."""
    if isinstance(authority, CompactAuthority):
        return authority.kind is CompactAuthorityKind.PSYPACT_TAP and len(used) > TAP_DAYS_PER_STATE_PER_YEAR
    rule = reference_data.exception_rule(authority.rule_id)
    if rule is None or rule.day_limit is None or not used:
        return False
    if rule.day_limit.unit is DayUnit.CALENDAR_DAYS_PER_YEAR:
        return len(used) > rule.day_limit.max_days
    return (max(used) - min(used)).days + 1 > rule.day_limit.max_days


@dataclass(frozen=True, slots=True)
class AuthorizedClinician:
    clinician_id: str
    profession: Profession
    authority: AuthorityRef
    decision: Decision


def find_authorized(
    clinicians: Iterable[ClinicianCredentials],
    client_jurisdiction: str,
    at: datetime,
    local_date: date,
    modality: Modality | str,
    reference_data: ReferenceData,
    usage: Usage | None = None,
    *,
    existing_client: bool = False,
    profession: Profession | None = None,
    clinician_jurisdictions: Mapping[str, str] | None = None,
) -> tuple[AuthorizedClinician, ...]:
    """Clinicians authorized to see a client in `client_jurisdiction` at `at`, for matching.

    Each clinician is evaluated for each profession they are licensed in (or only `profession`), in
    the enum's order; the first allowed profession is returned. The clinician's location is taken from
    `clinician_jurisdictions`, else their `practice_jurisdiction`; for an in-person session the
    clinician is taken to be where the client is. A clinician with no known location is not
    authorized for telehealth (fail closed). Results are sorted by clinician id.
    """
    locations = clinician_jurisdictions or {}
    found: list[AuthorizedClinician] = []
    parsed = Modality.parse(modality)
    for creds in sorted(clinicians, key=lambda c: c.clinician_id):
        if parsed is Modality.IN_PERSON:
            location: str | None = client_jurisdiction
        else:
            location = locations.get(creds.clinician_id, creds.practice_jurisdiction)
        if location is None:
            continue
        professions = (profession,) if profession is not None else creds.professions()
        for candidate in professions:
            request = AuthorizationRequest(
                clinician_id=creds.clinician_id,
                profession=candidate,
                client_jurisdiction=client_jurisdiction,
                clinician_jurisdiction=location,
                session_start=at,
                session_date=local_date,
                modality=modality,
                existing_client=existing_client,
                is_supervisee=creds.is_supervisee,
            )
            decision = decide(request, creds, reference_data, usage)
            if decision.authority is not None:
                found.append(AuthorizedClinician(creds.clinician_id, candidate, decision.authority, decision))
                break
    return tuple(found)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _term(start: date, end: date | None) -> str:
    return f"{start.isoformat()} to {end.isoformat()}" if end else f"from {start.isoformat()}, open-ended"


class _Evaluation:
    """One run of the engine: holds the parsed request and accumulates reasons in order."""

    def __init__(
        self,
        request: AuthorizationRequest,
        credentials: ClinicianCredentials,
        reference_data: ReferenceData,
        usage: Usage,
    ) -> None:
        self.req = request
        self.creds = credentials
        self.ref = reference_data
        self.usage = usage
        self.day = request.session_date
        self.reasons: list[Reason] = []
        self.notes: list[Reason] = []
        self.usage_key: UsageKey | None = None
        # Parsed in run(); only read after a successful parse.
        self.client = ""
        self.clinician_at = ""
        self.profession = Profession.PSYCHOLOGIST
        self.modality = Modality.VIDEO
        self.supervisee = request.is_supervisee or credentials.is_supervisee

    # -- helpers ------------------------------------------------------------------------------------

    def add(self, rule_id: str, outcome: Outcome, message: str, credential_id: str | None = None) -> None:
        self.reasons.append(Reason(rule_id, outcome, message, credential_id))

    def note(self, rule_id: str, outcome: Outcome, message: str, credential_id: str | None = None) -> None:
        self.notes.append(Reason(rule_id, outcome, message, credential_id))

    def fail_all(self, credential_id: str, failures: list[tuple[str, str]]) -> None:
        for rule_id, message in failures:
            self.add(rule_id, Outcome.FAILED, message, credential_id)

    def term_problems(self, status: CredentialStatus, start: date, end: date | None, what: str) -> list[str]:
        day = self.day
        problems: list[str] = []
        if status is not CredentialStatus.ACTIVE:
            problems.append(f"{what} status is {status.value}")
        if day < start:
            problems.append(f"{what} is not valid before {start.isoformat()}")
        if end is not None and day > end:
            problems.append(f"{what} expired: valid through {end.isoformat()}")
        return problems

    def license_problems(self, lic: StateLicense, profession: Profession | None) -> list[tuple[str, str]]:
        """Why `lic` is not an active, unexpired, unencumbered, independent, verified license on the
        session date, each problem with its rule id (LIC-03 option 1, LIC-70)."""
        problems: list[tuple[str, str]] = []
        if profession is not None and lic.profession is not profession:
            problems.append(("LIC-03", f"license is for {lic.profession.value}, not {profession.value}"))
        problems += [
            ("LIC-03", p) for p in self.term_problems(lic.status, lic.issued_on, lic.expires_on, "license")
        ]
        for enc in lic.encumbrances_on(self.day):
            until = f" through {enc.ends_on.isoformat()}" if enc.ends_on else ""
            problems.append(
                ("LIC-03", f"{enc.kind.value} in force from {enc.effective_on.isoformat()}{until}")
            )
        if lic.level is LicenseLevel.ASSOCIATE:
            problems.append(
                (
                    "LIC-03",
                    "license is associate-level (practice under supervision); independent level required",
                )
            )
        if lic.verification is None:
            problems.append(("LIC-70", "license not verified against the issuing board (primary source)"))
        return problems

    def good_licenses(self, jurisdiction: str, profession: Profession) -> list[StateLicense]:
        return [
            lic
            for lic in self.creds.licenses
            if lic.jurisdiction == jurisdiction and not self.license_problems(lic, profession)
        ]

    def compacts_cover_day(self, rule_id: str, failures: list[tuple[str, str]]) -> bool:
        doc = self.ref.document(COMPACTS_DOCUMENT)
        if doc.covers(self.day):
            return True
        failures.append(
            (
                rule_id,
                f"compact membership data (as of {doc.as_of.isoformat()}) may be used only for sessions "
                f"through {doc.review_by.isoformat()}: no data for {self.day.isoformat()}, fail closed",
            )
        )
        return False

    def warn_unverified_membership(self, rule_id: str, compact_id: CompactId, *jurisdictions: str) -> None:
        compact = self.ref.compact(compact_id)
        for jurisdiction in jurisdictions:
            membership = compact.membership(jurisdiction)
            if membership is not None and membership.confidence is Confidence.UNVERIFIED:
                self.note(
                    rule_id,
                    Outcome.WARNING,
                    f"relies on {compact.name} membership of {jurisdiction} recorded as unverified "
                    f"(confidence U): confirm with the primary source",
                )

    # -- main ---------------------------------------------------------------------------------------

    def run(self) -> Decision:
        if not self.parse_request():
            return self.finish(None)
        self.add(
            "LIC-01",
            Outcome.INFO,
            f"the session is delivered where the client is physically located: {self.client}, "
            f"on {self.day.isoformat()} ({self.modality.value})",
        )
        if self.modality is Modality.IN_PERSON and self.clinician_at != self.client:
            self.add(
                "LIC-01",
                Outcome.FAILED,
                f"an in-person session needs the clinician in the client's jurisdiction ({self.client}); "
                f"the clinician is in {self.clinician_at}",
            )
            return self.finish(None)

        authority: AuthorityRef | None = None
        for path in (
            self.by_license,
            self.by_apit,
            self.by_tap,
            self.by_counseling_privilege,
            self.by_social_work_license,
            self.by_nlc_license,
            self.by_state_exception,
        ):
            authority = path()
            if authority is not None:
                break
        self.add_notes(authority)
        if authority is None:
            self.add(
                "LIC-03",
                Outcome.FAILED,
                f"no license, compact authority or state exception authorizes {self.profession.value} "
                f"practice with a client in {self.client} on {self.day.isoformat()} "
                f"({self.modality.value}): blocked",
            )
        return self.finish(authority)

    def parse_request(self) -> bool:
        client = normalize_jurisdiction(self.req.client_jurisdiction)
        clinician_at = normalize_jurisdiction(self.req.clinician_jurisdiction)
        profession = Profession.parse(self.req.profession)
        modality = Modality.parse(self.req.modality)
        # Unknown values are not echoed: a caller might have put free text (PHI) in them.
        if client is None:
            self.add(
                "LIC-01",
                Outcome.FAILED,
                "the client's physical location at session time is not a known US jurisdiction: fail closed",
            )
        if clinician_at is None:
            self.add(
                "LIC-02",
                Outcome.FAILED,
                "the clinician's physical location at session time is not a known US jurisdiction: "
                "fail closed",
            )
        if profession is None:
            self.add("LIC-03", Outcome.FAILED, "the profession is not one the rules know: fail closed")
        if modality is None:
            self.add("LIC-03", Outcome.FAILED, "the modality is not one the rules know: fail closed")
        if client is None or clinician_at is None or profession is None or modality is None:
            return False
        self.client, self.clinician_at, self.profession, self.modality = (
            client,
            clinician_at,
            profession,
            modality,
        )
        return True

    def finish(self, authority: AuthorityRef | None) -> Decision:
        return Decision(
            allowed=authority is not None,
            authority=authority,
            reasons=(*self.reasons, *self.notes),
            reference_data_version=self.ref.version,
            request=self.req,
            usage_key=self.usage_key if authority is not None else None,
        )

    # -- 1. license in the client's state (LIC-03 option 1) ----------------------------------------

    def by_license(self) -> AuthorityRef | None:
        candidates = [lic for lic in self.creds.licenses if lic.jurisdiction == self.client]
        if not candidates:
            self.add("LIC-03", Outcome.FAILED, f"no license issued by {self.client} is on record")
            return None
        for lic in candidates:
            problems = self.license_problems(lic, self.profession)
            if problems:
                for rule_id, problem in problems:
                    self.add(
                        rule_id,
                        Outcome.FAILED,
                        f"{self.client} {lic.license_type} license: {problem}",
                        lic.id,
                    )
                continue
            self.add(
                "LIC-03",
                Outcome.SATISFIED,
                f"{self.client} {lic.license_type} license is active, unencumbered and "
                f"independent-level on {self.day.isoformat()} (valid {_term(lic.issued_on, lic.expires_on)}, "
                f"inclusive); verified via {lic.verification.source.value if lic.verification else '-'}",
                lic.id,
            )
            return AuthorityRef(AuthorityKind.STATE_LICENSE, lic.id)
        return None

    # -- PSYPACT shared checks ------------------------------------------------------------------------

    def psypact_common(
        self, auth: CompactAuthority, prerequisite_kind: CompactAuthorityKind, failures: list[tuple[str, str]]
    ) -> None:
        label = "APIT" if auth.kind is CompactAuthorityKind.PSYPACT_APIT else "TAP"
        prereq_label = "E.Passport" if prerequisite_kind is CompactAuthorityKind.PSYPACT_E_PASSPORT else "IPC"
        if self.profession is not Profession.PSYCHOLOGIST:
            failures.append(
                ("LIC-10", f"{label} is issued to psychologists; the session is {self.profession.value}")
            )
        if self.supervisee:
            failures.append(("LIC-14", f"{label} cannot be delegated to a supervisee or trainee"))
        failures += [
            ("LIC-16", p) for p in self.term_problems(auth.status, auth.issued_on, auth.expires_on, label)
        ]
        prereq = self.creds.authority(auth.prerequisite_id)
        if prereq is None or prereq.kind is not prerequisite_kind:
            failures.append(
                ("LIC-16", f"{label} requires an {prereq_label}; {auth.prerequisite_id} is not on record")
            )
        else:
            failures += [
                ("LIC-16", p)
                for p in self.term_problems(prereq.status, prereq.issued_on, prereq.expires_on, prereq_label)
            ]
        disciplined = [
            lic.id
            for lic in self.creds.licenses
            if lic.profession is Profession.PSYCHOLOGIST and lic.is_disciplined_on(self.day)
        ]
        if disciplined:
            failures.append(
                (
                    "LIC-15",
                    f"psychology license(s) {', '.join(disciplined)} under disciplinary action or "
                    "encumbrance: PSYPACT authority requires none",
                )
            )
        if auth.verification is None:
            failures.append(("LIC-17", f"{label} not verified against the PSYPACT Commission's list"))

    # -- 2. PSYPACT APIT (LIC-10, LIC-11, LIC-14, LIC-16) --------------------------------------------

    def by_apit(self) -> AuthorityRef | None:
        psypact = self.ref.compact(CompactId.PSYPACT)
        for apit in self.creds.authorities_of(CompactAuthorityKind.PSYPACT_APIT):
            failures: list[tuple[str, str]] = []
            if not self.modality.is_telehealth:
                failures.append(("LIC-10", "APIT authorizes telepsychology only, not in-person practice"))
            self.psypact_common(apit, CompactAuthorityKind.PSYPACT_E_PASSPORT, failures)
            home: StateLicense | None = None
            if self.compacts_cover_day("LIC-11", failures):
                if not psypact.operational(self.day):
                    failures.append(("LIC-11", f"PSYPACT is not operational on {self.day.isoformat()}"))
                if not psypact.effective_member(self.clinician_at, self.day):
                    failures.append(
                        (
                            "LIC-11",
                            f"the clinician is physically in {self.clinician_at}, not a PSYPACT state "
                            f"effective on {self.day.isoformat()}: APIT needs the psychologist in their "
                            "home state",
                        )
                    )
                homes = self.good_licenses(self.clinician_at, Profession.PSYCHOLOGIST)
                if homes:
                    home = homes[0]
                else:
                    failures.append(
                        (
                            "LIC-11",
                            f"the clinician is physically in {self.clinician_at}, where they hold no "
                            "active, unrestricted psychology license: APIT needs the psychologist in their "
                            "home state",
                        )
                    )
                if self.client == self.clinician_at:
                    failures.append(
                        (
                            "LIC-11",
                            "the client is in the same state as the clinician; APIT covers a client in a "
                            "different (receiving) state",
                        )
                    )
                elif not psypact.effective_member(self.client, self.day):
                    failures.append(
                        (
                            "LIC-11",
                            f"the client is in {self.client}, not a PSYPACT state effective on "
                            f"{self.day.isoformat()} (receiving state required)",
                        )
                    )
            if failures or home is None:
                self.fail_all(apit.id, failures)
                continue
            eps = self.creds.authority(apit.prerequisite_id)
            self.add(
                "LIC-10", Outcome.SATISFIED, f"APIT covers telepsychology ({self.modality.value})", apit.id
            )
            self.add(
                "LIC-11",
                Outcome.SATISFIED,
                f"psychologist physically in home state {self.clinician_at} (license {home.id}); client in "
                f"receiving state {self.client}; both effective PSYPACT states on {self.day.isoformat()}",
                apit.id,
            )
            self.add(
                "LIC-16",
                Outcome.SATISFIED,
                f"APIT valid {_term(apit.issued_on, apit.expires_on)} and E.Passport "
                f"{eps.id if eps else '-'} valid {_term(eps.issued_on, eps.expires_on) if eps else '-'}",
                apit.id,
            )
            self.add("LIC-14", Outcome.SATISFIED, "delivered by the holder, not a supervisee", apit.id)
            self.warn_unverified_membership("LIC-11", CompactId.PSYPACT, self.clinician_at, self.client)
            return AuthorityRef(AuthorityKind.PSYPACT_APIT, apit.id)
        return None

    # -- 3. PSYPACT TAP (LIC-10, LIC-13, LIC-14, LIC-16) ---------------------------------------------

    def by_tap(self) -> AuthorityRef | None:
        psypact = self.ref.compact(CompactId.PSYPACT)
        for tap in self.creds.authorities_of(CompactAuthorityKind.PSYPACT_TAP):
            failures: list[tuple[str, str]] = []
            if self.modality is not Modality.IN_PERSON:
                failures.append(
                    ("LIC-10", "TAP authorizes temporary in-person practice only, not telehealth")
                )
            if self.clinician_at != self.client:
                failures.append(
                    (
                        "LIC-13",
                        f"TAP needs the psychologist physically present in the distant state {self.client}",
                    )
                )
            self.psypact_common(tap, CompactAuthorityKind.PSYPACT_IPC, failures)
            if self.compacts_cover_day("LIC-13", failures):
                if not psypact.operational(self.day):
                    failures.append(("LIC-13", f"PSYPACT is not operational on {self.day.isoformat()}"))
                if not psypact.effective_member(self.client, self.day):
                    failures.append(
                        (
                            "LIC-13",
                            f"{self.client} is not a PSYPACT state effective on {self.day.isoformat()}",
                        )
                    )
                homes = [
                    lic
                    for lic in self.creds.licenses
                    if lic.jurisdiction != self.client
                    and psypact.effective_member(lic.jurisdiction, self.day)
                    and not self.license_problems(lic, Profession.PSYCHOLOGIST)
                ]
                if not homes:
                    failures.append(
                        (
                            "LIC-15",
                            "TAP needs a current, full, unrestricted psychology license in another "
                            "PSYPACT state",
                        )
                    )
            key = UsageKey(tap.id, self.client, self.day.year)
            used = self.usage.used(key) | {self.day}
            if len(used) > TAP_DAYS_PER_STATE_PER_YEAR:
                failures.append(
                    (
                        "LIC-13",
                        f"TAP in {self.client}: {len(used)} calendar days in {self.day.year} counting this "
                        f"session's day; the limit is {TAP_DAYS_PER_STATE_PER_YEAR} per state per year",
                    )
                )
            if failures:
                self.fail_all(tap.id, failures)
                continue
            ipc = self.creds.authority(tap.prerequisite_id)
            self.add("LIC-10", Outcome.SATISFIED, "TAP covers temporary in-person practice", tap.id)
            self.add(
                "LIC-13",
                Outcome.SATISFIED,
                f"psychologist physically in distant state {self.client}; day {len(used)} of "
                f"{TAP_DAYS_PER_STATE_PER_YEAR} in {self.day.year}",
                tap.id,
            )
            self.add(
                "LIC-16",
                Outcome.SATISFIED,
                f"TAP valid {_term(tap.issued_on, tap.expires_on)} and IPC {ipc.id if ipc else '-'} valid "
                f"{_term(ipc.issued_on, ipc.expires_on) if ipc else '-'}",
                tap.id,
            )
            self.add("LIC-14", Outcome.SATISFIED, "delivered by the holder, not a supervisee", tap.id)
            self.warn_unverified_membership("LIC-13", CompactId.PSYPACT, self.client)
            self.usage_key = key
            return AuthorityRef(AuthorityKind.PSYPACT_TAP, tap.id)
        return None

    # -- 4. Counseling Compact privilege (LIC-20..24) ------------------------------------------------

    def by_counseling_privilege(self) -> AuthorityRef | None:
        privileges = self.creds.authorities_of(CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE)
        if not privileges:
            return None
        here = [p for p in privileges if p.jurisdiction == self.client]
        if not here:
            held = ", ".join(sorted({p.jurisdiction or "?" for p in privileges}))
            self.add(
                "LIC-20",
                Outcome.FAILED,
                f"privileges to practice are held for {held}, none for {self.client}: each remote state "
                f"needs its own privilege",
            )
            return None
        compact = self.ref.compact(CompactId.COUNSELING)
        for privilege in here:
            failures: list[tuple[str, str]] = []
            if self.profession is not Profession.PROFESSIONAL_COUNSELOR:
                failures.append(
                    (
                        "LIC-20",
                        "a privilege to practice is for professional counselors; the session is "
                        f"{self.profession.value}",
                    )
                )
            if self.supervisee:
                failures.append(("LIC-21", "associates and supervisees cannot practise under a privilege"))
            failures += [
                ("LIC-22", p)
                for p in self.term_problems(
                    privilege.status, privilege.issued_on, privilege.expires_on, "privilege"
                )
            ]
            if self.compacts_cover_day("LIC-24", failures):
                membership = compact.membership(self.client)
                if not compact.live_member(self.client, self.day):
                    if membership is None:
                        status = "is not a member state"
                    elif not membership.effective(self.day):
                        status = "is not an effective member state"
                    elif membership.live_on is None:
                        status = "has enacted the compact but is not live (not issuing privileges)"
                    else:
                        status = f"is live only from {membership.live_on.isoformat()}"
                    failures.append(
                        (
                            "LIC-24",
                            f"{self.client} {status} on {self.day.isoformat()}: a privilege is usable "
                            "only in a live remote state; enactment alone authorizes nothing",
                        )
                    )
            home = self.creds.license(privilege.home_license_id)
            if home is None:
                failures.append(
                    ("LIC-22", f"home-state license {privilege.home_license_id} is not on record")
                )
            else:
                if home.jurisdiction == self.client:
                    failures.append(("LIC-20", "the home-state license cannot be from the remote state"))
                elif self.ref.document(COMPACTS_DOCUMENT).covers(self.day) and not compact.effective_member(
                    home.jurisdiction, self.day
                ):
                    failures.append(("LIC-20", f"home state {home.jurisdiction} is not a member state"))
                if home.profession is not Profession.PROFESSIONAL_COUNSELOR:
                    failures.append(
                        ("LIC-21", "the home-state license is not a professional counselor license")
                    )
                if home.level is LicenseLevel.ASSOCIATE:
                    failures.append(
                        ("LIC-21", "the home-state license is associate-level; independent level required")
                    )
                failures += [
                    ("LIC-22", f"privilege valid only while the home license is: {p}")
                    for p in self.term_problems(home.status, home.issued_on, home.expires_on, "home license")
                ]
                if home.is_encumbered_on(self.day):
                    failures.append(("LIC-22", "the home license is encumbered: the privilege is lost"))
                if home.verification is None:
                    failures.append(("LIC-70", "the home license is not verified against the issuing board"))
            since = _years_before(self.day, PRIVILEGE_CLEAN_RECORD_YEARS)
            for lic in self.creds.licenses:
                for enc in lic.restrictions:
                    if enc.overlaps(since, self.day) and not (lic is home and enc.applies_on(self.day)):
                        failures.append(
                            (
                                "LIC-21",
                                f"license {lic.id} had a {enc.kind.value} from "
                                f"{enc.effective_on.isoformat()} within the previous "
                                f"{PRIVILEGE_CLEAN_RECORD_YEARS} years",
                            )
                        )
            if privilege.verification is None:
                failures.append(("LIC-70", "privilege not verified against the compact data system"))
            if failures or home is None:
                self.fail_all(privilege.id, failures)
                continue
            self.add(
                "LIC-20",
                Outcome.SATISFIED,
                f"privilege to practice in {self.client}, home state {home.jurisdiction}",
                privilege.id,
            )
            self.add(
                "LIC-22",
                Outcome.SATISFIED,
                f"home license {home.id} active and unencumbered through {home.expires_on.isoformat()}",
                privilege.id,
            )
            membership = compact.membership(self.client)
            live_on = membership.live_on.isoformat() if membership and membership.live_on else "-"
            self.add(
                "LIC-24",
                Outcome.SATISFIED,
                f"{self.client} live in the compact since {live_on}",
                privilege.id,
            )
            self.warn_unverified_membership("LIC-24", CompactId.COUNSELING, self.client, home.jurisdiction)
            return AuthorityRef(AuthorityKind.COUNSELING_COMPACT_PRIVILEGE, privilege.id)
        return None

    # -- 5. Social Work Compact multistate license (LIC-30, LIC-31) ---------------------------------

    def by_social_work_license(self) -> AuthorityRef | None:
        compact = self.ref.compact(CompactId.SOCIAL_WORK)
        for sw in self.creds.authorities_of(CompactAuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE):
            failures: list[tuple[str, str]] = []
            if self.compacts_cover_day("LIC-31", failures) and not compact.operational(self.day):
                failures.append(
                    (
                        "LIC-31",
                        f"{compact.name} multistate licenses are not being issued (not operational on "
                        f"{self.day.isoformat()} per reference data): not usable",
                    )
                )
            if failures:  # not operational: nothing else is meaningful
                self.fail_all(sw.id, failures)
                continue
            if self.profession not in compact.professions:
                failures.append(("LIC-30", f"the compact does not cover {self.profession.value} practice"))
            if sw.category is not SocialWorkCategory.CLINICAL:
                failures.append(
                    ("LIC-30", "clinical practice needs a multistate license in the clinical category")
                )
            failures += [
                ("LIC-30", p) for p in self.term_problems(sw.status, sw.issued_on, sw.expires_on, "license")
            ]
            if not compact.effective_member(self.client, self.day):
                failures.append(("LIC-30", f"{self.client} is not a member state on {self.day.isoformat()}"))
            if sw.jurisdiction is None or not compact.effective_member(sw.jurisdiction, self.day):
                failures.append(("LIC-30", f"home state {sw.jurisdiction} is not a member state"))
            if sw.verification is None:
                failures.append(("LIC-70", "multistate license not verified against the issuing board"))
            if failures:
                self.fail_all(sw.id, failures)
                continue
            self.add(
                "LIC-30",
                Outcome.SATISFIED,
                f"multistate license from {sw.jurisdiction} covers {self.client}",
                sw.id,
            )
            self.warn_unverified_membership("LIC-30", CompactId.SOCIAL_WORK, self.client)
            return AuthorityRef(AuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE, sw.id)
        return None

    # -- 6. NLC multistate license (LIC-50) ----------------------------------------------------------

    def by_nlc_license(self) -> AuthorityRef | None:
        compact = self.ref.compact(CompactId.NLC)
        for nlc in self.creds.authorities_of(CompactAuthorityKind.NLC_MULTISTATE_LICENSE):
            failures: list[tuple[str, str]] = []
            if self.profession is Profession.PSYCHIATRIC_NURSE_PRACTITIONER:
                failures.append(
                    (
                        "LIC-50",
                        "an NLC multistate license covers RN/LPN scope only, never APRN "
                        "(psychiatric NP) practice",
                    )
                )
            elif self.profession not in compact.professions:
                failures.append(
                    (
                        "LIC-50",
                        f"an NLC multistate license covers RN/LPN scope only, not {self.profession.value}",
                    )
                )
            failures += [
                ("LIC-50", p)
                for p in self.term_problems(nlc.status, nlc.issued_on, nlc.expires_on, "license")
            ]
            if self.compacts_cover_day("LIC-50", failures):
                if not compact.operational(self.day):
                    failures.append(("LIC-50", f"the NLC is not operational on {self.day.isoformat()}"))
                if not compact.effective_member(self.client, self.day):
                    failures.append(
                        ("LIC-50", f"{self.client} is not an NLC state on {self.day.isoformat()}")
                    )
                if nlc.jurisdiction is None or not compact.effective_member(nlc.jurisdiction, self.day):
                    failures.append(("LIC-50", f"home state {nlc.jurisdiction} is not an NLC state"))
            if nlc.verification is None:
                failures.append(("LIC-70", "multistate license not verified (Nursys)"))
            if failures:
                self.fail_all(nlc.id, failures)
                continue
            self.add(
                "LIC-50",
                Outcome.SATISFIED,
                f"NLC multistate license from {nlc.jurisdiction} covers RN-scope practice in {self.client}",
                nlc.id,
            )
            self.warn_unverified_membership("LIC-50", CompactId.NLC, self.client, nlc.jurisdiction or "")
            return AuthorityRef(AuthorityKind.NLC_MULTISTATE_LICENSE, nlc.id)
        return None

    # -- 7. State exceptions (LIC-03 option 3, LIC-60, LIC-61) ---------------------------------------

    def by_state_exception(self) -> AuthorityRef | None:
        for exc in self.creds.exceptions:
            if exc.jurisdiction != self.client:
                continue
            rule = self.ref.exception_rule(exc.rule_id)
            if rule is None:
                self.add(
                    "LIC-03",
                    Outcome.FAILED,
                    f"exception rule {exc.rule_id} is not in reference data {self.ref.version}: fail closed",
                    exc.id,
                )
                continue
            failures = self.exception_failures(exc, rule)
            if failures:
                self.fail_all(exc.id, failures)
                continue
            self.add(
                "LIC-03",
                Outcome.SATISFIED,
                f"{rule.citation} ({rule.kind.value}) conditions met in {self.client}",
                exc.id,
            )
            if rule.day_limit is not None or rule.notice_after_days is not None:
                key = UsageKey(exc.id, self.client, self.day.year)
                used = self.usage.used(key) | {self.day}
                limit = (
                    f" of {rule.day_limit.max_days} ({rule.day_limit.unit.value})" if rule.day_limit else ""
                )
                self.add("LIC-60", Outcome.SATISFIED, f"day {len(used)}{limit} in {self.day.year}", exc.id)
                self.usage_key = key
            if rule.confidence is Confidence.UNVERIFIED:
                self.note(
                    "LIC-60",
                    Outcome.WARNING,
                    f"relies on {rule.citation}, recorded as unverified (confidence U): "
                    "confirm with the board",
                    exc.id,
                )
            return AuthorityRef(AuthorityKind.STATE_EXCEPTION, exc.id)
        return None

    def exception_failures(self, exc: StateException, rule: ExceptionRule) -> list[tuple[str, str]]:
        day = self.day
        failures: list[tuple[str, str]] = []
        doc = self.ref.document(EXCEPTIONS_DOCUMENT)
        if not doc.covers(day):
            failures.append(
                (
                    "LIC-03",
                    f"state exception data (as of {doc.as_of.isoformat()}) may be used only for sessions "
                    f"through {doc.review_by.isoformat()}: no data for {day.isoformat()}, fail closed",
                )
            )
            return failures
        if rule.jurisdiction != exc.jurisdiction:
            failures.append(("LIC-03", f"rule {rule.id} is for {rule.jurisdiction}, not {exc.jurisdiction}"))
        if day < rule.effective_on:
            failures.append(
                ("LIC-03", f"{rule.citation} is in force only from {rule.effective_on.isoformat()}")
            )
        if self.profession not in rule.professions:
            failures.append(("LIC-03", f"{rule.citation} does not cover {self.profession.value} practice"))
        failures += [
            ("LIC-03", p)
            for p in self.term_problems(exc.status, exc.valid_from, exc.valid_until, "exception")
        ]
        home = self.creds.license(exc.home_license_id)
        if home is None:
            failures.append(("LIC-03", f"home license {exc.home_license_id} is not on record"))
        else:
            if home.jurisdiction == self.client:
                failures.append(("LIC-03", "the exception rests on a license from another jurisdiction"))
            failures += [(r, f"home license: {p}") for r, p in self.license_problems(home, self.profession)]
        exclusion = rule.exclusion_for(self.modality)
        if exclusion is not None:
            detail = f": {exclusion.note}" if exclusion.note else ""
            failures.append(
                (exclusion.rule_id, f"{rule.citation} does not cover {self.modality.value} sessions{detail}")
            )
        if rule.existing_client_required and not self.req.existing_client:
            failures.append(
                ("LIC-03", f"{rule.citation} covers only an existing client temporarily in {self.client}")
            )
        if rule.prior_approval_required and not exc.approved_by(day):
            kind = rule.approval_kind.value.replace("_", " ") if rule.approval_kind else "approval"
            failures.append(("LIC-03", f"{rule.citation} requires {kind} before practice; none on record"))
        key = UsageKey(exc.id, self.client, day.year)
        used = self.usage.used(key) | {day}
        if rule.day_limit is not None:
            limit = rule.day_limit
            if limit.unit is DayUnit.CALENDAR_DAYS_PER_YEAR and len(used) > limit.max_days:
                failures.append(
                    (
                        "LIC-60",
                        f"{rule.citation}: {len(used)} calendar days in {day.year} counting this "
                        f"session's day; the limit is {limit.max_days}",
                    )
                )
            if limit.unit is DayUnit.CONSECUTIVE_DAYS_PER_YEAR:
                span = (max(used) - min(used)).days + 1
                if span > limit.max_days:
                    failures.append(
                        (
                            "LIC-60",
                            f"{rule.citation}: practice in {day.year} would span {span} consecutive days "
                            f"(from {min(used).isoformat()}); the limit is {limit.max_days}",
                        )
                    )
        if (
            rule.notice_after_days is not None
            and len(used) > rule.notice_after_days
            and not exc.notice_filed_by(day)
        ):
            failures.append(
                (
                    "LIC-60",
                    f"{rule.citation}: more than {rule.notice_after_days} days in {day.year} requires a "
                    "notice to the board; none filed",
                )
            )
        if exc.verification is None:
            failures.append(("LIC-70", "exception not verified against the state board"))
        return failures

    # -- notes --------------------------------------------------------------------------------------

    def add_notes(self, authority: AuthorityRef | None) -> None:
        if authority is not None and authority.kind is AuthorityKind.STATE_LICENSE:
            psypact = self.creds.authorities_of(
                CompactAuthorityKind.PSYPACT_APIT, CompactAuthorityKind.PSYPACT_TAP
            )
            if psypact:
                self.note(
                    "LIC-12",
                    Outcome.INFO,
                    f"licensed in {self.client}: the license is used; PSYPACT does not apply where the "
                    f"psychologist is fully licensed",
                )
        for rule in self.ref.licensee_rules:
            if self.profession not in rule.professions or rule.jurisdiction == self.client:
                continue
            holders = [
                lic.id
                for lic in self.creds.licenses
                if lic.jurisdiction == rule.jurisdiction
                and lic.profession is self.profession
                and lic.status in (CredentialStatus.ACTIVE, CredentialStatus.PROBATION)
            ]
            if holders:
                self.note(
                    rule.rule_id,
                    Outcome.WARNING,
                    f"{rule.jurisdiction} licensee rule ({rule.citation}): {rule.requirement}; the client "
                    f"is in {self.client}",
                    holders[0],
                )
        if self.clinician_at != self.client and not any(
            lic.jurisdiction == self.clinician_at and lic.profession is self.profession
            for lic in self.creds.licenses
        ):
            self.note(
                "LIC-02",
                Outcome.WARNING,
                f"the clinician is physically in {self.clinician_at}, where they hold no "
                f"{self.profession.value} license: some boards treat a session as subject to the "
                "clinician's location too",
            )
        if authority is not None:
            return
        if self.profession is Profession.PSYCHIATRIC_NURSE_PRACTITIONER:
            aprn = self.ref.compact(CompactId.APRN)
            if not aprn.operational(self.day):
                self.note(
                    "LIC-51",
                    Outcome.INFO,
                    "the APRN Compact is not operational: a psychiatric NP needs APRN authority issued "
                    f"by {self.client}",
                )
        if self.profession is Profession.PSYCHIATRIST:
            self.note(
                "LIC-40",
                Outcome.INFO,
                f"the IMLC issues separate state licenses: only a license issued by {self.client} authorizes",
            )
        if self.creds.bc_tmh:
            self.note(
                "LIC-80",
                Outcome.INFO,
                "BC-TMH is a voluntary credential, not a license or an authority to practise in any state",
                self.creds.bc_tmh[0].id,
            )

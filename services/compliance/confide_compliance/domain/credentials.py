"""The credentials a clinician holds: state licenses, compact authorities, state exceptions, NPI, BC-TMH.

Every type here is an immutable value. Constructors validate shape (ids, known jurisdictions, date
order, kind-specific fields) and raise `InvalidArgument`; whether a credential *authorizes* a session is
decided by `confide_compliance.domain.authorization`, never here.

Date ranges are inclusive at both ends: a license with ``issued_on=2026-01-01`` and
``expires_on=2026-12-31`` is valid on both of those days and on every day between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import IntEnum, StrEnum

from confide_chassis.errors import FieldViolation, InvalidArgument
from confide_compliance.domain.jurisdictions import normalize_jurisdiction

# --------------------------------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------------------------------


class Profession(StrEnum):
    """The licensed profession a session is delivered under (docs/rules.md §1: rules differ by profession)."""

    PSYCHOLOGIST = "psychologist"
    PROFESSIONAL_COUNSELOR = "professional_counselor"  # LPC / LMHC / LPCC
    CLINICAL_SOCIAL_WORKER = "clinical_social_worker"  # LCSW
    MARRIAGE_AND_FAMILY_THERAPIST = "marriage_and_family_therapist"  # LMFT
    PSYCHIATRIST = "psychiatrist"  # MD / DO
    PSYCHIATRIC_NURSE_PRACTITIONER = "psychiatric_nurse_practitioner"  # PMHNP, an APRN (LIC-50)
    REGISTERED_NURSE = "registered_nurse"
    LICENSED_PRACTICAL_NURSE = "licensed_practical_nurse"  # LPN / LVN

    @classmethod
    def parse(cls, value: object) -> Profession | None:
        """The profession named by `value`, or None when it is not one we know (callers fail closed)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                return None
        return None


class CredentialStatus(StrEnum):
    """Status as published by the issuing body. Only ACTIVE can authorize; PROBATION is encumbered."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"
    PROBATION = "probation"


class LicenseLevel(StrEnum):
    """Independent (full) licensure versus associate / under-supervision licensure (LIC-21)."""

    INDEPENDENT = "independent"
    ASSOCIATE = "associate"


class EncumbranceKind(StrEnum):
    """Anything that makes a license not "unrestricted / unencumbered" while it applies."""

    RESTRICTION = "restriction"
    ENCUMBRANCE = "encumbrance"
    DISCIPLINE = "discipline"


class VerificationSource(StrEnum):
    """Where a credential was verified (LIC-70, LIC-17, LIC-71, LIC-73)."""

    STATE_BOARD = "state_board"  # the issuing board's online lookup (LIC-70)
    PSYPACT_COMMISSION = "psypact_commission"  # APIT/TAP holder list (LIC-17)
    ASPPB = "asppb"  # E.Passport, IPC, Credentials Bank (LIC-71)
    COMPACT_CONNECT = "compact_connect"  # Counseling Compact data system (LIC-70)
    NURSYS = "nursys"  # nurses (LIC-70)
    NPPES = "nppes"  # NPI registry (LIC-73)
    CCE = "cce"  # BC-TMH (LIC-80)


class CompactAuthorityKind(StrEnum):
    """Compact-issued certificates and authorities (docs/rules.md §1.2-1.6, §1.10)."""

    PSYPACT_E_PASSPORT = "psypact_e_passport"  # ASPPB certificate, prerequisite of APIT
    PSYPACT_APIT = "psypact_apit"  # telepsychology (LIC-10, LIC-11)
    PSYPACT_IPC = "psypact_ipc"  # ASPPB certificate, prerequisite of TAP
    PSYPACT_TAP = "psypact_tap"  # temporary in-person practice (LIC-10, LIC-13)
    COUNSELING_COMPACT_PRIVILEGE = "counseling_compact_privilege"  # one remote state (LIC-20)
    SOCIAL_WORK_MULTISTATE_LICENSE = "social_work_multistate_license"  # LIC-30, not issued yet (LIC-31)
    NLC_MULTISTATE_LICENSE = "nlc_multistate_license"  # RN / LPN scope only (LIC-50)


_PSYPACT_KINDS = frozenset(
    {
        CompactAuthorityKind.PSYPACT_E_PASSPORT,
        CompactAuthorityKind.PSYPACT_APIT,
        CompactAuthorityKind.PSYPACT_IPC,
        CompactAuthorityKind.PSYPACT_TAP,
    }
)


class SocialWorkCategory(StrEnum):
    """Social Work Compact multistate license categories (LIC-30)."""

    BACHELORS = "bachelors"
    MASTERS = "masters"
    CLINICAL = "clinical"


class NpiEntityType(IntEnum):
    """NPPES entity type: 1 = individual provider, 2 = organisation (LIC-73)."""

    INDIVIDUAL = 1
    ORGANIZATION = 2


# --------------------------------------------------------------------------------------------------
# Small validation helpers
# --------------------------------------------------------------------------------------------------


class _Violations:
    """Collects field violations of one constructor call and raises them together."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._items: list[FieldViolation] = []

    def add(self, name: str, description: str) -> None:
        self._items.append(FieldViolation(f"{self._prefix}.{name}", description))

    def require_text(self, name: str, value: str) -> None:
        if not value or not value.strip():
            self.add(name, "must not be empty")

    def jurisdiction(self, name: str, value: str) -> str:
        normalized = normalize_jurisdiction(value)
        if normalized is None:
            self.add(name, f"unknown jurisdiction {value!r}")
            return value
        return normalized

    def date_order(self, first: str, first_value: date, second: str, second_value: date | None) -> None:
        if second_value is not None and second_value < first_value:
            self.add(second, f"must not be before {first} ({first_value.isoformat()})")

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidArgument(self._items)


def _set(obj: object, name: str, value: object) -> None:
    """Normalize a field of a frozen dataclass during `__post_init__`."""
    object.__setattr__(obj, name, value)


# --------------------------------------------------------------------------------------------------
# Value objects
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verification:
    """Who verified a credential, when, and against which primary source (LIC-70)."""

    source: VerificationSource
    verified_at: datetime  # tz-aware
    verified_by: str  # user id of the verifier, or the name of an automated checker
    reference: str = ""  # e.g. the lookup confirmation number; never PHI

    def __post_init__(self) -> None:
        v = _Violations("verification")
        if self.verified_at.tzinfo is None or self.verified_at.utcoffset() is None:
            v.add("verified_at", "must be timezone-aware")
        v.require_text("verified_by", self.verified_by)
        v.raise_if_any()


@dataclass(frozen=True, slots=True)
class Encumbrance:
    """A restriction, encumbrance or disciplinary action on a license, in force from `effective_on`
    through `ends_on` inclusive (None = still in force)."""

    kind: EncumbranceKind
    effective_on: date
    ends_on: date | None = None
    reference: str = ""  # board order number; never PHI

    def __post_init__(self) -> None:
        v = _Violations("encumbrance")
        v.date_order("effective_on", self.effective_on, "ends_on", self.ends_on)
        v.raise_if_any()

    def applies_on(self, day: date) -> bool:
        return self.effective_on <= day and (self.ends_on is None or day <= self.ends_on)

    def overlaps(self, start: date, end: date) -> bool:
        """True if the encumbrance was in force on any day of [start, end]."""
        return self.effective_on <= end and (self.ends_on is None or self.ends_on >= start)


@dataclass(frozen=True, slots=True)
class StateLicense:
    """A license issued by one state board (docs/rules.md §1.10 "State license"; LIC-03 option 1).

    IMLC licenses (LIC-40) are ordinary state licenses and are recorded here.
    """

    id: str
    clinician_id: str
    jurisdiction: str
    profession: Profession
    license_type: str  # the board's designation, e.g. "LPC", "LCSW", "Psychologist"
    number: str
    status: CredentialStatus
    issued_on: date
    expires_on: date
    level: LicenseLevel = LicenseLevel.INDEPENDENT
    restrictions: tuple[Encumbrance, ...] = ()
    verification: Verification | None = None
    status_since: date | None = None  # when the current status took effect, if the board publishes it

    def __post_init__(self) -> None:
        v = _Violations("license")
        v.require_text("id", self.id)
        v.require_text("clinician_id", self.clinician_id)
        _set(self, "jurisdiction", v.jurisdiction("jurisdiction", self.jurisdiction))
        v.require_text("license_type", self.license_type)
        v.require_text("number", self.number)
        v.date_order("issued_on", self.issued_on, "expires_on", self.expires_on)
        _set(self, "restrictions", tuple(self.restrictions))
        v.raise_if_any()

    def in_term_on(self, day: date) -> bool:
        """Issued and not past its expiry date on `day` (inclusive)."""
        return self.issued_on <= day <= self.expires_on

    def encumbrances_on(self, day: date) -> tuple[Encumbrance, ...]:
        return tuple(e for e in self.restrictions if e.applies_on(day))

    def is_encumbered_on(self, day: date) -> bool:
        return self.status is CredentialStatus.PROBATION or bool(self.encumbrances_on(day))

    def was_encumbered_between(self, start: date, end: date) -> bool:
        return any(e.overlaps(start, end) for e in self.restrictions)

    def is_disciplined_on(self, day: date) -> bool:
        """Suspended, revoked, on probation or under an encumbrance on `day` (LIC-15)."""
        return self.status in _DISCIPLINED or bool(self.encumbrances_on(day))

    def in_good_standing_on(self, day: date) -> bool:
        """Active, in term, unencumbered and at the independent level on `day`."""
        return (
            self.status is CredentialStatus.ACTIVE
            and self.in_term_on(day)
            and not self.is_encumbered_on(day)
            and self.level is LicenseLevel.INDEPENDENT
        )


_DISCIPLINED = frozenset({CredentialStatus.SUSPENDED, CredentialStatus.REVOKED, CredentialStatus.PROBATION})


@dataclass(frozen=True, slots=True)
class CompactAuthority:
    """A compact certificate or authority (docs/rules.md §1.10).

    Kind-specific fields:
    - PSYPACT E.Passport / IPC: `expires_on` required (annual, LIC-16); no `jurisdiction`.
    - PSYPACT APIT / TAP: `prerequisite_id` = the E.Passport / IPC id; `expires_on` required (LIC-16).
    - Counseling Compact privilege: `jurisdiction` = the remote state it is valid in; `home_license_id`
      = the home-state license it rests on (LIC-20, LIC-22). `expires_on` may be None: the privilege
      is valid until the home license expires (LIC-22).
    - Social Work multistate license: `jurisdiction` = home state, `category` required (LIC-30).
    - NLC multistate license: `jurisdiction` = home state (primary state of residence) (LIC-50).
    """

    id: str
    clinician_id: str
    kind: CompactAuthorityKind
    status: CredentialStatus
    issued_on: date
    expires_on: date | None = None
    jurisdiction: str | None = None
    home_license_id: str | None = None
    prerequisite_id: str | None = None
    category: SocialWorkCategory | None = None
    number: str = ""
    verification: Verification | None = None
    status_since: date | None = None

    def __post_init__(self) -> None:
        v = _Violations("authority")
        v.require_text("id", self.id)
        v.require_text("clinician_id", self.clinician_id)
        v.date_order("issued_on", self.issued_on, "expires_on", self.expires_on)
        if self.jurisdiction is not None:
            _set(self, "jurisdiction", v.jurisdiction("jurisdiction", self.jurisdiction))
        kind = self.kind
        if kind in _PSYPACT_KINDS:
            if self.jurisdiction is not None:
                v.add("jurisdiction", f"{kind} is not tied to one jurisdiction")
            if self.expires_on is None:
                v.add("expires_on", f"{kind} renews annually and needs an expiry date (LIC-16)")
        if kind in (CompactAuthorityKind.PSYPACT_APIT, CompactAuthorityKind.PSYPACT_TAP):
            if not self.prerequisite_id:
                prerequisite = "E.Passport" if kind is CompactAuthorityKind.PSYPACT_APIT else "IPC"
                v.add("prerequisite_id", f"{kind} requires the id of its {prerequisite} (LIC-16)")
        elif self.prerequisite_id is not None:
            v.add("prerequisite_id", f"{kind} has no prerequisite certificate")
        if kind is CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE:
            if self.jurisdiction is None:
                v.add("jurisdiction", "a privilege to practice is issued for one remote state (LIC-20)")
            if not self.home_license_id:
                v.add("home_license_id", "a privilege rests on a home-state license (LIC-22)")
        multistate = (
            CompactAuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE,
            CompactAuthorityKind.NLC_MULTISTATE_LICENSE,
        )
        if kind in multistate and self.jurisdiction is None:
            v.add("jurisdiction", "a multistate license is issued by the home state")
        if kind is CompactAuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE:
            if self.category is None:
                v.add("category", "a social work multistate license has a category (LIC-30)")
        elif self.category is not None:
            v.add("category", f"{kind} has no category")
        v.raise_if_any()

    def in_term_on(self, day: date) -> bool:
        return self.issued_on <= day and (self.expires_on is None or day <= self.expires_on)

    def valid_on(self, day: date) -> bool:
        """Status ACTIVE and within its term on `day` (prerequisites are checked by the engine)."""
        return self.status is CredentialStatus.ACTIVE and self.in_term_on(day)


@dataclass(frozen=True, slots=True)
class StateException:
    """A clinician's use of a state temporary-practice allowance or telehealth registration (LIC-03
    option 3, docs/rules.md §1.7).

    The rule's conditions (day limits and their unit, existing-client requirement, prior approval,
    modality exclusions) are reference data (`ExceptionRule`, looked up by `rule_id`), so that a change
    of the law is a data change. This record holds what is specific to the clinician: the home license
    it rests on, the approval or registration reference, the notice filed, and its own validity.
    """

    id: str
    clinician_id: str
    jurisdiction: str
    rule_id: str  # key of an ExceptionRule in the reference data, e.g. "CA-BPC-2912"
    status: CredentialStatus
    valid_from: date
    home_license_id: str
    valid_until: date | None = None
    approval_reference: str | None = None  # prior board approval or registration number
    approved_on: date | None = None
    notice_reference: str | None = None  # notice filed with the board (e.g. Montana)
    notice_filed_on: date | None = None
    verification: Verification | None = None
    status_since: date | None = None

    def __post_init__(self) -> None:
        v = _Violations("exception")
        v.require_text("id", self.id)
        v.require_text("clinician_id", self.clinician_id)
        v.require_text("rule_id", self.rule_id)
        v.require_text("home_license_id", self.home_license_id)
        _set(self, "jurisdiction", v.jurisdiction("jurisdiction", self.jurisdiction))
        v.date_order("valid_from", self.valid_from, "valid_until", self.valid_until)
        if (self.approval_reference is None) != (self.approved_on is None):
            v.add("approved_on", "approval_reference and approved_on go together")
        if (self.notice_reference is None) != (self.notice_filed_on is None):
            v.add("notice_filed_on", "notice_reference and notice_filed_on go together")
        v.raise_if_any()

    def in_term_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def approved_by(self, day: date) -> bool:
        return self.approved_on is not None and self.approved_on <= day

    def notice_filed_by(self, day: date) -> bool:
        return self.notice_filed_on is not None and self.notice_filed_on <= day


# --------------------------------------------------------------------------------------------------
# NPI (LIC-73) and BC-TMH (LIC-80)
# --------------------------------------------------------------------------------------------------

_NPI_PREFIX_SUM = 24  # the contribution of the "80840" card-issuer prefix to the Luhn sum (LIC-73)


def npi_check_digit(first_nine: str) -> int:
    """The Luhn check digit of an NPI whose first nine digits are `first_nine` (LIC-73).

    Luhn (mod 10, "double-add-double") computed as if the number were prefixed by 80840, which is the
    same as adding 24 to the Luhn sum of the nine digits.
    """
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        raise InvalidArgument.field("npi", "the base of an NPI is exactly nine ASCII digits")
    total = _NPI_PREFIX_SUM
    # Walk right to left; the rightmost base digit sits next to the check digit, so it is doubled.
    for position, char in enumerate(reversed(first_nine)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_valid_npi(value: str) -> bool:
    """Ten ASCII digits, first digit 1 or 2, last digit the LIC-73 check digit."""
    if len(value) != 10 or not value.isascii() or not value.isdigit() or value[0] not in "12":
        return False
    return npi_check_digit(value[:9]) == int(value[9])


@dataclass(frozen=True, slots=True)
class Npi:
    """A National Provider Identifier: an identifier, not a license (LIC-73, LIC-74)."""

    value: str
    entity_type: NpiEntityType = NpiEntityType.INDIVIDUAL
    verification: Verification | None = None

    def __post_init__(self) -> None:
        value = self.value.strip() if isinstance(self.value, str) else self.value
        if not isinstance(value, str) or len(value) != 10 or not value.isascii() or not value.isdigit():
            raise InvalidArgument.field("npi", "an NPI is exactly ten digits (LIC-73)")
        if value[0] not in "12":
            raise InvalidArgument.field("npi", "an NPI starts with 1 or 2 (LIC-73)")
        if not is_valid_npi(value):
            raise InvalidArgument.field(
                "npi", "the NPI check digit is wrong (LIC-73, Luhn with prefix 80840)"
            )
        _set(self, "value", value)


@dataclass(frozen=True, slots=True)
class BcTmhCredential:
    """Board Certified-TeleMental Health Provider (CCE). Voluntary; **not** a license and not an
    authority to practise anywhere (LIC-80). Valid 5 years, then recredential."""

    id: str
    clinician_id: str
    certificate_number: str
    status: CredentialStatus
    issued_on: date
    expires_on: date
    verification: Verification | None = None
    status_since: date | None = None

    def __post_init__(self) -> None:
        v = _Violations("bc_tmh")
        v.require_text("id", self.id)
        v.require_text("clinician_id", self.clinician_id)
        v.require_text("certificate_number", self.certificate_number)
        v.date_order("issued_on", self.issued_on, "expires_on", self.expires_on)
        v.raise_if_any()


# --------------------------------------------------------------------------------------------------
# Aggregate
# --------------------------------------------------------------------------------------------------

Credential = StateLicense | CompactAuthority | StateException | BcTmhCredential


@dataclass(frozen=True, slots=True)
class ClinicianCredentials:
    """Everything one clinician holds, as of one read of the registry.

    `is_supervisee` marks a supervisee / trainee: PSYPACT authorities cannot be delegated to them
    (LIC-14) and they cannot hold a Counseling Compact privilege (LIC-21).
    `practice_jurisdiction` is where the clinician normally practises from; matching and coverage use
    it when the clinician's location at session time is not given.
    """

    clinician_id: str
    licenses: tuple[StateLicense, ...] = ()
    authorities: tuple[CompactAuthority, ...] = ()
    exceptions: tuple[StateException, ...] = ()
    npi: Npi | None = None
    bc_tmh: tuple[BcTmhCredential, ...] = ()
    is_supervisee: bool = False
    practice_jurisdiction: str | None = None

    _by_id: dict[str, Credential] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        v = _Violations("credentials")
        v.require_text("clinician_id", self.clinician_id)
        _set(self, "licenses", tuple(sorted(self.licenses, key=lambda c: c.id)))
        _set(self, "authorities", tuple(sorted(self.authorities, key=lambda c: c.id)))
        _set(self, "exceptions", tuple(sorted(self.exceptions, key=lambda c: c.id)))
        _set(self, "bc_tmh", tuple(sorted(self.bc_tmh, key=lambda c: c.id)))
        if self.practice_jurisdiction is not None:
            _set(
                self,
                "practice_jurisdiction",
                v.jurisdiction("practice_jurisdiction", self.practice_jurisdiction),
            )
        if self.npi is not None and self.npi.entity_type is not NpiEntityType.INDIVIDUAL:
            v.add("npi", "a clinician's NPI is a type 1 (individual) NPI (LIC-73)")
        by_id: dict[str, Credential] = {}
        for credential in self.all():
            if credential.clinician_id != self.clinician_id:
                v.add(credential.id, "belongs to another clinician")
            if credential.id in by_id:
                v.add(credential.id, "duplicate credential id")
            by_id[credential.id] = credential
        _set(self, "_by_id", by_id)
        v.raise_if_any()

    def all(self) -> Iterator[Credential]:
        yield from self.licenses
        yield from self.authorities
        yield from self.exceptions
        yield from self.bc_tmh

    def license(self, license_id: str | None) -> StateLicense | None:
        found = self._by_id.get(license_id) if license_id else None
        return found if isinstance(found, StateLicense) else None

    def authority(self, authority_id: str | None) -> CompactAuthority | None:
        found = self._by_id.get(authority_id) if authority_id else None
        return found if isinstance(found, CompactAuthority) else None

    def authorities_of(self, *kinds: CompactAuthorityKind) -> tuple[CompactAuthority, ...]:
        return tuple(a for a in self.authorities if a.kind in kinds)

    def professions(self) -> tuple[Profession, ...]:
        """Professions this clinician holds a license for, in the enum's order."""
        held = {lic.profession for lic in self.licenses}
        return tuple(p for p in Profession if p in held)

    @classmethod
    def of(
        cls,
        clinician_id: str,
        credentials: Iterable[Credential],
        *,
        npi: Npi | None = None,
        is_supervisee: bool = False,
        practice_jurisdiction: str | None = None,
    ) -> ClinicianCredentials:
        """Build from a flat list of credentials of any kind."""
        items = list(credentials)
        return cls(
            clinician_id=clinician_id,
            licenses=tuple(c for c in items if isinstance(c, StateLicense)),
            authorities=tuple(c for c in items if isinstance(c, CompactAuthority)),
            exceptions=tuple(c for c in items if isinstance(c, StateException)),
            bc_tmh=tuple(c for c in items if isinstance(c, BcTmhCredential)),
            npi=npi,
            is_supervisee=is_supervisee,
            practice_jurisdiction=practice_jurisdiction,
        )

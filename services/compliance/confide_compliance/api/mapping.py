"""Wire <-> domain for the compliance API: requests become commands and queries (validated, every
bad field reported at once with its path in the request, e.g. ``license.expires_on`` or
``license.restrictions[1].kind``), domain records become response messages. The only module, with the
servicers, that touches the API's messages.

Enum values: protobuf names are the domain value in upper case behind a prefix
(`CREDENTIAL_STATUS_ACTIVE` <-> `CredentialStatus.ACTIVE`), with one exception: the API's
`MODALITY_LIVE_CHAT` is the domain's `Modality.CHAT`. Unknown numbers (a newer client) and the
UNSPECIFIED zero map to None, so callers decide whether that is an error.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from confide.audit.v1 import events_pb2 as audit_pb2
from confide.common.v1 import jurisdiction_pb2, time_pb2
from confide.compliance.v1 import audit_pb2 as trail_pb2
from confide.compliance.v1 import authorization_pb2, registry_pb2
from confide_chassis.errors import InvalidArgument, ValidationCollector
from confide_chassis.ids import new_id_str, parse_id
from confide_chassis.wire import datetime_of, jurisdiction_code, jurisdiction_value, local_date, timestamp
from confide_compliance.app.audit_trail import ChainReport
from confide_compliance.app.commands import (
    AccessReportQuery,
    FindAuthorized,
    PutCredential,
    RecordVerification,
    SetNpi,
    UpsertClinician,
    VerificationInput,
    VerifyChain,
)
from confide_compliance.app.common import require_id
from confide_compliance.app.ports import AuditFilter
from confide_compliance.domain.audit import AuditEntry, ChainAnchor, ChainProblem
from confide_compliance.domain.authorization import AuthorityKind, AuthorizedClinician, Outcome
from confide_compliance.domain.credentials import (
    BcTmhCredential,
    CompactAuthority,
    CompactAuthorityKind,
    Credential,
    CredentialStatus,
    Encumbrance,
    EncumbranceKind,
    LicenseLevel,
    Npi,
    Profession,
    SocialWorkCategory,
    StateException,
    StateLicense,
    Verification,
    VerificationSource,
)
from confide_compliance.domain.jurisdictions import normalize_jurisdiction
from confide_compliance.domain.modality import Modality, ModalityClass
from confide_compliance.domain.records import (
    NPI_RECORD_ID,
    AuthorizationQuestion,
    ClinicianRecord,
    CredentialRecord,
    HistoryEntry,
    StoredAuditRecord,
    StoredDecision,
    VerificationRecord,
)
from confide_compliance.domain.watch import Coverage

# --------------------------------------------------------------------------------------------------
# Enums
# --------------------------------------------------------------------------------------------------

V = TypeVar("V", bound=int)
E = TypeVar("E", bound=StrEnum)


class EnumWrapper(Protocol[V]):
    def Name(self, number: V) -> str: ...  # noqa: N802 - protobuf's API

    def Value(self, name: str | bytes) -> V: ...  # noqa: N802 - protobuf's API


def to_proto(wrapper: EnumWrapper[V], prefix: str, value: StrEnum | str) -> V:
    return wrapper.Value(f"{prefix}{str(value).upper()}")


def from_proto(wrapper: EnumWrapper[V], prefix: str, number: V, domain: type[E]) -> E | None:
    if number == 0:
        return None
    try:
        name = wrapper.Name(number)
    except ValueError:
        return None
    try:
        return domain(name.removeprefix(prefix).lower())
    except ValueError:
        return None


# -- jurisdictions ---------------------------------------------------------------------------------


def jurisdiction_to_proto(code: str) -> jurisdiction_pb2.Jurisdiction.ValueType:
    return jurisdiction_value(code)


def jurisdiction_from_proto(number: jurisdiction_pb2.Jurisdiction.ValueType) -> str | None:
    code = jurisdiction_code(number)
    return None if code is None else normalize_jurisdiction(code)


# -- authorization.proto ---------------------------------------------------------------------------

_MODALITY_TO_PROTO: dict[Modality, authorization_pb2.Modality.ValueType] = {
    Modality.VIDEO: authorization_pb2.MODALITY_VIDEO,
    Modality.AUDIO: authorization_pb2.MODALITY_AUDIO,
    Modality.CHAT: authorization_pb2.MODALITY_LIVE_CHAT,
    Modality.MESSAGING: authorization_pb2.MODALITY_MESSAGING,
    Modality.IN_PERSON: authorization_pb2.MODALITY_IN_PERSON,
}
_MODALITY_FROM_PROTO = {v: k for k, v in _MODALITY_TO_PROTO.items()}


def modality_to_proto(modality: Modality) -> authorization_pb2.Modality.ValueType:
    return _MODALITY_TO_PROTO[modality]


def modality_from_proto(number: authorization_pb2.Modality.ValueType) -> Modality | None:
    return _MODALITY_FROM_PROTO.get(number)


def profession_to_proto(profession: Profession | None) -> authorization_pb2.Profession.ValueType:
    if profession is None:
        return authorization_pb2.PROFESSION_UNSPECIFIED
    return to_proto(authorization_pb2.Profession, "PROFESSION_", profession)


def profession_from_proto(number: authorization_pb2.Profession.ValueType) -> Profession | None:
    return from_proto(authorization_pb2.Profession, "PROFESSION_", number, Profession)


def authority_kind_to_proto(kind: AuthorityKind) -> authorization_pb2.AuthorityKind.ValueType:
    return to_proto(authorization_pb2.AuthorityKind, "AUTHORITY_KIND_", kind)


def outcome_to_proto(outcome: Outcome) -> authorization_pb2.ReasonOutcome.ValueType:
    return to_proto(authorization_pb2.ReasonOutcome, "REASON_OUTCOME_", outcome)


# -- registry.proto --------------------------------------------------------------------------------


def status_to_proto(status: CredentialStatus) -> registry_pb2.CredentialStatus.ValueType:
    return to_proto(registry_pb2.CredentialStatus, "CREDENTIAL_STATUS_", status)


def status_from_proto(number: registry_pb2.CredentialStatus.ValueType) -> CredentialStatus | None:
    return from_proto(registry_pb2.CredentialStatus, "CREDENTIAL_STATUS_", number, CredentialStatus)


def level_to_proto(level: LicenseLevel) -> registry_pb2.LicenseLevel.ValueType:
    return to_proto(registry_pb2.LicenseLevel, "LICENSE_LEVEL_", level)


def level_from_proto(number: registry_pb2.LicenseLevel.ValueType) -> LicenseLevel | None:
    return from_proto(registry_pb2.LicenseLevel, "LICENSE_LEVEL_", number, LicenseLevel)


def encumbrance_kind_to_proto(kind: EncumbranceKind) -> registry_pb2.EncumbranceKind.ValueType:
    return to_proto(registry_pb2.EncumbranceKind, "ENCUMBRANCE_KIND_", kind)


def encumbrance_kind_from_proto(number: registry_pb2.EncumbranceKind.ValueType) -> EncumbranceKind | None:
    return from_proto(registry_pb2.EncumbranceKind, "ENCUMBRANCE_KIND_", number, EncumbranceKind)


def source_to_proto(source: VerificationSource) -> registry_pb2.VerificationSource.ValueType:
    return to_proto(registry_pb2.VerificationSource, "VERIFICATION_SOURCE_", source)


def source_from_proto(number: registry_pb2.VerificationSource.ValueType) -> VerificationSource | None:
    return from_proto(registry_pb2.VerificationSource, "VERIFICATION_SOURCE_", number, VerificationSource)


def compact_kind_to_proto(kind: CompactAuthorityKind) -> registry_pb2.CompactAuthorityKind.ValueType:
    return to_proto(registry_pb2.CompactAuthorityKind, "COMPACT_AUTHORITY_KIND_", kind)


def compact_kind_from_proto(
    number: registry_pb2.CompactAuthorityKind.ValueType,
) -> CompactAuthorityKind | None:
    return from_proto(
        registry_pb2.CompactAuthorityKind, "COMPACT_AUTHORITY_KIND_", number, CompactAuthorityKind
    )


def category_to_proto(category: SocialWorkCategory | None) -> registry_pb2.SocialWorkCategory.ValueType:
    if category is None:
        return registry_pb2.SOCIAL_WORK_CATEGORY_UNSPECIFIED
    return to_proto(registry_pb2.SocialWorkCategory, "SOCIAL_WORK_CATEGORY_", category)


def category_from_proto(number: registry_pb2.SocialWorkCategory.ValueType) -> SocialWorkCategory | None:
    return from_proto(registry_pb2.SocialWorkCategory, "SOCIAL_WORK_CATEGORY_", number, SocialWorkCategory)


def modality_class_to_proto(value: ModalityClass) -> registry_pb2.ModalityClass.ValueType:
    return to_proto(registry_pb2.ModalityClass, "MODALITY_CLASS_", value)


MAX_TEXT = 200

# --------------------------------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------------------------------


def read_date(v: ValidationCollector, value: time_pb2.LocalDate, path: str) -> date | None:
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        v.add(path, "must be a valid calendar date (year, month and day all set)")
        return None


def optional_date(v: ValidationCollector, owner: object, name: str, path: str) -> date | None:
    if not owner.HasField(name):  # type: ignore[attr-defined]
        return None
    return read_date(v, getattr(owner, name), path)


def required_date(v: ValidationCollector, owner: object, name: str, path: str) -> date | None:
    if not owner.HasField(name):  # type: ignore[attr-defined]
        v.add(path, "required")
        return None
    return read_date(v, getattr(owner, name), path)


def text(v: ValidationCollector, value: str, path: str, *, limit: int = MAX_TEXT) -> str:
    if len(value) > limit:
        v.add(path, f"at most {limit} characters")
    return value.strip()


def jurisdiction(
    v: ValidationCollector,
    value: jurisdiction_pb2.Jurisdiction.ValueType,
    path: str,
    *,
    required: bool = True,
) -> str | None:
    code = jurisdiction_from_proto(value)
    if code is None and (required or value != 0):
        v.add(path, "must be a US state, DC or territory (JURISDICTION_UNSPECIFIED is not allowed)")
    return code


def status(
    v: ValidationCollector, value: registry_pb2.CredentialStatus.ValueType, path: str
) -> CredentialStatus:
    parsed = status_from_proto(value)
    if parsed is None:
        v.add(path, "required: the status published by the issuing body")
        return CredentialStatus.INACTIVE
    return parsed


# --------------------------------------------------------------------------------------------------
# Registry input
# --------------------------------------------------------------------------------------------------


def verification_input(request: registry_pb2.Verification) -> VerificationInput:
    return VerificationInput(
        source=source_from_proto(request.source),
        verified_at=datetime_of(request.verified_at) if request.HasField("verified_at") else None,
        reference=request.reference.strip(),
    )


def state_license(message: registry_pb2.StateLicense, credential_id: str, clinician_id: str) -> StateLicense:
    v = ValidationCollector()
    p = "license"
    where = jurisdiction(v, message.jurisdiction, f"{p}.jurisdiction")
    profession = profession_from_proto(message.profession)
    if profession is None:
        v.add(f"{p}.profession", "required")
    st = status(v, message.status, f"{p}.status")
    issued = required_date(v, message, "issued_on", f"{p}.issued_on")
    expires = required_date(v, message, "expires_on", f"{p}.expires_on")
    level = LicenseLevel.INDEPENDENT
    if message.level:
        parsed_level = level_from_proto(message.level)
        if parsed_level is None:
            v.add(f"{p}.level", "unknown level")
        else:
            level = parsed_level
    restrictions: list[Encumbrance] = []
    for i, r in enumerate(message.restrictions):
        rp = f"{p}.restrictions[{i}]"
        kind = encumbrance_kind_from_proto(r.kind)
        if kind is None:
            v.add(f"{rp}.kind", "required")
        effective = required_date(v, r, "effective_on", f"{rp}.effective_on")
        ends = optional_date(v, r, "ends_on", f"{rp}.ends_on")
        reference = text(v, r.reference, f"{rp}.reference")
        if kind is not None and effective is not None:
            if ends is not None and ends < effective:
                v.add(f"{rp}.ends_on", "must not be before effective_on")
            else:
                restrictions.append(Encumbrance(kind, effective, ends, reference))
    license_type = text(v, message.license_type, f"{p}.license_type", limit=100)
    number = text(v, message.number, f"{p}.number", limit=100)
    since = optional_date(v, message, "status_since", f"{p}.status_since")
    v.raise_if_any()
    assert where is not None
    assert profession is not None
    assert issued is not None
    assert expires is not None
    return StateLicense(
        id=credential_id,
        clinician_id=clinician_id,
        jurisdiction=where,
        profession=profession,
        license_type=license_type,
        number=number,
        status=st,
        issued_on=issued,
        expires_on=expires,
        level=level,
        restrictions=tuple(restrictions),
        status_since=since,
    )


def compact_authority(
    message: registry_pb2.CompactAuthority, credential_id: str, clinician_id: str
) -> CompactAuthority:
    v = ValidationCollector()
    p = "authority"
    kind = compact_kind_from_proto(message.kind)
    if kind is None:
        v.add(f"{p}.kind", "required")
    st = status(v, message.status, f"{p}.status")
    issued = required_date(v, message, "issued_on", f"{p}.issued_on")
    expires = optional_date(v, message, "expires_on", f"{p}.expires_on")
    where = jurisdiction(v, message.jurisdiction, f"{p}.jurisdiction", required=False)
    category = category_from_proto(message.category)
    if message.category and category is None:
        v.add(f"{p}.category", "unknown category")
    number = text(v, message.number, f"{p}.number", limit=100)
    home = text(v, message.home_license_id, f"{p}.home_license_id")
    prerequisite = text(v, message.prerequisite_id, f"{p}.prerequisite_id")
    since = optional_date(v, message, "status_since", f"{p}.status_since")
    v.raise_if_any()
    assert kind is not None
    assert issued is not None
    return CompactAuthority(
        id=credential_id,
        clinician_id=clinician_id,
        kind=kind,
        status=st,
        issued_on=issued,
        expires_on=expires,
        jurisdiction=where,
        home_license_id=home or None,
        prerequisite_id=prerequisite or None,
        category=category,
        number=number,
        status_since=since,
    )


def state_exception(
    message: registry_pb2.StateException, credential_id: str, clinician_id: str
) -> StateException:
    v = ValidationCollector()
    p = "exception"
    where = jurisdiction(v, message.jurisdiction, f"{p}.jurisdiction")
    rule_id = text(v, message.rule_id, f"{p}.rule_id", limit=64)
    st = status(v, message.status, f"{p}.status")
    valid_from = required_date(v, message, "valid_from", f"{p}.valid_from")
    valid_until = optional_date(v, message, "valid_until", f"{p}.valid_until")
    home = text(v, message.home_license_id, f"{p}.home_license_id")
    approval = text(v, message.approval_reference, f"{p}.approval_reference")
    approved_on = optional_date(v, message, "approved_on", f"{p}.approved_on")
    notice = text(v, message.notice_reference, f"{p}.notice_reference")
    notice_on = optional_date(v, message, "notice_filed_on", f"{p}.notice_filed_on")
    since = optional_date(v, message, "status_since", f"{p}.status_since")
    v.raise_if_any()
    assert where is not None
    assert valid_from is not None
    return StateException(
        id=credential_id,
        clinician_id=clinician_id,
        jurisdiction=where,
        rule_id=rule_id,
        status=st,
        valid_from=valid_from,
        home_license_id=home,
        valid_until=valid_until,
        approval_reference=approval or None,
        approved_on=approved_on,
        notice_reference=notice or None,
        notice_filed_on=notice_on,
        status_since=since,
    )


def bc_tmh(message: registry_pb2.BcTmh, credential_id: str, clinician_id: str) -> BcTmhCredential:
    v = ValidationCollector()
    p = "bc_tmh"
    number = text(v, message.certificate_number, f"{p}.certificate_number", limit=100)
    st = status(v, message.status, f"{p}.status")
    issued = required_date(v, message, "issued_on", f"{p}.issued_on")
    expires = required_date(v, message, "expires_on", f"{p}.expires_on")
    since = optional_date(v, message, "status_since", f"{p}.status_since")
    v.raise_if_any()
    assert issued is not None
    assert expires is not None
    return BcTmhCredential(
        id=credential_id,
        clinician_id=clinician_id,
        certificate_number=number,
        status=st,
        issued_on=issued,
        expires_on=expires,
        status_since=since,
    )


def _ids(clinician_id: str, credential_id: str) -> tuple[str, str]:
    """The clinician's id, and the credential's (a new one when the request names none)."""
    clinician = require_id(clinician_id, "clinician_id")
    credential = require_id(credential_id, "credential_id") if credential_id else new_id_str()
    return clinician, credential


def _optional_verification(request: Any) -> VerificationInput | None:
    return verification_input(request.verification) if request.HasField("verification") else None


def _put(request: Any, credential: Credential) -> PutCredential:
    return PutCredential(
        credential=credential,
        reason=request.change_reason,
        verification=_optional_verification(request),
        expected_version=request.expected_version,
    )


def upsert_clinician(request: registry_pb2.UpsertClinicianRequest) -> UpsertClinician:
    v = ValidationCollector()
    where = jurisdiction(v, request.practice_jurisdiction, "practice_jurisdiction", required=False)
    profession = profession_from_proto(request.primary_profession)
    if request.primary_profession and profession is None:
        v.add("primary_profession", "unknown profession")
    v.raise_if_any()
    return UpsertClinician(
        clinician_id=request.clinician_id,
        practice_jurisdiction=where,
        is_supervisee=request.is_supervisee,
        primary_profession=profession,
        reason=request.change_reason,
        expected_version=request.expected_version,
    )


def put_state_license(request: registry_pb2.PutStateLicenseRequest) -> PutCredential:
    clinician_id, credential_id = _ids(request.clinician_id, request.credential_id)
    return _put(request, state_license(request.license, credential_id, clinician_id))


def put_compact_authority(request: registry_pb2.PutCompactAuthorityRequest) -> PutCredential:
    clinician_id, credential_id = _ids(request.clinician_id, request.credential_id)
    return _put(request, compact_authority(request.authority, credential_id, clinician_id))


def put_state_exception(request: registry_pb2.PutStateExceptionRequest) -> PutCredential:
    clinician_id, credential_id = _ids(request.clinician_id, request.credential_id)
    return _put(request, state_exception(request.exception, credential_id, clinician_id))


def put_bc_tmh(request: registry_pb2.PutBcTmhRequest) -> PutCredential:
    clinician_id, credential_id = _ids(request.clinician_id, request.credential_id)
    return _put(request, bc_tmh(request.bc_tmh, credential_id, clinician_id))


def set_npi(request: registry_pb2.SetNpiRequest) -> SetNpi:
    npi = Npi(request.npi) if request.npi.strip() else None  # InvalidArgument on `npi` (LIC-73)
    return SetNpi(
        clinician_id=request.clinician_id,
        npi=npi,
        reason=request.change_reason,
        verification=_optional_verification(request),
        expected_version=request.expected_version,
    )


def record_verification(request: registry_pb2.RecordVerificationRequest) -> RecordVerification:
    target = request.WhichOneof("target")
    if target is None or (target == "npi" and not request.npi):
        raise InvalidArgument.field("credential_id", "name a credential_id, or set npi")
    if not request.HasField("verification"):
        raise InvalidArgument.field("verification", "required")
    return RecordVerification(
        clinician_id=request.clinician_id,
        target=NPI_RECORD_ID if target == "npi" else request.credential_id,
        verification=verification_input(request.verification),
        reason=request.change_reason,
    )


def coverage_day(request: registry_pb2.GetCoverageRequest) -> date | None:
    v = ValidationCollector()
    on = optional_date(v, request, "on", "on")
    v.raise_if_any()
    return on


# --------------------------------------------------------------------------------------------------
# Registry output
# --------------------------------------------------------------------------------------------------


def verification(value: Verification | None) -> registry_pb2.Verification | None:
    if value is None:
        return None
    return registry_pb2.Verification(
        source=source_to_proto(value.source),
        verified_at=timestamp(value.verified_at),
        verified_by=value.verified_by,
        reference=value.reference,
    )


def _set_date(owner: object, name: str, value: date | None) -> None:
    if value is not None:
        getattr(owner, name).CopyFrom(local_date(value))


def credential(record: CredentialRecord) -> registry_pb2.Credential:
    c: Credential = record.credential
    out = registry_pb2.Credential(
        credential_id=c.id,
        clinician_id=c.clinician_id,
        version=record.version,
        updated_at=timestamp(record.updated_at),
        updated_by=record.updated_by,
    )
    v = verification(c.verification)
    if v is not None:
        out.verification.CopyFrom(v)
    if isinstance(c, StateLicense):
        lic = out.state_license
        lic.jurisdiction = jurisdiction_to_proto(c.jurisdiction)
        lic.profession = profession_to_proto(c.profession)
        lic.license_type = c.license_type
        lic.number = c.number
        lic.status = status_to_proto(c.status)
        _set_date(lic, "issued_on", c.issued_on)
        _set_date(lic, "expires_on", c.expires_on)
        lic.level = level_to_proto(c.level)
        for e in c.restrictions:
            item = lic.restrictions.add(kind=encumbrance_kind_to_proto(e.kind), reference=e.reference)
            _set_date(item, "effective_on", e.effective_on)
            _set_date(item, "ends_on", e.ends_on)
        _set_date(lic, "status_since", c.status_since)
    elif isinstance(c, CompactAuthority):
        a = out.compact_authority
        a.kind = compact_kind_to_proto(c.kind)
        a.status = status_to_proto(c.status)
        _set_date(a, "issued_on", c.issued_on)
        _set_date(a, "expires_on", c.expires_on)
        if c.jurisdiction:
            a.jurisdiction = jurisdiction_to_proto(c.jurisdiction)
        a.home_license_id = c.home_license_id or ""
        a.prerequisite_id = c.prerequisite_id or ""
        a.category = category_to_proto(c.category)
        a.number = c.number
        _set_date(a, "status_since", c.status_since)
    elif isinstance(c, StateException):
        x = out.state_exception
        x.jurisdiction = jurisdiction_to_proto(c.jurisdiction)
        x.rule_id = c.rule_id
        x.status = status_to_proto(c.status)
        _set_date(x, "valid_from", c.valid_from)
        _set_date(x, "valid_until", c.valid_until)
        x.home_license_id = c.home_license_id
        x.approval_reference = c.approval_reference or ""
        _set_date(x, "approved_on", c.approved_on)
        x.notice_reference = c.notice_reference or ""
        _set_date(x, "notice_filed_on", c.notice_filed_on)
        _set_date(x, "status_since", c.status_since)
    else:
        b = out.bc_tmh
        b.certificate_number = c.certificate_number
        b.status = status_to_proto(c.status)
        _set_date(b, "issued_on", c.issued_on)
        _set_date(b, "expires_on", c.expires_on)
        _set_date(b, "status_since", c.status_since)
    return out


def clinician(record: ClinicianRecord) -> registry_pb2.ClinicianProfile:
    out = registry_pb2.ClinicianProfile(
        clinician_id=record.clinician_id,
        practice_id=record.practice_id,
        is_supervisee=record.is_supervisee,
        primary_profession=profession_to_proto(record.primary_profession),
        npi=record.npi.value if record.npi else "",
        version=record.version,
        updated_at=timestamp(record.updated_at),
        updated_by=record.updated_by,
    )
    if record.practice_jurisdiction:
        out.practice_jurisdiction = jurisdiction_to_proto(record.practice_jurisdiction)
    v = verification(record.npi.verification if record.npi else None)
    if v is not None:
        out.npi_verification.CopyFrom(v)
    return out


def verification_record(record: VerificationRecord) -> registry_pb2.VerificationRecord:
    out = registry_pb2.VerificationRecord(
        verification_id=record.verification_id,
        clinician_id=record.clinician_id,
        record_id=record.record_id,
        record_version=record.record_version,
        recorded_at=timestamp(record.recorded_at),
    )
    v = verification(record.verification)
    if v is not None:
        out.verification.CopyFrom(v)
    return out


def history_entry(entry: HistoryEntry) -> registry_pb2.HistoryEntry:
    out = registry_pb2.HistoryEntry(
        record_type=entry.record_type,
        record_id=entry.record_id,
        version=entry.version,
        change=entry.change,
        changed_at=timestamp(entry.changed_at),
        changed_by=entry.changed_by,
        change_reason=entry.reason,
    )
    if isinstance(entry.snapshot, ClinicianRecord):
        out.clinician.CopyFrom(clinician(entry.snapshot))
    else:
        out.credential.CopyFrom(credential(entry.snapshot))
    return out


def coverage_entries(value: frozenset[Coverage]) -> list[registry_pb2.CoverageEntry]:
    return [
        registry_pb2.CoverageEntry(
            jurisdiction=jurisdiction_to_proto(c.jurisdiction),
            modality_class=modality_class_to_proto(c.modality_class),
        )
        for c in sorted(value)
    ]


# --------------------------------------------------------------------------------------------------
# Authorization
# --------------------------------------------------------------------------------------------------


def _time_zone(v: ValidationCollector, value: str, path: str) -> str:
    if not value:
        v.add(path, "required: the IANA zone of the client's location (e.g. America/Denver)")
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        v.add(path, "must be an IANA time zone, e.g. America/Denver")
    return value


def authorization_question(request: authorization_pb2.CheckAuthorizationRequest) -> AuthorizationQuestion:
    v = ValidationCollector()
    if parse_id(request.clinician_id) is None:
        v.add("clinician_id", "must be a UUID (the clinician's identity user id)")
    client = jurisdiction(v, request.client_jurisdiction, "client_jurisdiction")
    clinician_at = jurisdiction(v, request.clinician_jurisdiction, "clinician_jurisdiction")
    if not request.HasField("session_start"):
        v.add("session_start", "required")
    zone = _time_zone(v, request.client_time_zone, "client_time_zone")
    modality = modality_from_proto(request.modality)
    if modality is None:
        v.add("modality", "required")
    profession = profession_from_proto(request.profession)
    if request.profession and profession is None:
        v.add("profession", "unknown profession")
    purpose = text(v, request.purpose, "purpose", limit=40)
    if request.appointment_id and parse_id(request.appointment_id) is None:
        v.add("appointment_id", "must be a UUID")
    v.raise_if_any()
    assert client is not None
    assert clinician_at is not None
    assert modality is not None
    return AuthorizationQuestion(
        clinician_id=str(parse_id(request.clinician_id)),
        client_jurisdiction=client,
        clinician_jurisdiction=clinician_at,
        session_start=datetime_of(request.session_start),
        client_time_zone=zone,
        modality=modality,
        existing_client=request.existing_client,
        profession=profession,
        purpose=purpose,
        appointment_id=request.appointment_id,
    )


def find_authorized(request: authorization_pb2.FindAuthorizedCliniciansRequest) -> FindAuthorized:
    v = ValidationCollector()
    client = jurisdiction(v, request.client_jurisdiction, "client_jurisdiction")
    if not request.HasField("session_start"):
        v.add("session_start", "required")
    zone = _time_zone(v, request.client_time_zone, "client_time_zone")
    modality = modality_from_proto(request.modality)
    if modality is None:
        v.add("modality", "required")
    profession = profession_from_proto(request.profession)
    if request.profession and profession is None:
        v.add("profession", "unknown profession")
    ids: list[str] = []
    for i, raw in enumerate(request.clinician_ids):
        parsed = parse_id(raw)
        if parsed is None:
            v.add(f"clinician_ids[{i}]", "must be a UUID")
        else:
            ids.append(str(parsed))
    if len(ids) > 1000:
        v.add("clinician_ids", "at most 1000 clinicians per call")
    v.raise_if_any()
    assert client is not None
    assert modality is not None
    return FindAuthorized(
        client_jurisdiction=client,
        session_start=datetime_of(request.session_start),
        client_time_zone=zone,
        modality=modality,
        clinician_ids=tuple(ids),
        profession=profession,
    )


def check_request(cmd: AuthorizationQuestion) -> authorization_pb2.CheckAuthorizationRequest:
    return authorization_pb2.CheckAuthorizationRequest(
        clinician_id=cmd.clinician_id,
        client_jurisdiction=jurisdiction_to_proto(cmd.client_jurisdiction),
        clinician_jurisdiction=jurisdiction_to_proto(cmd.clinician_jurisdiction),
        session_start=timestamp(cmd.session_start),
        client_time_zone=cmd.client_time_zone,
        modality=modality_to_proto(cmd.modality),
        existing_client=cmd.existing_client,
        profession=profession_to_proto(cmd.profession),
        purpose=cmd.purpose,
        appointment_id=cmd.appointment_id,
    )


def decision(stored: StoredDecision) -> authorization_pb2.Decision:
    out = authorization_pb2.Decision(
        decision_id=stored.decision_id,
        allowed=stored.allowed,
        reference_data_version=stored.reference_data_version,
        decided_at=timestamp(stored.decided_at),
        denied_rule_ids=list(stored.denied_rule_ids),
        explanation=stored.explanation,
        request=check_request(stored.question),
        reasons=[
            authorization_pb2.Reason(
                rule_id=r.rule_id,
                outcome=outcome_to_proto(r.outcome),
                message=r.message,
                credential_id=r.credential_id or "",
            )
            for r in stored.reasons
        ],
    )
    if stored.authority is not None:
        out.authority.CopyFrom(
            authorization_pb2.Authority(
                kind=authority_kind_to_proto(stored.authority.kind),
                credential_id=stored.authority.id,
            )
        )
    return out


def authorized_clinician(found: AuthorizedClinician) -> authorization_pb2.AuthorizedClinician:
    return authorization_pb2.AuthorizedClinician(
        clinician_id=found.clinician_id,
        authority=authorization_pb2.Authority(
            kind=authority_kind_to_proto(found.authority.kind), credential_id=found.authority.id
        ),
    )


# --------------------------------------------------------------------------------------------------
# Audit trail
# --------------------------------------------------------------------------------------------------


def _enum_number(wrapper: EnumWrapper[V], prefix: str, code: str, zero: V) -> V:
    if not code:
        return zero
    try:
        return wrapper.Value(prefix + code.upper())
    except ValueError:
        return zero


def _attributes(entry: AuditEntry) -> dict[str, str]:
    return dict(entry.attributes)


def audit_record(stored: StoredAuditRecord) -> trail_pb2.AuditRecord:
    record = stored.record
    e = record.entry
    attributes = _attributes(e)
    return trail_pb2.AuditRecord(
        sequence=record.sequence,
        event_id=e.event_id,
        occurred_at=timestamp(e.occurred_at),
        recorded_at=timestamp(stored.recorded_at),
        service=e.source_service,
        practice_id=e.practice_id,
        actor_kind=_enum_number(
            audit_pb2.ActorKind,
            "ACTOR_KIND_",
            attributes.get("actor_kind", ""),
            audit_pb2.ACTOR_KIND_UNSPECIFIED,
        ),
        actor_id=e.actor_id,
        actor_roles=[r for r in e.actor_role.split(",") if r],
        action=_enum_number(
            audit_pb2.AuditAction, "AUDIT_ACTION_", e.action, audit_pb2.AUDIT_ACTION_UNSPECIFIED
        ),
        resource_type=e.resource_type,
        resource_id=e.resource_id,
        subject_id=e.subject_id,
        purpose=_enum_number(
            audit_pb2.AccessPurpose, "ACCESS_PURPOSE_", e.purpose, audit_pb2.ACCESS_PURPOSE_UNSPECIFIED
        ),
        outcome=_enum_number(
            audit_pb2.AuditOutcome, "AUDIT_OUTCOME_", e.outcome, audit_pb2.AUDIT_OUTCOME_UNSPECIFIED
        ),
        rule_ids=[r for r in attributes.get("rule_ids", "").split(",") if r],
        request_id=attributes.get("request_id", ""),
        trace_id=attributes.get("trace_id", ""),
        prev_hash=record.prev_hash,
        hash=record.hash,
    )


def access_entry(stored: StoredAuditRecord) -> trail_pb2.AccessReportEntry:
    full = audit_record(stored)
    return trail_pb2.AccessReportEntry(
        occurred_at=full.occurred_at,
        actor_kind=full.actor_kind,
        actor_id=full.actor_id,
        actor_roles=list(full.actor_roles),
        action=full.action,
        resource_type=full.resource_type,
        resource_id=full.resource_id,
        purpose=full.purpose,
        outcome=full.outcome,
        service=full.service,
        sequence=full.sequence,
    )


_PROBLEMS: dict[ChainProblem, trail_pb2.ChainProblem.ValueType] = {
    ChainProblem.EDITED: trail_pb2.CHAIN_PROBLEM_EDITED,
    ChainProblem.DELETED: trail_pb2.CHAIN_PROBLEM_DELETED,
    ChainProblem.REORDERED: trail_pb2.CHAIN_PROBLEM_REORDERED,
    ChainProblem.INSERTED: trail_pb2.CHAIN_PROBLEM_INSERTED,
    ChainProblem.BROKEN_LINK: trail_pb2.CHAIN_PROBLEM_BROKEN_LINK,
    ChainProblem.ANCHOR_MISMATCH: trail_pb2.CHAIN_PROBLEM_ANCHOR_MISMATCH,
}


def _range(v: ValidationCollector, owner: Any, field: str) -> tuple[datetime | None, datetime | None]:
    if not owner.HasField(field):
        return None, None
    time_range = getattr(owner, field)
    start = datetime_of(time_range.start) if time_range.HasField("start") else None
    end = datetime_of(time_range.end) if time_range.HasField("end") else None
    if start is not None and end is not None and end <= start:
        v.add(f"{field}.end", "must be after start")
    return start, end


def audit_filter(request: trail_pb2.QueryAuditTrailRequest) -> AuditFilter:
    v = ValidationCollector()
    start, end = _range(v, request, "time_range")
    v.raise_if_any()
    return AuditFilter(
        subject_id=request.subject_id.strip(),
        actor_id=request.actor_id.strip(),
        resource_type=request.resource_type.strip(),
        resource_id=request.resource_id.strip(),
        start=start,
        end=end,
    )


def audit_filter_key(f: AuditFilter) -> tuple[object, ...]:
    """What a page token of QueryAuditTrail is bound to."""
    return (f.subject_id, f.actor_id, f.resource_type, f.resource_id, f.start, f.end)


def access_report_query(request: trail_pb2.GetAccessReportRequest) -> AccessReportQuery:
    v = ValidationCollector()
    start, end = _range(v, request, "time_range")
    v.raise_if_any()
    return AccessReportQuery(
        subject_id=request.subject_id.strip(),
        start=start,
        end=end,
        include_own_actions=request.include_own_actions,
    )


def access_report_key(
    request: trail_pb2.GetAccessReportRequest, query: AccessReportQuery
) -> tuple[object, ...]:
    """What a page token of GetAccessReport is bound to."""
    return (request.subject_id, query.start, query.end, query.include_own_actions)


def verify_chain(request: trail_pb2.VerifyChainRequest) -> VerifyChain:
    return VerifyChain(tuple(ChainAnchor(a.sequence, a.hash.lower()) for a in request.anchors))


def verify_chain_response(report: ChainReport) -> trail_pb2.VerifyChainResponse:
    result = report.verification
    return trail_pb2.VerifyChainResponse(
        ok=result.ok,
        records_checked=report.records_checked,
        problem=_PROBLEMS[result.problem] if result.problem else trail_pb2.CHAIN_PROBLEM_UNSPECIFIED,
        # Records up to the head passed every check: the first bad one is the next sequence.
        first_bad_sequence=0 if result.ok else report.head_sequence + 1,
        message=result.message,
        head=trail_pb2.ChainAnchor(sequence=report.head_sequence, hash=report.head_hash),
    )

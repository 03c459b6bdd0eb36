"""Protobuf ↔ domain/app values. Input conversion validates and reports every bad field at once,
with the field's path in the request (e.g. ``license.expires_on``, ``license.restrictions[1].kind``)."""

from __future__ import annotations

from datetime import date

from confide.audit.v1 import events_pb2 as audit_pb2
from confide.common.v1 import jurisdiction_pb2, time_pb2
from confide.compliance.v1 import audit_pb2 as trail_pb2
from confide.compliance.v1 import authorization_pb2, registry_pb2
from confide_chassis.errors import ValidationCollector
from confide_chassis.ids import parse_id
from confide_chassis.wire import datetime_of, local_date, timestamp
from confide_compliance.app import protomap
from confide_compliance.app.authorization import FindQuery
from confide_compliance.app.ports import (
    CheckCommand,
    ClinicianRecord,
    CredentialRecord,
    HistoryEntry,
    StoredAuditRecord,
    StoredDecision,
    VerificationRecord,
)
from confide_compliance.app.registry import VerificationInput
from confide_compliance.domain.audit import AuditEntry
from confide_compliance.domain.authorization import AuthorizedClinician
from confide_compliance.domain.credentials import (
    BcTmhCredential,
    CompactAuthority,
    Credential,
    CredentialStatus,
    Encumbrance,
    LicenseLevel,
    StateException,
    StateLicense,
    Verification,
)
from confide_compliance.domain.watch import Coverage

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
    code = protomap.jurisdiction_from_proto(value)
    if code is None and (required or value != 0):
        v.add(path, "must be a US state, DC or territory (JURISDICTION_UNSPECIFIED is not allowed)")
    return code


def status(
    v: ValidationCollector, value: registry_pb2.CredentialStatus.ValueType, path: str
) -> CredentialStatus:
    parsed = protomap.status_from_proto(value)
    if parsed is None:
        v.add(path, "required: the status published by the issuing body")
        return CredentialStatus.INACTIVE
    return parsed


# --------------------------------------------------------------------------------------------------
# Registry input
# --------------------------------------------------------------------------------------------------


def verification_input(request: registry_pb2.Verification) -> VerificationInput:
    return VerificationInput(
        source=protomap.source_from_proto(request.source),
        verified_at=datetime_of(request.verified_at) if request.HasField("verified_at") else None,
        reference=request.reference.strip(),
    )


def state_license(message: registry_pb2.StateLicense, credential_id: str, clinician_id: str) -> StateLicense:
    v = ValidationCollector()
    p = "license"
    where = jurisdiction(v, message.jurisdiction, f"{p}.jurisdiction")
    profession = protomap.profession_from_proto(message.profession)
    if profession is None:
        v.add(f"{p}.profession", "required")
    st = status(v, message.status, f"{p}.status")
    issued = required_date(v, message, "issued_on", f"{p}.issued_on")
    expires = required_date(v, message, "expires_on", f"{p}.expires_on")
    level = LicenseLevel.INDEPENDENT
    if message.level:
        parsed_level = protomap.level_from_proto(message.level)
        if parsed_level is None:
            v.add(f"{p}.level", "unknown level")
        else:
            level = parsed_level
    restrictions: list[Encumbrance] = []
    for i, r in enumerate(message.restrictions):
        rp = f"{p}.restrictions[{i}]"
        kind = protomap.encumbrance_kind_from_proto(r.kind)
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
    kind = protomap.compact_kind_from_proto(message.kind)
    if kind is None:
        v.add(f"{p}.kind", "required")
    st = status(v, message.status, f"{p}.status")
    issued = required_date(v, message, "issued_on", f"{p}.issued_on")
    expires = optional_date(v, message, "expires_on", f"{p}.expires_on")
    where = jurisdiction(v, message.jurisdiction, f"{p}.jurisdiction", required=False)
    category = protomap.category_from_proto(message.category)
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


# --------------------------------------------------------------------------------------------------
# Registry output
# --------------------------------------------------------------------------------------------------


def verification(value: Verification | None) -> registry_pb2.Verification | None:
    if value is None:
        return None
    return registry_pb2.Verification(
        source=protomap.source_to_proto(value.source),
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
        lic.jurisdiction = protomap.jurisdiction_to_proto(c.jurisdiction)
        lic.profession = protomap.profession_to_proto(c.profession)
        lic.license_type = c.license_type
        lic.number = c.number
        lic.status = protomap.status_to_proto(c.status)
        _set_date(lic, "issued_on", c.issued_on)
        _set_date(lic, "expires_on", c.expires_on)
        lic.level = protomap.level_to_proto(c.level)
        for e in c.restrictions:
            item = lic.restrictions.add(
                kind=protomap.encumbrance_kind_to_proto(e.kind), reference=e.reference
            )
            _set_date(item, "effective_on", e.effective_on)
            _set_date(item, "ends_on", e.ends_on)
        _set_date(lic, "status_since", c.status_since)
    elif isinstance(c, CompactAuthority):
        a = out.compact_authority
        a.kind = protomap.compact_kind_to_proto(c.kind)
        a.status = protomap.status_to_proto(c.status)
        _set_date(a, "issued_on", c.issued_on)
        _set_date(a, "expires_on", c.expires_on)
        if c.jurisdiction:
            a.jurisdiction = protomap.jurisdiction_to_proto(c.jurisdiction)
        a.home_license_id = c.home_license_id or ""
        a.prerequisite_id = c.prerequisite_id or ""
        a.category = protomap.category_to_proto(c.category)
        a.number = c.number
        _set_date(a, "status_since", c.status_since)
    elif isinstance(c, StateException):
        x = out.state_exception
        x.jurisdiction = protomap.jurisdiction_to_proto(c.jurisdiction)
        x.rule_id = c.rule_id
        x.status = protomap.status_to_proto(c.status)
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
        b.status = protomap.status_to_proto(c.status)
        _set_date(b, "issued_on", c.issued_on)
        _set_date(b, "expires_on", c.expires_on)
        _set_date(b, "status_since", c.status_since)
    return out


def clinician(record: ClinicianRecord) -> registry_pb2.ClinicianProfile:
    out = registry_pb2.ClinicianProfile(
        clinician_id=record.clinician_id,
        practice_id=record.practice_id,
        is_supervisee=record.is_supervisee,
        primary_profession=protomap.profession_to_proto(record.primary_profession),
        npi=record.npi.value if record.npi else "",
        version=record.version,
        updated_at=timestamp(record.updated_at),
        updated_by=record.updated_by,
    )
    if record.practice_jurisdiction:
        out.practice_jurisdiction = protomap.jurisdiction_to_proto(record.practice_jurisdiction)
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
            jurisdiction=protomap.jurisdiction_to_proto(c.jurisdiction),
            modality_class=protomap.modality_class_to_proto(c.modality_class),
        )
        for c in sorted(value)
    ]


# --------------------------------------------------------------------------------------------------
# Authorization
# --------------------------------------------------------------------------------------------------


def _time_zone(v: ValidationCollector, value: str, path: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not value:
        v.add(path, "required: the IANA zone of the client's location (e.g. America/Denver)")
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        v.add(path, "must be an IANA time zone, e.g. America/Denver")
    return value


def check_command(request: authorization_pb2.CheckAuthorizationRequest) -> CheckCommand:
    v = ValidationCollector()
    if parse_id(request.clinician_id) is None:
        v.add("clinician_id", "must be a UUID (the clinician's identity user id)")
    client = jurisdiction(v, request.client_jurisdiction, "client_jurisdiction")
    clinician_at = jurisdiction(v, request.clinician_jurisdiction, "clinician_jurisdiction")
    if not request.HasField("session_start"):
        v.add("session_start", "required")
    zone = _time_zone(v, request.client_time_zone, "client_time_zone")
    modality = protomap.modality_from_proto(request.modality)
    if modality is None:
        v.add("modality", "required")
    profession = protomap.profession_from_proto(request.profession)
    if request.profession and profession is None:
        v.add("profession", "unknown profession")
    purpose = text(v, request.purpose, "purpose", limit=40)
    if request.appointment_id and parse_id(request.appointment_id) is None:
        v.add("appointment_id", "must be a UUID")
    v.raise_if_any()
    assert client is not None
    assert clinician_at is not None
    assert modality is not None
    return CheckCommand(
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


def find_query(request: authorization_pb2.FindAuthorizedCliniciansRequest) -> FindQuery:
    v = ValidationCollector()
    client = jurisdiction(v, request.client_jurisdiction, "client_jurisdiction")
    if not request.HasField("session_start"):
        v.add("session_start", "required")
    zone = _time_zone(v, request.client_time_zone, "client_time_zone")
    modality = protomap.modality_from_proto(request.modality)
    if modality is None:
        v.add("modality", "required")
    profession = protomap.profession_from_proto(request.profession)
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
    return FindQuery(
        client_jurisdiction=client,
        session_start=datetime_of(request.session_start),
        client_time_zone=zone,
        modality=modality,
        clinician_ids=tuple(ids),
        profession=profession,
    )


def check_request(cmd: CheckCommand) -> authorization_pb2.CheckAuthorizationRequest:
    return authorization_pb2.CheckAuthorizationRequest(
        clinician_id=cmd.clinician_id,
        client_jurisdiction=protomap.jurisdiction_to_proto(cmd.client_jurisdiction),
        clinician_jurisdiction=protomap.jurisdiction_to_proto(cmd.clinician_jurisdiction),
        session_start=timestamp(cmd.session_start),
        client_time_zone=cmd.client_time_zone,
        modality=protomap.modality_to_proto(cmd.modality),
        existing_client=cmd.existing_client,
        profession=protomap.profession_to_proto(cmd.profession),
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
        request=check_request(stored.command),
        reasons=[
            authorization_pb2.Reason(
                rule_id=r.rule_id,
                outcome=protomap.outcome_to_proto(r.outcome),
                message=r.message,
                credential_id=r.credential_id or "",
            )
            for r in stored.reasons
        ],
    )
    if stored.authority is not None:
        out.authority.CopyFrom(
            authorization_pb2.Authority(
                kind=protomap.authority_kind_to_proto(stored.authority.kind),
                credential_id=stored.authority.id,
            )
        )
    return out


def authorized_clinician(found: AuthorizedClinician) -> authorization_pb2.AuthorizedClinician:
    return authorization_pb2.AuthorizedClinician(
        clinician_id=found.clinician_id,
        authority=authorization_pb2.Authority(
            kind=protomap.authority_kind_to_proto(found.authority.kind), credential_id=found.authority.id
        ),
    )


# --------------------------------------------------------------------------------------------------
# Audit trail
# --------------------------------------------------------------------------------------------------


def _enum_number(
    wrapper: protomap.EnumWrapper[protomap.V], prefix: str, code: str, zero: protomap.V
) -> protomap.V:
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

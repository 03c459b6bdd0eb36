"""JSON documents for domain values stored in JSONB columns (credentials, verifications, coverage,
decision reasons). Dates are ISO strings, enums their values; decoding rebuilds the domain value, so
its constructor re-validates what the database holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from confide_compliance.domain.authorization import (
    AuthorityKind,
    AuthorityRef,
    Outcome,
    Reason,
    UsageKey,
)
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
    NpiEntityType,
    Profession,
    SocialWorkCategory,
    StateException,
    StateLicense,
    Verification,
    VerificationSource,
)
from confide_compliance.domain.modality import ModalityClass
from confide_compliance.domain.watch import Coverage

Json = dict[str, Any]


def _d(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _req_date(value: Any) -> date:
    return date.fromisoformat(value)


def verification_to_json(v: Verification | None) -> Json | None:
    if v is None:
        return None
    return {
        "source": v.source.value,
        "verified_at": v.verified_at.isoformat(),
        "verified_by": v.verified_by,
        "reference": v.reference,
    }


def verification_from_json(doc: Mapping[str, Any] | None) -> Verification | None:
    if not doc:
        return None
    return Verification(
        source=VerificationSource(doc["source"]),
        verified_at=datetime.fromisoformat(doc["verified_at"]),
        verified_by=doc["verified_by"],
        reference=doc.get("reference", ""),
    )


def _encumbrance_to_json(e: Encumbrance) -> Json:
    return {
        "kind": e.kind.value,
        "effective_on": e.effective_on.isoformat(),
        "ends_on": _d(e.ends_on),
        "reference": e.reference,
    }


def _encumbrance_from_json(doc: Mapping[str, Any]) -> Encumbrance:
    return Encumbrance(
        kind=EncumbranceKind(doc["kind"]),
        effective_on=_req_date(doc["effective_on"]),
        ends_on=_date(doc.get("ends_on")),
        reference=doc.get("reference", ""),
    )


def credential_to_json(c: Credential) -> Json:
    common: Json = {
        "id": c.id,
        "clinician_id": c.clinician_id,
        "status": c.status.value,
        "verification": verification_to_json(c.verification),
        "status_since": _d(c.status_since),
    }
    if isinstance(c, StateLicense):
        return common | {
            "type": "state_license",
            "jurisdiction": c.jurisdiction,
            "profession": c.profession.value,
            "license_type": c.license_type,
            "number": c.number,
            "issued_on": c.issued_on.isoformat(),
            "expires_on": c.expires_on.isoformat(),
            "level": c.level.value,
            "restrictions": [_encumbrance_to_json(e) for e in c.restrictions],
        }
    if isinstance(c, CompactAuthority):
        return common | {
            "type": "compact_authority",
            "kind": c.kind.value,
            "issued_on": c.issued_on.isoformat(),
            "expires_on": _d(c.expires_on),
            "jurisdiction": c.jurisdiction,
            "home_license_id": c.home_license_id,
            "prerequisite_id": c.prerequisite_id,
            "category": c.category.value if c.category else None,
            "number": c.number,
        }
    if isinstance(c, StateException):
        return common | {
            "type": "state_exception",
            "jurisdiction": c.jurisdiction,
            "rule_id": c.rule_id,
            "valid_from": c.valid_from.isoformat(),
            "valid_until": _d(c.valid_until),
            "home_license_id": c.home_license_id,
            "approval_reference": c.approval_reference,
            "approved_on": _d(c.approved_on),
            "notice_reference": c.notice_reference,
            "notice_filed_on": _d(c.notice_filed_on),
        }
    return common | {
        "type": "bc_tmh",
        "certificate_number": c.certificate_number,
        "issued_on": c.issued_on.isoformat(),
        "expires_on": c.expires_on.isoformat(),
    }


def credential_from_json(doc: Mapping[str, Any]) -> Credential:
    kind = doc["type"]
    status = CredentialStatus(doc["status"])
    verification = verification_from_json(doc.get("verification"))
    status_since = _date(doc.get("status_since"))
    if kind == "state_license":
        return StateLicense(
            id=doc["id"],
            clinician_id=doc["clinician_id"],
            jurisdiction=doc["jurisdiction"],
            profession=Profession(doc["profession"]),
            license_type=doc["license_type"],
            number=doc["number"],
            status=status,
            issued_on=_req_date(doc["issued_on"]),
            expires_on=_req_date(doc["expires_on"]),
            level=LicenseLevel(doc["level"]),
            restrictions=tuple(_encumbrance_from_json(e) for e in doc.get("restrictions", [])),
            verification=verification,
            status_since=status_since,
        )
    if kind == "compact_authority":
        return CompactAuthority(
            id=doc["id"],
            clinician_id=doc["clinician_id"],
            kind=CompactAuthorityKind(doc["kind"]),
            status=status,
            issued_on=_req_date(doc["issued_on"]),
            expires_on=_date(doc.get("expires_on")),
            jurisdiction=doc.get("jurisdiction"),
            home_license_id=doc.get("home_license_id"),
            prerequisite_id=doc.get("prerequisite_id"),
            category=SocialWorkCategory(doc["category"]) if doc.get("category") else None,
            number=doc.get("number", ""),
            verification=verification,
            status_since=status_since,
        )
    if kind == "state_exception":
        return StateException(
            id=doc["id"],
            clinician_id=doc["clinician_id"],
            jurisdiction=doc["jurisdiction"],
            rule_id=doc["rule_id"],
            status=status,
            valid_from=_req_date(doc["valid_from"]),
            valid_until=_date(doc.get("valid_until")),
            home_license_id=doc["home_license_id"],
            approval_reference=doc.get("approval_reference"),
            approved_on=_date(doc.get("approved_on")),
            notice_reference=doc.get("notice_reference"),
            notice_filed_on=_date(doc.get("notice_filed_on")),
            verification=verification,
            status_since=status_since,
        )
    if kind == "bc_tmh":
        return BcTmhCredential(
            id=doc["id"],
            clinician_id=doc["clinician_id"],
            certificate_number=doc["certificate_number"],
            status=status,
            issued_on=_req_date(doc["issued_on"]),
            expires_on=_req_date(doc["expires_on"]),
            verification=verification,
            status_since=status_since,
        )
    raise ValueError(f"unknown credential document type {kind!r}")


def npi_to_json(npi: Npi | None) -> Json | None:
    if npi is None:
        return None
    return {
        "value": npi.value,
        "entity_type": int(npi.entity_type),
        "verification": verification_to_json(npi.verification),
    }


def npi_from_json(doc: Mapping[str, Any] | None) -> Npi | None:
    if not doc:
        return None
    return Npi(
        value=doc["value"],
        entity_type=NpiEntityType(int(doc.get("entity_type", 1))),
        verification=verification_from_json(doc.get("verification")),
    )


def coverage_to_json(coverage: frozenset[Coverage]) -> list[list[str]]:
    return [[c.jurisdiction, c.modality_class.value] for c in sorted(coverage)]


def coverage_from_json(doc: Sequence[Sequence[str]] | None) -> frozenset[Coverage] | None:
    if doc is None:
        return None
    return frozenset(Coverage(j, ModalityClass(m)) for j, m in doc)


def reasons_to_json(reasons: Sequence[Reason]) -> list[Json]:
    return [
        {
            "rule_id": r.rule_id,
            "outcome": r.outcome.value,
            "message": r.message,
            "credential_id": r.credential_id,
        }
        for r in reasons
    ]


def reasons_from_json(doc: Sequence[Mapping[str, Any]]) -> tuple[Reason, ...]:
    return tuple(
        Reason(
            rule_id=r["rule_id"],
            outcome=Outcome(r["outcome"]),
            message=r["message"],
            credential_id=r.get("credential_id"),
        )
        for r in doc
    )


def authority_from_columns(kind: str | None, credential_id: str | None) -> AuthorityRef | None:
    if not kind or not credential_id:
        return None
    return AuthorityRef(AuthorityKind(kind), credential_id)


def usage_key_to_json(key: UsageKey | None) -> Json | None:
    if key is None:
        return None
    return {"authority_id": key.authority_id, "jurisdiction": key.jurisdiction, "year": key.year}


def usage_key_from_json(doc: Mapping[str, Any] | None) -> UsageKey | None:
    if not doc:
        return None
    return UsageKey(doc["authority_id"], doc["jurisdiction"], int(doc["year"]))

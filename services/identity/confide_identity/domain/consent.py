"""Telehealth informed consent: versioned documents per practice and signature records.

Design (docs/rules.md §2.3 design note): consent is versioned, per modality, per state where the
content differs, and re-collected when the client's state or the modality changes.

- A practice publishes numbered versions of its telehealth consent document; each lists the modalities
  and the jurisdictions it covers and when it takes effect. The *current* version is the highest version
  already in effect.
- A signature records who signed (the client, or a parent/guardian), which version, when, how (click,
  typed name, or verbal consent documented by a clinician - SAFE-10 allows verbal or written consent;
  SAFE-11 requires written consent in Indiana), and the client's state at signing.
- Booking a session (`check_booking_consent`) requires, for the current version: it covers the session's
  modality (SAFE-12) and the client's state (SAFE-10), and an unrevoked signature of that version given
  for that state - by the client, or by a guardian when the client is a minor for consent purposes in
  that state (IDN-MINOR-01, docs/rules.md §2.5).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

from confide_chassis.errors import FailedPrecondition, InvalidArgument, RuleViolation, ValidationCollector
from confide_identity.domain.age_of_consent import MinorConsentAssessment
from confide_identity.domain.common import require_utc
from confide_identity.domain.jurisdictions import normalize_jurisdiction
from confide_identity.domain.rules import IDN_MINOR_01, SAFE_10, SAFE_11, SAFE_12

WRITTEN_CONSENT_JURISDICTIONS: Final[frozenset[str]] = frozenset({"IN"})
"""SAFE-11: written consent required (applied to every profession, the conservative reading)."""
_SHA256_HEX_LENGTH: Final = 64


class Modality(StrEnum):
    VIDEO = "video"
    AUDIO_ONLY = "audio_only"
    LIVE_CHAT = "live_chat"
    ASYNC_MESSAGING = "async_messaging"
    EMAIL = "email"
    SMS = "sms"


class SignatureMethod(StrEnum):
    CLICK = "click"
    TYPED = "typed"
    VERBAL_DOCUMENTED_BY_CLINICIAN = "verbal_documented_by_clinician"


class SignerRole(StrEnum):
    CLIENT = "client"
    GUARDIAN = "guardian"


@dataclass(frozen=True, slots=True)
class ConsentDocument:
    document_id: UUID
    practice_id: UUID
    version: int
    effective_at: datetime
    modalities: frozenset[Modality]
    jurisdictions: frozenset[str]
    content_sha256: str
    """Hash of the exact text shown to the signer (the text itself is stored by the app layer)."""
    published_at: datetime

    def in_effect(self, now: datetime) -> bool:
        return self.effective_at <= now

    def covers(self, modality: Modality, jurisdiction: str) -> bool:
        return modality in self.modalities and jurisdiction in self.jurisdictions


@dataclass(frozen=True, slots=True)
class ConsentSignature:
    signature_id: UUID
    practice_id: UUID
    client_id: UUID
    document_id: UUID
    document_version: int
    jurisdiction: str
    """The client's state when signing; a move to another state needs a new signature."""
    signer_role: SignerRole
    signed_by: UUID
    """User who performed the signature: the client, the guardian's account, or the documenting clinician."""
    method: SignatureMethod
    signed_at: datetime
    signer_name: str | None = None
    """Typed name (TYPED) or the guardian's name; PHI - stays in the identity database."""
    documented_by: UUID | None = None
    """Clinician who documented verbal consent (VERBAL_DOCUMENTED_BY_CLINICIAN)."""
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def publish_consent_document(
    *,
    document_id: UUID,
    practice_id: UUID,
    version: int,
    effective_at: datetime,
    modalities: Iterable[str],
    jurisdictions: Iterable[str],
    content_sha256: str,
    existing: Iterable[ConsentDocument],
    now: datetime,
) -> ConsentDocument:
    """Validate a new version: numbers only go up, at least one modality and jurisdiction, known codes,
    effective no earlier than now (a published version never changes retroactively)."""
    require_utc(now)
    require_utc(effective_at, "effective_at")
    errors = ValidationCollector()
    same_practice = [doc for doc in existing if doc.practice_id == practice_id]
    latest = max((doc.version for doc in same_practice), default=0)
    errors.require(version > latest, "document.version", f"must be greater than {latest}")
    errors.require(effective_at >= now, "document.effective_at", "must not be in the past")

    parsed_modalities: set[Modality] = set()
    for index, raw in enumerate(modalities):
        try:
            parsed_modalities.add(Modality(raw))
        except ValueError:
            errors.add(f"document.modalities[{index}]", "unknown modality")
    errors.require(bool(parsed_modalities), "document.modalities", "at least one modality is required")

    parsed_states: set[str] = set()
    for index, raw in enumerate(jurisdictions):
        code = normalize_jurisdiction(raw)
        if code is None:
            errors.add(f"document.jurisdictions[{index}]", "must be a two-letter US state or territory code")
        else:
            parsed_states.add(code)
    errors.require(bool(parsed_states), "document.jurisdictions", "at least one jurisdiction is required")

    digest = content_sha256.lower()
    errors.require(
        len(digest) == _SHA256_HEX_LENGTH and all(char in "0123456789abcdef" for char in digest),
        "document.content_sha256",
        "must be a hex SHA-256 digest",
    )
    errors.raise_if_any()
    return ConsentDocument(
        document_id=document_id,
        practice_id=practice_id,
        version=version,
        effective_at=effective_at,
        modalities=frozenset(parsed_modalities),
        jurisdictions=frozenset(parsed_states),
        content_sha256=digest,
        published_at=now,
    )


def current_consent_document(
    documents: Iterable[ConsentDocument], *, practice_id: UUID, now: datetime
) -> ConsentDocument | None:
    """The practice's highest version already in effect at `now`."""
    require_utc(now)
    in_effect = [doc for doc in documents if doc.practice_id == practice_id and doc.in_effect(now)]
    return max(in_effect, key=lambda doc: doc.version, default=None)


def _violation(rule_id: str, description: str) -> FailedPrecondition:
    return FailedPrecondition(RuleViolation(rule_id, description, subject="telehealth_consent"))


def sign_consent(
    document: ConsentDocument,
    *,
    signature_id: UUID,
    client_id: UUID,
    client_practice_id: UUID,
    jurisdiction: str,
    signer_role: SignerRole,
    signed_by: UUID,
    method: SignatureMethod,
    now: datetime,
    signer_name: str | None = None,
    documented_by: UUID | None = None,
) -> ConsentSignature:
    """Record a signature of `document` for a client in `jurisdiction` (their state now).

    Who may sign for whom (client themself, guardian, documenting clinician on the care team) is checked
    by `authorization.authorize`; this checks the record itself.
    """
    require_utc(now)
    errors = ValidationCollector()
    state = normalize_jurisdiction(jurisdiction)
    errors.require(state is not None, "jurisdiction", "must be a two-letter US state or territory code")
    name = " ".join((signer_name or "").split()) or None
    if method is SignatureMethod.TYPED:
        errors.require(name is not None, "signer_name", "a typed signature needs the typed name")
    if signer_role is SignerRole.GUARDIAN:
        errors.require(name is not None, "signer_name", "the guardian's name is required")
    if method is SignatureMethod.VERBAL_DOCUMENTED_BY_CLINICIAN:
        errors.require(
            documented_by is not None, "documented_by", "verbal consent needs the documenting clinician"
        )
    elif documented_by is not None:
        errors.add("documented_by", "only verbal consent is documented by a clinician")
    if errors.violations:
        raise InvalidArgument(errors.violations)
    assert state is not None

    if document.practice_id != client_practice_id:
        raise _violation(SAFE_10, "the consent document belongs to another practice")
    if not document.in_effect(now):
        raise _violation(SAFE_10, "this consent version is not in effect yet")
    if state not in document.jurisdictions:
        raise _violation(SAFE_10, "this consent version does not cover the client's state")
    if method is SignatureMethod.VERBAL_DOCUMENTED_BY_CLINICIAN and state in WRITTEN_CONSENT_JURISDICTIONS:
        raise _violation(SAFE_11, "written telehealth consent is required in this state")

    return ConsentSignature(
        signature_id=signature_id,
        practice_id=document.practice_id,
        client_id=client_id,
        document_id=document.document_id,
        document_version=document.version,
        jurisdiction=state,
        signer_role=signer_role,
        signed_by=signed_by,
        method=method,
        signed_at=now,
        signer_name=name,
        documented_by=documented_by,
    )


def revoke_consent(signature: ConsentSignature, *, now: datetime) -> ConsentSignature:
    """The client withdraws consent (idempotent). Future bookings are blocked until a new signature."""
    require_utc(now)
    return signature if signature.revoked_at is not None else replace(signature, revoked_at=now)


def consent_violations(
    *,
    client_id: UUID,
    practice_id: UUID,
    jurisdiction: str,
    modality: Modality,
    documents: Iterable[ConsentDocument],
    signatures: Iterable[ConsentSignature],
    minor: MinorConsentAssessment,
    now: datetime,
) -> tuple[RuleViolation, ...]:
    """Every reason the client may not be booked for `modality` now (empty when consent is in order).

    `minor` is the age-of-consent assessment of the client in `jurisdiction` on the session date.
    """
    require_utc(now)
    subject = "telehealth_consent"
    state = jurisdiction.strip().upper()
    if minor.jurisdiction != state:
        raise ValueError("the minor assessment must be made for the booking's jurisdiction")
    document = current_consent_document(documents, practice_id=practice_id, now=now)
    if document is None:
        return (RuleViolation(SAFE_10, "the practice has no telehealth consent document in effect", subject),)
    violations: list[RuleViolation] = []
    if modality not in document.modalities:
        violations.append(RuleViolation(SAFE_12, "the current consent does not cover this modality", subject))
    if state not in document.jurisdictions:
        violations.append(
            RuleViolation(SAFE_10, "the current consent does not cover the client's state", subject)
        )

    valid = [
        sig
        for sig in signatures
        if sig.active
        and sig.client_id == client_id
        and sig.practice_id == practice_id
        and sig.document_id == document.document_id
        and sig.document_version == document.version
        and sig.jurisdiction == state
        and sig.signed_at <= now
    ]
    if minor.guardian_consent_required:
        if not any(sig.signer_role is SignerRole.GUARDIAN for sig in valid):
            violations.append(
                RuleViolation(
                    IDN_MINOR_01,
                    "a parent/guardian must sign the current telehealth consent for a minor"
                    " (docs/rules.md §2.5)",
                    subject,
                )
            )
    elif not any(
        sig.signer_role is SignerRole.CLIENT or (minor.is_minor and sig.signer_role is SignerRole.GUARDIAN)
        for sig in valid
    ):
        # a minor old enough to consent alone signs themself; a parent may still consent for them (e.g. PA)
        violations.append(
            RuleViolation(SAFE_10, "the client has not signed the current telehealth consent", subject)
        )
    return tuple(violations)


def check_booking_consent(
    *,
    client_id: UUID,
    practice_id: UUID,
    jurisdiction: str,
    modality: Modality,
    documents: Iterable[ConsentDocument],
    signatures: Iterable[ConsentSignature],
    minor: MinorConsentAssessment,
    now: datetime,
) -> None:
    """Raise `FailedPrecondition` (rule ids SAFE-10, SAFE-12, IDN-MINOR-01) unless consent allows booking."""
    violations = consent_violations(
        client_id=client_id,
        practice_id=practice_id,
        jurisdiction=jurisdiction,
        modality=modality,
        documents=documents,
        signatures=signatures,
        minor=minor,
        now=now,
    )
    if violations:
        raise FailedPrecondition(violations, message="telehealth consent is missing or out of date")

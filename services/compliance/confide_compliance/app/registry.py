"""Credential registry use cases: every change a new version with who/when/why, its verification
records, its audit event, and the events consumers need (AuthorizationChanged when coverage changes,
LicenseSuspended when a credential becomes suspended, revoked or encumbered) — all in one
transaction with the outbox.

Rules enforced here (besides the domain's shape checks):
- clinicians are scoped to the caller's practice: another practice's clinician is NOT_FOUND;
- a change of a credential's content clears its verification unless the request carries a new one
  (a changed record must be re-verified against the primary source before it authorizes, LIC-70);
- a verification's source must be the primary source for that kind of credential (LIC-70, LIC-17,
  LIC-71, LIC-73, LIC-80);
- references must resolve: APIT → E.Passport, TAP → IPC (LIC-16), privilege and exception → a home
  license of the same clinician (LIC-22, LIC-03), exception → a rule in the reference data;
- writing the same content again is a no-op (no version, no event), so retries are safe.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from confide_chassis import audit
from confide_chassis.auth import Principal
from confide_chassis.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuleViolation,
    ValidationCollector,
)
from confide_chassis.events import OutgoingEvent
from confide_chassis.ids import new_id_str
from confide_chassis.logging import get_logger
from confide_chassis.roles import CLINICIAN
from confide_compliance import metrics
from confide_compliance.app import events
from confide_compliance.app.commands import (
    PutCredential,
    RecordPracticeUser,
    RecordVerification,
    SetNpi,
    UpsertClinician,
    VerificationInput,
)
from confide_compliance.app.common import (
    REGISTRY_ADMINS,
    announce_coverage,
    clinician_credentials,
    compute_coverage,
    practice_of,
    require_id,
    require_reason,
)
from confide_compliance.app.context import AppContext
from confide_compliance.app.ports import Page, Paged, UnitOfWork
from confide_compliance.domain.credentials import (
    CompactAuthority,
    CompactAuthorityKind,
    Credential,
    CredentialStatus,
    StateException,
    StateLicense,
    Verification,
    VerificationSource,
)
from confide_compliance.domain.records import (
    CLINICIAN_RECORD,
    CREDENTIAL_RECORD,
    NPI_RECORD_ID,
    ClinicianRecord,
    CredentialRecord,
    HistoryEntry,
    VerificationRecord,
    credential_kind,
)
from confide_compliance.domain.watch import Coverage

log = get_logger(__name__)

# The primary source each kind of record may be verified against.
ALLOWED_SOURCES: dict[str, frozenset[VerificationSource]] = {
    "state_license": frozenset(
        {VerificationSource.STATE_BOARD, VerificationSource.ASPPB, VerificationSource.NURSYS}
    ),  # LIC-70, LIC-71 (ASPPB is accepted as primary source), Nursys for nurses
    "psypact_e_passport": frozenset({VerificationSource.ASPPB}),  # LIC-71
    "psypact_ipc": frozenset({VerificationSource.ASPPB}),  # LIC-71
    "psypact_apit": frozenset({VerificationSource.PSYPACT_COMMISSION}),  # LIC-17
    "psypact_tap": frozenset({VerificationSource.PSYPACT_COMMISSION}),  # LIC-17
    "counseling_compact_privilege": frozenset({VerificationSource.COMPACT_CONNECT}),  # LIC-70
    "social_work_multistate_license": frozenset({VerificationSource.STATE_BOARD}),
    "nlc_multistate_license": frozenset({VerificationSource.NURSYS}),  # LIC-70
    "state_exception": frozenset({VerificationSource.STATE_BOARD}),
    "bc_tmh": frozenset({VerificationSource.CCE}),  # LIC-80
    NPI_RECORD_ID: frozenset({VerificationSource.NPPES}),  # LIC-73
}

# How far in the future a verification time may be (clock skew), and how far back.
_CLOCK_SKEW = timedelta(minutes=5)

_PREREQUISITES = {
    CompactAuthorityKind.PSYPACT_APIT: CompactAuthorityKind.PSYPACT_E_PASSPORT,
    CompactAuthorityKind.PSYPACT_TAP: CompactAuthorityKind.PSYPACT_IPC,
}


@dataclass(frozen=True, slots=True)
class CredentialChange:
    record: CredentialRecord
    changed: bool
    authorization_changed: bool = False
    verification: VerificationRecord | None = None


@dataclass(frozen=True, slots=True)
class ClinicianChange:
    record: ClinicianRecord
    changed: bool
    authorization_changed: bool = False
    verification: VerificationRecord | None = None


@dataclass(frozen=True, slots=True)
class CoverageReport:
    coverage: frozenset[Coverage]
    reference_data_version: str


def _status_since(credential: Credential, existing: Credential | None, today: date) -> Credential:
    """Default `status_since`: kept while the status is unchanged, today when it changes."""
    if credential.status_since is not None:
        return credential
    if existing is not None and existing.status is credential.status:
        since = existing.status_since
    elif existing is None and credential.status is CredentialStatus.ACTIVE:
        since = None
    else:
        since = today
    return dataclasses.replace(credential, status_since=since)


def _content(credential: Credential) -> Credential:
    return dataclasses.replace(credential, verification=None)


class Registry:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    # -- access ----------------------------------------------------------------------------------

    @staticmethod
    def _may_read(actor: Principal, clinician_id: str) -> None:
        if actor.has_any_role(REGISTRY_ADMINS):
            return
        if CLINICIAN in actor.roles and actor.subject == clinician_id:
            return
        raise PermissionDenied("only practice admins, compliance officers and the clinician may read this")

    async def _clinician_for_write(
        self, uow: UnitOfWork, practice: str, clinician_id: str
    ) -> ClinicianRecord:
        clinician = await uow.clinicians.get(clinician_id, practice_id=practice, for_update=True)
        if clinician is None:
            raise NotFound("no such clinician in this practice (register them with UpsertClinician first)")
        return clinician

    def _verification(
        self, actor: Principal, given: VerificationInput, kind: str, now: datetime
    ) -> Verification:
        v = ValidationCollector()
        if given.source is None:
            v.add("verification.source", "must be set")
        elif given.source not in ALLOWED_SOURCES[kind]:
            allowed = ", ".join(sorted(s.value for s in ALLOWED_SOURCES[kind]))
            v.add(
                "verification.source",
                f"{given.source.value} is not a primary source for {kind} (LIC-70); use {allowed}",
            )
        verified_at = given.verified_at or now
        if verified_at > now + _CLOCK_SKEW:
            v.add("verification.verified_at", "must not be in the future")
        if len(given.reference) > 200:
            v.add("verification.reference", "at most 200 characters")
        v.raise_if_any()
        assert given.source is not None
        return Verification(
            source=given.source, verified_at=verified_at, verified_by=actor.subject, reference=given.reference
        )

    def _check_references(self, credential: Credential, all_credentials: list[Credential]) -> None:
        by_id = {c.id: c for c in all_credentials}
        v = ValidationCollector()
        if isinstance(credential, CompactAuthority):
            prerequisite_kind = _PREREQUISITES.get(credential.kind)
            if prerequisite_kind is not None:
                prerequisite = by_id.get(credential.prerequisite_id or "")
                if (
                    not isinstance(prerequisite, CompactAuthority)
                    or prerequisite.kind is not prerequisite_kind
                ):
                    v.add(
                        "authority.prerequisite_id",
                        f"must be the id of this clinician's {prerequisite_kind.value} (LIC-16)",
                    )
            if credential.kind is CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE and not isinstance(
                by_id.get(credential.home_license_id or ""), StateLicense
            ):
                v.add(
                    "authority.home_license_id",
                    "must be the id of this clinician's home-state license (LIC-22)",
                )
        if isinstance(credential, StateException):
            if not isinstance(by_id.get(credential.home_license_id), StateLicense):
                v.add("exception.home_license_id", "must be the id of this clinician's license (LIC-03)")
            rule = self._ctx.reference.exception_rule(credential.rule_id)
            if rule is None:
                v.add(
                    "exception.rule_id",
                    f"not a state exception rule of reference data {self._ctx.reference.version}",
                )
            elif rule.jurisdiction != credential.jurisdiction:
                v.add("exception.jurisdiction", f"rule {rule.id} is for {rule.jurisdiction}")
        v.raise_if_any()

    # -- writes ----------------------------------------------------------------------------------

    async def upsert_clinician(self, actor: Principal, command: UpsertClinician) -> ClinicianChange:
        practice = practice_of(actor)
        clinician_id = require_id(command.clinician_id, "clinician_id")
        reason = require_reason(command.reason)
        expected_version = command.expected_version
        now, today = self._ctx.now(), self._ctx.today()
        async with self._ctx.uow() as uow:
            existing = await uow.clinicians.get(clinician_id, practice_id=None, for_update=True)
            if existing is not None and existing.practice_id != practice:
                raise NotFound("no such clinician in this practice")
            if existing is None and await uow.practice_users.practice_of(clinician_id) not in (
                None,
                practice,
            ):
                # Identity says this person is of another practice: registering them here would
                # squat their id and leave their own practice unable to register them.
                raise NotFound("no such clinician in this practice")
            _check_version(expected_version, existing.version if existing else 0)
            record = ClinicianRecord(
                clinician_id=clinician_id,
                practice_id=practice,
                version=existing.version + 1 if existing else 1,
                updated_at=now,
                updated_by=actor.subject,
                practice_jurisdiction=command.practice_jurisdiction,
                is_supervisee=command.is_supervisee,
                primary_profession=command.primary_profession,
                npi=existing.npi if existing else None,
                coverage=existing.coverage if existing else None,
                coverage_on=existing.coverage_on if existing else None,
            )
            if existing is not None and existing.same_profile(record):
                return ClinicianChange(existing, changed=False)
            if existing is None:
                if not await uow.clinicians.add(record):
                    raise Conflict("the clinician was registered concurrently: re-read and retry")
            else:
                await uow.clinicians.update(record)
            await uow.history.add(
                HistoryEntry(
                    practice_id=practice,
                    clinician_id=clinician_id,
                    record_type=CLINICIAN_RECORD,
                    record_id=clinician_id,
                    version=record.version,
                    change="created" if existing is None else "updated",
                    changed_at=now,
                    changed_by=actor.subject,
                    reason=reason,
                    snapshot=record,
                )
            )
            items = await uow.credentials.of_clinician(clinician_id)
            changed = await announce_coverage(
                uow,
                self._ctx,
                record,
                clinician_credentials(clinician_id, record, items),
                today=today,
                before=clinician_credentials(clinician_id, existing, items) if existing else None,
                rule_ids=("LIC-02", "LIC-14") if existing else ("LIC-03",),
            )
            uow.publish(
                events.audit(
                    action=audit.CREATE if existing is None else audit.UPDATE,
                    resource_type="compliance.clinician",
                    resource_id=clinician_id,
                    subject_person_id=clinician_id,
                    actor=actor,
                    occurred_at=now,
                )
            )
            await uow.commit()
        _count("clinician", changed)
        return ClinicianChange(record, changed=True, authorization_changed=changed)

    async def put_credential(self, actor: Principal, command: PutCredential) -> CredentialChange:
        """Add (new id) or replace a credential of a clinician of the caller's practice."""
        practice = practice_of(actor)
        credential = dataclasses.replace(
            command.credential,
            id=require_id(command.credential.id, "credential_id"),
            clinician_id=require_id(command.credential.clinician_id, "clinician_id"),
        )
        reason = require_reason(command.reason)
        verification, expected_version = command.verification, command.expected_version
        now, today = self._ctx.now(), self._ctx.today()
        kind = credential_kind(credential)
        verified = self._verification(actor, verification, kind, now) if verification else None
        async with self._ctx.uow() as uow:
            clinician = await self._clinician_for_write(uow, practice, credential.clinician_id)
            before = await uow.credentials.of_clinician(clinician.clinician_id)
            existing = next((r for r in before if r.credential_id == credential.id), None)
            if existing is None:
                if await uow.credentials.owner(credential.id) is not None:
                    raise AlreadyExists("credential_id is already in use")
            elif credential_kind(existing.credential) != kind:
                raise InvalidArgument.field(
                    "credential_id", f"is a {credential_kind(existing.credential)}, not a {kind}"
                )
            _check_version(expected_version, existing.version if existing else 0)

            old = existing.credential if existing else None
            candidate = _status_since(credential, old, today)
            if verified is not None:
                final = dataclasses.replace(candidate, verification=verified)
            elif old is not None and _content(old) == _content(candidate):
                final = dataclasses.replace(candidate, verification=old.verification)
            else:
                final = _content(candidate)  # new content: must be (re-)verified (LIC-70)
            if existing is not None and old == final:
                return CredentialChange(existing, changed=False)

            others = [r.credential for r in before if r.credential_id != final.id]
            self._check_references(final, [*others, final])
            after_credentials = clinician_credentials(clinician.clinician_id, clinician, [*others, final])
            record = CredentialRecord(
                credential=final,
                practice_id=practice,
                version=existing.version + 1 if existing else 1,
                updated_at=now,
                updated_by=actor.subject,
            )
            if existing is None:
                if not await uow.credentials.add(record):
                    raise Conflict("the credential id was used concurrently: re-read and retry")
            else:
                await uow.credentials.update(record)
            await uow.history.add(
                HistoryEntry(
                    practice_id=practice,
                    clinician_id=clinician.clinician_id,
                    record_type=CREDENTIAL_RECORD,
                    record_id=final.id,
                    version=record.version,
                    change="created" if existing is None else "updated",
                    changed_at=now,
                    changed_by=actor.subject,
                    reason=reason,
                    snapshot=record,
                )
            )
            verification_record = None
            if verified is not None:
                verification_record = await self._record_verification(
                    uow, practice, clinician.clinician_id, final.id, record.version, verified, now
                )
            notices = await self._announce_status(uow, clinician, final, old, today, now)
            rule_ids = events.rule_ids_for(final)
            if verified is not None or (old is not None and old.verification != final.verification):
                rule_ids = (*rule_ids, "LIC-70")
            changed = await announce_coverage(
                uow,
                self._ctx,
                clinician,
                after_credentials,
                today=today,
                before=clinician_credentials(clinician.clinician_id, clinician, before),
                rule_ids=rule_ids,
            )
            uow.publish(
                events.audit(
                    action=audit.CREATE if existing is None else audit.UPDATE,
                    resource_type=events.resource_type_of(final),
                    resource_id=final.id,
                    subject_person_id=clinician.clinician_id,
                    actor=actor,
                    occurred_at=now,
                )
            )
            await uow.commit()
        _count(kind, changed, notices)
        return CredentialChange(
            record, changed=True, authorization_changed=changed, verification=verification_record
        )

    async def set_npi(self, actor: Principal, command: SetNpi) -> ClinicianChange:
        """Set or remove the clinician's NPI (LIC-73: an identifier, not a license — no coverage change)."""
        practice = practice_of(actor)
        clinician_id = require_id(command.clinician_id, "clinician_id")
        reason = require_reason(command.reason)
        npi, verification, expected_version = command.npi, command.verification, command.expected_version
        now = self._ctx.now()
        verified = self._verification(actor, verification, NPI_RECORD_ID, now) if verification else None
        if npi is None and verified is not None:
            raise InvalidArgument.field("verification", "there is no NPI to verify")
        async with self._ctx.uow() as uow:
            existing = await self._clinician_for_write(uow, practice, clinician_id)
            _check_version(expected_version, existing.version)
            new_npi = npi
            if npi is not None:
                if verified is not None:
                    new_npi = dataclasses.replace(npi, verification=verified)
                elif existing.npi is not None and existing.npi.value == npi.value:
                    new_npi = dataclasses.replace(npi, verification=existing.npi.verification)
            if new_npi == existing.npi:
                return ClinicianChange(existing, changed=False)
            record = dataclasses.replace(
                existing, npi=new_npi, version=existing.version + 1, updated_at=now, updated_by=actor.subject
            )
            await uow.clinicians.update(record)
            await uow.history.add(
                HistoryEntry(
                    practice_id=practice,
                    clinician_id=clinician_id,
                    record_type=CLINICIAN_RECORD,
                    record_id=clinician_id,
                    version=record.version,
                    change="updated",
                    changed_at=now,
                    changed_by=actor.subject,
                    reason=reason,
                    snapshot=record,
                )
            )
            verification_record = None
            if verified is not None:
                verification_record = await self._record_verification(
                    uow, practice, clinician_id, NPI_RECORD_ID, record.version, verified, now
                )
            uow.publish(
                events.audit(
                    action=audit.UPDATE,
                    resource_type="compliance.npi",
                    resource_id=clinician_id,
                    subject_person_id=clinician_id,
                    actor=actor,
                    occurred_at=now,
                )
            )
            await uow.commit()
        _count(NPI_RECORD_ID, False)
        return ClinicianChange(record, changed=True, verification=verification_record)

    async def record_verification(
        self, actor: Principal, command: RecordVerification
    ) -> CredentialChange | ClinicianChange:
        """Attach a verification to a credential (`target` = its id) or to the NPI (`target` = "npi")."""
        if command.target == NPI_RECORD_ID:
            return await self._verify_npi(actor, command)
        practice = practice_of(actor)
        clinician_id = require_id(command.clinician_id, "clinician_id")
        target = require_id(command.target, "credential_id")
        reason = require_reason(command.reason)
        verification = command.verification
        now, today = self._ctx.now(), self._ctx.today()
        async with self._ctx.uow() as uow:
            clinician = await self._clinician_for_write(uow, practice, clinician_id)
            before = await uow.credentials.of_clinician(clinician_id)
            existing = next((r for r in before if r.credential_id == target), None)
            if existing is None:
                raise NotFound("no such credential for this clinician")
            verified = self._verification(actor, verification, credential_kind(existing.credential), now)
            final = dataclasses.replace(existing.credential, verification=verified)
            if final == existing.credential:
                return CredentialChange(existing, changed=False)
            record = dataclasses.replace(
                existing,
                credential=final,
                version=existing.version + 1,
                updated_at=now,
                updated_by=actor.subject,
            )
            await uow.credentials.update(record)
            await uow.history.add(
                HistoryEntry(
                    practice_id=practice,
                    clinician_id=clinician_id,
                    record_type=CREDENTIAL_RECORD,
                    record_id=final.id,
                    version=record.version,
                    change="verified",
                    changed_at=now,
                    changed_by=actor.subject,
                    reason=reason,
                    snapshot=record,
                )
            )
            verification_record = await self._record_verification(
                uow, practice, clinician_id, final.id, record.version, verified, now
            )
            others = [r.credential for r in before if r.credential_id != final.id]
            changed = await announce_coverage(
                uow,
                self._ctx,
                clinician,
                clinician_credentials(clinician_id, clinician, [*others, final]),
                today=today,
                before=clinician_credentials(clinician_id, clinician, before),
                rule_ids=(*events.rule_ids_for(final), "LIC-70"),
            )
            uow.publish(
                events.audit(
                    action=audit.UPDATE,
                    resource_type=events.resource_type_of(final),
                    resource_id=final.id,
                    subject_person_id=clinician_id,
                    actor=actor,
                    occurred_at=now,
                )
            )
            await uow.commit()
        _count("verification", changed)
        return CredentialChange(
            record, changed=True, authorization_changed=changed, verification=verification_record
        )

    async def _verify_npi(self, actor: Principal, command: RecordVerification) -> ClinicianChange:
        practice = practice_of(actor)
        clinician_id = require_id(command.clinician_id, "clinician_id")
        async with self._ctx.uow() as uow:
            clinician = await uow.clinicians.get(clinician_id, practice_id=practice)
        if clinician is None:
            raise NotFound("no such clinician in this practice")
        if clinician.npi is None:
            raise FailedPrecondition(RuleViolation("LIC-73", "the clinician has no NPI on record to verify"))
        return await self.set_npi(
            actor,
            SetNpi(clinician_id, clinician.npi, command.reason, verification=command.verification),
        )

    async def _record_verification(
        self,
        uow: UnitOfWork,
        practice: str,
        clinician_id: str,
        record_id: str,
        version: int,
        verification: Verification,
        now: datetime,
    ) -> VerificationRecord:
        record = VerificationRecord(
            verification_id=new_id_str(),
            practice_id=practice,
            clinician_id=clinician_id,
            record_id=record_id,
            record_version=version,
            verification=verification,
            recorded_at=now,
        )
        await uow.verifications.add(record)
        return record

    async def _announce_status(
        self,
        uow: UnitOfWork,
        clinician: ClinicianRecord,
        credential: Credential,
        old: Credential | None,
        today: date,
        now: datetime,
    ) -> list[str]:
        """LicenseSuspended when a credential becomes suspended, revoked or encumbered. The dedupe key
        is the one the expiry watch derives, so the watch does not announce it a second time. Returns
        the statuses announced."""
        status = credential.status
        if status in (CredentialStatus.SUSPENDED, CredentialStatus.REVOKED) and (
            old is None or old.status is not status
        ):
            since = credential.status_since or today
            return await self._publish_once(
                uow,
                clinician,
                credential,
                f"{credential.id}:{status.value}:{since.isoformat()}",
                status.value,
                since,
                now,
            )
        if not isinstance(credential, StateLicense):
            return []
        previous = old if isinstance(old, StateLicense) else None
        if status is CredentialStatus.PROBATION and (previous is None or previous.status is not status):
            since = credential.status_since or today
            return await self._publish_once(
                uow,
                clinician,
                credential,
                f"{credential.id}:encumbered:{since.isoformat()}",
                "encumbered",
                since,
                now,
            )
        known = set(previous.encumbrances_on(today)) if previous else set()
        for encumbrance in credential.encumbrances_on(today):
            if encumbrance not in known:
                return await self._publish_once(
                    uow,
                    clinician,
                    credential,
                    f"{credential.id}:encumbered:{encumbrance.effective_on.isoformat()}",
                    "encumbered",
                    encumbrance.effective_on,
                    now,
                )
        return []

    async def _publish_once(
        self,
        uow: UnitOfWork,
        clinician: ClinicianRecord,
        credential: Credential,
        key: str,
        status: str,
        since: date,
        now: datetime,
    ) -> list[str]:
        outgoing = OutgoingEvent.from_message(events.license_suspended(credential, status, since))
        if not await uow.notices.claim(
            key,
            practice_id=clinician.practice_id,
            clinician_id=clinician.clinician_id,
            credential_id=credential.id,
            milestone=status,
            event_id=outgoing.event_id,
            sent_at=now,
        ):
            return []
        uow.publish(outgoing)
        return [status]

    async def record_practice_user(self, command: RecordPracticeUser) -> None:
        """Remember which practice a user belongs to (identity's events); a registry record of that
        id in another practice (registered before identity's event arrived) is reported."""
        async with self._ctx.uow() as uow:
            await uow.practice_users.record(command.user_id, command.practice_id, command.occurred_at)
            registered = await uow.clinicians.get(command.user_id, practice_id=None)
            await uow.commit()
        if registered is not None and registered.practice_id != command.practice_id:
            metrics.registry_conflicts_total.labels(metrics.SERVICE).inc()
            log.warning(
                "a clinician is registered in another practice than identity's",
                clinician_id=command.user_id,
            )

    # -- reads -----------------------------------------------------------------------------------

    async def clinician(
        self, actor: Principal, clinician_id: str
    ) -> tuple[ClinicianRecord, list[CredentialRecord]]:
        practice = practice_of(actor)
        clinician_id = require_id(clinician_id, "clinician_id")
        self._may_read(actor, clinician_id)
        async with self._ctx.uow() as uow:
            clinician = await uow.clinicians.get(clinician_id, practice_id=practice)
            if clinician is None:
                raise NotFound("no such clinician in this practice")
            return clinician, await uow.credentials.of_clinician(clinician_id)

    async def history(
        self, actor: Principal, clinician_id: str, record_id: str | None, page: Page
    ) -> Paged[HistoryEntry]:
        practice = practice_of(actor)
        clinician_id = require_id(clinician_id, "clinician_id")
        self._may_read(actor, clinician_id)
        if record_id == CLINICIAN_RECORD:
            record_id = clinician_id
        elif record_id:
            record_id = require_id(record_id, "record_id")
        async with self._ctx.uow() as uow:
            if await uow.clinicians.get(clinician_id, practice_id=practice) is None:
                raise NotFound("no such clinician in this practice")
            return await uow.history.page(practice, clinician_id, record_id or None, page)

    async def verifications(self, actor: Principal, clinician_id: str) -> list[VerificationRecord]:
        practice = practice_of(actor)
        clinician_id = require_id(clinician_id, "clinician_id")
        self._may_read(actor, clinician_id)
        async with self._ctx.uow() as uow:
            if await uow.clinicians.get(clinician_id, practice_id=practice) is None:
                raise NotFound("no such clinician in this practice")
            return await uow.verifications.of_clinician(practice, clinician_id)

    async def coverage(self, actor: Principal, clinician_id: str, on: date | None) -> CoverageReport:
        clinician, items = await self.clinician(actor, clinician_id)
        credentials = clinician_credentials(clinician.clinician_id, clinician, items)
        covered = await compute_coverage(credentials, self._ctx.reference, on or self._ctx.today())
        return CoverageReport(covered, self._ctx.reference.version)


def _count(record: str, authorization_changed: bool, notices: list[str] | None = None) -> None:
    """Metrics, after the transaction committed."""
    metrics.registry_changes_total.labels(record).inc()
    if authorization_changed:
        metrics.authorization_changes_total.labels("registry").inc()
    for milestone in notices or ():
        metrics.license_notices_total.labels(milestone).inc()


def _check_version(expected: int, current: int) -> None:
    if expected < 0:
        raise InvalidArgument.field("expected_version", "must not be negative")
    if expected and expected != current:
        raise Conflict(f"the record is at version {current}, not {expected}: re-read and retry")

"""Repositories over PostgreSQL (SQLAlchemy Core, asyncpg): one per aggregate, each on the unit of
work's session (`db.uow`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from confide_compliance.app.ports import AuditFilter, Page, Paged
from confide_compliance.db import codec
from confide_compliance.db.locks import advisory_xact_lock
from confide_compliance.db.tables import (
    audit_records,
    authority_day_usage,
    clinicians,
    credentials,
    decisions,
    expiry_notices,
    practice_users,
    registry_history,
    verifications,
)
from confide_compliance.domain.audit import AuditEntry, ChainedRecord
from confide_compliance.domain.authorization import Usage, UsageKey
from confide_compliance.domain.credentials import (
    CompactAuthority,
    Profession,
    StateException,
    StateLicense,
    Verification,
    VerificationSource,
)
from confide_compliance.domain.modality import Modality
from confide_compliance.domain.records import (
    CLINICIAN_RECORD,
    AuthorizationQuestion,
    ClinicianRecord,
    CredentialRecord,
    HistoryEntry,
    StoredAuditRecord,
    StoredDecision,
    VerificationRecord,
    credential_kind,
)
from confide_compliance.domain.watch import Coverage

# --------------------------------------------------------------------------------------------------
# Row <-> record
# --------------------------------------------------------------------------------------------------


def _clinician_profile_json(record: ClinicianRecord) -> dict[str, Any]:
    return {
        "practice_jurisdiction": record.practice_jurisdiction,
        "is_supervisee": record.is_supervisee,
        "primary_profession": record.primary_profession.value if record.primary_profession else None,
        "npi": codec.npi_to_json(record.npi),
    }


def _clinician_columns(record: ClinicianRecord) -> dict[str, Any]:
    return {
        **_clinician_profile_json(record),
        "version": record.version,
        "updated_at": record.updated_at,
        "updated_by": record.updated_by,
    }


def _clinician_from_row(row: RowMapping) -> ClinicianRecord:
    return ClinicianRecord(
        clinician_id=row["clinician_id"],
        practice_id=row["practice_id"],
        version=row["version"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
        practice_jurisdiction=row["practice_jurisdiction"],
        is_supervisee=row["is_supervisee"],
        primary_profession=Profession(row["primary_profession"]) if row["primary_profession"] else None,
        npi=codec.npi_from_json(row["npi"]),
        coverage=codec.coverage_from_json(row["coverage"]),
        coverage_on=row["coverage_on"],
    )


def _credential_from_row(row: RowMapping) -> CredentialRecord:
    return CredentialRecord(
        credential=codec.credential_from_json(row["data"]),
        practice_id=row["practice_id"],
        version=row["version"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def _credential_columns(record: CredentialRecord) -> dict[str, Any]:
    c = record.credential
    jurisdiction = c.jurisdiction if isinstance(c, StateLicense | CompactAuthority | StateException) else None
    expires_on = c.valid_until if isinstance(c, StateException) else c.expires_on
    return {
        "practice_id": record.practice_id,
        "kind": credential_kind(c),
        "jurisdiction": jurisdiction,
        "status": c.status.value,
        "expires_on": expires_on,
        "data": codec.credential_to_json(c),
        "version": record.version,
        "updated_at": record.updated_at,
        "updated_by": record.updated_by,
    }


def _question_to_json(cmd: AuthorizationQuestion) -> dict[str, Any]:
    return {
        "clinician_id": cmd.clinician_id,
        "client_jurisdiction": cmd.client_jurisdiction,
        "clinician_jurisdiction": cmd.clinician_jurisdiction,
        "session_start": cmd.session_start.isoformat(),
        "client_time_zone": cmd.client_time_zone,
        "modality": cmd.modality.value,
        "existing_client": cmd.existing_client,
        "profession": cmd.profession.value if cmd.profession else None,
        "purpose": cmd.purpose,
        "appointment_id": cmd.appointment_id,
    }


def _question_from_json(doc: dict[str, Any]) -> AuthorizationQuestion:
    return AuthorizationQuestion(
        clinician_id=doc["clinician_id"],
        client_jurisdiction=doc["client_jurisdiction"],
        clinician_jurisdiction=doc["clinician_jurisdiction"],
        session_start=datetime.fromisoformat(doc["session_start"]),
        client_time_zone=doc["client_time_zone"],
        modality=Modality(doc["modality"]),
        existing_client=bool(doc["existing_client"]),
        profession=Profession(doc["profession"]) if doc.get("profession") else None,
        purpose=doc.get("purpose", ""),
        appointment_id=doc.get("appointment_id", ""),
    )


def _audit_from_row(row: RowMapping) -> StoredAuditRecord:
    entry = AuditEntry(
        event_id=row["event_id"],
        occurred_at=row["occurred_at"],
        source_service=row["source_service"],
        actor_id=row["actor_id"],
        action=row["action"],
        resource_type=row["resource_type"],
        resource_id=row["resource_id"],
        outcome=row["outcome"],
        purpose=row["purpose"],
        actor_role=row["actor_role"],
        subject_id=row["subject_id"],
        practice_id=row["practice_id"],
        attributes=tuple((str(k), str(v)) for k, v in row["attributes"]),
    )
    record = ChainedRecord(row["sequence"], entry, row["prev_hash"], row["hash"])
    return StoredAuditRecord(record, row["recorded_at"])


def _chained_from_row(row: RowMapping) -> ChainedRecord:
    """Like `_audit_from_row`, but tolerant: a tampered row must be reported, not crash the walk."""
    try:
        return _audit_from_row(row).record
    except Exception:  # e.g. an emptied required column: keep the row, its hash will not match
        entry = AuditEntry(
            event_id=row["event_id"] or "?",
            occurred_at=row["occurred_at"],
            source_service=row["source_service"] or "?",
            actor_id=row["actor_id"] or "?",
            action=row["action"] or "?",
            resource_type=row["resource_type"] or "?",
            resource_id=row["resource_id"] or "",
            outcome=row["outcome"] or "?",
        )
        return ChainedRecord(row["sequence"], entry, row["prev_hash"], "")


# --------------------------------------------------------------------------------------------------
# Repositories
# --------------------------------------------------------------------------------------------------


class SqlClinicianRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(
        self, clinician_id: str, *, practice_id: str | None, for_update: bool = False
    ) -> ClinicianRecord | None:
        query = select(clinicians).where(clinicians.c.clinician_id == clinician_id)
        if practice_id is not None:
            query = query.where(clinicians.c.practice_id == practice_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._s.execute(query)).mappings().first()
        return _clinician_from_row(row) if row is not None else None

    async def add(self, record: ClinicianRecord) -> bool:
        result = await self._s.execute(
            pg_insert(clinicians)
            .values(
                clinician_id=record.clinician_id,
                practice_id=record.practice_id,
                **_clinician_columns(record),
            )
            .on_conflict_do_nothing()
            .returning(clinicians.c.clinician_id)
        )
        return result.first() is not None

    async def update(self, record: ClinicianRecord) -> None:
        await self._s.execute(
            update(clinicians)
            .where(clinicians.c.clinician_id == record.clinician_id)
            .values(**_clinician_columns(record))
        )

    async def set_coverage(
        self, clinician_id: str, coverage: frozenset[Coverage], on: date, reference_version: str
    ) -> None:
        await self._s.execute(
            update(clinicians)
            .where(clinicians.c.clinician_id == clinician_id)
            .values(
                coverage=codec.coverage_to_json(coverage),
                coverage_on=on,
                coverage_reference_version=reference_version,
            )
        )

    async def of_practice(
        self, practice_id: str, clinician_ids: Sequence[str] | None = None
    ) -> list[ClinicianRecord]:
        query = (
            select(clinicians)
            .where(clinicians.c.practice_id == practice_id)
            .order_by(clinicians.c.clinician_id)
        )
        if clinician_ids is not None:
            query = query.where(clinicians.c.clinician_id.in_(list(clinician_ids)))
        return [_clinician_from_row(row) for row in (await self._s.execute(query)).mappings()]

    async def ids_after(self, after: str | None, limit: int) -> list[str]:
        query = select(clinicians.c.clinician_id).order_by(clinicians.c.clinician_id).limit(limit)
        if after is not None:
            query = query.where(clinicians.c.clinician_id > after)
        return [str(v) for v in (await self._s.execute(query)).scalars()]


class SqlPracticeUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def practice_of(self, user_id: str) -> str | None:
        value = await self._s.scalar(
            select(practice_users.c.practice_id).where(practice_users.c.user_id == user_id)
        )
        return str(value) if value is not None else None

    async def record(self, user_id: str, practice_id: str, as_of: datetime) -> None:
        insert_row = pg_insert(practice_users).values(user_id=user_id, practice_id=practice_id, as_of=as_of)
        await self._s.execute(
            insert_row.on_conflict_do_update(
                index_elements=[practice_users.c.user_id],
                set_={"practice_id": practice_id, "as_of": as_of},
                where=practice_users.c.as_of < insert_row.excluded.as_of,
            )
        )


class SqlCredentialRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def of_clinician(self, clinician_id: str) -> list[CredentialRecord]:
        result = await self._s.execute(
            select(credentials)
            .where(credentials.c.clinician_id == clinician_id)
            .order_by(credentials.c.credential_id)
        )
        return [_credential_from_row(row) for row in result.mappings()]

    async def of_clinicians(self, clinician_ids: Sequence[str]) -> dict[str, list[CredentialRecord]]:
        found: dict[str, list[CredentialRecord]] = defaultdict(list)
        if not clinician_ids:
            return found
        result = await self._s.execute(
            select(credentials)
            .where(credentials.c.clinician_id.in_(list(clinician_ids)))
            .order_by(credentials.c.clinician_id, credentials.c.credential_id)
        )
        for row in result.mappings():
            found[str(row["clinician_id"])].append(_credential_from_row(row))
        return found

    async def owner(self, credential_id: str) -> str | None:
        result = await self._s.execute(
            select(credentials.c.clinician_id).where(credentials.c.credential_id == credential_id)
        )
        value = result.scalar_one_or_none()
        return str(value) if value is not None else None

    async def add(self, record: CredentialRecord) -> bool:
        result = await self._s.execute(
            pg_insert(credentials)
            .values(
                credential_id=record.credential_id,
                clinician_id=record.clinician_id,
                **_credential_columns(record),
            )
            .on_conflict_do_nothing()
            .returning(credentials.c.credential_id)
        )
        return result.first() is not None

    async def update(self, record: CredentialRecord) -> None:
        await self._s.execute(
            update(credentials)
            .where(credentials.c.credential_id == record.credential_id)
            .values(**_credential_columns(record))
        )


class SqlRegistryHistoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, entry: HistoryEntry) -> None:
        snapshot = entry.snapshot
        data = (
            _clinician_profile_json(snapshot)
            if isinstance(snapshot, ClinicianRecord)
            else codec.credential_to_json(snapshot.credential)
        )
        await self._s.execute(
            insert(registry_history).values(
                practice_id=entry.practice_id,
                clinician_id=entry.clinician_id,
                record_type=entry.record_type,
                record_id=entry.record_id,
                version=entry.version,
                change=entry.change,
                data=data,
                changed_at=entry.changed_at,
                changed_by=entry.changed_by,
                reason=entry.reason,
            )
        )

    async def page(
        self, practice_id: str, clinician_id: str, record_id: str | None, page: Page
    ) -> Paged[HistoryEntry]:
        query = (
            select(registry_history)
            .where(
                registry_history.c.practice_id == practice_id,
                registry_history.c.clinician_id == clinician_id,
                registry_history.c.id > page.after,
            )
            .order_by(registry_history.c.id)
            .limit(page.size + 1)
        )
        if record_id:
            query = query.where(registry_history.c.record_id == record_id)
        rows = list((await self._s.execute(query)).mappings())
        items: list[HistoryEntry] = []
        for row in rows[: page.size]:
            snapshot: CredentialRecord | ClinicianRecord
            if row["record_type"] == CLINICIAN_RECORD:
                doc = row["data"]
                profession = doc.get("primary_profession")
                snapshot = ClinicianRecord(
                    clinician_id=str(row["clinician_id"]),
                    practice_id=str(row["practice_id"]),
                    version=row["version"],
                    updated_at=row["changed_at"],
                    updated_by=row["changed_by"],
                    practice_jurisdiction=doc.get("practice_jurisdiction"),
                    is_supervisee=bool(doc.get("is_supervisee")),
                    primary_profession=Profession(profession) if profession else None,
                    npi=codec.npi_from_json(doc.get("npi")),
                )
            else:
                snapshot = CredentialRecord(
                    credential=codec.credential_from_json(row["data"]),
                    practice_id=str(row["practice_id"]),
                    version=row["version"],
                    updated_at=row["changed_at"],
                    updated_by=row["changed_by"],
                )
            items.append(
                HistoryEntry(
                    practice_id=str(row["practice_id"]),
                    clinician_id=str(row["clinician_id"]),
                    record_type=row["record_type"],
                    record_id=row["record_id"],
                    version=row["version"],
                    change=row["change"],
                    changed_at=row["changed_at"],
                    changed_by=row["changed_by"],
                    reason=row["reason"],
                    snapshot=snapshot,
                )
            )
        next_after = int(rows[page.size - 1]["id"]) if len(rows) > page.size else None
        return Paged(items, next_after)


class SqlVerificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, record: VerificationRecord) -> None:
        v = record.verification
        await self._s.execute(
            insert(verifications).values(
                verification_id=record.verification_id,
                practice_id=record.practice_id,
                clinician_id=record.clinician_id,
                record_id=record.record_id,
                record_version=record.record_version,
                source=v.source.value,
                verified_at=v.verified_at,
                verified_by=v.verified_by,
                reference=v.reference,
                recorded_at=record.recorded_at,
            )
        )

    async def of_clinician(self, practice_id: str, clinician_id: str) -> list[VerificationRecord]:
        result = await self._s.execute(
            select(verifications)
            .where(verifications.c.practice_id == practice_id, verifications.c.clinician_id == clinician_id)
            .order_by(verifications.c.recorded_at, verifications.c.verification_id)
        )
        return [
            VerificationRecord(
                verification_id=str(row["verification_id"]),
                practice_id=str(row["practice_id"]),
                clinician_id=str(row["clinician_id"]),
                record_id=row["record_id"],
                record_version=row["record_version"],
                verification=Verification(
                    source=VerificationSource(row["source"]),
                    verified_at=row["verified_at"],
                    verified_by=row["verified_by"],
                    reference=row["reference"],
                ),
                recorded_at=row["recorded_at"],
            )
            for row in result.mappings()
        ]


class SqlDecisionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, decision: StoredDecision) -> None:
        authority = decision.authority
        await self._s.execute(
            insert(decisions).values(
                decision_id=decision.decision_id,
                practice_id=decision.practice_id,
                clinician_id=decision.question.clinician_id,
                decided_at=decision.decided_at,
                session_date=decision.session_date,
                allowed=decision.allowed,
                authority_kind=authority.kind.value if authority else None,
                authority_id=authority.id if authority else None,
                profession=decision.profession,
                request=_question_to_json(decision.question),
                reasons=codec.reasons_to_json(decision.reasons),
                reference_data_version=decision.reference_data_version,
                explanation=decision.explanation,
                purpose=decision.question.purpose,
                appointment_id=decision.question.appointment_id,
                requested_by=decision.requested_by,
                usage_key=codec.usage_key_to_json(decision.usage_key),
            )
        )

    async def get(self, practice_id: str, decision_id: str) -> StoredDecision | None:
        row = (
            (
                await self._s.execute(
                    select(decisions).where(
                        decisions.c.decision_id == decision_id, decisions.c.practice_id == practice_id
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return StoredDecision(
            decision_id=str(row["decision_id"]),
            practice_id=str(row["practice_id"]),
            decided_at=row["decided_at"],
            question=_question_from_json(row["request"]),
            profession=row["profession"],
            session_date=row["session_date"],
            allowed=row["allowed"],
            authority=codec.authority_from_columns(row["authority_kind"], row["authority_id"]),
            reasons=codec.reasons_from_json(row["reasons"]),
            reference_data_version=row["reference_data_version"],
            explanation=row["explanation"],
            requested_by=row["requested_by"],
            usage_key=codec.usage_key_from_json(row["usage_key"]),
        )


class SqlAuthorityDayRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def usage(self, clinician_id: str, year: int) -> Usage:
        return await self.usage_of_many([clinician_id], year)

    async def usage_of_many(self, clinician_ids: Sequence[str], year: int) -> Usage:
        if not clinician_ids:
            return Usage()
        result = await self._s.execute(
            select(
                authority_day_usage.c.authority_id,
                authority_day_usage.c.jurisdiction,
                authority_day_usage.c.day,
            ).where(
                authority_day_usage.c.clinician_id.in_(list(clinician_ids)),
                authority_day_usage.c.day >= date(year, 1, 1),
                authority_day_usage.c.day <= date(year, 12, 31),
            )
        )
        days: dict[UsageKey, set[date]] = defaultdict(set)
        for authority_id, jurisdiction, day in result:
            days[UsageKey(authority_id, jurisdiction, day.year)].add(day)
        return Usage.of(days)

    async def record(
        self, key: UsageKey, day: date, *, practice_id: str, clinician_id: str, decision_id: str
    ) -> bool:
        result = await self._s.execute(
            pg_insert(authority_day_usage)
            .values(
                authority_id=key.authority_id,
                jurisdiction=key.jurisdiction,
                day=day,
                practice_id=practice_id,
                clinician_id=clinician_id,
                decision_id=decision_id,
            )
            .on_conflict_do_nothing()
            .returning(authority_day_usage.c.day)
        )
        return result.first() is not None


class SqlNoticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def claim(
        self,
        dedupe_key: str,
        *,
        practice_id: str,
        clinician_id: str,
        credential_id: str | None,
        milestone: str,
        event_id: str,
        sent_at: datetime,
    ) -> bool:
        # A concurrent claimer of the same key waits on the unique index until we commit, then
        # does nothing: each key is claimed exactly once.
        result = await self._s.execute(
            pg_insert(expiry_notices)
            .values(
                dedupe_key=dedupe_key,
                practice_id=practice_id,
                clinician_id=clinician_id,
                credential_id=credential_id,
                milestone=milestone,
                event_id=event_id,
                sent_at=sent_at,
            )
            .on_conflict_do_nothing()
            .returning(expiry_notices.c.dedupe_key)
        )
        return result.first() is not None


# Any constant works: one chain per store, so one lock.
AUDIT_CHAIN_LOCK = "compliance.audit_chain"


class SqlAuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def lock_chain(self) -> None:
        await advisory_xact_lock(self._s, AUDIT_CHAIN_LOCK)

    async def last(self) -> ChainedRecord | None:
        row = (
            (await self._s.execute(select(audit_records).order_by(audit_records.c.sequence.desc()).limit(1)))
            .mappings()
            .first()
        )
        return _audit_from_row(row).record if row is not None else None

    async def has_event(self, event_id: str) -> bool:
        result = await self._s.execute(
            select(audit_records.c.sequence).where(audit_records.c.event_id == event_id)
        )
        return result.first() is not None

    async def append(self, record: ChainedRecord, recorded_at: datetime) -> None:
        e = record.entry
        await self._s.execute(
            insert(audit_records).values(
                sequence=record.sequence,
                event_id=e.event_id,
                occurred_at=e.occurred_at,
                recorded_at=recorded_at,
                source_service=e.source_service,
                practice_id=e.practice_id,
                actor_id=e.actor_id,
                actor_role=e.actor_role,
                action=e.action,
                resource_type=e.resource_type,
                resource_id=e.resource_id,
                subject_id=e.subject_id,
                purpose=e.purpose,
                outcome=e.outcome,
                attributes=[[k, v] for k, v in e.attributes],
                prev_hash=record.prev_hash,
                hash=record.hash,
            )
        )

    async def query(self, audit_filter: AuditFilter, page: Page) -> Paged[StoredAuditRecord]:
        f = audit_filter
        conditions = [audit_records.c.sequence > page.after]
        if f.subject_id:
            conditions.append(audit_records.c.subject_id == f.subject_id)
        if f.actor_id:
            conditions.append(audit_records.c.actor_id == f.actor_id)
        if f.exclude_actor_id:
            conditions.append(audit_records.c.actor_id != f.exclude_actor_id)
        if f.resource_type:
            conditions.append(audit_records.c.resource_type == f.resource_type)
        if f.resource_id:
            conditions.append(audit_records.c.resource_id == f.resource_id)
        if f.start is not None:
            conditions.append(audit_records.c.occurred_at >= f.start)
        if f.end is not None:
            conditions.append(audit_records.c.occurred_at < f.end)
        if f.practice_id is not None:
            conditions.append(audit_records.c.practice_id == f.practice_id)
        query: Select[Any] = (
            select(audit_records)
            .where(and_(*conditions))
            .order_by(audit_records.c.sequence)
            .limit(page.size + 1)
        )
        rows = list((await self._s.execute(query)).mappings())
        items = [_audit_from_row(row) for row in rows[: page.size]]
        next_after = int(rows[page.size - 1]["sequence"]) if len(rows) > page.size else None
        return Paged(items, next_after)

    async def chain(self, batch_size: int) -> AsyncIterator[list[ChainedRecord]]:
        after = 0
        while True:
            rows = list(
                (
                    await self._s.execute(
                        select(audit_records)
                        .where(audit_records.c.sequence > after)
                        .order_by(audit_records.c.sequence)
                        .limit(batch_size)
                    )
                ).mappings()
            )
            if not rows:
                return
            yield [_chained_from_row(row) for row in rows]
            after = int(rows[-1]["sequence"])

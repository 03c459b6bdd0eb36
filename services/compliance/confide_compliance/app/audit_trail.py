"""The audit trail: append audit events to the hash-chained store, query it, report who accessed a
person's records, and verify the chain.

Appending: under a transaction-level advisory lock (one chain per store, so concurrent consumers
append one at a time), skip an event id already stored (redelivery with a new envelope id), read
the last record, and store `domain.audit.append(last, entry)`.

Reading the trail is itself audited: each query publishes an AuditEvent (committed before the data
is returned), which comes back through Kafka into the chain.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from confide_chassis import audit
from confide_chassis.auth import Principal
from confide_chassis.errors import InvalidArgument, PermissionDenied
from confide_chassis.logging import get_logger
from confide_chassis.roles import COMPLIANCE_OFFICER, PLATFORM_OPERATOR
from confide_compliance import metrics
from confide_compliance.app import events
from confide_compliance.app.commands import AccessReportQuery, VerifyChain
from confide_compliance.app.common import practice_of
from confide_compliance.app.context import AppContext
from confide_compliance.app.ports import (
    AuditFilter,
    AuditRepository,
    Page,
    Paged,
)
from confide_compliance.domain.audit import (
    GENESIS_HASH,
    AuditEntry,
    ChainVerification,
    append,
    verify_chain,
)
from confide_compliance.domain.records import StoredAuditRecord

log = get_logger(__name__)

VERIFY_BATCH = 5000
MAX_ID_LENGTH = 200


async def append_entry(store: AuditRepository, entry: AuditEntry, recorded_at: datetime) -> bool:
    """Append one entry to the chain; False if its event id is already stored (idempotent)."""
    await store.lock_chain()
    if await store.has_event(entry.event_id):
        return False
    previous = await store.last()
    await store.append(append(previous, entry), recorded_at)
    return True


@dataclass(frozen=True, slots=True)
class ChainReport:
    verification: ChainVerification
    records_checked: int
    head_sequence: int
    head_hash: str


def _check_filter_text(value: str, field: str) -> None:
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument.field(field, f"at most {MAX_ID_LENGTH} characters")


class AuditTrail:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def append(self, entry: AuditEntry) -> bool:
        """Append an audit event to the chain; False when its event id is already there."""
        async with self._ctx.uow() as uow:
            stored = await append_entry(uow.audit, entry, self._ctx.now())
            await uow.commit()
        return stored

    def _officer_scope(self, actor: Principal) -> str | None:
        """The practice an officer may see (None: every practice, for platform operators)."""
        if PLATFORM_OPERATOR in actor.roles:
            return None
        if COMPLIANCE_OFFICER in actor.roles:
            return practice_of(actor)
        raise PermissionDenied("only compliance officers and platform operators may read the audit trail")

    async def query(
        self, actor: Principal, audit_filter: AuditFilter, page: Page
    ) -> Paged[StoredAuditRecord]:
        if audit_filter.is_empty():
            raise InvalidArgument.field(
                "subject_id", "give at least one filter: subject_id, actor_id, resource_type or time_range"
            )
        if audit_filter.resource_id and not audit_filter.resource_type:
            raise InvalidArgument.field("resource_type", "required with resource_id")
        for name in ("subject_id", "actor_id", "resource_type", "resource_id"):
            _check_filter_text(getattr(audit_filter, name), name)
        scoped = dataclasses.replace(audit_filter, practice_id=self._officer_scope(actor))
        async with self._ctx.uow() as uow:
            result = await uow.audit.query(scoped, page)
            uow.publish(
                events.audit(
                    action=audit.SEARCH,
                    resource_type="compliance.audit_trail",
                    resource_id="",
                    subject_person_id=audit_filter.subject_id or actor.subject,
                    actor=actor,
                    occurred_at=self._ctx.now(),
                )
            )
            await uow.commit()
        return result

    async def access_report(
        self, actor: Principal, query: AccessReportQuery, page: Page
    ) -> tuple[str, Paged[StoredAuditRecord]]:
        """Who accessed `query.subject_id`'s records: the person themself, or a compliance officer
        (MFA) for the records of their practice."""
        subject = query.subject_id or actor.subject
        _check_filter_text(subject, "subject_id")
        if subject == actor.subject:
            practice: str | None = None  # everything about oneself
            purpose = audit.INDIVIDUAL_ACCESS
        elif COMPLIANCE_OFFICER in actor.roles and actor.mfa:
            practice = practice_of(actor)
            purpose = audit.OPERATIONS
        else:
            raise PermissionDenied("a person may see only their own access report")
        report_filter = AuditFilter(
            subject_id=subject,
            start=query.start,
            end=query.end,
            practice_id=practice,
            exclude_actor_id="" if query.include_own_actions else subject,
        )
        async with self._ctx.uow() as uow:
            result = await uow.audit.query(report_filter, page)
            uow.publish(
                events.audit(
                    action=audit.EXPORT,
                    resource_type="compliance.access_report",
                    resource_id=subject,
                    subject_person_id=subject,
                    purpose=purpose,
                    actor=actor,
                    occurred_at=self._ctx.now(),
                )
            )
            await uow.commit()
        return subject, result

    async def verify(self, actor: Principal, query: VerifyChain) -> ChainReport:
        self._officer_scope(actor)
        v_anchors = list(query.anchors)
        for i, anchor in enumerate(v_anchors):
            if anchor.sequence < 1:
                raise InvalidArgument.field(f"anchors[{i}].sequence", "must be at least 1")
            if len(anchor.hash) != 64:
                raise InvalidArgument.field(f"anchors[{i}].hash", "must be 64 hex digits")
        prev_hash, next_sequence, checked = GENESIS_HASH, 1, 0
        head_sequence, head_hash = 0, GENESIS_HASH
        result = ChainVerification(ok=True, records_checked=0)
        async with self._ctx.uow() as uow:
            async for batch in uow.audit.chain(VERIFY_BATCH):
                last_sequence = batch[-1].sequence
                in_batch = [a for a in v_anchors if a.sequence <= last_sequence]
                result = verify_chain(
                    batch, start_prev_hash=prev_hash, start_sequence=next_sequence, anchors=in_batch
                )
                if not result.ok:
                    good = result.index or 0  # records before this position passed every check
                    checked += good
                    if good > 0:
                        head_sequence, head_hash = batch[good - 1].sequence, batch[good - 1].hash
                    break
                checked += len(batch)
                prev_hash, next_sequence = result.head_hash, last_sequence + 1
                head_sequence, head_hash = last_sequence, result.head_hash
            else:
                # Anchors beyond the end of the chain: records were deleted at the end.
                result = verify_chain(
                    [],
                    start_prev_hash=prev_hash,
                    start_sequence=next_sequence,
                    anchors=[a for a in v_anchors if a.sequence >= next_sequence],
                )
            uow.publish(
                events.audit(
                    action=audit.READ,
                    resource_type="compliance.audit_chain",
                    resource_id="",
                    subject_person_id=actor.subject,
                    actor=actor,
                    occurred_at=self._ctx.now(),
                )
            )
            await uow.commit()
        metrics.audit_chain_verifications_total.labels("ok" if result.ok else "broken").inc()
        if not result.ok:
            log.error(
                "audit chain verification failed",
                problem=result.problem.value if result.problem else "",
                first_bad_sequence=head_sequence + 1,
            )
        return ChainReport(
            verification=result,
            records_checked=checked,
            head_sequence=head_sequence,
            head_hash=head_hash,
        )

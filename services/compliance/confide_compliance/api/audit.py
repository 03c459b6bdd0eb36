"""AuditTrailService: query the trail, "who accessed my record", verify the hash chain."""

# ruff: noqa: N802 - servicer methods carry the RPC names

from __future__ import annotations

from datetime import datetime
from typing import Any

from confide.compliance.v1 import audit_pb2, audit_pb2_grpc
from confide_chassis.auth import Access, allow, current_principal
from confide_chassis.errors import ValidationCollector
from confide_chassis.wire import datetime_of
from confide_compliance.api import convert, paging
from confide_compliance.app.audit_trail import AuditTrail
from confide_compliance.app.common import COMPLIANCE_OFFICER, PLATFORM_OPERATOR
from confide_compliance.app.ports import AuditFilter
from confide_compliance.domain.audit import ChainAnchor

SERVICE = audit_pb2.DESCRIPTOR.services_by_name["AuditTrailService"].full_name

ACCESS: dict[str, Access] = {
    "QueryAuditTrail": allow(COMPLIANCE_OFFICER, PLATFORM_OPERATOR, mfa=True),
    # Anyone for their own report; compliance officers (MFA) for others — checked by the use case.
    "GetAccessReport": allow(),
    "VerifyChain": allow(COMPLIANCE_OFFICER, PLATFORM_OPERATOR, mfa=True),
}

_PROBLEMS = {
    "edited": audit_pb2.CHAIN_PROBLEM_EDITED,
    "deleted": audit_pb2.CHAIN_PROBLEM_DELETED,
    "reordered": audit_pb2.CHAIN_PROBLEM_REORDERED,
    "inserted": audit_pb2.CHAIN_PROBLEM_INSERTED,
    "broken_link": audit_pb2.CHAIN_PROBLEM_BROKEN_LINK,
    "anchor_mismatch": audit_pb2.CHAIN_PROBLEM_ANCHOR_MISMATCH,
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


class AuditTrailServicer(audit_pb2_grpc.AuditTrailServiceServicer):
    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail

    async def QueryAuditTrail(
        self, request: audit_pb2.QueryAuditTrailRequest, context: Any
    ) -> audit_pb2.QueryAuditTrailResponse:
        v = ValidationCollector()
        start, end = _range(v, request, "time_range")
        v.raise_if_any()
        audit_filter = AuditFilter(
            subject_id=request.subject_id.strip(),
            actor_id=request.actor_id.strip(),
            resource_type=request.resource_type.strip(),
            resource_id=request.resource_id.strip(),
            start=start,
            end=end,
        )
        filters = (audit_filter.subject_id, audit_filter.actor_id, audit_filter.resource_type,
                   audit_filter.resource_id, start, end)  # fmt: skip
        page = paging.page_of(request.page, *filters)
        result = await self._trail.query(current_principal(), audit_filter, page)
        return audit_pb2.QueryAuditTrailResponse(
            records=[convert.audit_record(r) for r in result.items],
            page=paging.next_page(result.next_after, *filters),
        )

    async def GetAccessReport(
        self, request: audit_pb2.GetAccessReportRequest, context: Any
    ) -> audit_pb2.GetAccessReportResponse:
        v = ValidationCollector()
        start, end = _range(v, request, "time_range")
        v.raise_if_any()
        filters = (request.subject_id, start, end, request.include_own_actions)
        page = paging.page_of(request.page, *filters)
        subject, result = await self._trail.access_report(
            current_principal(),
            request.subject_id.strip(),
            start=start,
            end=end,
            include_own_actions=request.include_own_actions,
            page=page,
        )
        return audit_pb2.GetAccessReportResponse(
            subject_id=subject,
            entries=[convert.access_entry(r) for r in result.items],
            page=paging.next_page(result.next_after, *filters),
        )

    async def VerifyChain(
        self, request: audit_pb2.VerifyChainRequest, context: Any
    ) -> audit_pb2.VerifyChainResponse:
        report = await self._trail.verify(
            current_principal(), [ChainAnchor(a.sequence, a.hash.lower()) for a in request.anchors]
        )
        result = report.verification
        return audit_pb2.VerifyChainResponse(
            ok=result.ok,
            records_checked=report.records_checked,
            problem=_PROBLEMS[result.problem.value]
            if result.problem
            else audit_pb2.CHAIN_PROBLEM_UNSPECIFIED,
            # Records up to the head passed every check: the first bad one is the next sequence.
            first_bad_sequence=0 if result.ok else report.head_sequence + 1,
            message=result.message,
            head=audit_pb2.ChainAnchor(sequence=report.head_sequence, hash=report.head_hash),
        )

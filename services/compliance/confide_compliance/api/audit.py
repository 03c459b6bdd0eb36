"""AuditTrailService: query the trail, "who accessed my record", verify the hash chain."""

# ruff: noqa: N802 - servicer methods carry the RPC names

from __future__ import annotations

from typing import Any

from confide.compliance.v1 import audit_pb2, audit_pb2_grpc
from confide_chassis.auth import current_principal
from confide_compliance.api import mapping, paging
from confide_compliance.app.audit_trail import AuditTrail

SERVICE = audit_pb2.DESCRIPTOR.services_by_name["AuditTrailService"]


class AuditTrailServicer(audit_pb2_grpc.AuditTrailServiceServicer):
    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail

    async def QueryAuditTrail(
        self, request: audit_pb2.QueryAuditTrailRequest, context: Any
    ) -> audit_pb2.QueryAuditTrailResponse:
        audit_filter = mapping.audit_filter(request)
        key = mapping.audit_filter_key(audit_filter)
        result = await self._trail.query(
            current_principal(), audit_filter, paging.page_of(request.page, *key)
        )
        return audit_pb2.QueryAuditTrailResponse(
            records=[mapping.audit_record(r) for r in result.items],
            page=paging.next_page(result.next_after, *key),
        )

    async def GetAccessReport(
        self, request: audit_pb2.GetAccessReportRequest, context: Any
    ) -> audit_pb2.GetAccessReportResponse:
        query = mapping.access_report_query(request)
        key = mapping.access_report_key(request, query)
        subject, result = await self._trail.access_report(
            current_principal(), query, paging.page_of(request.page, *key)
        )
        return audit_pb2.GetAccessReportResponse(
            subject_id=subject,
            entries=[mapping.access_entry(r) for r in result.items],
            page=paging.next_page(result.next_after, *key),
        )

    async def VerifyChain(
        self, request: audit_pb2.VerifyChainRequest, context: Any
    ) -> audit_pb2.VerifyChainResponse:
        report = await self._trail.verify(current_principal(), mapping.verify_chain(request))
        return mapping.verify_chain_response(report)

"""The compliance adapter fails closed: no address, nobody listening, or an answer slower than the
deadline all become Unavailable (UNAVAILABLE to the caller) — and it forwards the caller's token."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

import grpc
import pytest

from confide.compliance.v1 import authorization_pb2, authorization_pb2_grpc
from confide_chassis.errors import Unavailable
from confide_scheduling.adapters.compliance import GrpcComplianceClient
from confide_scheduling.app.ports import AuthorizationQuery
from confide_scheduling.domain.catalog import Modality

pytestmark = pytest.mark.integration

QUERY = AuthorizationQuery(
    clinician_id=uuid4(),
    client_state="CO",
    clinician_state="CO",
    session_start=datetime.now(UTC) + timedelta(days=1),
    client_time_zone="America/Denver",
    modality=Modality.VIDEO,
    existing_client=False,
    purpose="booking",
)


class _Compliance(authorization_pb2_grpc.AuthorizationServiceServicer):
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.tokens: list[str] = []

    async def CheckAuthorization(
        self, request: authorization_pb2.CheckAuthorizationRequest, context: Any
    ) -> authorization_pb2.CheckAuthorizationResponse:
        self.tokens.extend(v for k, v in context.invocation_metadata() if k == "authorization")
        await asyncio.sleep(self.delay)
        return authorization_pb2.CheckAuthorizationResponse(
            decision=authorization_pb2.Decision(
                decision_id="d-1", allowed=False, denied_rule_ids=["LIC-03", "LIC-11"]
            )
        )


async def _serve(delay: float) -> tuple[grpc.aio.Server, int, _Compliance]:
    # Only CheckAuthorization is exercised; the other RPCs answer UNIMPLEMENTED from the base class.
    servicer = cast(Any, _Compliance)(delay)
    server = grpc.aio.server()
    authorization_pb2_grpc.add_AuthorizationServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port, servicer


async def test_a_deny_is_an_answer_with_rule_ids_and_the_token_is_forwarded() -> None:
    server, port, servicer = await _serve(0)
    client = GrpcComplianceClient(f"127.0.0.1:{port}", deadline_seconds=2)
    try:
        decision = await client.check(QUERY, bearer_token="caller-token")
    finally:
        await client.close()
        await server.stop(0)
    assert (decision.decision_id, decision.allowed, decision.rule_ids) == ("d-1", False, ("LIC-03", "LIC-11"))
    assert servicer.tokens == ["Bearer caller-token"]


async def test_fail_closed_when_compliance_is_slower_than_the_deadline() -> None:
    server, port, _ = await _serve(5)
    client = GrpcComplianceClient(f"127.0.0.1:{port}", deadline_seconds=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(Unavailable):
            await client.check(QUERY, bearer_token="t")
    finally:
        await client.close()
        await server.stop(0)
    assert time.monotonic() - started < 2


async def test_fail_closed_when_nobody_listens_or_nothing_is_configured() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = GrpcComplianceClient(f"127.0.0.1:{port}", deadline_seconds=0.5)
    try:
        with pytest.raises(Unavailable):
            await client.check(QUERY, bearer_token="t")
    finally:
        await client.close()
    with pytest.raises(Unavailable):
        await GrpcComplianceClient(None).check(QUERY, bearer_token="t")

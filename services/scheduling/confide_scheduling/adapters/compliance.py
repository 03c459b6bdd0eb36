"""The compliance AuthorizationService over gRPC, as the app's ``AuthorizationPort``.

- Short deadline (``SCHEDULING_COMPLIANCE_DEADLINE_SECONDS``, 2 s by default).
- The caller's bearer token is forwarded, so compliance authorizes and audits the real user.
- **Fails closed**: no address, a timeout, a connection error or any unexpected status becomes
  ``Unavailable`` — the caller gets UNAVAILABLE and nothing is booked or checked in. A deny is a
  normal answer carrying the decision id and the rule ids of the failed reasons.
- Outgoing calls are traced by the chassis' gRPC client instrumentation.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

import grpc

from confide.compliance.v1 import authorization_pb2, authorization_pb2_grpc
from confide_chassis.errors import PermissionDenied, Unauthenticated, Unavailable
from confide_chassis.logging import get_logger
from confide_chassis.wire import optional_timestamp
from confide_scheduling.app.event_messages import state_to_pb
from confide_scheduling.app.ports import AuthorizationQuery
from confide_scheduling.domain.appointments import AuthorizationDecision
from confide_scheduling.domain.catalog import Modality

log = get_logger(__name__)

_MODALITY: dict[Modality, authorization_pb2.Modality.ValueType] = {
    Modality.VIDEO: authorization_pb2.MODALITY_VIDEO,
    Modality.AUDIO: authorization_pb2.MODALITY_AUDIO,
    Modality.LIVE_CHAT: authorization_pb2.MODALITY_LIVE_CHAT,
    Modality.MESSAGING: authorization_pb2.MODALITY_MESSAGING,
}


def _unavailable(reason: str) -> Unavailable:
    return Unavailable(
        "the licensure check could not be completed; nothing was booked, try again shortly",
        metadata={"dependency": "compliance", "cause": reason},
    )


class GrpcComplianceClient:
    """One channel per process, created on first use."""

    def __init__(self, target: str | None, *, deadline_seconds: float = 2.0) -> None:
        self._target = target
        self._deadline = deadline_seconds
        self._channel: grpc.aio.Channel | None = None
        self._stub: authorization_pb2_grpc.AuthorizationServiceStub | None = None

    def _client(self) -> authorization_pb2_grpc.AuthorizationServiceStub:
        if not self._target:
            raise _unavailable("not_configured")
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self._target)
            self._stub = authorization_pb2_grpc.AuthorizationServiceStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None

    def _metadata(self, bearer_token: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {bearer_token}"),)

    def _map_error(self, error: grpc.aio.AioRpcError, method: str) -> Exception:
        code = error.code()
        log.warning("compliance call failed", method=method, code=code.name if code else "UNKNOWN")
        if code is grpc.StatusCode.UNAUTHENTICATED:
            return Unauthenticated("the access token was not accepted; sign in again")
        if code is grpc.StatusCode.PERMISSION_DENIED:
            return PermissionDenied("the caller may not ask for a licensure check")
        return _unavailable(code.name.lower() if code else "unknown")

    async def check(self, query: AuthorizationQuery, *, bearer_token: str) -> AuthorizationDecision:
        request = authorization_pb2.CheckAuthorizationRequest(
            clinician_id=str(query.clinician_id),
            client_jurisdiction=state_to_pb(query.client_state),
            clinician_jurisdiction=state_to_pb(query.clinician_state),
            session_start=optional_timestamp(query.session_start),
            client_time_zone=query.client_time_zone,
            modality=_MODALITY[query.modality],
            existing_client=query.existing_client,
            purpose=query.purpose,
            appointment_id=str(query.appointment_id) if query.appointment_id else "",
        )
        stub = self._client()
        try:
            reply: authorization_pb2.CheckAuthorizationResponse = await stub.CheckAuthorization(  # type: ignore[misc]
                request, timeout=self._deadline, metadata=self._metadata(bearer_token)
            )
        except grpc.aio.AioRpcError as error:
            raise self._map_error(error, "CheckAuthorization") from None
        decision = reply.decision
        if not decision.decision_id:  # an answer without a decision is no answer: fail closed
            raise _unavailable("empty_decision")
        rule_ids = tuple(decision.denied_rule_ids) or tuple(
            r.rule_id for r in decision.reasons if r.outcome == authorization_pb2.REASON_OUTCOME_FAILED
        )
        return AuthorizationDecision(
            decision_id=decision.decision_id, allowed=bool(decision.allowed), rule_ids=rule_ids
        )

    async def find_authorized(
        self,
        *,
        client_state: str,
        session_start: datetime,
        client_time_zone: str,
        modality: Modality,
        clinician_ids: Collection[UUID],
        bearer_token: str,
    ) -> frozenset[UUID]:
        if not clinician_ids:
            return frozenset()
        request = authorization_pb2.FindAuthorizedCliniciansRequest(
            client_jurisdiction=state_to_pb(client_state),
            session_start=optional_timestamp(session_start),
            client_time_zone=client_time_zone,
            modality=_MODALITY[modality],
            clinician_ids=sorted(str(c) for c in clinician_ids),
        )
        stub = self._client()
        try:
            reply: authorization_pb2.FindAuthorizedCliniciansResponse = await stub.FindAuthorizedClinicians(  # type: ignore[misc]
                request, timeout=self._deadline, metadata=self._metadata(bearer_token)
            )
        except grpc.aio.AioRpcError as error:
            raise self._map_error(error, "FindAuthorizedClinicians") from None
        wanted = {str(c): c for c in clinician_ids}
        return frozenset(wanted[c.clinician_id] for c in reply.clinicians if c.clinician_id in wanted)

"""compliance's AuthorizationService over gRPC, as the `AuthorizationPort`.

- The caller's bearer token is forwarded: compliance authorizes the real user, within their practice.
- Short deadline (`DIRECTORY_COMPLIANCE_DEADLINE_SECONDS`, 2 s by default).
- **Fails closed**: no address, a timeout, a connection error or an unexpected status is `Unavailable`
  and the search returns no results, never unchecked ones.
"""

from __future__ import annotations

from datetime import datetime

import grpc

from confide.compliance.v1 import authorization_pb2, authorization_pb2_grpc
from confide_chassis.errors import PermissionDenied, Unauthenticated, Unavailable
from confide_chassis.logging import get_logger
from confide_chassis.wire import jurisdiction_value, timestamp
from confide_directory.app.ports import Authorized
from confide_directory.domain.profiles import Modality
from confide_directory.domain.search import AuthorityKind

log = get_logger(__name__)

_MODALITY: dict[Modality, authorization_pb2.Modality.ValueType] = {
    Modality.VIDEO: authorization_pb2.MODALITY_VIDEO,
    Modality.AUDIO: authorization_pb2.MODALITY_AUDIO,
    Modality.LIVE_CHAT: authorization_pb2.MODALITY_LIVE_CHAT,
    Modality.MESSAGING: authorization_pb2.MODALITY_MESSAGING,
    Modality.IN_PERSON: authorization_pb2.MODALITY_IN_PERSON,
}

_AUTHORITY: dict[int, AuthorityKind] = {
    authorization_pb2.AUTHORITY_KIND_STATE_LICENSE: AuthorityKind.STATE_LICENSE,
    authorization_pb2.AUTHORITY_KIND_PSYPACT_APIT: AuthorityKind.PSYPACT_APIT,
    authorization_pb2.AUTHORITY_KIND_PSYPACT_TAP: AuthorityKind.PSYPACT_TAP,
    authorization_pb2.AUTHORITY_KIND_COUNSELING_COMPACT_PRIVILEGE: AuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
    authorization_pb2.AUTHORITY_KIND_SOCIAL_WORK_MULTISTATE_LICENSE: (
        AuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE
    ),
    authorization_pb2.AUTHORITY_KIND_NLC_MULTISTATE_LICENSE: AuthorityKind.NLC_MULTISTATE_LICENSE,
    authorization_pb2.AUTHORITY_KIND_STATE_EXCEPTION: AuthorityKind.STATE_EXCEPTION,
}


def _unavailable(cause: str) -> Unavailable:
    return Unavailable(
        "the licensure check could not be completed; no results are shown, try again shortly",
        metadata={"dependency": "compliance", "cause": cause},
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

    async def find_authorized(
        self,
        *,
        client_state: str,
        session_start: datetime,
        client_time_zone: str,
        modality: Modality,
        bearer_token: str,
    ) -> Authorized:
        request = authorization_pb2.FindAuthorizedCliniciansRequest(
            client_jurisdiction=jurisdiction_value(client_state),
            session_start=timestamp(session_start),
            client_time_zone=client_time_zone,
            modality=_MODALITY[modality],
        )
        stub = self._client()
        try:
            reply: authorization_pb2.FindAuthorizedCliniciansResponse = await stub.FindAuthorizedClinicians(  # type: ignore[misc]
                request, timeout=self._deadline, metadata=(("authorization", f"Bearer {bearer_token}"),)
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            log.warning(
                "compliance call failed",
                method="FindAuthorizedClinicians",
                code=code.name if code else "UNKNOWN",
            )
            if code is grpc.StatusCode.UNAUTHENTICATED:
                raise Unauthenticated("the access token was not accepted; sign in again") from None
            if code is grpc.StatusCode.PERMISSION_DENIED:
                raise PermissionDenied("the caller may not search the directory") from None
            raise _unavailable(code.name.lower() if code else "unknown") from None
        if not reply.reference_data_version:  # an answer without its reference version is no answer
            raise _unavailable("empty_answer")
        found: dict[str, AuthorityKind] = {}
        for clinician in reply.clinicians:
            kind = _AUTHORITY.get(clinician.authority.kind)
            if kind is not None:  # an authority we cannot name is not shown (fail closed)
                found[clinician.clinician_id] = kind
        return Authorized(found, reply.reference_data_version)

"""Ports: what the use cases need from the outside world, as protocols. Adapters live in
``confide_scheduling.adapters`` (compliance over gRPC, Jitsi Meet room tokens)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from confide_scheduling.domain.appointments import AuthorizationDecision
from confide_scheduling.domain.catalog import Modality


@dataclass(frozen=True, slots=True)
class AuthorizationQuery:
    """One question for compliance ``CheckAuthorization`` (LIC-01, LIC-02, LIC-03)."""

    clinician_id: UUID
    client_state: str  # where the client is (will be) at session time
    clinician_state: str  # where the clinician practises from
    session_start: datetime
    client_time_zone: str
    modality: Modality
    existing_client: bool
    purpose: str  # "booking" | "check_in" | "recheck"
    appointment_id: UUID | None = None


class AuthorizationPort(Protocol):
    """Compliance, asked with the caller's own bearer token. Implementations fail closed: no answer in
    time raises ``Unavailable``; a deny is a normal answer (``allowed=False`` with rule ids)."""

    async def check(self, query: AuthorizationQuery, *, bearer_token: str) -> AuthorizationDecision: ...

    async def find_authorized(
        self,
        *,
        client_state: str,
        session_start: datetime,
        client_time_zone: str,
        modality: Modality,
        clinician_ids: Collection[UUID],
        bearer_token: str,
    ) -> frozenset[UUID]: ...


@dataclass(frozen=True, slots=True)
class JoinLink:
    url: str
    expires_at: datetime
    moderator: bool


class VideoRoomPort(Protocol):
    """Signed links into a video room. ``room`` is unguessable and free of PHI."""

    def join_link(
        self, *, room: str, user_id: str, moderator: bool, not_before: datetime, expires_at: datetime
    ) -> JoinLink: ...

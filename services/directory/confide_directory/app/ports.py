"""What the use cases need from the outside: the unit of work with its repositories, compliance and
scheduling."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol

from confide_directory.domain.profiles import Listing, Modality, Profile
from confide_directory.domain.search import AuthorityKind, SearchCriteria


@dataclass(frozen=True, slots=True)
class CandidateRow:
    clinician_id: str
    specialties: tuple[str, ...]
    time_zone: str


@dataclass(frozen=True, slots=True)
class ListedProfile:
    clinician_id: str
    practice_id: str
    listing: Listing
    authorized_jurisdictions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Authorized:
    """Compliance's answer for one client location, modality and time."""

    clinicians: Mapping[str, AuthorityKind]
    reference_data_version: str


@dataclass(frozen=True, slots=True)
class NextSlot:
    start: datetime
    client_local_start: str


class ProfileRepository(Protocol):
    async def get_draft(self, clinician_id: str) -> Profile | None: ...
    async def save(self, profile: Profile, *, now: datetime) -> None: ...
    async def pending(self, practice_id: str) -> list[Profile]: ...
    async def listed(self, practice_id: str, clinician_ids: Sequence[str]) -> dict[str, ListedProfile]: ...
    async def candidates(
        self, criteria: SearchCriteria, authorized: Collection[str] | None
    ) -> list[CandidateRow]: ...


class ProjectionRepository(Protocol):
    async def current_clinicians(self, client_id: str) -> frozenset[str]: ...
    async def risk_flagged(self, client_id: str) -> bool: ...
    async def is_deactivated(self, user_id: str) -> bool: ...
    async def cover(self, clinician_id: str, gained: Sequence[str], lost: Sequence[str]) -> None: ...
    async def assign_care_team(self, link_id: str, client_id: str, clinician_id: str) -> None: ...
    async def remove_care_team(self, link_id: str) -> None: ...
    async def flag_risk(self, client_id: str, at: datetime) -> None: ...
    async def deactivate(self, user_id: str, at: datetime) -> None: ...


class UnitOfWork(Protocol):
    @property
    def profiles(self) -> ProfileRepository: ...
    @property
    def projections(self) -> ProjectionRepository: ...

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def commit(self) -> None: ...


class AuthorizationPort(Protocol):
    """compliance's FindAuthorizedClinicians, failing closed (Unavailable) when it does not answer."""

    async def find_authorized(
        self,
        *,
        client_state: str,
        session_start: datetime,
        client_time_zone: str,
        modality: Modality,
        bearer_token: str,
    ) -> Authorized: ...


class AvailabilityPort(Protocol):
    """scheduling's SearchSlots for a few clinicians; None when scheduling did not answer (results stay
    right, only their next slots are unknown)."""

    async def next_slots(
        self,
        *,
        client_id: str,
        client_state: str,
        modality: Modality,
        clinician_ids: Sequence[str],
        window_start: datetime,
        window_end: datetime,
        bearer_token: str,
    ) -> dict[str, NextSlot] | None: ...

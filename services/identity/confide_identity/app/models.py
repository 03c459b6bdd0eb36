"""Records the app layer keeps beside the pure domain objects (what the repositories load and store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from confide_identity.domain.consent import ConsentDocument
from confide_identity.domain.profile import ClientProfile
from confide_identity.domain.roles import PracticeMember, Role
from confide_identity.domain.sessions import SessionPolicy
from confide_identity.domain.tokens import KeyRecord


@dataclass(frozen=True, slots=True)
class Practice:
    practice_id: UUID
    slug: str
    display_name: str
    session_policy: SessionPolicy
    client_sign_up_enabled: bool
    created_at: datetime
    updated_at: datetime


class UserStatus(StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


@dataclass(frozen=True, slots=True)
class User:
    user_id: UUID
    practice_id: UUID
    email: str
    display_name: str | None
    roles: frozenset[Role]
    password_hash: str | None
    email_verified_at: datetime | None
    created_at: datetime
    deactivated_at: datetime | None = None
    deactivated_by: UUID | None = None

    @property
    def active(self) -> bool:
        return self.deactivated_at is None

    @property
    def status(self) -> UserStatus:
        if self.deactivated_at is not None:
            return UserStatus.DEACTIVATED
        if self.password_hash is None:
            return UserStatus.INVITED
        return UserStatus.ACTIVE

    def member(self) -> PracticeMember:
        return PracticeMember(
            user_id=self.user_id, practice_id=self.practice_id, roles=self.roles, active=self.active
        )


@dataclass(frozen=True, slots=True)
class StoredProfile:
    profile: ClientProfile
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredConsentDocument:
    document: ConsentDocument
    title: str
    content: str
    published_by: UUID | None


@dataclass(frozen=True, slots=True)
class StoredSigningKey:
    record: KeyRecord
    private_key_sealed: bytes
    source: str


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    token_hash: str
    user_id: UUID
    throttle_key: str
    attempts: int
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

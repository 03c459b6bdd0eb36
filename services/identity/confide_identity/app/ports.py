"""Ports the use cases talk to: repositories inside a unit of work. `confide_identity.db` implements them.

Every lookup of practice data takes the practice id: a repository never returns a row of another practice
(the SQL adds ``practice_id = :practice_id`` to every query), so cross-practice access cannot happen by
forgetting a check in a use case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from google.protobuf.message import Message

from confide_identity.app.models import (
    MfaChallenge,
    Practice,
    StoredConsentDocument,
    StoredProfile,
    StoredSigningKey,
    User,
)
from confide_identity.domain.care_team import CareTeamLink
from confide_identity.domain.consent import ConsentSignature
from confide_identity.domain.lockout import SignInThrottle
from confide_identity.domain.mfa import RecoveryCodeSet, TotpCredential
from confide_identity.domain.one_time_tokens import OneTimeTokenRecord, TokenPurpose
from confide_identity.domain.profile import ClientProfile
from confide_identity.domain.roles import Role
from confide_identity.domain.sessions import RefreshTokenFamily


class PracticeRepository(Protocol):
    async def add(self, practice: Practice) -> None: ...
    async def get(self, practice_id: UUID) -> Practice | None: ...
    async def get_by_slug(self, slug: str) -> Practice | None: ...
    async def update(self, practice: Practice) -> None: ...


class UserRepository(Protocol):
    async def add(self, user: User) -> None: ...
    async def get(self, practice_id: UUID, user_id: UUID, *, for_update: bool = False) -> User | None: ...
    async def get_any(self, user_id: UUID) -> User | None:
        """By id alone: only for flows where the id comes from a verified secret (tokens)."""
        ...

    async def get_by_email(
        self, practice_id: UUID, email: str, *, for_update: bool = False
    ) -> User | None: ...
    async def update(self, user: User) -> None: ...
    async def list(
        self,
        practice_id: UUID,
        *,
        role: Role | None,
        include_deactivated: bool,
        after: UUID | None,
        limit: int,
    ) -> Sequence[User]: ...
    async def count_active_with_role(self, practice_id: UUID, role: Role) -> int: ...
    async def get_many(self, practice_id: UUID, user_ids: Sequence[UUID]) -> dict[UUID, User]: ...


class OneTimeTokenRepository(Protocol):
    async def add(self, record: OneTimeTokenRecord) -> None: ...
    async def get(self, token_hash: str) -> OneTimeTokenRecord | None:
        """Locks the row (single use under concurrency)."""
        ...

    async def mark_used(self, record: OneTimeTokenRecord) -> None: ...
    async def spend_unused(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> None: ...


class AccountMailRepository(Protocol):
    async def sent_since(self, user_id: UUID, since: datetime) -> Sequence[datetime]:
        """When self-service e-mails went to the account after `since`."""
        ...

    async def add(self, user_id: UUID, kind: str, sent_at: datetime, *, forget_before: datetime) -> None:
        """Record one e-mail; entries at or before `forget_before` no longer count and may go."""
        ...


class MfaFactorRepository(Protocol):
    async def get_totp(self, user_id: UUID) -> TotpCredential | None:
        """Locks the row (TOTP replay protection under concurrency)."""
        ...

    async def save_totp(self, user_id: UUID, credential: TotpCredential) -> None: ...
    async def delete_totp(self, user_id: UUID) -> None: ...

    async def get_recovery_codes(self, user_id: UUID) -> RecoveryCodeSet | None: ...
    async def replace_recovery_codes(self, user_id: UUID, codes: RecoveryCodeSet) -> None: ...
    async def save_recovery_codes(self, user_id: UUID, codes: RecoveryCodeSet) -> None: ...
    async def delete_recovery_codes(self, user_id: UUID) -> None: ...

    async def confirmed_totp_users(self, user_ids: Sequence[UUID]) -> set[UUID]:
        """Which of these users have a confirmed TOTP factor."""
        ...


class MfaChallengeRepository(Protocol):
    async def add(self, challenge: MfaChallenge) -> None: ...
    async def get(self, token_hash: str) -> MfaChallenge | None:
        """Locks the row."""
        ...

    async def save(self, challenge: MfaChallenge) -> None: ...


class ThrottleRepository(Protocol):
    async def get(self, key: str) -> SignInThrottle:
        """The state of one sign-in identifier, locked for this transaction (initial state if new)."""
        ...

    async def save(self, key: str, state: SignInThrottle, now: datetime) -> None: ...


class SessionRepository(Protocol):
    async def add(self, family: RefreshTokenFamily) -> None: ...
    async def get_by_token(self, token_hash: str) -> RefreshTokenFamily | None:
        """The family holding a token, locked; `tokens` holds the presented token and the current one."""
        ...

    async def save(self, family: RefreshTokenFamily) -> None:
        """Persist the family's state and its tokens (new ones inserted, used ones marked)."""
        ...

    async def active_for_user(self, user_id: UUID) -> Sequence[RefreshTokenFamily]:
        """Unrevoked families of a user, locked (tokens not loaded)."""
        ...


class SigningKeyRepository(Protocol):
    async def lock(self) -> None:
        """Serialise key management across replicas for the rest of the transaction."""
        ...

    async def all(self) -> Sequence[StoredSigningKey]: ...
    async def add(self, key: StoredSigningKey) -> None: ...
    async def save_states(self, keys: Sequence[StoredSigningKey]) -> None: ...
    async def delete(self, kids: Sequence[str]) -> None: ...


class ProfileRepository(Protocol):
    async def get(
        self, practice_id: UUID, client_id: UUID, *, for_update: bool = False
    ) -> StoredProfile | None: ...
    async def save(self, profile: ClientProfile, *, version: int, now: datetime) -> None: ...


class ConsentDocumentRepository(Protocol):
    async def for_practice(self, practice_id: UUID, *, lock: bool = False) -> Sequence[StoredConsentDocument]:
        """Every version, oldest first; `lock` serialises publications in the practice."""
        ...

    async def add(self, document: StoredConsentDocument) -> None: ...


class ConsentSignatureRepository(Protocol):
    async def for_client(self, practice_id: UUID, client_id: UUID) -> Sequence[ConsentSignature]: ...
    async def add(self, signature: ConsentSignature) -> None: ...


class CareTeamRepository(Protocol):
    async def for_client(
        self, practice_id: UUID, client_id: UUID, *, lock: bool = False
    ) -> Sequence[CareTeamLink]:
        """Active links of a client, in assignment order."""
        ...

    async def involving(self, practice_id: UUID, user_id: UUID) -> Sequence[CareTeamLink]:
        """Active links where the user is the client or the clinician, locked."""
        ...

    async def get(self, practice_id: UUID, link_id: UUID) -> CareTeamLink | None:
        """Locks the row."""
        ...

    async def add(self, link: CareTeamLink) -> None: ...
    async def save(self, link: CareTeamLink, *, reason: str | None) -> None: ...


class IdentityUnitOfWork(Protocol):
    """One transaction, one repository per aggregate: changes, events and audit records commit together
    or not at all."""

    practices: PracticeRepository
    users: UserRepository
    one_time_tokens: OneTimeTokenRepository
    account_mails: AccountMailRepository
    mfa_factors: MfaFactorRepository
    mfa_challenges: MfaChallengeRepository
    throttles: ThrottleRepository
    sessions: SessionRepository
    keys: SigningKeyRepository
    profiles: ProfileRepository
    consent_documents: ConsentDocumentRepository
    consent_signatures: ConsentSignatureRepository
    care_teams: CareTeamRepository

    def publish(self, *events: Message) -> None: ...
    async def commit(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> IdentityUnitOfWork: ...

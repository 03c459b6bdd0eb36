"""The identity unit of work: the chassis' transactional outbox UnitOfWork plus the repositories."""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from confide_chassis.db import UnitOfWork
from confide_identity.app.ports import (
    CareTeamRepository,
    ConsentRepository,
    CredentialRepository,
    IdentityUnitOfWork,
    PracticeRepository,
    ProfileRepository,
    SessionRepository,
    SigningKeyRepository,
    ThrottleRepository,
    UnitOfWorkFactory,
    UserRepository,
)
from confide_identity.crypto import Sealer
from confide_identity.db.repositories import (
    SqlCareTeamRepository,
    SqlConsentRepository,
    SqlCredentialRepository,
    SqlPracticeRepository,
    SqlProfileRepository,
    SqlSessionRepository,
    SqlSigningKeyRepository,
    SqlThrottleRepository,
    SqlUserRepository,
)


class SqlIdentityUnitOfWork(UnitOfWork):
    practices: PracticeRepository
    users: UserRepository
    credentials: CredentialRepository
    throttles: ThrottleRepository
    sessions: SessionRepository
    keys: SigningKeyRepository
    profiles: ProfileRepository
    consents: ConsentRepository
    care_teams: CareTeamRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession], sealer: Sealer) -> None:
        super().__init__(sessions)
        self._sealer = sealer

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        session = self.session
        self.practices = SqlPracticeRepository(session)
        self.users = SqlUserRepository(session)
        self.credentials = SqlCredentialRepository(session, self._sealer)
        self.throttles = SqlThrottleRepository(session)
        self.sessions = SqlSessionRepository(session)
        self.keys = SqlSigningKeyRepository(session)
        self.profiles = SqlProfileRepository(session)
        self.consents = SqlConsentRepository(session)
        self.care_teams = SqlCareTeamRepository(session)
        return self


def unit_of_work_factory(sessions: async_sessionmaker[AsyncSession], sealer: Sealer) -> UnitOfWorkFactory:
    def factory() -> IdentityUnitOfWork:
        return SqlIdentityUnitOfWork(sessions, sealer)

    return factory

"""The identity unit of work: the chassis' transactional outbox UnitOfWork plus the repositories."""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from confide_chassis.db import UnitOfWork
from confide_identity.app.ports import (
    AccountMailRepository,
    CareTeamRepository,
    ConsentDocumentRepository,
    ConsentSignatureRepository,
    IdentityUnitOfWork,
    MfaChallengeRepository,
    MfaFactorRepository,
    OneTimeTokenRepository,
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
    SqlAccountMailRepository,
    SqlCareTeamRepository,
    SqlConsentDocumentRepository,
    SqlConsentSignatureRepository,
    SqlMfaChallengeRepository,
    SqlMfaFactorRepository,
    SqlOneTimeTokenRepository,
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

    def __init__(self, sessions: async_sessionmaker[AsyncSession], sealer: Sealer) -> None:
        super().__init__(sessions)
        self._sealer = sealer

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        session = self.session
        self.practices = SqlPracticeRepository(session)
        self.users = SqlUserRepository(session)
        self.one_time_tokens = SqlOneTimeTokenRepository(session)
        self.account_mails = SqlAccountMailRepository(session)
        self.mfa_factors = SqlMfaFactorRepository(session, self._sealer)
        self.mfa_challenges = SqlMfaChallengeRepository(session)
        self.throttles = SqlThrottleRepository(session)
        self.sessions = SqlSessionRepository(session)
        self.keys = SqlSigningKeyRepository(session)
        self.profiles = SqlProfileRepository(session)
        self.consent_documents = SqlConsentDocumentRepository(session)
        self.consent_signatures = SqlConsentSignatureRepository(session)
        self.care_teams = SqlCareTeamRepository(session)
        return self


def unit_of_work_factory(sessions: async_sessionmaker[AsyncSession], sealer: Sealer) -> UnitOfWorkFactory:
    def factory() -> IdentityUnitOfWork:
        return SqlIdentityUnitOfWork(sessions, sealer)

    return factory

"""The unit of work: the chassis' (state and outbox events in one transaction; a savepoint inside an
idempotent RPC's ambient transaction) with one repository per aggregate on its session."""

from __future__ import annotations

from types import TracebackType

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction, async_sessionmaker

from confide_chassis.db import UnitOfWork, add_events
from confide_chassis.events import OutgoingEvent
from confide_compliance.app.ports import (
    AuditRepository,
    AuthorityDayRepository,
    ClinicianRepository,
    CredentialRepository,
    DecisionRepository,
    NoticeRepository,
    PracticeUserRepository,
    RegistryHistoryRepository,
    VerificationRepository,
)
from confide_compliance.db.locks import advisory_xact_lock
from confide_compliance.db.repositories import (
    SqlAuditRepository,
    SqlAuthorityDayRepository,
    SqlClinicianRepository,
    SqlCredentialRepository,
    SqlDecisionRepository,
    SqlNoticeRepository,
    SqlPracticeUserRepository,
    SqlRegistryHistoryRepository,
    SqlVerificationRepository,
)


class _Repositories:
    clinicians: ClinicianRepository
    practice_users: PracticeUserRepository
    credentials: CredentialRepository
    history: RegistryHistoryRepository
    verifications: VerificationRepository
    decisions: DecisionRepository
    authority_days: AuthorityDayRepository
    notices: NoticeRepository
    audit: AuditRepository

    def _bind(self, session: AsyncSession) -> None:
        self.clinicians = SqlClinicianRepository(session)
        self.practice_users = SqlPracticeUserRepository(session)
        self.credentials = SqlCredentialRepository(session)
        self.history = SqlRegistryHistoryRepository(session)
        self.verifications = SqlVerificationRepository(session)
        self.decisions = SqlDecisionRepository(session)
        self.authority_days = SqlAuthorityDayRepository(session)
        self.notices = SqlNoticeRepository(session)
        self.audit = SqlAuditRepository(session)


class SqlComplianceUnitOfWork(_Repositories, UnitOfWork):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions)

    async def __aenter__(self) -> SqlComplianceUnitOfWork:
        await super().__aenter__()
        self._bind(self.session)
        return self

    async def lock(self, key: str) -> None:
        await advisory_xact_lock(self.session, key)


class JoinedUnitOfWork(_Repositories):
    """A unit of work inside a transaction someone else owns (an event handler's, with the
    consumer's inbox row): a savepoint of it. `commit` stages the events in the outbox and keeps the
    changes for the owner to commit; leaving without `commit` undoes them."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._savepoint: AsyncSessionTransaction | None = None
        self._pending: list[Message | OutgoingEvent] = []
        self._bind(session)

    async def __aenter__(self) -> JoinedUnitOfWork:
        self._pending = []
        self._savepoint = await self._session.begin_nested()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._savepoint is not None and self._savepoint.is_active:
            await self._savepoint.rollback()
        self._savepoint = None
        self._pending = []

    def publish(self, *events: Message | OutgoingEvent) -> None:
        self._pending.extend(events)

    async def commit(self) -> None:
        await add_events(self._session, self._pending)
        self._pending = []
        if self._savepoint is not None:
            await self._savepoint.commit()
            self._savepoint = None

    async def lock(self, key: str) -> None:
        await advisory_xact_lock(self._session, key)

"""The messaging unit of work: the chassis' (state + outbox in one transaction) with our repositories."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from confide_chassis.db import UnitOfWork
from confide_messaging.db.envelope import KeyRing
from confide_messaging.db.repositories import SqlCareTeams, SqlMessages, SqlReads, SqlRiskFlags, SqlThreads


class SqlMessagingUnitOfWork(UnitOfWork):
    threads: SqlThreads
    messages: SqlMessages
    reads: SqlReads
    care_teams: SqlCareTeams
    risk_flags: SqlRiskFlags

    def __init__(self, sessions: async_sessionmaker[AsyncSession], keys: KeyRing) -> None:
        super().__init__(sessions)
        self._keys = keys

    async def __aenter__(self) -> SqlMessagingUnitOfWork:
        await super().__aenter__()
        self.bind(self.session)
        return self

    def bind(self, session: AsyncSession) -> None:
        self.threads = SqlThreads(session, self._keys)
        self.messages = SqlMessages(session, self._keys)
        self.reads = SqlReads(session)
        self.care_teams = SqlCareTeams(session)
        self.risk_flags = SqlRiskFlags(session)

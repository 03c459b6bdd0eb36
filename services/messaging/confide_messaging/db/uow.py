"""The messaging unit of work: the chassis' (state + outbox in one transaction) with our repositories."""

from __future__ import annotations

from types import TracebackType

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from confide_chassis.db import UnitOfWork, add_events
from confide_messaging.db.envelope import KeyRing
from confide_messaging.db.repositories import (
    SqlCareTeams,
    SqlMessages,
    SqlNotifications,
    SqlPreferences,
    SqlReads,
    SqlReplies,
    SqlRiskFlags,
    SqlThreads,
)


class SqlMessagingUnitOfWork(UnitOfWork):
    threads: SqlThreads
    messages: SqlMessages
    reads: SqlReads
    care_teams: SqlCareTeams
    risk_flags: SqlRiskFlags
    preferences: SqlPreferences
    notifications: SqlNotifications
    replies: SqlReplies

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
        self.preferences = SqlPreferences(session, self._keys)
        self.notifications = SqlNotifications(session)
        self.replies = SqlReplies(session)


class SessionUnitOfWork:
    """The repositories on a transaction someone else owns (the idempotent consumer's): `commit()`
    only stages the published events in that transaction's outbox; the consumer commits."""

    def __init__(self, session: AsyncSession, keys: KeyRing) -> None:
        self._session = session
        self._pending: list[Message] = []
        self.threads = SqlThreads(session, keys)
        self.messages = SqlMessages(session, keys)
        self.reads = SqlReads(session)
        self.care_teams = SqlCareTeams(session)
        self.risk_flags = SqlRiskFlags(session)
        self.preferences = SqlPreferences(session, keys)
        self.notifications = SqlNotifications(session)
        self.replies = SqlReplies(session)

    async def __aenter__(self) -> SessionUnitOfWork:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pending = []

    def publish(self, *events: Message) -> None:
        self._pending.extend(events)

    async def commit(self) -> None:
        await add_events(self._session, self._pending)
        self._pending = []

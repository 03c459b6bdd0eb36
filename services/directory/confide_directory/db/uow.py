"""The directory's unit of work: the chassis transaction with this service's repositories."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from confide_chassis import db
from confide_directory.db.repositories import SqlProfileRepository, SqlProjectionRepository


class SqlDirectoryUnitOfWork(db.UnitOfWork):
    profiles: SqlProfileRepository
    projections: SqlProjectionRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions)

    async def __aenter__(self) -> SqlDirectoryUnitOfWork:
        await super().__aenter__()
        self.profiles = SqlProfileRepository(self.session)
        self.projections = SqlProjectionRepository(self.session)
        return self

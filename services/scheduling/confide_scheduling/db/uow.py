"""The scheduling unit of work: the chassis ``UnitOfWork`` (state and outbox events commit together)
exposing one repository per aggregate on its session."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from confide_chassis.db import UnitOfWork
from confide_scheduling.db.repositories import (
    SqlAppointmentRepository,
    SqlClientRepository,
    SqlHoldRepository,
    SqlPolicyRepository,
    SqlReminderRepository,
    SqlScheduleRepository,
    SqlScreeningRepository,
    SqlSeriesRepository,
    SqlWaitlistRepository,
)


class SqlRepositories:
    """The repositories over one session (a unit of work's, or a consumer's transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.appointments = SqlAppointmentRepository(session)
        self.holds = SqlHoldRepository(session)
        self.reminders = SqlReminderRepository(session)
        self.schedules = SqlScheduleRepository(session)
        self.clients = SqlClientRepository(session)
        self.series = SqlSeriesRepository(session)
        self.waitlist = SqlWaitlistRepository(session)
        self.screenings = SqlScreeningRepository(session)
        self.policies = SqlPolicyRepository(session)


class SqlSchedulingUnitOfWork(UnitOfWork):
    """``async with SqlSchedulingUnitOfWork(sessions) as uow: uow.appointments.get(...)``; leaving the
    block without ``commit()`` rolls back."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions)
        self._repositories: SqlRepositories | None = None

    async def __aenter__(self) -> SqlSchedulingUnitOfWork:
        await super().__aenter__()
        self._repositories = SqlRepositories(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._repositories = None
        await super().__aexit__(exc_type, exc, tb)

    @property
    def _repos(self) -> SqlRepositories:
        if self._repositories is None:
            raise RuntimeError("UnitOfWork used outside `async with`")
        return self._repositories

    @property
    def appointments(self) -> SqlAppointmentRepository:
        return self._repos.appointments

    @property
    def holds(self) -> SqlHoldRepository:
        return self._repos.holds

    @property
    def reminders(self) -> SqlReminderRepository:
        return self._repos.reminders

    @property
    def schedules(self) -> SqlScheduleRepository:
        return self._repos.schedules

    @property
    def clients(self) -> SqlClientRepository:
        return self._repos.clients

    @property
    def series(self) -> SqlSeriesRepository:
        return self._repos.series

    @property
    def waitlist(self) -> SqlWaitlistRepository:
        return self._repos.waitlist

    @property
    def screenings(self) -> SqlScreeningRepository:
        return self._repos.screenings

    @property
    def policies(self) -> SqlPolicyRepository:
        return self._repos.policies


def unit_of_work_factory(sessions: async_sessionmaker[AsyncSession]) -> Callable[[], SqlSchedulingUnitOfWork]:
    return lambda: SqlSchedulingUnitOfWork(sessions)

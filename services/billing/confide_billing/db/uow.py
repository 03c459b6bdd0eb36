"""The billing unit of work: the chassis' transactional-outbox UnitOfWork plus one repository per
aggregate on its session."""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from confide_billing.app import ports
from confide_billing.app.ports import BillingUnitOfWork, UnitOfWorkFactory
from confide_billing.db import repositories as r
from confide_chassis.db import UnitOfWork


class SqlBillingUnitOfWork(UnitOfWork):
    clients: ports.ClientRepository
    care_teams: ports.CareTeamRepository
    price_lists: ports.PriceListRepository
    profiles: ports.ProfileRepository
    sliding_scale: ports.SlidingScaleRepository
    plans: ports.PlanRepository
    subscriptions: ports.SubscriptionRepository
    expected_sessions: ports.ExpectedSessionRepository
    estimates: ports.EstimateRepository
    charges: ports.ChargeRepository
    invoices: ports.InvoiceRepository
    payments: ports.PaymentRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        session = self.session
        self.clients = r.SqlClientRepository(session)
        self.care_teams = r.SqlCareTeamRepository(session)
        self.price_lists = r.SqlPriceListRepository(session)
        self.profiles = r.SqlProfileRepository(session)
        self.sliding_scale = r.SqlSlidingScaleRepository(session)
        self.plans = r.SqlPlanRepository(session)
        self.subscriptions = r.SqlSubscriptionRepository(session)
        self.expected_sessions = r.SqlExpectedSessionRepository(session)
        self.estimates = r.SqlEstimateRepository(session)
        self.charges = r.SqlChargeRepository(session)
        self.invoices = r.SqlInvoiceRepository(session)
        self.payments = r.SqlPaymentRepository(session)
        return self


def unit_of_work_factory(sessions: async_sessionmaker[AsyncSession]) -> UnitOfWorkFactory:
    def open_unit_of_work() -> BillingUnitOfWork:
        return SqlBillingUnitOfWork(sessions)

    return open_unit_of_work

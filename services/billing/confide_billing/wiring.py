"""The billing service process: `SPEC` for `confide_chassis.service.main` and for tests.

    python -m confide_billing serve     # gRPC + outbox relay + consumers + dunning job
    python -m confide_billing migrate   # Alembic upgrade head

The one module that knows every layer: it builds the adapters, the AppContext, the use cases, the
servicers and the consumers. `build_spec` lets tests replace the clock or the payment provider.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from confide.billing.v1 import billing_pb2, billing_pb2_grpc
from confide_billing.adapters.stripe_payments import StripePayments
from confide_billing.adapters.superbill_pdf import SuperbillPdf
from confide_billing.api.servicers import AccountServicer, BillingSetupServicer
from confide_billing.app.accounts import AccountUseCases
from confide_billing.app.context import AppContext
from confide_billing.app.ports import PaymentProvider
from confide_billing.app.reactions import Reactions
from confide_billing.app.setup import SetupUseCases
from confide_billing.db.uow import unit_of_work_factory
from confide_billing.demo import seed_demo_command
from confide_billing.events.consumers import (
    IDENTITY_TOPICS,
    SCHEDULING_TOPICS,
    identity_handler,
    scheduling_handler,
)
from confide_billing.settings import BillingSettings
from confide_chassis.clock import utc_now
from confide_chassis.logging import get_logger
from confide_chassis.service import ServiceContext, ServiceSpec
from confide_chassis.settings import ServiceSettings

log = get_logger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def billing_settings(settings: ServiceSettings) -> BillingSettings:
    if isinstance(settings, BillingSettings):
        return settings
    return BillingSettings.model_validate(settings.model_dump())


def payment_provider(settings: BillingSettings) -> PaymentProvider | None:
    if settings.stripe_api_key is None:
        log.warning("no BILLING_STRIPE_API_KEY: card payments are refused (manual payments still work)")
        return None
    return StripePayments(settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base)


def build_spec(
    *,
    clock: Callable[[], datetime] = utc_now,
    payments: PaymentProvider | None = None,
    on_configured: Callable[[AppContext], None] | None = None,
) -> ServiceSpec:
    async def configure(ctx: ServiceContext) -> None:
        settings = billing_settings(ctx.settings)
        app = AppContext(
            uow=unit_of_work_factory(ctx.require_sessions()),
            payments=payments or payment_provider(settings),
            superbills=SuperbillPdf(),
            clock=clock,
        )
        accounts = AccountUseCases(app)
        reactions = Reactions(app)
        billing_pb2_grpc.add_BillingSetupServiceServicer_to_server(
            BillingSetupServicer(SetupUseCases(app)), ctx.server
        )
        billing_pb2_grpc.add_AccountServiceServicer_to_server(AccountServicer(accounts), ctx.server)
        for name in ("BillingSetupService", "AccountService"):
            ctx.add_grpc_service(billing_pb2.DESCRIPTOR.services_by_name[name])
        ctx.add_consumer("billing-identity", IDENTITY_TOPICS, identity_handler(reactions))
        ctx.add_consumer("billing-scheduling", SCHEDULING_TOPICS, scheduling_handler(reactions))

        async def billing_cycle(stop: asyncio.Event) -> None:
            while not stop.is_set():
                try:
                    await accounts.renew_due_subscriptions()
                    await accounts.retry_failed_payments()
                except Exception as exc:  # database or provider down: try again next round
                    log.warning("billing cycle round failed", error=type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=settings.dunning_interval_seconds)

        ctx.add_background("billing-cycle", billing_cycle)
        if on_configured is not None:
            on_configured(app)

    return ServiceSpec(
        name="billing",
        settings_type=BillingSettings,
        configure=configure,
        migrations=MIGRATIONS,
        commands={"seed-demo": seed_demo_command},
    )


SPEC = build_spec()

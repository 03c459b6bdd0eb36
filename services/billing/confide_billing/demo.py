"""`python -m confide_billing seed-demo`: the demo practice's price list, sliding-scale tiers, plans and
billing profile, so `make run` bills its demo sessions. Dev mode only; idempotent (a second run changes
nothing). Ids are the shared demo ids (docs/runbooks/demo-data.md)."""

from __future__ import annotations

import asyncio
import json
import sys

from confide_billing.app import commands
from confide_billing.app.context import AppContext
from confide_billing.app.setup import SetupUseCases
from confide_billing.db.uow import unit_of_work_factory
from confide_billing.domain.money import Money
from confide_billing.domain.pricing import SlidingScaleTier
from confide_billing.domain.records import ClinicianFacts
from confide_billing.settings import BillingSettings
from confide_chassis import db
from confide_chassis.auth import Principal
from confide_chassis.errors import NotFound
from confide_chassis.roles import PRACTICE_ADMIN
from confide_chassis.settings import ServiceSettings

DEMO_PRACTICE = "01930000-0000-7000-8000-000000000001"
SEEDER = "01930000-0000-7000-8000-0000000000b1"
CLINICIANS = (
    ClinicianFacts(
        "01930000-0000-7000-8000-0000000000c1", "Dr. Chen, PhD (psychologist)", "1234567893", "PSY 1001 (CO)"
    ),
    ClinicianFacts("01930000-0000-7000-8000-0000000000c2", "Dr. Patel, LPC", "1245319599", "LPC 2002 (AZ)"),
    ClinicianFacts(
        "01930000-0000-7000-8000-0000000000c3", "Dr. Rivera, LCSW", "1316173883", "LCSW 3003 (CA)"
    ),
)


def _usd(cents: int) -> Money:
    return Money(cents, "USD")


async def seed_demo(database_url: str) -> dict[str, object]:
    engine = db.create_engine(database_url)
    try:
        from confide_billing.adapters.superbill_pdf import SuperbillPdf

        setup = SetupUseCases(
            AppContext(
                uow=unit_of_work_factory(db.session_factory(engine)), payments=None, superbills=SuperbillPdf()
            )
        )
        admin = Principal(SEEDER, DEMO_PRACTICE, frozenset({PRACTICE_ADMIN}), mfa=True)
        changed: list[str] = []
        try:
            await setup.price_list(admin)
        except NotFound:  # nothing seeded yet
            await setup.set_price_list(
                admin,
                commands.SetPriceList(
                    currency="USD",
                    fees={
                        "90791": _usd(20_000),
                        "90832": _usd(10_000),
                        "90834": _usd(15_000),
                        "90837": _usd(18_000),
                        "90839": _usd(22_000),
                        "90840": _usd(9_000),
                        "90846": _usd(16_000),
                        "90847": _usd(16_000),
                    },
                    tiers={"A": SlidingScaleTier("A", 2_000), "B": SlidingScaleTier("B", 4_000)},
                    late_cancel_fee=_usd(5_000),
                    no_show_fee=_usd(7_500),
                ),
            )
            await setup.set_billing_profile(
                admin,
                commands.SetBillingProfile(
                    legal_name="Demo Practice PLLC",
                    group_npi="1245319599",
                    tax_id="12-3456789",
                    address="100 Demo Way, Denver, CO 80202",
                    phone="303-555-0100",
                    clinicians=CLINICIANS,
                ),
            )
            await setup.create_plan(admin, commands.CreatePlan("Messaging therapy", _usd(26_000), True, 0))
            await setup.create_plan(
                admin, commands.CreatePlan("Messaging + 1 live session", _usd(31_600), True, 1)
            )
            changed = ["price_list", "billing_profile", "plans"]
        return {"practice_id": DEMO_PRACTICE, "changed": changed}
    finally:
        await engine.dispose()


def seed_demo_command(settings: ServiceSettings, args: list[str]) -> int:
    billing = (
        settings
        if isinstance(settings, BillingSettings)
        else BillingSettings.model_validate(settings.model_dump())
    )
    if not billing.dev_mode:
        sys.stderr.write("billing seed-demo: refused; set BILLING_DEV_MODE=true (never in production)\n")
        return 2
    if not billing.database_url:
        sys.stderr.write("billing seed-demo: BILLING_DATABASE_URL is required\n")
        return 2
    sys.stdout.write(json.dumps(asyncio.run(seed_demo(billing.database_url)), sort_keys=True) + "\n")
    return 0

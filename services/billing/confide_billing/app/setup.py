"""A practice's billing setup: price list, billing identity, sliding scale, plans, fee policy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from confide_billing.app import commands
from confide_billing.app.context import AppContext
from confide_billing.domain.plans import Plan
from confide_billing.domain.pricing import PriceList, SlidingScaleDetermination
from confide_billing.domain.records import BillingProfile, ClientAccount
from confide_chassis.auth import Principal
from confide_chassis.errors import FailedPrecondition, InvalidArgument, NotFound, RuleViolation
from confide_chassis.ids import new_id_str


class SetupUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def set_price_list(self, actor: Principal, command: commands.SetPriceList) -> PriceList:
        async with self._ctx.uow() as uow:
            current = await uow.price_lists.current(actor.practice_id)
            prices = PriceList(
                practice_id=actor.practice_id,
                currency=command.currency,
                fees=command.fees,
                tiers=command.tiers,
                late_cancel_fee=command.late_cancel_fee,
                no_show_fee=command.no_show_fee,
                version=(current.version + 1) if current else 1,
            )
            await uow.price_lists.add(prices)
            await uow.commit()
        return prices

    async def price_list(self, actor: Principal) -> PriceList:
        async with self._ctx.uow() as uow:
            prices = await uow.price_lists.current(actor.practice_id)
        if prices is None:
            raise NotFound("the practice has no price list yet")
        return prices

    async def set_billing_profile(
        self, actor: Principal, command: commands.SetBillingProfile
    ) -> BillingProfile:
        profile = BillingProfile(
            practice_id=actor.practice_id,
            legal_name=command.legal_name,
            group_npi=command.group_npi,
            tax_id=command.tax_id,
            address=command.address,
            phone=command.phone,
            clinicians=command.clinicians,
        )
        async with self._ctx.uow() as uow:
            await uow.profiles.save(profile)
            await uow.commit()
        return profile

    async def record_sliding_scale(self, actor: Principal, command: commands.RecordSlidingScale) -> str:
        today = self._ctx.today()
        if command.review_on <= today:
            raise InvalidArgument.field("review_on", "must be after today")
        async with self._ctx.uow() as uow:
            prices = await uow.price_lists.current(actor.practice_id)
            if prices is None or command.tier_code not in prices.tiers:
                raise InvalidArgument.field("tier_code", "is not a tier of the practice's price list")
            account = await uow.clients.get(command.client_id)
            if account is None or account.practice_id != actor.practice_id:
                raise NotFound("no such client in this practice")
            determination_id = new_id_str()
            await uow.sliding_scale.add(
                determination_id,
                actor.practice_id,
                SlidingScaleDetermination(
                    client_id=command.client_id,
                    tier_code=command.tier_code,
                    evidence=command.evidence,
                    approved_by=actor.subject,
                    determined_on=today,
                    review_on=command.review_on,
                ),
            )
            await uow.commit()
        return determination_id

    async def accept_fee_policy(self, actor: Principal, price_list_version: int) -> ClientAccount:
        async with self._ctx.uow() as uow:
            prices = await uow.price_lists.current(actor.practice_id)
            if prices is None or prices.version != price_list_version:
                raise FailedPrecondition(
                    RuleViolation("BILL-41", "accept the practice's current fee policy (price list version)")
                )
            account = await uow.clients.get(actor.subject) or ClientAccount(actor.subject, actor.practice_id)
            accepted = replace(
                account, fee_policy_version=prices.version, fee_policy_accepted_at=self._ctx.now()
            )
            await uow.clients.save(accepted)
            await uow.commit()
        return accepted

    async def create_plan(self, actor: Principal, command: commands.CreatePlan) -> Plan:
        plan = Plan(
            plan_id=new_id_str(),
            practice_id=actor.practice_id,
            name=command.name,
            price=command.price,
            messaging=command.messaging,
            live_sessions_per_period=command.live_sessions_per_period,
        )
        async with self._ctx.uow() as uow:
            await uow.plans.add(plan)
            await uow.commit()
        return plan

    async def plans(self, actor: Principal) -> Sequence[Plan]:
        async with self._ctx.uow() as uow:
            return await uow.plans.list(actor.practice_id)

"""What billing does when other services report facts: estimates on booking, charges on completion.

Each handler runs in the consumer's transaction beside its inbox row, so a redelivered event has no
second effect; charges are also unique per (appointment, kind) in the database, belt and braces.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime

from confide_billing import metrics
from confide_billing.app import commands, events
from confide_billing.app.context import AppContext
from confide_billing.app.ports import BillingUnitOfWork
from confide_billing.domain.coding import Modality, code_session
from confide_billing.domain.estimates import (
    DISCLAIMERS,
    EstimateContents,
    EstimatedService,
    coverage_window,
    exceeds_estimate,
    gfe_due_date,
    gfe_required,
    reissue_due_date,
)
from confide_billing.domain.fees import missed_appointment_fee
from confide_billing.domain.money import Money
from confide_billing.domain.pricing import fee_for
from confide_billing.domain.records import Charge, ClientAccount, Estimate, ExpectedSession, PricedLine
from confide_chassis.errors import FailedPrecondition, RuleViolation
from confide_chassis.ids import new_id_str
from confide_chassis.logging import get_logger

log = get_logger(__name__)

SERVICE_DESCRIPTIONS = {
    "90791": "Psychiatric diagnostic evaluation (intake)",
    "90832": "Psychotherapy, 30 minutes",
    "90834": "Psychotherapy, 45 minutes",
    "90837": "Psychotherapy, 60 minutes",
    "90839": "Psychotherapy for crisis, first 60 minutes",
    "90840": "Psychotherapy for crisis, each additional 30 minutes",
    "90846": "Family psychotherapy without the patient",
    "90847": "Family psychotherapy with the patient",
}
__all__ = ["DISCLAIMERS", "SERVICE_DESCRIPTIONS", "Reactions"]


class Reactions:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def client_profile_changed(self, fact: commands.ClientProfileChanged) -> None:
        async with self._ctx.uow() as uow:
            account = await uow.clients.get(fact.client_id) or ClientAccount(fact.client_id, fact.practice_id)
            await uow.clients.save(replace(account, payer_type=fact.payer_type, practice_id=fact.practice_id))
            # A client who turns out to be self-pay gets estimates for what is already booked.
            for clinician_id in await uow.expected_sessions.clinicians_with_upcoming(
                fact.client_id, self._ctx.now()
            ):
                await self._reconcile(uow, fact.client_id, clinician_id, "", self._ctx.today())
            await uow.commit()

    async def care_team_assigned(self, client_id: str, clinician_id: str, practice_id: str) -> None:
        async with self._ctx.uow() as uow:
            await uow.care_teams.assign(client_id, clinician_id, practice_id)
            await uow.commit()

    async def care_team_removed(self, client_id: str, clinician_id: str) -> None:
        async with self._ctx.uow() as uow:
            await uow.care_teams.remove(client_id, clinician_id)
            await uow.commit()

    async def appointment_booked(self, fact: commands.AppointmentBooked) -> Estimate | None:
        """The booking's expected session, and the Good Faith Estimate it made due (None if none)."""
        async with self._ctx.uow() as uow:
            await uow.expected_sessions.save(
                ExpectedSession(
                    appointment_id=fact.appointment_id,
                    practice_id=fact.practice_id,
                    client_id=fact.client_id,
                    clinician_id=fact.clinician_id,
                    kind=fact.kind,
                    scheduled_minutes=fact.scheduled_minutes,
                    start_time=fact.start_time,
                    booked_at=fact.booked_at,
                )
            )
            if await uow.clients.get(fact.client_id) is None:
                await uow.clients.save(ClientAccount(fact.client_id, fact.practice_id))
            estimate = await self._reconcile(
                uow, fact.client_id, fact.clinician_id, fact.appointment_id, fact.booked_at.date()
            )
            await uow.commit()
        return estimate

    async def appointment_rescheduled(self, appointment_id: str, start: datetime, end: datetime) -> None:
        async with self._ctx.uow() as uow:
            session = await uow.expected_sessions.get(appointment_id)
            if session is None:
                return
            minutes = max(int((end - start).total_seconds() // 60), 0)
            await uow.expected_sessions.save(replace(session, start_time=start, scheduled_minutes=minutes))
            await self._reconcile(
                uow, session.client_id, session.clinician_id, appointment_id, self._ctx.today()
            )
            await uow.commit()

    async def appointment_cancelled(self, appointment_id: str) -> None:
        """The expected services changed: a new estimate, if one was due (BILL-31)."""
        async with self._ctx.uow() as uow:
            session = await uow.expected_sessions.get(appointment_id)
            if session is None:
                return
            await uow.expected_sessions.set_status(appointment_id, "cancelled")
            await self._reconcile(
                uow, session.client_id, session.clinician_id, appointment_id, self._ctx.today()
            )
            await uow.commit()

    async def _reconcile(
        self,
        uow: BillingUnitOfWork,
        client_id: str,
        clinician_id: str,
        appointment_id: str,
        scheduled_on: date,
    ) -> Estimate | None:
        """Issue a new Good Faith Estimate when what the client can expect from this clinician changed."""
        account = await uow.clients.get(client_id)
        if account is None or not gfe_required(account.payer_type):
            return None
        upcoming = await uow.expected_sessions.upcoming(client_id, clinician_id, self._ctx.now())
        if not upcoming:
            return None
        prices = await uow.price_lists.current(account.practice_id)
        if prices is None:
            metrics.estimates_blocked_total.labels(metrics.SERVICE, "no_price_list").inc()
            log.warning("Good Faith Estimate blocked: the practice has no price list")
            return None
        determination = await uow.sliding_scale.latest(client_id)
        first_day = upcoming[0].start_time.date()
        covers_from, covers_until = coverage_window(first_day)
        grouped: dict[tuple[str, int], int] = defaultdict(int)
        for session in upcoming:
            day = session.start_time.date()
            if day > covers_until:
                break
            try:
                coded = code_session(
                    session.kind,
                    session.scheduled_minutes,
                    Modality.VIDEO,
                    at_home=True,
                    payer=account.payer_profile,
                )
                for line in coded.lines:
                    fee = fee_for(prices, line.cpt, day=day, determination=determination)
                    grouped[(line.cpt, fee.amount_minor)] += line.units
            except FailedPrecondition:
                metrics.estimates_blocked_total.labels(metrics.SERVICE, "uncodable_or_unpriced").inc()
                return None
        services = tuple(
            EstimatedService(cpt, SERVICE_DESCRIPTIONS.get(cpt, cpt), quantity, Money(fee, prices.currency))
            for (cpt, fee), quantity in sorted(grouped.items())
        )
        contents = EstimateContents(services, covers_from, covers_until)
        latest = await uow.estimates.latest(client_id, clinician_id, lock=True)
        if latest is not None and latest.contents.fingerprint() == contents.fingerprint():
            return None
        due = gfe_due_date(scheduled_on, first_day) if latest is None else reissue_due_date(first_day)
        estimate = Estimate(
            estimate_id=new_id_str(),
            practice_id=account.practice_id,
            client_id=client_id,
            clinician_id=clinician_id,
            version=1 if latest is None else latest.version + 1,
            contents=contents,
            issued_at=self._ctx.now(),
            due_on=due,
        )
        if latest is not None:
            await uow.estimates.supersede(latest.estimate_id)
        await uow.estimates.add(estimate)
        uow.publish(events.estimate_issued(estimate, appointment_id))
        metrics.estimates_issued_total.labels(metrics.SERVICE, "late" if estimate.late else "on_time").inc()
        return estimate

    async def session_completed(self, fact: commands.SessionCompleted) -> Charge | None:
        day = fact.completed_at.date()
        async with self._ctx.uow() as uow:
            account = await uow.clients.get(fact.client_id) or ClientAccount(fact.client_id, fact.practice_id)
            prices = await uow.price_lists.current(fact.practice_id)
            if prices is None:
                raise FailedPrecondition(
                    RuleViolation("BILL-32", "the practice has no price list: the session cannot be charged")
                )
            try:
                coding = code_session(
                    fact.kind, fact.minutes, fact.modality, at_home=fact.at_home, payer=account.payer_profile
                )
            except FailedPrecondition:
                metrics.sessions_not_billable_total.labels(metrics.SERVICE).inc()
                await uow.expected_sessions.set_status(fact.appointment_id, "completed")
                await uow.commit()
                return None
            subscription = await uow.subscriptions.active(fact.client_id, lock=True)
            consumed = subscription.consume_session(day) if subscription is not None else None
            determination = await uow.sliding_scale.latest(fact.client_id)
            lines = tuple(
                PricedLine(
                    line,
                    Money.zero(prices.currency)
                    if consumed
                    else fee_for(prices, line.cpt, day=day, determination=determination).times(line.units),
                )
                for line in coding.lines
            )
            charge = Charge(
                charge_id=new_id_str(),
                practice_id=fact.practice_id,
                client_id=fact.client_id,
                clinician_id=fact.clinician_id,
                appointment_id=fact.appointment_id,
                kind="session",
                service_date=day,
                lines=lines,
                coding=coding,
                amount=Money(sum(p.amount.amount_minor for p in lines), prices.currency),
                covered_by_plan=consumed is not None,
            )
            if not await uow.charges.add(charge):
                return None  # already charged: exactly once per session
            if consumed is not None:
                await uow.subscriptions.save(fact.practice_id, consumed)
            charge = await self._flag_if_over_estimate(uow, charge)
            await uow.expected_sessions.set_status(fact.appointment_id, "completed")
            uow.publish(events.charge_created(charge, self._ctx.now()))
            await uow.commit()
        metrics.charges_total.labels(metrics.SERVICE, "session", coding.primary_code).inc()
        return charge

    async def _flag_if_over_estimate(self, uow: BillingUnitOfWork, charge: Charge) -> Charge:
        if charge.clinician_id is None:
            return charge
        estimate = await uow.estimates.latest(charge.client_id, charge.clinician_id)
        if estimate is None:
            return charge
        billed = await uow.charges.billed_with(
            charge.client_id,
            charge.clinician_id,
            estimate.contents.covers_from,
            estimate.contents.covers_until,
        )
        if not exceeds_estimate(billed, estimate.contents.total):
            return charge
        flagged = replace(charge, exceeds_estimate=True)
        await uow.charges.save(flagged)
        metrics.bills_over_estimate_total.labels(metrics.SERVICE).inc()
        return flagged

    async def missed_appointment(self, fact: commands.MissedAppointment) -> Charge | None:
        kind = "no_show_fee" if fact.no_show else "late_cancel_fee"
        async with self._ctx.uow() as uow:
            if not fact.no_show:
                await uow.expected_sessions.set_status(fact.appointment_id, "cancelled")
            account = await uow.clients.get(fact.client_id) or ClientAccount(fact.client_id, fact.practice_id)
            prices = await uow.price_lists.current(fact.practice_id)
            listed = (
                None if prices is None else (prices.no_show_fee if fact.no_show else prices.late_cancel_fee)
            )
            decision = missed_appointment_fee(
                fact.scheduling_fee or listed,
                client_agreed=account.fee_policy_accepted,
                payer=account.payer_profile,
                scheduling_says_fee_applies=fact.fee_applies,
            )
            if decision.fee is None:
                metrics.fees_waived_total.labels(metrics.SERVICE, kind).inc()
                await uow.commit()
                return None
            charge = Charge(
                charge_id=new_id_str(),
                practice_id=fact.practice_id,
                client_id=fact.client_id,
                clinician_id=fact.clinician_id,
                appointment_id=fact.appointment_id,
                kind=kind,
                service_date=fact.occurred_at.date(),
                lines=(),
                coding=None,
                amount=decision.fee,
            )
            if not await uow.charges.add(charge):
                return None
            uow.publish(events.charge_created(charge, self._ctx.now()))
            await uow.commit()
        metrics.charges_total.labels(metrics.SERVICE, kind, "").inc()
        return charge

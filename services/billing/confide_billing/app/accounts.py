"""A client's account: plan subscription, charges, invoices, payments, refunds, superbills."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from confide_billing import metrics
from confide_billing.app import commands, events
from confide_billing.app.context import AppContext, client_scope
from confide_billing.app.ports import BillingUnitOfWork
from confide_billing.domain.dunning import next_retry
from confide_billing.domain.money import Money
from confide_billing.domain.plans import Plan, Proration, Subscription, prorate_change
from confide_billing.domain.records import (
    BillingProfile,
    Charge,
    ClientAccount,
    Estimate,
    Invoice,
    Payment,
)
from confide_chassis.auth import Principal
from confide_chassis.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from confide_chassis.ids import new_id_str
from confide_chassis.roles import CLIENT, PRACTICE_ADMIN

# ICD-10-CM: a letter, two characters, optionally a dot and up to four more (e.g. F41.1, F33.40).
_ICD10 = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$")


@dataclass(frozen=True, slots=True)
class AccountView:
    account: ClientAccount
    subscription: Subscription | None
    estimates: Sequence[Estimate]
    charges: Sequence[Charge]
    invoices: Sequence[Invoice]
    payments: Sequence[Payment]
    profile: BillingProfile | None


@dataclass(frozen=True, slots=True)
class SuperbillData:
    practice: BillingProfile
    client_name: str
    client_date_of_birth: date | None
    from_date: date
    to_date: date
    charges: Sequence[Charge]
    total_charged: Money
    total_paid: Money


@dataclass(frozen=True, slots=True)
class PlanChange:
    subscription: Subscription
    proration: Proration


class AccountUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def _plan(self, uow: BillingUnitOfWork, actor: Principal, plan_id: str) -> Plan:
        plan = await uow.plans.get(actor.practice_id, plan_id)
        if plan is None:
            raise NotFound("no such plan in this practice")
        return plan

    async def subscribe(self, actor: Principal, plan_id: str) -> Subscription:
        async with self._ctx.uow() as uow:
            if await uow.subscriptions.active(actor.subject, lock=True) is not None:
                raise FailedPrecondition(
                    RuleViolation("BILL-90", "already subscribed: change the plan instead")
                )
            plan = await self._plan(uow, actor, plan_id)
            subscription = Subscription(new_id_str(), actor.subject, plan, period_start=self._ctx.today())
            await uow.subscriptions.save(actor.practice_id, subscription)
            await self._plan_charge(uow, actor, plan.price, subscription)
            await uow.commit()
        return subscription

    async def _plan_charge(
        self, uow: BillingUnitOfWork, actor: Principal, amount: Money, subscription: Subscription
    ) -> None:
        if await uow.clients.get(actor.subject) is None:
            await uow.clients.save(ClientAccount(actor.subject, actor.practice_id))
        charge = Charge(
            charge_id=new_id_str(),
            practice_id=actor.practice_id,
            client_id=actor.subject,
            clinician_id=None,
            appointment_id=None,
            kind="plan",
            service_date=self._ctx.today(),
            lines=(),
            coding=None,
            amount=amount,
        )
        await uow.charges.add(charge)
        uow.publish(events.charge_created(charge, self._ctx.now()))
        metrics.charges_total.labels(metrics.SERVICE, "plan", "").inc()

    async def change_plan(self, actor: Principal, plan_id: str) -> PlanChange:
        async with self._ctx.uow() as uow:
            current = await uow.subscriptions.active(actor.subject, lock=True)
            if current is None:
                raise FailedPrecondition(RuleViolation("BILL-90", "no active subscription to change"))
            plan = await self._plan(uow, actor, plan_id)
            proration = prorate_change(current, plan, self._ctx.today())
            changed = replace(
                current, plan=plan, sessions_used=min(current.sessions_used, plan.live_sessions_per_period)
            )
            await uow.subscriptions.save(actor.practice_id, changed)
            await self._plan_charge(uow, actor, proration.net, changed)
            await uow.commit()
        return PlanChange(changed, proration)

    async def renew_due_subscriptions(self, limit: int = 100) -> int:
        """At the end of each paid period: a subscription set to cancel ends; any other starts its next
        period with fresh entitlements (nothing rolls over) and is charged the plan's price."""
        today = self._ctx.today()
        async with self._ctx.uow() as uow:
            due = await uow.subscriptions.due_for_renewal(today, limit)
            for practice_id, subscription in due:
                current = subscription
                while not current.cancelled and current.period_end <= today:
                    current = current.renew()
                    if not current.cancelled:
                        owner = Principal(current.client_id, practice_id, frozenset({CLIENT}), mfa=False)
                        await self._plan_charge(uow, owner, current.plan.price, current)
                await uow.subscriptions.save(practice_id, current)
            await uow.commit()
        return len(due)

    async def cancel_subscription(self, actor: Principal) -> Subscription:
        async with self._ctx.uow() as uow:
            current = await uow.subscriptions.active(actor.subject, lock=True)
            if current is None:
                raise FailedPrecondition(RuleViolation("BILL-90", "no active subscription"))
            cancelled = current.cancel()
            await uow.subscriptions.save(actor.practice_id, cancelled)
            await uow.commit()
        return cancelled

    async def account(self, actor: Principal, client_id: str) -> AccountView:
        subject = client_scope(actor, client_id)
        async with self._ctx.uow() as uow:
            # A clinician reads the accounts of their care team's clients only (charges carry diagnoses);
            # checked before the account is looked up, so the answer says nothing about other clients.
            if (
                subject != actor.subject
                and not actor.has_any_role((PRACTICE_ADMIN,))
                and not await uow.care_teams.includes(subject, actor.subject, actor.practice_id)
            ):
                raise PermissionDenied("the client is not on the clinician's care team")
            account = await uow.clients.get(subject)
            if account is None:
                account = ClientAccount(subject, actor.practice_id)
            elif account.practice_id != actor.practice_id:
                raise NotFound("no such client in this practice")
            return AccountView(
                account=account,
                subscription=await uow.subscriptions.active(subject),
                estimates=await uow.estimates.current_for_client(subject),
                charges=await uow.charges.for_client(subject, 100),
                invoices=await uow.invoices.for_client(subject, 50),
                payments=await uow.payments.for_client(subject, 50),
                profile=await uow.profiles.get(actor.practice_id),
            )

    async def set_diagnosis_codes(self, actor: Principal, charge_id: str, codes: Sequence[str]) -> Charge:
        if not 1 <= len(codes) <= 12:
            raise InvalidArgument.field("diagnosis_codes", "give 1 to 12 ICD-10-CM codes")
        for index, code in enumerate(codes):
            if not _ICD10.match(code):
                raise InvalidArgument.field(
                    f"diagnosis_codes[{index}]", "is not an ICD-10-CM code such as F41.1"
                )
        async with self._ctx.uow() as uow:
            charge = await uow.charges.get(charge_id)
            if charge is None or charge.practice_id != actor.practice_id:
                raise NotFound("no such charge")
            if charge.clinician_id != actor.subject:
                raise PermissionDenied("only the session's clinician records its diagnoses")
            updated = charge.with_diagnoses(tuple(codes))
            await uow.charges.save(updated)
            await uow.commit()
        return updated

    async def issue_invoice(self, actor: Principal, command: commands.IssueInvoice) -> Invoice:
        if command.period_end < command.period_start:
            raise InvalidArgument.field("period_end", "must not be before period_start")
        async with self._ctx.uow() as uow:
            account = await uow.clients.get(command.client_id)
            if account is None or account.practice_id != actor.practice_id:
                raise NotFound("no such client in this practice")
            charges = [
                c
                for c in await uow.charges.uninvoiced(
                    command.client_id, command.period_start, command.period_end
                )
                if c.amount.amount_minor != 0
            ]
            if not charges:
                raise FailedPrecondition(RuleViolation("BILL-93", "no uninvoiced charges in that period"))
            currency = charges[0].amount.currency
            invoice = Invoice(
                invoice_id=new_id_str(),
                practice_id=actor.practice_id,
                client_id=command.client_id,
                period_start=command.period_start,
                period_end=command.period_end,
                charge_ids=tuple(c.charge_id for c in charges),
                total=Money(sum(c.amount.amount_minor for c in charges), currency),
                paid=Money.zero(currency),
            )
            await uow.invoices.add(invoice)
            await uow.charges.attach_to_invoice(invoice.charge_ids, invoice.invoice_id)
            uow.publish(events.invoice_issued(invoice, self._ctx.now()))
            await uow.commit()
        return invoice

    async def _open_invoice(self, uow: BillingUnitOfWork, actor: Principal, invoice_id: str) -> Invoice:
        invoice = await uow.invoices.get(invoice_id, lock=True)
        if invoice is None or invoice.practice_id != actor.practice_id:
            raise NotFound("no such invoice")
        if "client" in actor.roles and invoice.client_id != actor.subject:
            raise NotFound("no such invoice")
        if invoice.status == "paid":
            raise FailedPrecondition(RuleViolation("BILL-91", "the invoice is already paid"))
        return invoice

    async def pay_invoice(self, actor: Principal, command: commands.PayInvoice) -> tuple[Payment, Invoice]:
        provider = self._ctx.payments
        if provider is None:
            raise FailedPrecondition(
                RuleViolation("BILL-94", "card payments are not configured for this practice")
            )
        async with self._ctx.uow() as uow:
            invoice = await self._open_invoice(uow, actor, command.invoice_id)
            amount = invoice.balance
            # The provider sees the same key on every retry: a retried request never charges twice.
            result = await provider.charge(
                amount,
                payment_method=command.payment_method,
                idempotency_key=f"pay-{command.idempotency_key}",
                description=f"Confide invoice {invoice.invoice_id}",
            )
            now = self._ctx.now()
            payment = Payment(
                payment_id=new_id_str(),
                practice_id=invoice.practice_id,
                client_id=invoice.client_id,
                invoice_id=invoice.invoice_id,
                amount=amount,
                method="card",
                status="succeeded" if result.succeeded else "failed",
                provider_ref=result.provider_ref,
                payment_method_ref=command.payment_method,
                failure_reason=None if result.succeeded else (result.decline_code or "declined"),
                first_failed_at=None if result.succeeded else now,
                next_retry_at=None if result.succeeded else next_retry(now, 1),
                refunded=Money.zero(amount.currency),
            )
            await uow.payments.add(payment)
            if result.succeeded:
                invoice = invoice.pay(amount)
                await uow.invoices.save(invoice)
            uow.publish(events.payment_outcome(payment, now))
            await uow.commit()
        metrics.payments_total.labels(metrics.SERVICE, "card", payment.status).inc()
        return payment, invoice

    async def record_manual_payment(
        self, actor: Principal, command: commands.RecordManualPayment
    ) -> tuple[Payment, Invoice]:
        async with self._ctx.uow() as uow:
            invoice = await self._open_invoice(uow, actor, command.invoice_id)
            if command.amount.currency != invoice.total.currency:
                raise InvalidArgument.field("amount.currency", "must be the invoice's currency")
            invoice = invoice.pay(command.amount)
            payment = Payment(
                payment_id=new_id_str(),
                practice_id=invoice.practice_id,
                client_id=invoice.client_id,
                invoice_id=invoice.invoice_id,
                amount=command.amount,
                method=command.method,
                status="succeeded",
                refunded=Money.zero(command.amount.currency),
            )
            await uow.payments.add(payment)
            await uow.invoices.save(invoice)
            uow.publish(events.payment_outcome(payment, self._ctx.now()))
            await uow.commit()
        metrics.payments_total.labels(metrics.SERVICE, command.method, "succeeded").inc()
        return payment, invoice

    async def refund(self, actor: Principal, command: commands.RefundPayment) -> Payment:
        async with self._ctx.uow() as uow:
            payment = await uow.payments.get(command.payment_id, lock=True)
            if payment is None or payment.practice_id != actor.practice_id:
                raise NotFound("no such payment")
            refunded = payment.refund(command.amount)
            provider_ref = None
            if payment.method == "card":
                if self._ctx.payments is None or payment.provider_ref is None:
                    raise FailedPrecondition(RuleViolation("BILL-94", "card refunds are not configured"))
                result = await self._ctx.payments.refund(
                    payment.provider_ref, command.amount, idempotency_key=f"refund-{command.idempotency_key}"
                )
                if not result.succeeded:
                    raise FailedPrecondition(
                        RuleViolation("BILL-94", "the payment provider refused the refund")
                    )
                provider_ref = result.provider_ref
            refund_id = new_id_str()
            await uow.payments.save(refunded)
            await uow.payments.add_refund(refund_id, payment.payment_id, command.amount, provider_ref)
            invoice = await uow.invoices.get(payment.invoice_id, lock=True)
            if invoice is not None:
                await uow.invoices.save(invoice.refund(command.amount))
            uow.publish(events.refund_issued(refund_id, payment, command.amount, self._ctx.now()))
            await uow.commit()
        return refunded

    async def superbill(self, actor: Principal, command: commands.Superbill) -> tuple[SuperbillData, bytes]:
        subject = client_scope(actor, command.client_id)
        if command.to_date < command.from_date:
            raise InvalidArgument.field("to_date", "must not be before from_date")
        async with self._ctx.uow() as uow:
            profile = await uow.profiles.get(actor.practice_id)
            if profile is None:
                raise FailedPrecondition(
                    RuleViolation("BILL-40", "the practice has no billing profile (NPI, tax id)")
                )
            charges = [
                c
                for c in await uow.charges.in_range(subject, command.from_date, command.to_date)
                if c.kind == "session"
            ]
            invoice_ids = sorted({c.invoice_id for c in charges if c.invoice_id})
            paid = await uow.payments.paid_for_invoices(invoice_ids)
        currency = charges[0].amount.currency if charges else "USD"
        data = SuperbillData(
            practice=profile,
            client_name=command.client_name,
            client_date_of_birth=command.client_date_of_birth,
            from_date=command.from_date,
            to_date=command.to_date,
            charges=charges,
            total_charged=Money(sum(c.amount.amount_minor for c in charges), currency),
            total_paid=paid if paid.currency == currency else Money.zero(currency),
        )
        return data, self._ctx.superbills.render(data)

    async def retry_failed_payments(self, limit: int = 50) -> int:
        """Dunning: try failed card payments again on their schedule; give up after the last retry."""
        provider = self._ctx.payments
        if provider is None:
            return 0
        tried = 0
        async with self._ctx.uow() as uow:
            due = await uow.payments.due_for_retry(self._ctx.now(), limit)
        for payment in due:
            tried += 1
            async with self._ctx.uow() as uow:
                current = await uow.payments.get(payment.payment_id, lock=True)
                invoice = await uow.invoices.get(payment.invoice_id, lock=True)
                if current is None or current.next_retry_at is None or invoice is None:
                    continue
                if invoice.status == "paid" or current.payment_method_ref is None:
                    await uow.payments.save(replace(current, next_retry_at=None))
                    await uow.commit()
                    continue
                attempt = current.attempts + 1
                result = await provider.charge(
                    invoice.balance,
                    payment_method=current.payment_method_ref,
                    idempotency_key=f"dunning-{current.payment_id}-{attempt}",
                    description=f"Confide invoice {invoice.invoice_id}",
                )
                now = self._ctx.now()
                first = current.first_failed_at or now
                updated = replace(
                    current,
                    attempts=attempt,
                    status="succeeded" if result.succeeded else "failed",
                    provider_ref=result.provider_ref,
                    amount=invoice.balance,
                    failure_reason=None if result.succeeded else (result.decline_code or "declined"),
                    next_retry_at=None if result.succeeded else next_retry(first, attempt),
                )
                await uow.payments.save(updated)
                if result.succeeded:
                    await uow.invoices.save(invoice.pay(invoice.balance))
                elif updated.next_retry_at is None:
                    # The last retry failed: a plan on this account ends (no service without payment).
                    subscription = await uow.subscriptions.active(current.client_id, lock=True)
                    if subscription is not None:
                        await uow.subscriptions.save(
                            current.practice_id, replace(subscription, cancelled=True)
                        )
                uow.publish(events.payment_outcome(updated, now))
                await uow.commit()
            metrics.payments_total.labels(metrics.SERVICE, "card", "retry_" + updated.status).inc()
        return tried

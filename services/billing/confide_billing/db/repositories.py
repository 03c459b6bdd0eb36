"""One repository per billing aggregate, each on the unit of work's session (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from confide_billing.db import tables as t
from confide_billing.domain.coding import CodedSession, ServiceLine, SessionKind
from confide_billing.domain.estimates import EstimateContents, EstimatedService, PayerType
from confide_billing.domain.money import Money
from confide_billing.domain.plans import PERIOD_DAYS, Plan, Subscription
from confide_billing.domain.pricing import PriceList, SlidingScaleDetermination, SlidingScaleTier
from confide_billing.domain.records import (
    BillingProfile,
    Charge,
    ClientAccount,
    ClinicianFacts,
    Estimate,
    ExpectedSession,
    Invoice,
    Payment,
    PricedLine,
)


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session


def _money(amount: Money | None) -> dict[str, Any] | None:
    return None if amount is None else {"amount_minor": amount.amount_minor, "currency": amount.currency}


def _money_of(data: dict[str, Any] | None) -> Money | None:
    return None if data is None else Money(int(data["amount_minor"]), str(data["currency"]))


class SqlClientRepository(_Repository):
    async def get(self, client_id: str) -> ClientAccount | None:
        row = (
            await self._session.execute(select(t.clients).where(t.clients.c.client_id == client_id))
        ).first()
        if row is None:
            return None
        return ClientAccount(
            client_id=row.client_id,
            practice_id=row.practice_id,
            payer_type=PayerType(row.payer_type),
            fee_policy_version=row.fee_policy_version,
            fee_policy_accepted_at=row.fee_policy_accepted_at,
        )

    async def save(self, account: ClientAccount) -> None:
        values = {
            "practice_id": account.practice_id,
            "payer_type": account.payer_type.value,
            "fee_policy_version": account.fee_policy_version,
            "fee_policy_accepted_at": account.fee_policy_accepted_at,
        }
        await self._session.execute(
            insert(t.clients)
            .values(client_id=account.client_id, **values)
            .on_conflict_do_update(index_elements=[t.clients.c.client_id], set_=values)
        )


class SqlCareTeamRepository(_Repository):
    async def assign(self, client_id: str, clinician_id: str, practice_id: str) -> None:
        await self._session.execute(
            insert(t.care_teams)
            .values(client_id=client_id, clinician_id=clinician_id, practice_id=practice_id)
            .on_conflict_do_update(
                index_elements=[t.care_teams.c.client_id, t.care_teams.c.clinician_id],
                set_={"practice_id": practice_id},
            )
        )

    async def remove(self, client_id: str, clinician_id: str) -> None:
        await self._session.execute(
            delete(t.care_teams).where(
                t.care_teams.c.client_id == client_id, t.care_teams.c.clinician_id == clinician_id
            )
        )

    async def includes(self, client_id: str, clinician_id: str, practice_id: str) -> bool:
        row = (
            await self._session.execute(
                select(t.care_teams.c.client_id).where(
                    t.care_teams.c.client_id == client_id,
                    t.care_teams.c.clinician_id == clinician_id,
                    t.care_teams.c.practice_id == practice_id,
                )
            )
        ).first()
        return row is not None


class SqlPriceListRepository(_Repository):
    async def current(self, practice_id: str) -> PriceList | None:
        row = (
            await self._session.execute(
                select(t.price_lists)
                .where(t.price_lists.c.practice_id == practice_id)
                .order_by(t.price_lists.c.version.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        body = row.body
        return PriceList(
            practice_id=practice_id,
            currency=row.currency,
            fees={code: Money(int(amount), row.currency) for code, amount in body["fees"].items()},
            tiers={code: SlidingScaleTier(code, int(bp)) for code, bp in body["tiers"].items()},
            late_cancel_fee=_money_of(body.get("late_cancel_fee")),
            no_show_fee=_money_of(body.get("no_show_fee")),
            version=row.version,
        )

    async def add(self, prices: PriceList) -> None:
        body = {
            "fees": {code: fee.amount_minor for code, fee in prices.fees.items()},
            "tiers": {code: tier.discount_bp for code, tier in prices.tiers.items()},
            "late_cancel_fee": _money(prices.late_cancel_fee),
            "no_show_fee": _money(prices.no_show_fee),
        }
        await self._session.execute(
            insert(t.price_lists).values(
                practice_id=prices.practice_id, version=prices.version, currency=prices.currency, body=body
            )
        )


class SqlProfileRepository(_Repository):
    async def get(self, practice_id: str) -> BillingProfile | None:
        row = (
            await self._session.execute(
                select(t.billing_profiles).where(t.billing_profiles.c.practice_id == practice_id)
            )
        ).first()
        if row is None:
            return None
        body = dict(row.body)
        clinicians = tuple(ClinicianFacts(**c) for c in body.pop("clinicians", []))
        return BillingProfile(practice_id=practice_id, clinicians=clinicians, **body)

    async def save(self, profile: BillingProfile) -> None:
        body = {
            "legal_name": profile.legal_name,
            "group_npi": profile.group_npi,
            "tax_id": profile.tax_id,
            "address": profile.address,
            "phone": profile.phone,
            "clinicians": [
                {
                    "clinician_id": c.clinician_id,
                    "display_name": c.display_name,
                    "npi": c.npi,
                    "license": c.license,
                }
                for c in profile.clinicians
            ],
        }
        await self._session.execute(
            insert(t.billing_profiles)
            .values(practice_id=profile.practice_id, body=body)
            .on_conflict_do_update(index_elements=[t.billing_profiles.c.practice_id], set_={"body": body})
        )


class SqlSlidingScaleRepository(_Repository):
    async def latest(self, client_id: str) -> SlidingScaleDetermination | None:
        s = t.sliding_scale
        row = (
            await self._session.execute(
                select(s)
                .where(s.c.client_id == client_id)
                .order_by(s.c.determined_on.desc(), s.c.determination_id.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return SlidingScaleDetermination(
            row.client_id, row.tier_code, row.evidence, row.approved_by, row.determined_on, row.review_on
        )

    async def add(
        self, determination_id: str, practice_id: str, determination: SlidingScaleDetermination
    ) -> None:
        await self._session.execute(
            insert(t.sliding_scale).values(
                determination_id=determination_id,
                practice_id=practice_id,
                client_id=determination.client_id,
                tier_code=determination.tier_code,
                evidence=determination.evidence,
                approved_by=determination.approved_by,
                determined_on=determination.determined_on,
                review_on=determination.review_on,
            )
        )


def _plan_of(row: Any) -> Plan:
    return Plan(
        plan_id=row.plan_id,
        practice_id=row.practice_id,
        name=row.name,
        price=Money(row.price_minor, row.currency),
        messaging=row.messaging,
        live_sessions_per_period=row.live_sessions_per_period,
    )


class SqlPlanRepository(_Repository):
    async def get(self, practice_id: str, plan_id: str) -> Plan | None:
        row = (
            await self._session.execute(
                select(t.plans).where(t.plans.c.plan_id == plan_id, t.plans.c.practice_id == practice_id)
            )
        ).first()
        return None if row is None else _plan_of(row)

    async def list(self, practice_id: str) -> Sequence[Plan]:
        rows = await self._session.execute(
            select(t.plans)
            .where(t.plans.c.practice_id == practice_id)
            .order_by(t.plans.c.price_minor, t.plans.c.plan_id)
        )
        return [_plan_of(r) for r in rows]

    async def add(self, plan: Plan) -> None:
        await self._session.execute(
            insert(t.plans).values(
                plan_id=plan.plan_id,
                practice_id=plan.practice_id,
                name=plan.name,
                price_minor=plan.price.amount_minor,
                currency=plan.price.currency,
                messaging=plan.messaging,
                live_sessions_per_period=plan.live_sessions_per_period,
            )
        )


class SqlSubscriptionRepository(_Repository):
    async def active(self, client_id: str, *, lock: bool = False) -> Subscription | None:
        s = t.subscriptions
        query = (
            select(s, t.plans)
            .join(t.plans, t.plans.c.plan_id == s.c.plan_id)
            .where(s.c.client_id == client_id, s.c.cancelled.is_(False))
            .limit(1)
        )
        if lock:
            query = query.with_for_update(of=s)
        row = (await self._session.execute(query)).first()
        return None if row is None else _subscription_of(row)

    async def due_for_renewal(self, today: date, limit: int) -> Sequence[tuple[str, Subscription]]:
        s = t.subscriptions
        rows = await self._session.execute(
            select(s, t.plans)
            .join(t.plans, t.plans.c.plan_id == s.c.plan_id)
            .where(s.c.cancelled.is_(False), s.c.period_start <= today - timedelta(days=PERIOD_DAYS))
            .order_by(s.c.period_start, s.c.subscription_id)
            .limit(limit)
            .with_for_update(of=s, skip_locked=True)
        )
        return [(row.practice_id, _subscription_of(row)) for row in rows]

    async def save(self, practice_id: str, subscription: Subscription) -> None:
        values = {
            "plan_id": subscription.plan.plan_id,
            "period_start": subscription.period_start,
            "sessions_used": subscription.sessions_used,
            "cancel_at_period_end": subscription.cancel_at_period_end,
            "cancelled": subscription.cancelled,
        }
        await self._session.execute(
            insert(t.subscriptions)
            .values(
                subscription_id=subscription.subscription_id,
                practice_id=practice_id,
                client_id=subscription.client_id,
                **values,
            )
            .on_conflict_do_update(index_elements=[t.subscriptions.c.subscription_id], set_=values)
        )


def _subscription_of(row: Any) -> Subscription:
    return Subscription(
        subscription_id=row.subscription_id,
        client_id=row.client_id,
        plan=_plan_of(row),
        period_start=row.period_start,
        sessions_used=row.sessions_used,
        cancel_at_period_end=row.cancel_at_period_end,
        cancelled=row.cancelled,
    )


def _expected_of(row: Any) -> ExpectedSession:
    return ExpectedSession(
        appointment_id=row.appointment_id,
        practice_id=row.practice_id,
        client_id=row.client_id,
        clinician_id=row.clinician_id,
        kind=SessionKind(row.session_kind),
        scheduled_minutes=row.scheduled_minutes,
        start_time=row.start_time,
        booked_at=row.booked_at,
        status=row.status,
    )


class SqlExpectedSessionRepository(_Repository):
    async def save(self, session: ExpectedSession) -> None:
        values = {
            "practice_id": session.practice_id,
            "client_id": session.client_id,
            "clinician_id": session.clinician_id,
            "session_kind": session.kind.value,
            "scheduled_minutes": session.scheduled_minutes,
            "start_time": session.start_time,
            "booked_at": session.booked_at,
            "status": session.status,
        }
        await self._session.execute(
            insert(t.bookings)
            .values(appointment_id=session.appointment_id, **values)
            .on_conflict_do_update(index_elements=[t.bookings.c.appointment_id], set_=values)
        )

    async def get(self, appointment_id: str) -> ExpectedSession | None:
        row = (
            await self._session.execute(
                select(t.bookings).where(t.bookings.c.appointment_id == appointment_id)
            )
        ).first()
        return None if row is None else _expected_of(row)

    async def set_status(self, appointment_id: str, status: str) -> None:
        await self._session.execute(
            update(t.bookings).where(t.bookings.c.appointment_id == appointment_id).values(status=status)
        )

    async def upcoming(self, client_id: str, clinician_id: str, since: datetime) -> Sequence[ExpectedSession]:
        b = t.bookings
        rows = await self._session.execute(
            select(b)
            .where(
                b.c.client_id == client_id,
                b.c.clinician_id == clinician_id,
                b.c.status == "booked",
                b.c.start_time >= since,
            )
            .order_by(b.c.start_time)
        )
        return [_expected_of(r) for r in rows]

    async def clinicians_with_upcoming(self, client_id: str, since: datetime) -> Sequence[str]:
        b = t.bookings
        rows = await self._session.execute(
            select(b.c.clinician_id)
            .where(b.c.client_id == client_id, b.c.status == "booked", b.c.start_time >= since)
            .distinct()
            .order_by(b.c.clinician_id)
        )
        return [r.clinician_id for r in rows]


def _estimate_of(row: Any) -> Estimate:
    body = row.body
    services = tuple(
        EstimatedService(
            s["service_code"], s["description"], int(s["quantity"]), Money(int(s["unit_fee"]), row.currency)
        )
        for s in body["services"]
    )
    return Estimate(
        estimate_id=row.estimate_id,
        practice_id=row.practice_id,
        client_id=row.client_id,
        clinician_id=row.clinician_id,
        version=row.version,
        contents=EstimateContents(services, row.covers_from, row.covers_until),
        issued_at=row.issued_at,
        due_on=row.due_on,
        superseded=row.superseded,
    )


class SqlEstimateRepository(_Repository):
    async def latest(self, client_id: str, clinician_id: str, *, lock: bool = False) -> Estimate | None:
        e = t.estimates
        query = (
            select(e)
            .where(e.c.client_id == client_id, e.c.clinician_id == clinician_id)
            .order_by(e.c.version.desc())
            .limit(1)
        )
        if lock:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return None if row is None else _estimate_of(row)

    async def add(self, estimate: Estimate) -> None:
        contents = estimate.contents
        await self._session.execute(
            insert(t.estimates).values(
                estimate_id=estimate.estimate_id,
                practice_id=estimate.practice_id,
                client_id=estimate.client_id,
                clinician_id=estimate.clinician_id,
                version=estimate.version,
                body={
                    "services": [
                        {
                            "service_code": s.service_code,
                            "description": s.description,
                            "quantity": s.quantity,
                            "unit_fee": s.unit_fee.amount_minor,
                        }
                        for s in contents.services
                    ]
                },
                total_minor=contents.total.amount_minor,
                currency=contents.total.currency,
                covers_from=contents.covers_from,
                covers_until=contents.covers_until,
                issued_at=estimate.issued_at,
                due_on=estimate.due_on,
            )
        )

    async def supersede(self, estimate_id: str) -> None:
        await self._session.execute(
            update(t.estimates).where(t.estimates.c.estimate_id == estimate_id).values(superseded=True)
        )

    async def current_for_client(self, client_id: str) -> Sequence[Estimate]:
        e = t.estimates
        rows = await self._session.execute(
            select(e)
            .where(e.c.client_id == client_id, e.c.superseded.is_(False))
            .order_by(e.c.issued_at.desc())
        )
        return [_estimate_of(r) for r in rows]


def _charge_of(row: Any) -> Charge:
    lines = tuple(
        PricedLine(ServiceLine(line["cpt"], int(line["units"])), Money(int(line["amount"]), row.currency))
        for line in row.lines
    )
    coding = (
        CodedSession(tuple(p.line for p in lines), row.place_of_service, tuple(row.modifiers))
        if lines
        else None
    )
    return Charge(
        charge_id=row.charge_id,
        practice_id=row.practice_id,
        client_id=row.client_id,
        clinician_id=row.clinician_id,
        appointment_id=row.appointment_id,
        kind=row.kind,
        service_date=row.service_date,
        lines=lines,
        coding=coding,
        amount=Money(row.amount_minor, row.currency),
        covered_by_plan=row.covered_by_plan,
        diagnosis_codes=tuple(row.diagnosis_codes),
        invoice_id=row.invoice_id,
        exceeds_estimate=row.exceeds_estimate,
    )


class SqlChargeRepository(_Repository):
    async def add(self, charge: Charge) -> bool:
        inserted = await self._session.execute(
            insert(t.charges)
            .values(
                charge_id=charge.charge_id,
                practice_id=charge.practice_id,
                client_id=charge.client_id,
                clinician_id=charge.clinician_id,
                appointment_id=charge.appointment_id,
                kind=charge.kind,
                service_date=charge.service_date,
                lines=[
                    {"cpt": p.line.cpt, "units": p.line.units, "amount": p.amount.amount_minor}
                    for p in charge.lines
                ],
                place_of_service=charge.coding.place_of_service if charge.coding else "",
                modifiers=list(charge.coding.modifiers) if charge.coding else [],
                amount_minor=charge.amount.amount_minor,
                currency=charge.amount.currency,
                covered_by_plan=charge.covered_by_plan,
                diagnosis_codes=list(charge.diagnosis_codes),
                exceeds_estimate=charge.exceeds_estimate,
            )
            .on_conflict_do_nothing(constraint="charges_once_per_appointment")
            .returning(t.charges.c.charge_id)
        )
        return inserted.first() is not None

    async def get(self, charge_id: str) -> Charge | None:
        row = (
            await self._session.execute(select(t.charges).where(t.charges.c.charge_id == charge_id))
        ).first()
        return None if row is None else _charge_of(row)

    async def save(self, charge: Charge) -> None:
        await self._session.execute(
            update(t.charges)
            .where(t.charges.c.charge_id == charge.charge_id)
            .values(
                diagnosis_codes=list(charge.diagnosis_codes),
                exceeds_estimate=charge.exceeds_estimate,
                invoice_id=charge.invoice_id,
            )
        )

    async def for_client(self, client_id: str, limit: int) -> Sequence[Charge]:
        c = t.charges
        rows = await self._session.execute(
            select(c)
            .where(c.c.client_id == client_id)
            .order_by(c.c.created_at.desc(), c.c.charge_id.desc())
            .limit(limit)
        )
        return [_charge_of(r) for r in rows]

    async def uninvoiced(self, client_id: str, start: date, end: date) -> Sequence[Charge]:
        c = t.charges
        rows = await self._session.execute(
            select(c)
            .where(c.c.client_id == client_id, c.c.invoice_id.is_(None), c.c.service_date.between(start, end))
            .order_by(c.c.service_date, c.c.charge_id)
            .with_for_update()
        )
        return [_charge_of(r) for r in rows]

    async def in_range(self, client_id: str, start: date, end: date) -> Sequence[Charge]:
        c = t.charges
        rows = await self._session.execute(
            select(c)
            .where(c.c.client_id == client_id, c.c.service_date.between(start, end))
            .order_by(c.c.service_date, c.c.charge_id)
        )
        return [_charge_of(r) for r in rows]

    async def attach_to_invoice(self, charge_ids: Sequence[str], invoice_id: str) -> None:
        await self._session.execute(
            update(t.charges).where(t.charges.c.charge_id.in_(list(charge_ids))).values(invoice_id=invoice_id)
        )

    async def billed_with(self, client_id: str, clinician_id: str, start: date, end: date) -> Money:
        c = t.charges
        row = (
            await self._session.execute(
                select(func.coalesce(func.sum(c.c.amount_minor), 0), func.min(c.c.currency)).where(
                    and_(
                        c.c.client_id == client_id,
                        c.c.clinician_id == clinician_id,
                        c.c.service_date.between(start, end),
                    )
                )
            )
        ).one()
        return Money(int(row[0]), row[1] or "USD")


def _invoice_of(row: Any, charge_ids: Sequence[str]) -> Invoice:
    return Invoice(
        invoice_id=row.invoice_id,
        practice_id=row.practice_id,
        client_id=row.client_id,
        period_start=row.period_start,
        period_end=row.period_end,
        charge_ids=tuple(charge_ids),
        total=Money(row.total_minor, row.currency),
        paid=Money(row.paid_minor, row.currency),
    )


class SqlInvoiceRepository(_Repository):
    async def _charge_ids(self, invoice_id: str) -> list[str]:
        rows = await self._session.execute(
            select(t.charges.c.charge_id)
            .where(t.charges.c.invoice_id == invoice_id)
            .order_by(t.charges.c.charge_id)
        )
        return [r.charge_id for r in rows]

    async def get(self, invoice_id: str, *, lock: bool = False) -> Invoice | None:
        query = select(t.invoices).where(t.invoices.c.invoice_id == invoice_id)
        if lock:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return None if row is None else _invoice_of(row, await self._charge_ids(invoice_id))

    async def add(self, invoice: Invoice) -> None:
        await self._session.execute(
            insert(t.invoices).values(
                invoice_id=invoice.invoice_id,
                practice_id=invoice.practice_id,
                client_id=invoice.client_id,
                period_start=invoice.period_start,
                period_end=invoice.period_end,
                total_minor=invoice.total.amount_minor,
                paid_minor=invoice.paid.amount_minor,
                currency=invoice.total.currency,
                status=invoice.status,
            )
        )

    async def save(self, invoice: Invoice) -> None:
        await self._session.execute(
            update(t.invoices)
            .where(t.invoices.c.invoice_id == invoice.invoice_id)
            .values(paid_minor=invoice.paid.amount_minor, status=invoice.status)
        )

    async def for_client(self, client_id: str, limit: int) -> Sequence[Invoice]:
        i = t.invoices
        rows = list(
            await self._session.execute(
                select(i)
                .where(i.c.client_id == client_id)
                .order_by(i.c.created_at.desc(), i.c.invoice_id.desc())
                .limit(limit)
            )
        )
        return [_invoice_of(r, await self._charge_ids(r.invoice_id)) for r in rows]


def _payment_of(row: Any) -> Payment:
    return Payment(
        payment_id=row.payment_id,
        practice_id=row.practice_id,
        client_id=row.client_id,
        invoice_id=row.invoice_id,
        amount=Money(row.amount_minor, row.currency),
        method=row.method,
        status=row.status,
        provider_ref=row.provider_ref,
        payment_method_ref=row.payment_method_ref,
        failure_reason=row.failure_reason,
        attempts=row.attempts,
        next_retry_at=row.next_retry_at,
        first_failed_at=row.first_failed_at,
        refunded=Money(row.refunded_minor, row.currency),
    )


def _payment_values(payment: Payment) -> dict[str, Any]:
    return {
        "amount_minor": payment.amount.amount_minor,
        "currency": payment.amount.currency,
        "method": payment.method,
        "status": payment.status,
        "provider_ref": payment.provider_ref,
        "payment_method_ref": payment.payment_method_ref,
        "failure_reason": payment.failure_reason,
        "attempts": payment.attempts,
        "next_retry_at": payment.next_retry_at,
        "first_failed_at": payment.first_failed_at,
        "refunded_minor": payment.refunded.amount_minor,
    }


class SqlPaymentRepository(_Repository):
    async def get(self, payment_id: str, *, lock: bool = False) -> Payment | None:
        query = select(t.payments).where(t.payments.c.payment_id == payment_id)
        if lock:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return None if row is None else _payment_of(row)

    async def add(self, payment: Payment) -> None:
        await self._session.execute(
            insert(t.payments).values(
                payment_id=payment.payment_id,
                practice_id=payment.practice_id,
                client_id=payment.client_id,
                invoice_id=payment.invoice_id,
                **_payment_values(payment),
            )
        )

    async def save(self, payment: Payment) -> None:
        await self._session.execute(
            update(t.payments)
            .where(t.payments.c.payment_id == payment.payment_id)
            .values(**_payment_values(payment))
        )

    async def for_client(self, client_id: str, limit: int) -> Sequence[Payment]:
        p = t.payments
        rows = await self._session.execute(
            select(p)
            .where(p.c.client_id == client_id)
            .order_by(p.c.created_at.desc(), p.c.payment_id.desc())
            .limit(limit)
        )
        return [_payment_of(r) for r in rows]

    async def paid_for_invoices(self, invoice_ids: Sequence[str]) -> Money:
        p = t.payments
        row = (
            await self._session.execute(
                select(
                    func.coalesce(func.sum(p.c.amount_minor - p.c.refunded_minor), 0), func.min(p.c.currency)
                ).where(p.c.invoice_id.in_(list(invoice_ids)), p.c.status == "succeeded")
            )
        ).one()
        return Money(int(row[0]), row[1] or "USD")

    async def due_for_retry(self, now: datetime, limit: int) -> Sequence[Payment]:
        p = t.payments
        rows = await self._session.execute(
            select(p)
            .where(p.c.status == "failed", p.c.next_retry_at.is_not(None), p.c.next_retry_at <= now)
            .order_by(p.c.next_retry_at)
            .limit(limit)
        )
        return [_payment_of(r) for r in rows]

    async def add_refund(
        self, refund_id: str, payment_id: str, amount: Money, provider_ref: str | None
    ) -> None:
        await self._session.execute(
            insert(t.refunds).values(
                refund_id=refund_id,
                payment_id=payment_id,
                amount_minor=amount.amount_minor,
                provider_ref=provider_ref,
            )
        )

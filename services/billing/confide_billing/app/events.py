"""Billing's outgoing events, built from domain records: ids and amounts, never free text."""

from __future__ import annotations

from datetime import datetime

from confide.billing.v1 import events_pb2 as ev
from confide.common.v1 import money_pb2
from confide_billing.domain.money import Money
from confide_billing.domain.records import Charge, Estimate, Invoice, Payment
from confide_chassis.wire import local_date, timestamp


def money(amount: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount.amount_minor, currency=amount.currency)


def estimate_issued(estimate: Estimate, appointment_id: str) -> ev.GoodFaithEstimateIssued:
    event = ev.GoodFaithEstimateIssued(
        estimate_id=estimate.estimate_id,
        practice_id=estimate.practice_id,
        client_id=estimate.client_id,
        clinician_id=estimate.clinician_id,
        version=estimate.version,
        total=money(estimate.contents.total),
        late=estimate.late,
        appointment_id=appointment_id,
        occurred_at=timestamp(estimate.issued_at),
    )
    if estimate.due_on is not None:
        event.due_on.CopyFrom(local_date(estimate.due_on))
    return event


def charge_created(charge: Charge, now: datetime) -> ev.ChargeCreated:
    return ev.ChargeCreated(
        charge_id=charge.charge_id,
        practice_id=charge.practice_id,
        client_id=charge.client_id,
        appointment_id=charge.appointment_id or "",
        service_code=charge.coding.primary_code if charge.coding else "",
        amount=money(charge.amount),
        kind=charge.kind,
        covered_by_plan=charge.covered_by_plan,
        exceeds_estimate=charge.exceeds_estimate,
        occurred_at=timestamp(now),
    )


def invoice_issued(invoice: Invoice, now: datetime) -> ev.InvoiceIssued:
    return ev.InvoiceIssued(
        invoice_id=invoice.invoice_id,
        practice_id=invoice.practice_id,
        client_id=invoice.client_id,
        total=money(invoice.total),
        occurred_at=timestamp(now),
    )


def payment_outcome(payment: Payment, now: datetime) -> ev.PaymentSucceeded | ev.PaymentFailed:
    if payment.status == "succeeded":
        return ev.PaymentSucceeded(
            payment_id=payment.payment_id,
            practice_id=payment.practice_id,
            client_id=payment.client_id,
            invoice_id=payment.invoice_id,
            amount=money(payment.amount),
            method=payment.method,
            occurred_at=timestamp(now),
        )
    failed = ev.PaymentFailed(
        payment_id=payment.payment_id,
        practice_id=payment.practice_id,
        client_id=payment.client_id,
        invoice_id=payment.invoice_id,
        amount=money(payment.amount),
        reason=(payment.failure_reason or "declined")[:64],
        occurred_at=timestamp(now),
    )
    if payment.next_retry_at is not None:
        failed.next_retry_at.CopyFrom(timestamp(payment.next_retry_at))
    return failed


def refund_issued(refund_id: str, payment: Payment, amount: Money, now: datetime) -> ev.RefundIssued:
    return ev.RefundIssued(
        refund_id=refund_id,
        practice_id=payment.practice_id,
        client_id=payment.client_id,
        payment_id=payment.payment_id,
        amount=money(amount),
        occurred_at=timestamp(now),
    )

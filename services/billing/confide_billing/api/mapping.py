"""Wire <-> domain for billing's API: requests become commands (InvalidArgument names the field),
domain records become response messages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from confide.billing.v1 import billing_pb2 as pb
from confide.common.v1 import money_pb2, time_pb2
from confide_billing.app import commands
from confide_billing.app.accounts import AccountView, SuperbillData
from confide_billing.domain.estimates import DISCLAIMERS, PayerType
from confide_billing.domain.money import MAX_AMOUNT_MINOR, Money
from confide_billing.domain.plans import Plan, Subscription
from confide_billing.domain.pricing import PriceList, SlidingScaleTier
from confide_billing.domain.records import BillingProfile, Charge, ClinicianFacts, Estimate, Invoice, Payment
from confide_chassis.errors import InvalidArgument
from confide_chassis.ids import parse_id
from confide_chassis.wire import local_date, timestamp

_CPT = re.compile(r"^[0-9]{4}[0-9A-Z]$")
_NPI = re.compile(r"^[0-9]{10}$")
_TAX_ID = re.compile(r"^[0-9]{2}-?[0-9]{7}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

_PAYER_PB = {
    PayerType.UNKNOWN: pb.PAYER_TYPE_UNSPECIFIED,
    PayerType.SELF_PAY: pb.PAYER_TYPE_SELF_PAY,
    PayerType.INSURANCE: pb.PAYER_TYPE_INSURANCE,
    PayerType.FEDERAL_PROGRAM: pb.PAYER_TYPE_FEDERAL_PROGRAM,
}


def required_id(value: str, field: str) -> str:
    if parse_id(value) is None:
        raise InvalidArgument.field(field, "must be a UUID")
    return value


def money_of(
    message: money_pb2.Money, field: str, *, positive: bool = True, currency: str | None = None
) -> Money:
    if not _CURRENCY.match(message.currency):
        raise InvalidArgument.field(f"{field}.currency", "must be an ISO 4217 code such as USD")
    if currency is not None and message.currency != currency:
        raise InvalidArgument.field(f"{field}.currency", f"must be {currency}")
    if abs(message.amount_minor) > MAX_AMOUNT_MINOR:
        raise InvalidArgument.field(f"{field}.amount_minor", "is out of range")
    if positive and message.amount_minor <= 0:
        raise InvalidArgument.field(f"{field}.amount_minor", "must be positive")
    return Money(message.amount_minor, message.currency)


def date_of(message: time_pb2.LocalDate, field: str) -> date:
    try:
        return date(message.year, message.month, message.day)
    except ValueError:
        raise InvalidArgument.field(field, "must be a valid calendar date") from None


def money_pb(amount: Money) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount.amount_minor, currency=amount.currency)


# --- requests -> commands ------------------------------------------------------------------------


def set_price_list(request: pb.SetPriceListRequest) -> commands.SetPriceList:
    prices = request.price_list
    currency = prices.currency
    if not _CURRENCY.match(currency):
        raise InvalidArgument.field("price_list.currency", "must be an ISO 4217 code such as USD")
    fees: dict[str, Money] = {}
    for index, fee in enumerate(prices.fees):
        if not _CPT.match(fee.service_code):
            raise InvalidArgument.field(
                f"price_list.fees[{index}].service_code", "must be a CPT code such as 90834"
            )
        if fee.service_code in fees:
            raise InvalidArgument.field(f"price_list.fees[{index}].service_code", "is listed twice")
        fees[fee.service_code] = money_of(fee.amount, f"price_list.fees[{index}].amount", currency=currency)
    if not fees:
        raise InvalidArgument.field("price_list.fees", "list at least one fee")
    tiers: dict[str, SlidingScaleTier] = {}
    for index, tier in enumerate(prices.tiers):
        if not 1 <= len(tier.code) <= 20 or tier.code in tiers:
            raise InvalidArgument.field(
                f"price_list.tiers[{index}].code", "must be 1-20 characters and unique"
            )
        if not 0 <= tier.discount_bp < 10_000:
            raise InvalidArgument.field(
                f"price_list.tiers[{index}].discount_bp", "must be 0..9999 basis points"
            )
        tiers[tier.code] = SlidingScaleTier(tier.code, tier.discount_bp)
    late = (
        money_of(prices.late_cancel_fee, "price_list.late_cancel_fee", currency=currency)
        if prices.HasField("late_cancel_fee")
        else None
    )
    no_show = (
        money_of(prices.no_show_fee, "price_list.no_show_fee", currency=currency)
        if prices.HasField("no_show_fee")
        else None
    )
    return commands.SetPriceList(currency, fees, tiers, late, no_show)


def _text(value: str, field: str, limit: int, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument.field(field, "is required")
    if len(value) > limit:
        raise InvalidArgument.field(field, f"must be at most {limit} characters")
    return value


def set_billing_profile(request: pb.SetBillingProfileRequest) -> commands.SetBillingProfile:
    profile = request.profile
    if profile.group_npi and not _NPI.match(profile.group_npi):
        raise InvalidArgument.field("profile.group_npi", "must be 10 digits")
    if not _TAX_ID.match(profile.tax_id):
        raise InvalidArgument.field("profile.tax_id", "must be an EIN such as 12-3456789")
    clinicians = []
    for index, c in enumerate(profile.clinicians):
        path = f"profile.clinicians[{index}]"
        if not _NPI.match(c.npi):
            raise InvalidArgument.field(f"{path}.npi", "must be 10 digits")
        clinicians.append(
            ClinicianFacts(
                clinician_id=required_id(c.clinician_id, f"{path}.clinician_id"),
                display_name=_text(c.display_name, f"{path}.display_name", 120),
                npi=c.npi,
                license=_text(c.license, f"{path}.license", 60),
            )
        )
    return commands.SetBillingProfile(
        legal_name=_text(profile.legal_name, "profile.legal_name", 200),
        group_npi=profile.group_npi,
        tax_id=profile.tax_id,
        address=_text(profile.address, "profile.address", 300),
        phone=_text(profile.phone, "profile.phone", 40),
        clinicians=tuple(clinicians),
    )


def record_sliding_scale(request: pb.RecordSlidingScaleRequest) -> commands.RecordSlidingScale:
    return commands.RecordSlidingScale(
        client_id=required_id(request.client_id, "client_id"),
        tier_code=_text(request.tier_code, "tier_code", 20),
        evidence=_text(request.evidence, "evidence", 2000),
        review_on=date_of(request.review_on, "review_on"),
    )


def create_plan(request: pb.CreatePlanRequest) -> commands.CreatePlan:
    plan = request.plan
    if not 0 <= plan.live_sessions_per_period <= 31:
        raise InvalidArgument.field("plan.live_sessions_per_period", "must be 0..31")
    return commands.CreatePlan(
        name=_text(plan.name, "plan.name", 100),
        price=money_of(plan.price, "plan.price"),
        messaging=plan.messaging,
        live_sessions_per_period=plan.live_sessions_per_period,
    )


def issue_invoice(request: pb.IssueInvoiceRequest) -> commands.IssueInvoice:
    return commands.IssueInvoice(
        client_id=required_id(request.client_id, "client_id"),
        period_start=date_of(request.period_start, "period_start"),
        period_end=date_of(request.period_end, "period_end"),
    )


def pay_invoice(request: pb.PayInvoiceRequest) -> commands.PayInvoice:
    return commands.PayInvoice(
        invoice_id=required_id(request.invoice_id, "invoice_id"),
        payment_method=_text(request.payment_method, "payment_method", 255),
        idempotency_key=request.idempotency_key,
    )


def record_manual_payment(request: pb.RecordManualPaymentRequest) -> commands.RecordManualPayment:
    if request.method not in ("cash", "check"):
        raise InvalidArgument.field("method", "must be cash or check")
    return commands.RecordManualPayment(
        invoice_id=required_id(request.invoice_id, "invoice_id"),
        amount=money_of(request.amount, "amount"),
        method=request.method,
    )


def refund_payment(request: pb.RefundPaymentRequest) -> commands.RefundPayment:
    return commands.RefundPayment(
        payment_id=required_id(request.payment_id, "payment_id"),
        amount=money_of(request.amount, "amount"),
        idempotency_key=request.idempotency_key,
    )


def superbill(request: pb.GetSuperbillRequest) -> commands.Superbill:
    return commands.Superbill(
        client_id=required_id(request.client_id, "client_id") if request.client_id else "",
        from_date=date_of(request.from_date, "from_date"),
        to_date=date_of(request.to_date, "to_date"),
        client_name=_text(request.client_name, "client_name", 200, required=False),
        client_date_of_birth=date_of(request.client_date_of_birth, "client_date_of_birth")
        if request.HasField("client_date_of_birth")
        else None,
    )


# --- records -> responses ------------------------------------------------------------------------


def price_list_pb(prices: PriceList) -> pb.PriceList:
    message = pb.PriceList(
        fees=[pb.Fee(service_code=code, amount=money_pb(fee)) for code, fee in sorted(prices.fees.items())],
        tiers=[pb.SlidingScaleTier(code=t.code, discount_bp=t.discount_bp) for t in prices.tiers.values()],
        version=prices.version,
        currency=prices.currency,
    )
    if prices.late_cancel_fee is not None:
        message.late_cancel_fee.CopyFrom(money_pb(prices.late_cancel_fee))
    if prices.no_show_fee is not None:
        message.no_show_fee.CopyFrom(money_pb(prices.no_show_fee))
    return message


def clinician_pb(facts: ClinicianFacts | None) -> pb.ClinicianBillingFacts:
    if facts is None:
        return pb.ClinicianBillingFacts()
    return pb.ClinicianBillingFacts(
        clinician_id=facts.clinician_id, display_name=facts.display_name, npi=facts.npi, license=facts.license
    )


def profile_pb(profile: BillingProfile) -> pb.BillingProfile:
    return pb.BillingProfile(
        legal_name=profile.legal_name,
        group_npi=profile.group_npi,
        tax_id=profile.tax_id,
        address=profile.address,
        phone=profile.phone,
        clinicians=[clinician_pb(c) for c in profile.clinicians],
    )


def plan_pb(plan: Plan) -> pb.Plan:
    return pb.Plan(
        plan_id=plan.plan_id,
        name=plan.name,
        price=money_pb(plan.price),
        messaging=plan.messaging,
        live_sessions_per_period=plan.live_sessions_per_period,
    )


def subscription_pb(subscription: Subscription) -> pb.Subscription:
    return pb.Subscription(
        subscription_id=subscription.subscription_id,
        plan=plan_pb(subscription.plan),
        period_start=local_date(subscription.period_start),
        period_end=local_date(subscription.period_end),
        sessions_left=subscription.sessions_left(),
        cancel_at_period_end=subscription.cancel_at_period_end,
    )


def estimate_pb(estimate: Estimate, profile: BillingProfile | None) -> pb.GoodFaithEstimate:
    contents = estimate.contents
    message = pb.GoodFaithEstimate(
        estimate_id=estimate.estimate_id,
        version=estimate.version,
        clinician_id=estimate.clinician_id,
        services=[
            pb.EstimatedService(
                service_code=s.service_code,
                description=s.description,
                quantity=s.quantity,
                unit_fee=money_pb(s.unit_fee),
                amount=money_pb(s.amount),
            )
            for s in contents.services
        ],
        total=money_pb(contents.total),
        covers_from=local_date(contents.covers_from),
        covers_until=local_date(contents.covers_until),
        issued_at=timestamp(estimate.issued_at),
        provider=clinician_pb(profile.clinician(estimate.clinician_id) if profile else None),
        tax_id=profile.tax_id if profile else "",
        disclaimers=list(DISCLAIMERS),
        superseded=estimate.superseded,
    )
    if estimate.due_on is not None:
        message.due_on.CopyFrom(local_date(estimate.due_on))
    return message


def charge_pb(charge: Charge) -> pb.Charge:
    return pb.Charge(
        charge_id=charge.charge_id,
        appointment_id=charge.appointment_id or "",
        clinician_id=charge.clinician_id or "",
        service_date=local_date(charge.service_date),
        lines=[
            pb.ServiceLine(service_code=p.line.cpt, units=p.line.units, amount=money_pb(p.amount))
            for p in charge.lines
        ],
        place_of_service=charge.coding.place_of_service if charge.coding else "",
        modifiers=list(charge.coding.modifiers) if charge.coding else [],
        amount=money_pb(charge.amount),
        covered_by_plan=charge.covered_by_plan,
        kind=charge.kind,
        diagnosis_codes=list(charge.diagnosis_codes),
        invoice_id=charge.invoice_id or "",
        exceeds_estimate=charge.exceeds_estimate,
    )


def invoice_pb(invoice: Invoice) -> pb.Invoice:
    return pb.Invoice(
        invoice_id=invoice.invoice_id,
        charge_ids=list(invoice.charge_ids),
        total=money_pb(invoice.total),
        paid=money_pb(invoice.paid),
        status=invoice.status,
        period_start=local_date(invoice.period_start),
        period_end=local_date(invoice.period_end),
    )


def payment_pb(payment: Payment) -> pb.Payment:
    return pb.Payment(
        payment_id=payment.payment_id,
        invoice_id=payment.invoice_id,
        amount=money_pb(payment.amount),
        method=payment.method,
        status=payment.status,
        refunded=money_pb(payment.refunded),
    )


def account_pb(view: AccountView) -> pb.GetAccountResponse:
    response = pb.GetAccountResponse(
        estimates=[estimate_pb(e, view.profile) for e in view.estimates],
        charges=[charge_pb(c) for c in view.charges],
        invoices=[invoice_pb(i) for i in view.invoices],
        payments=[payment_pb(p) for p in view.payments],
        payer_type=_PAYER_PB[view.account.payer_type],
        fee_policy_accepted=view.account.fee_policy_accepted,
    )
    if view.subscription is not None:
        response.subscription.CopyFrom(subscription_pb(view.subscription))
    return response


def superbill_pb(data: SuperbillData, pdf: bytes) -> pb.GetSuperbillResponse:
    return pb.GetSuperbillResponse(
        practice=profile_pb(data.practice),
        charges=[charge_pb(c) for c in data.charges],
        total_charged=money_pb(data.total_charged),
        total_paid=money_pb(data.total_paid),
        pdf=pdf,
    )


def plans_pb(plans: Sequence[Plan]) -> list[pb.Plan]:
    return [plan_pb(p) for p in plans]

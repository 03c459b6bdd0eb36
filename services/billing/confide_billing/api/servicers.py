"""Billing's gRPC servicers: map the request, call one use case, map the answer back."""

# ruff: noqa: N802 - servicer methods carry the RPC names

from __future__ import annotations

from typing import Any

from confide.billing.v1 import billing_pb2 as pb
from confide.billing.v1 import billing_pb2_grpc as pb_grpc
from confide_billing.api import mapping
from confide_billing.app.accounts import AccountUseCases
from confide_billing.app.setup import SetupUseCases
from confide_chassis.auth import current_principal
from confide_chassis.wire import timestamp


class BillingSetupServicer(pb_grpc.BillingSetupServiceServicer):
    def __init__(self, setup: SetupUseCases) -> None:
        self._setup = setup

    async def SetPriceList(self, request: pb.SetPriceListRequest, context: Any) -> pb.SetPriceListResponse:
        prices = await self._setup.set_price_list(current_principal(), mapping.set_price_list(request))
        return pb.SetPriceListResponse(price_list=mapping.price_list_pb(prices))

    async def GetPriceList(self, request: pb.GetPriceListRequest, context: Any) -> pb.GetPriceListResponse:
        return pb.GetPriceListResponse(
            price_list=mapping.price_list_pb(await self._setup.price_list(current_principal()))
        )

    async def SetBillingProfile(
        self, request: pb.SetBillingProfileRequest, context: Any
    ) -> pb.SetBillingProfileResponse:
        profile = await self._setup.set_billing_profile(
            current_principal(), mapping.set_billing_profile(request)
        )
        return pb.SetBillingProfileResponse(profile=mapping.profile_pb(profile))

    async def RecordSlidingScale(
        self, request: pb.RecordSlidingScaleRequest, context: Any
    ) -> pb.RecordSlidingScaleResponse:
        determination_id = await self._setup.record_sliding_scale(
            current_principal(), mapping.record_sliding_scale(request)
        )
        return pb.RecordSlidingScaleResponse(determination_id=determination_id)

    async def AcceptFeePolicy(
        self, request: pb.AcceptFeePolicyRequest, context: Any
    ) -> pb.AcceptFeePolicyResponse:
        account = await self._setup.accept_fee_policy(current_principal(), request.price_list_version)
        assert account.fee_policy_accepted_at is not None
        return pb.AcceptFeePolicyResponse(accepted_at=timestamp(account.fee_policy_accepted_at))

    async def CreatePlan(self, request: pb.CreatePlanRequest, context: Any) -> pb.CreatePlanResponse:
        plan = await self._setup.create_plan(current_principal(), mapping.create_plan(request))
        return pb.CreatePlanResponse(plan=mapping.plan_pb(plan))

    async def ListPlans(self, request: pb.ListPlansRequest, context: Any) -> pb.ListPlansResponse:
        return pb.ListPlansResponse(plans=mapping.plans_pb(await self._setup.plans(current_principal())))


class AccountServicer(pb_grpc.AccountServiceServicer):
    def __init__(self, accounts: AccountUseCases) -> None:
        self._accounts = accounts

    async def Subscribe(self, request: pb.SubscribeRequest, context: Any) -> pb.SubscribeResponse:
        plan_id = mapping.required_id(request.plan_id, "plan_id")
        subscription = await self._accounts.subscribe(current_principal(), plan_id)
        return pb.SubscribeResponse(subscription=mapping.subscription_pb(subscription))

    async def ChangePlan(self, request: pb.ChangePlanRequest, context: Any) -> pb.ChangePlanResponse:
        plan_id = mapping.required_id(request.plan_id, "plan_id")
        change = await self._accounts.change_plan(current_principal(), plan_id)
        return pb.ChangePlanResponse(
            subscription=mapping.subscription_pb(change.subscription),
            credit=mapping.money_pb(change.proration.credit),
            charge=mapping.money_pb(change.proration.charge),
        )

    async def CancelSubscription(
        self, request: pb.CancelSubscriptionRequest, context: Any
    ) -> pb.CancelSubscriptionResponse:
        subscription = await self._accounts.cancel_subscription(current_principal())
        return pb.CancelSubscriptionResponse(subscription=mapping.subscription_pb(subscription))

    async def GetAccount(self, request: pb.GetAccountRequest, context: Any) -> pb.GetAccountResponse:
        client_id = mapping.required_id(request.client_id, "client_id") if request.client_id else ""
        return mapping.account_pb(await self._accounts.account(current_principal(), client_id))

    async def SetDiagnosisCodes(
        self, request: pb.SetDiagnosisCodesRequest, context: Any
    ) -> pb.SetDiagnosisCodesResponse:
        charge_id = mapping.required_id(request.charge_id, "charge_id")
        charge = await self._accounts.set_diagnosis_codes(
            current_principal(), charge_id, list(request.diagnosis_codes)
        )
        return pb.SetDiagnosisCodesResponse(charge=mapping.charge_pb(charge))

    async def IssueInvoice(self, request: pb.IssueInvoiceRequest, context: Any) -> pb.IssueInvoiceResponse:
        invoice = await self._accounts.issue_invoice(current_principal(), mapping.issue_invoice(request))
        return pb.IssueInvoiceResponse(invoice=mapping.invoice_pb(invoice))

    async def PayInvoice(self, request: pb.PayInvoiceRequest, context: Any) -> pb.PayInvoiceResponse:
        payment, invoice = await self._accounts.pay_invoice(current_principal(), mapping.pay_invoice(request))
        return pb.PayInvoiceResponse(payment=mapping.payment_pb(payment), invoice=mapping.invoice_pb(invoice))

    async def RecordManualPayment(
        self, request: pb.RecordManualPaymentRequest, context: Any
    ) -> pb.RecordManualPaymentResponse:
        payment, invoice = await self._accounts.record_manual_payment(
            current_principal(), mapping.record_manual_payment(request)
        )
        return pb.RecordManualPaymentResponse(
            payment=mapping.payment_pb(payment), invoice=mapping.invoice_pb(invoice)
        )

    async def RefundPayment(self, request: pb.RefundPaymentRequest, context: Any) -> pb.RefundPaymentResponse:
        payment = await self._accounts.refund(current_principal(), mapping.refund_payment(request))
        return pb.RefundPaymentResponse(payment=mapping.payment_pb(payment))

    async def GetSuperbill(self, request: pb.GetSuperbillRequest, context: Any) -> pb.GetSuperbillResponse:
        data, pdf = await self._accounts.superbill(current_principal(), mapping.superbill(request))
        return mapping.superbill_pb(data, pdf)

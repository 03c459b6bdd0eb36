"""Card payments through Stripe (the official `stripe` SDK), behind billing's PaymentProvider port.

Every call sends an idempotency key, so a retried request (ours or the SDK's own network retry)
never creates a second charge or refund. Card data never reaches Confide: the frontend collects it
with Stripe.js and sends a PaymentMethod id. Tests run this adapter against `stripe-mock`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import stripe

from confide_billing.app.ports import ProviderResult
from confide_billing.domain.money import Money


class StripePayments:
    def __init__(
        self, api_key: str, *, api_base: str = "https://api.stripe.com", timeout_seconds: float = 10
    ) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=2,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )

    async def charge(
        self, amount: Money, *, payment_method: str, idempotency_key: str, description: str
    ) -> ProviderResult:
        params: Any = {
            "amount": amount.amount_minor,
            "currency": amount.currency.lower(),
            "payment_method": payment_method,
            "confirm": True,
            "description": description,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
        try:
            intent = await asyncio.to_thread(
                self._client.v1.payment_intents.create, params, {"idempotency_key": idempotency_key}
            )
        except stripe.CardError as exc:
            return ProviderResult(
                provider_ref="", succeeded=False, decline_code=(exc.code or "card_declined")[:64]
            )
        succeeded = intent.status in ("succeeded", "processing", "requires_capture")
        return ProviderResult(
            provider_ref=intent.id, succeeded=succeeded, decline_code=None if succeeded else intent.status
        )

    async def refund(self, provider_ref: str, amount: Money, *, idempotency_key: str) -> ProviderResult:
        params: Any = {"payment_intent": provider_ref, "amount": amount.amount_minor}
        try:
            refund = await asyncio.to_thread(
                self._client.v1.refunds.create, params, {"idempotency_key": idempotency_key}
            )
        except stripe.InvalidRequestError as exc:
            return ProviderResult(provider_ref="", succeeded=False, decline_code=(exc.code or "refused")[:64])
        return ProviderResult(provider_ref=refund.id, succeeded=refund.status in ("succeeded", "pending"))

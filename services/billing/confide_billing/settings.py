"""Billing configuration from the environment (prefix ``BILLING_``), beside the chassis' settings.

| variable | meaning | default |
|---|---|---|
| `BILLING_STRIPE_API_KEY` | Stripe secret key; unset = card payments refused (manual ones work) | unset |
| `BILLING_STRIPE_API_BASE` | Stripe API address (tests use a local stripe-mock) | https://api.stripe.com |
| `BILLING_DEV_MODE` | `true` allows `seed-demo` (demo prices must never reach production) | false |
| `BILLING_DUNNING_INTERVAL_SECONDS` | period-end renewals and card retries run this often | 3600 |

Plus the chassis' `BILLING_GRPC_PORT` (50054), `BILLING_METRICS_PORT` (9104), `BILLING_DATABASE_URL`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from confide_chassis.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore", populate_by_name=True)

    service_name: str = "billing"
    grpc_port: int = Field(default=50054, ge=0, le=65535)
    metrics_port: int = Field(default=9104, ge=0, le=65535)

    stripe_api_key: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    dunning_interval_seconds: float = Field(default=3600.0, gt=0)
    dev_mode: bool = False

"""Messaging configuration from the environment (prefix ``MESSAGING_``; see docs/api/messaging.md).

| variable | meaning | default |
|---|---|---|
| `MESSAGING_GRPC_PORT` / `MESSAGING_METRICS_PORT` | listen ports | 50053 / 9103 |
| `MESSAGING_DATABASE_URL` | PostgreSQL (postgresql+asyncpg://...) | required |
| `MESSAGING_KEKS` (secret) | KEKs, `<kek id>:<base64 of 32 bytes>`, comma-separated | required (not in dev) |
| `MESSAGING_ACTIVE_KEK_ID` | the KEK that wraps new keys (`rotate-kek` re-wraps to it) | the first KEK |
| `MESSAGING_SMTP_HOST` / `_PORT` / `_STARTTLS` | SMTP relay for e-mail notifications | unset: e-mail off |
| `MESSAGING_SMTP_USERNAME` / `MESSAGING_SMTP_PASSWORD` (secret) | SMTP login | unset |
| `MESSAGING_MAIL_FROM` | neutral sender (MSG-03: no practice name) | `Secure Messages <no-reply@...>` |
| `MESSAGING_PORTAL_URL` | the link in notifications | `https://app.confide.invalid/messages` |
| `MESSAGING_REPLY_OVERDUE_INTERVAL_SECONDS` | how often overdue replies are looked for (MSG-04) | 60 |
| `MESSAGING_NOTIFICATION_INTERVAL_SECONDS` | how often due notifications are sent | 5 |
| `MESSAGING_DEV_MODE` | `true` derives a fixed development KEK when `MESSAGING_KEKS` is unset | false |
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from confide_chassis.settings import ServiceSettings


class MessagingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MESSAGING_", extra="ignore", populate_by_name=True)

    service_name: str = "messaging"
    grpc_port: int = Field(default=50053, ge=0, le=65535)
    metrics_port: int = Field(default=9103, ge=0, le=65535)

    # Encryption at rest (docs/adr/0017-messaging.md).
    keks: SecretStr | None = None
    active_kek_id: str | None = None

    # Live stream: a safety poll in case a NOTIFY was lost (e.g. LISTEN connection reconnecting).
    stream_poll_seconds: float = Field(default=5.0, gt=0, le=60)

    # Notifications (MSG-03).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    mail_from: str = "Secure Messages <no-reply@confide.invalid>"
    portal_url: str = "https://app.confide.invalid/messages"
    notification_interval_seconds: float = Field(default=5.0, gt=0)

    # Text-therapy reply targets (MSG-04): the policy is per practice (ReplyPolicyService).
    reply_overdue_interval_seconds: float = Field(default=60.0, gt=0)

    dev_mode: bool = False

"""Scheduling configuration from the environment (prefix ``SCHEDULING_``; see docs/api/scheduling.md).

| variable | meaning | default |
|---|---|---|
| `SCHEDULING_GRPC_PORT` / `SCHEDULING_METRICS_PORT` | listen ports | 50052 / 9102 |
| `SCHEDULING_DATABASE_URL` | PostgreSQL (postgresql+asyncpg://...) | required |
| `SCHEDULING_COMPLIANCE_TARGET` | compliance gRPC `host:port` | from `COMPLIANCE_GRPC_HOST`/`_PORT` |
| `COMPLIANCE_GRPC_HOST` / `COMPLIANCE_GRPC_PORT` | compliance address (the dev stack sets them) | |
| `SCHEDULING_COMPLIANCE_DEADLINE_SECONDS` | deadline of each compliance call (fail closed) | 2 |
| `SCHEDULING_JITSI_DOMAIN` / `SCHEDULING_JITSI_APP_ID` | Jitsi domain / token app id | unset / confide |
| `SCHEDULING_JITSI_APP_SECRET` | HS256 secret shared with Jitsi's token auth | unset: no links |
| `SCHEDULING_REMINDER_OFFSETS_MINUTES` | reminder offsets, comma-separated | 1440,60 |
| `SCHEDULING_DEV_MODE` | `true` allows `seed-demo` | false |
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from confide_chassis.settings import ServiceSettings


class SchedulingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCHEDULING_", extra="ignore", populate_by_name=True)

    service_name: str = "scheduling"
    grpc_port: int = Field(default=50052, ge=0, le=65535)
    metrics_port: int = Field(default=9102, ge=0, le=65535)

    # Compliance (synchronous, fail closed).
    compliance_target: str | None = None
    compliance_grpc_host: str | None = Field(
        default=None, validation_alias=AliasChoices("COMPLIANCE_GRPC_HOST", "compliance_grpc_host")
    )
    compliance_grpc_port: int | None = Field(
        default=None, validation_alias=AliasChoices("COMPLIANCE_GRPC_PORT", "compliance_grpc_port")
    )
    compliance_deadline_seconds: float = Field(default=2.0, gt=0, le=30)

    # Video rooms (self-hosted Jitsi Meet with token authentication).
    jitsi_domain: str | None = None
    jitsi_app_id: str = "confide"
    jitsi_app_secret: SecretStr | None = None
    jitsi_link_ttl_minutes: int = Field(default=120, ge=5, le=24 * 60)

    # Booking policy defaults.
    hold_ttl_minutes: int = Field(default=10, ge=1, le=60)
    min_notice_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)
    slot_granularity_minutes: int = Field(default=15, ge=5, le=240)
    check_in_opens_minutes: int = Field(default=15, ge=0, le=120)
    late_cancel_window_minutes: int = Field(default=24 * 60, ge=0, le=7 * 24 * 60)
    no_show_grace_minutes: int = Field(default=15, ge=0, le=60)
    waitlist_offer_ttl_minutes: int = Field(default=120, ge=1, le=2 * 24 * 60)
    # One client cannot block clinicians' calendars or the waitlist en masse (SCHED-10).
    max_open_holds_per_client: int = Field(default=3, ge=1, le=50)
    max_waitlist_entries_per_client: int = Field(default=5, ge=1, le=50)

    # Background jobs.
    reminder_offsets_minutes: str = "1440,60"
    reminder_interval_seconds: float = Field(default=30.0, gt=0)
    maintenance_interval_seconds: float = Field(default=30.0, gt=0)

    # `seed-demo` is refused unless this is true (demo data must never reach production).
    dev_mode: bool = False

    @property
    def compliance_address(self) -> str | None:
        if self.compliance_target:
            return self.compliance_target
        if self.compliance_grpc_port:
            return f"{self.compliance_grpc_host or '127.0.0.1'}:{self.compliance_grpc_port}"
        return None

    @property
    def reminder_offsets(self) -> tuple[timedelta, ...]:
        return tuple(
            timedelta(minutes=int(part)) for part in self.reminder_offsets_minutes.split(",") if part.strip()
        )

    @property
    def hold_ttl(self) -> timedelta:
        return timedelta(minutes=self.hold_ttl_minutes)

    @property
    def min_notice(self) -> timedelta:
        return timedelta(minutes=self.min_notice_minutes)

    @property
    def granularity(self) -> timedelta:
        return timedelta(minutes=self.slot_granularity_minutes)

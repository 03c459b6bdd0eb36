"""Directory configuration from the environment (prefix ``DIRECTORY_``), beside the chassis' settings.

| variable | meaning | default |
|---|---|---|
| `DIRECTORY_COMPLIANCE_TARGET` | compliance `host:port` (fail closed) | `COMPLIANCE_GRPC_HOST`/`_PORT` |
| `DIRECTORY_COMPLIANCE_DEADLINE_SECONDS` | deadline of each compliance call | 2 |
| `DIRECTORY_SCHEDULING_TARGET` | scheduling `host:port` (next slots) | `SCHEDULING_GRPC_HOST`/`_PORT` |
| `DIRECTORY_SCHEDULING_DEADLINE_SECONDS` | deadline of each scheduling call (no answer = no next slots) | 1 |
| `DIRECTORY_SLOT_SESSION_TYPE` | session type whose slots are shown | `intake_60` |
| `DIRECTORY_AVAILABILITY_HORIZON_DAYS` | how far ahead next slots are looked for | 14 |
| `DIRECTORY_DEV_MODE` | `true` allows `seed-demo` | false |

Plus the chassis' `DIRECTORY_GRPC_PORT` (50056), `DIRECTORY_METRICS_PORT` (9107),
`DIRECTORY_DATABASE_URL` (required), `KAFKA_BOOTSTRAP_SERVERS`, `JWKS_*`, `LOG_*`, `OTEL_*`.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from confide_chassis.settings import ServiceSettings


class DirectorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DIRECTORY_", extra="ignore", populate_by_name=True)

    service_name: str = "directory"
    grpc_port: int = Field(default=50056, ge=0, le=65535)
    metrics_port: int = Field(default=9107, ge=0, le=65535)

    compliance_target: str | None = None
    compliance_grpc_host: str | None = Field(
        default=None, validation_alias=AliasChoices("COMPLIANCE_GRPC_HOST", "compliance_grpc_host")
    )
    compliance_grpc_port: int | None = Field(
        default=None, validation_alias=AliasChoices("COMPLIANCE_GRPC_PORT", "compliance_grpc_port")
    )
    compliance_deadline_seconds: float = Field(default=2.0, gt=0, le=30)
    scheduling_target: str | None = None
    scheduling_grpc_host: str | None = Field(
        default=None, validation_alias=AliasChoices("SCHEDULING_GRPC_HOST", "scheduling_grpc_host")
    )
    scheduling_grpc_port: int | None = Field(
        default=None, validation_alias=AliasChoices("SCHEDULING_GRPC_PORT", "scheduling_grpc_port")
    )
    scheduling_deadline_seconds: float = Field(default=1.0, gt=0, le=30)
    slot_session_type: str = "intake_60"
    availability_horizon_days: int = Field(default=14, ge=1, le=93)
    dev_mode: bool = False

    @property
    def compliance_address(self) -> str | None:
        if self.compliance_target:
            return self.compliance_target
        if self.compliance_grpc_port:
            return f"{self.compliance_grpc_host or '127.0.0.1'}:{self.compliance_grpc_port}"
        return None

    @property
    def scheduling_address(self) -> str | None:
        if self.scheduling_target:
            return self.scheduling_target
        if self.scheduling_grpc_port:
            return f"{self.scheduling_grpc_host or '127.0.0.1'}:{self.scheduling_grpc_port}"
        return None

"""Compliance configuration from the environment (prefix ``COMPLIANCE_``), beside the chassis' settings.

| variable | meaning | default |
|---|---|---|
| `COMPLIANCE_REFERENCE_DATA_DIR` | folder with the reference data YAML files (a ConfigMap) | packaged files |
| `COMPLIANCE_EXPIRY_WATCH_ENABLED` | run the expiry watch here (one replica at a time runs it) | true |
| `COMPLIANCE_EXPIRY_WATCH_INTERVAL_SECONDS` | time between runs; each run is idempotent per day | 3600 |
| `COMPLIANCE_EXPIRY_WATCH_INITIAL_DELAY_SECONDS` | first run after start | 10 |
| `COMPLIANCE_DEV_MODE` | `true` allows `seed-demo` (demo credentials must never reach production) | false |

Plus the chassis' `COMPLIANCE_GRPC_PORT` (50055), `COMPLIANCE_METRICS_PORT` (9105),
`COMPLIANCE_DATABASE_URL` (required), `KAFKA_BOOTSTRAP_SERVERS`, `JWKS_FILE` / `JWKS_URL` /
`JWKS_GRPC_TARGET`, `LOG_LEVEL`, `LOG_FORMAT`, `OTEL_EXPORTER_OTLP_ENDPOINT`.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from confide_chassis.settings import ServiceSettings


class ComplianceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLIANCE_", extra="ignore", populate_by_name=True)

    service_name: str = "compliance"
    grpc_port: int = Field(default=50055, ge=0, le=65535)
    metrics_port: int = Field(default=9105, ge=0, le=65535)

    reference_data_dir: str | None = None
    expiry_watch_enabled: bool = True
    expiry_watch_interval_seconds: float = Field(default=3600.0, gt=0)
    expiry_watch_initial_delay_seconds: float = Field(default=10.0, ge=0)
    dev_mode: bool = False

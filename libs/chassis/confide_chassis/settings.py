"""Service configuration from the environment, in one place.

Each service subclasses `ServiceSettings` with its own prefix, e.g. ``IDENTITY_``, so
``IDENTITY_GRPC_PORT`` and ``IDENTITY_DATABASE_URL`` configure identity. Settings shared by every
service (Kafka, JWKS, telemetry, logging) are read without a prefix.

| variable | meaning | default |
|---|---|---|
| `<NAME>_GRPC_HOST` / `<NAME>_GRPC_PORT` | gRPC listen address | 127.0.0.1 / per service |
| `<NAME>_METRICS_HOST` / `<NAME>_METRICS_PORT` | Prometheus /metrics | 127.0.0.1 / per service |
| `<NAME>_DATABASE_URL` | SQLAlchemy URL (postgresql+asyncpg://...) | required to serve |
| `KAFKA_BOOTSTRAP_SERVERS` | comma-separated host:port | 127.0.0.1:9092 |
| `JWKS_GRPC_TARGET` | identity's gRPC address; keys from `AuthService/GetJwks`, refreshed each minute | |
| `JWKS_FILE` / `JWKS_URL` | keys from a file (re-read on change) or HTTPS | none: all tokens refused |
| `JWT_ISSUER` / `JWT_AUDIENCE` | expected `iss` / `aud` claims | confide-identity / confide |
| `ACCESS_TOKEN_MAX_LIFETIME_SECONDS` | tokens living longer are refused; bounds revocation memory | 900 |
| `OTEL_EXPORTER_OTLP_ENDPOINT` | OTLP gRPC collector; unset = no export | unset |
| `LOG_LEVEL` / `LOG_FORMAT` | INFO / json (or console) | |
| `SHUTDOWN_GRACE_SECONDS` | time in-flight RPCs get to finish on SIGTERM | 10 |
| `<NAME>_GRPC_MAX_RECEIVE_MESSAGE_BYTES` | largest request accepted (else RESOURCE_EXHAUSTED) | 4 MiB |
| `<NAME>_GRPC_MAX_SEND_MESSAGE_BYTES` | largest response the server sends | 16 MiB |
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(RuntimeError):
    """The service is misconfigured and must not start; the message says what to set."""


def _shared(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class ServiceSettings(BaseSettings):
    """Base settings; subclasses set `model_config = SettingsConfigDict(env_prefix="<NAME>_")`."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "service"
    version: str = "0.1.0"

    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=0, ge=0, le=65535)
    grpc_max_receive_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    grpc_max_send_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    database_url: str | None = None
    db_pool_size: int = Field(default=5, ge=1)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias=_shared("KAFKA_BOOTSTRAP_SERVERS")
    )
    jwks_file: str | None = Field(default=None, validation_alias=_shared("JWKS_FILE"))
    jwks_url: str | None = Field(default=None, validation_alias=_shared("JWKS_URL"))
    jwks_grpc_target: str | None = Field(default=None, validation_alias=_shared("JWKS_GRPC_TARGET"))
    jwt_issuer: str = Field(default="confide-identity", validation_alias=_shared("JWT_ISSUER"))
    jwt_audience: str = Field(default="confide", validation_alias=_shared("JWT_AUDIENCE"))
    access_token_max_lifetime_seconds: int = Field(
        default=900, ge=60, le=3600, validation_alias=_shared("ACCESS_TOKEN_MAX_LIFETIME_SECONDS")
    )

    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias=_shared("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    log_level: str = Field(default="INFO", validation_alias=_shared("LOG_LEVEL"))
    log_format: str = Field(default="json", validation_alias=_shared("LOG_FORMAT"))

    shutdown_grace_seconds: float = Field(
        default=10.0, ge=0, validation_alias=_shared("SHUTDOWN_GRACE_SECONDS")
    )
    readiness_interval_seconds: float = Field(default=2.0, gt=0)
    outbox_poll_interval_seconds: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=200, ge=1)
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_backoff_initial_seconds: float = Field(default=0.2, gt=0)
    consumer_backoff_max_seconds: float = Field(default=10.0, gt=0)
    # How long idempotent RPCs remember their answers (a client retries within minutes, not days).
    idempotency_retention_hours: float = Field(
        default=24.0, gt=0, validation_alias=_shared("IDEMPOTENCY_RETENTION_HOURS")
    )

    @property
    def kafka_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

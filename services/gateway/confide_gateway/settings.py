"""Gateway configuration from the environment (prefix ``GATEWAY_``), beside the chassis' settings.

| variable | meaning | default |
|---|---|---|
| `GATEWAY_GRPC_HOST` / `GATEWAY_GRPC_PORT` | the HTTP origin (Connect, gRPC-Web, gRPC) | 127.0.0.1 / 8080 |
| `GATEWAY_METRICS_PORT` | Prometheus /metrics | 9106 |
| `GATEWAY_CORS_ORIGINS` | comma-separated browser origins allowed to call (exact match) | the local origin |
| `GATEWAY_RATE_PER_SECOND` / `_BURST` | per-client token bucket (token subject, else address) | 20 / 40 |
| `GATEWAY_MAX_REQUEST_BYTES` | largest request message | 1 MiB |
| `GATEWAY_DEFAULT_DEADLINE_SECONDS` | deadline when the client sets none | 10 |
| `GATEWAY_MAX_DEADLINE_SECONDS` | the longest deadline a client may ask for | 60 |
| `GATEWAY_STREAM_MAX_SECONDS` | longest server stream (live chat reconnects with its cursor) | 3600 |
| `<SERVICE>_GRPC_HOST` / `<SERVICE>_GRPC_PORT` | where each internal service listens | 127.0.0.1 / its port |
| `GATEWAY_SERVICES` | the services whose `gateway: true` RPCs are served | all six |
| `GATEWAY_WEB_ROOT` | folder of the reference web client served at `/` (unset: none) | unset |
"""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from confide_chassis.settings import ServiceSettings

DEFAULT_UPSTREAM_PORTS = {
    "identity": 50051,
    "scheduling": 50052,
    "messaging": 50053,
    "billing": 50054,
    "compliance": 50055,
    "directory": 50056,
}


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    service_name: str = "gateway"
    grpc_port: int = Field(default=8080, ge=0, le=65535)
    metrics_port: int = Field(default=9106, ge=0, le=65535)

    cors_origins: str = "http://127.0.0.1:8080,http://localhost:8080"
    rate_per_second: float = Field(default=20.0, gt=0)
    rate_burst: int = Field(default=40, ge=1)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024, le=16 * 1024 * 1024)
    default_deadline_seconds: float = Field(default=10.0, gt=0)
    max_deadline_seconds: float = Field(default=60.0, gt=0)
    stream_max_seconds: float = Field(default=3600.0, gt=0)
    web_root: str | None = None
    # The services whose `gateway: true` RPCs are served (each at <SERVICE>_GRPC_HOST/_PORT).
    services: str = "identity,scheduling,messaging,billing,compliance,directory"

    @property
    def upstream_services(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.services.split(",") if s.strip())

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.cors_origins.split(",") if o.strip())

    def upstream_address(self, service: str) -> str:
        prefix = service.upper()
        host = os.environ.get(f"{prefix}_GRPC_HOST", "127.0.0.1")
        port = os.environ.get(f"{prefix}_GRPC_PORT", str(DEFAULT_UPSTREAM_PORTS.get(service, 0)))
        return f"{host}:{port}"

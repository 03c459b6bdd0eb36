"""The gateway process: `python -m confide_gateway serve`. Builds the routes from the protos, the
upstream channels and the token verifier, and serves the ASGI app with hypercorn (HTTP/1.1 and h2c,
so browsers, curl and grpcio clients all reach the same origin)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from confide_chassis.auth import GrpcJwks, UrlJwks, verifier_from_settings
from confide_chassis.logging import configure_logging, get_logger
from confide_chassis.metrics import start_metrics_server
from confide_chassis.telemetry import configure_tracing, instrument_grpc_client, shutdown_tracing
from confide_gateway.app import Gateway
from confide_gateway.routes import gateway_routes
from confide_gateway.settings import GatewaySettings
from confide_gateway.upstream import Upstreams

log = get_logger(__name__)


def build(settings: GatewaySettings) -> tuple[Gateway, Upstreams, GrpcJwks | UrlJwks | None]:
    instrument_grpc_client()  # upstream calls carry the trace
    upstreams = Upstreams(settings.upstream_address)
    verifier = verifier_from_settings(
        settings.jwks_file,
        settings.jwks_url,
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.jwks_grpc_target,
        settings.access_token_max_lifetime_seconds,
    )
    # Keys fetched over gRPC or HTTP are refreshed in the background (`serve` runs the refresher).
    source = verifier.source if isinstance(verifier.source, GrpcJwks | UrlJwks) else None
    routes = gateway_routes(settings.upstream_services)
    return Gateway(settings, routes, upstreams, verifier), upstreams, source


async def serve(settings: GatewaySettings, stop: asyncio.Event) -> None:
    app, upstreams, jwks = build(settings)
    config = Config()
    config.bind = [settings.grpc_address]
    config.accesslog = None
    config.graceful_timeout = settings.shutdown_grace_seconds
    tasks = [asyncio.create_task(jwks.run(stop), name="jwks-refresh")] if jwks is not None else []
    stop_metrics = (
        start_metrics_server(settings.metrics_host, settings.metrics_port) if settings.metrics_port else None
    )
    log.info("gateway started", port=settings.grpc_port)
    try:
        await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    finally:
        for task in tasks:
            task.cancel()
        await upstreams.close()
        if stop_metrics is not None:
            stop_metrics()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m confide_gateway")
    parser.add_argument("command", choices=["serve"], nargs="?", default="serve")
    parser.parse_args(argv)
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    configure_tracing(settings.service_name, settings.version)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    try:
        asyncio.run(run())
    finally:
        shutdown_tracing()
    sys.exit(0)

"""Service runtime: everything a Confide service process does besides its own business.

A service describes itself with a `ServiceSpec` and calls `main(spec)` from its `__main__`:

    python -m confide_<name> serve     # gRPC + outbox relay + consumers + health + metrics
    python -m confide_<name> migrate   # Alembic upgrade head (also the Kubernetes migration Job)

`serve` shuts down gracefully on SIGTERM/SIGINT: readiness goes NOT_SERVING, in-flight RPCs get
`SHUTDOWN_GRACE_SECONDS` to finish, then consumers commit their offsets and everything closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
from aiokafka import AIOKafkaProducer
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from confide_chassis import db, idempotency, migrations
from confide_chassis.auth import Access, GrpcJwks, TokenVerifier, UrlJwks, verifier_from_settings
from confide_chassis.consumer import Handler, IdempotentConsumer
from confide_chassis.grpc.interceptor import ServiceInterceptor
from confide_chassis.health import LIVENESS, Check, Readiness, database_check, kafka_check
from confide_chassis.logging import configure_logging, get_logger
from confide_chassis.metrics import start_metrics_server, track_db_pool
from confide_chassis.outbox import OutboxRelay, new_producer
from confide_chassis.retry import backoff_delays
from confide_chassis.revocation import USERS_TOPIC, Revocations, RevocationWatcher, publisher_of
from confide_chassis.settings import ConfigurationError, ServiceSettings
from confide_chassis.telemetry import (
    configure_tracing,
    instrument_aiokafka,
    instrument_grpc_client,
    instrument_grpc_server,
    shutdown_tracing,
)

log = get_logger(__name__)

BackgroundTask = Callable[[asyncio.Event], Coroutine[Any, Any, None]]

# How long `start` waits for the deactivations to be read before it first decides readiness (the
# replica becomes ready later, at the next readiness check, if reading takes longer).
REVOCATION_CATCH_UP_WAIT_SECONDS = 5.0


def dlq_topic_for(service: str) -> str:
    return f"confide.{service}.dlq.v1"


@dataclass
class ServiceContext:
    """What `ServiceSpec.configure` gets to wire its servicers, consumers and jobs."""

    settings: ServiceSettings
    server: grpc.aio.Server
    producer: AIOKafkaProducer
    engine: AsyncEngine | None
    sessions: async_sessionmaker[AsyncSession] | None
    interceptor: ServiceInterceptor
    access: dict[str, Access] = field(default_factory=dict)
    service_names: list[str] = field(default_factory=list)
    consumers: list[IdempotentConsumer] = field(default_factory=list)
    background: list[tuple[str, BackgroundTask]] = field(default_factory=list)
    checks: dict[str, Check] = field(default_factory=dict)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def service(self) -> str:
        return self.settings.service_name

    def require_sessions(self) -> async_sessionmaker[AsyncSession]:
        if self.sessions is None:
            raise RuntimeError(f"{self.service} needs {self.service.upper()}_DATABASE_URL")
        return self.sessions

    def add_grpc_service(
        self, service: ServiceDescriptor | str, access: Mapping[str, Access] | None = None
    ) -> None:
        """Register a gRPC service. Who may call each RPC is read from its proto declaration
        (`option (confide.common.v1.access)`); an RPC without one stays uncallable. The older form,
        a full name and a hand-written table (method name → Access), is kept while services move
        their tables into the protos."""
        if isinstance(service, str):
            self.service_names.append(service)
            for method_name, policy in (access or {}).items():
                self.access[f"/{service}/{method_name}"] = policy
            return
        self.service_names.append(service.full_name)
        for method in service.methods:
            declared = Access.of_method(method)
            if declared is not None:
                self.access[f"/{service.full_name}/{method.name}"] = declared

    def add_consumer(self, name: str, topics: Sequence[str], handler: Handler) -> None:
        self.consumers.append(
            IdempotentConsumer(
                name=name,
                service=self.service,
                topics=topics,
                handler=handler,
                sessions=self.require_sessions(),
                bootstrap_servers=self.settings.kafka_servers,
                dlq_topic=dlq_topic_for(self.service),
                dlq_producer=self.producer,
                max_attempts=self.settings.consumer_max_attempts,
                backoff_initial=self.settings.consumer_backoff_initial_seconds,
                backoff_max=self.settings.consumer_backoff_max_seconds,
            )
        )

    def add_background(self, name: str, task: BackgroundTask) -> None:
        self.background.append((name, task))

    def use_verifier(self, verifier: TokenVerifier) -> None:
        """Verify access tokens with `verifier` instead of the JWKS from settings (identity verifies
        with the keys it signs with)."""
        self.interceptor.verifier = verifier


Command = Callable[[ServiceSettings, list[str]], int | None]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    settings_type: type[ServiceSettings]
    configure: Callable[[ServiceContext], Awaitable[None]]
    migrations: Path | None = None
    # Extra operator commands beside serve/migrate, e.g. identity's `seed-demo`; each gets the
    # settings and its own arguments and returns an exit code.
    commands: Mapping[str, Command] = field(default_factory=dict)


@dataclass
class RunningService:
    """Handle on a started service (tests use it to find the bound port and stop it)."""

    context: ServiceContext
    port: int
    readiness: Readiness
    stop_event: asyncio.Event
    tasks: list[asyncio.Task[None]]
    stop_metrics: Callable[[], None] | None

    stopped: bool = False

    async def stop(self, grace: float | None = None) -> None:
        """Drain and close everything; safe to call more than once."""
        if self.stopped:
            return
        self.stopped = True
        ctx = self.context
        await self.readiness.set_all(False)
        await ctx.server.stop(ctx.settings.shutdown_grace_seconds if grace is None else grace)
        self.stop_event.set()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        for consumer in ctx.consumers:
            with contextlib.suppress(Exception):
                await consumer.stop()
        for hook in ctx.on_shutdown:
            with contextlib.suppress(Exception):
                await hook()
        with contextlib.suppress(Exception):
            await ctx.producer.stop()
        if ctx.engine is not None:
            await ctx.engine.dispose()
        if self.stop_metrics is not None:
            self.stop_metrics()


async def _start_producer(producer: AIOKafkaProducer, attempts: int = 30) -> None:
    # Kafka may still be starting (dev stack, rolling restarts): wait for it rather than crash-loop.
    delays = backoff_delays(0.5, 5.0)
    for attempt in range(1, attempts + 1):
        try:
            await producer.start()
            return
        except Exception:
            if attempt == attempts:
                raise
            log.warning("Kafka not reachable yet; retrying", attempt=attempt)
            await asyncio.sleep(next(delays))


async def start(
    spec: ServiceSpec, settings: ServiceSettings, *, verifier: TokenVerifier | None = None
) -> RunningService:
    instrument_grpc_server()
    instrument_grpc_client()  # calls to other services carry the trace
    instrument_aiokafka()
    engine = (
        db.create_engine(settings.database_url, pool_size=settings.db_pool_size)
        if settings.database_url
        else None
    )
    sessions = db.session_factory(engine) if engine is not None else None
    producer = new_producer(settings.kafka_servers, client_id=f"{settings.service_name}-producer")
    await _start_producer(producer)

    access: dict[str, Access] = {}
    verifier = verifier or verifier_from_settings(
        settings.jwks_file,
        settings.jwks_url,
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.jwks_grpc_target,
        settings.access_token_max_lifetime_seconds,
    )
    interceptor = ServiceInterceptor(
        service=settings.service_name, verifier=verifier, access=access, sessions=sessions
    )
    server = grpc.aio.server(
        interceptors=[interceptor],
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", settings.grpc_max_receive_message_bytes),
            ("grpc.max_send_message_length", settings.grpc_max_send_message_bytes),
        ],
    )
    ctx = ServiceContext(
        settings=settings,
        server=server,
        producer=producer,
        engine=engine,
        sessions=sessions,
        interceptor=interceptor,
        access=access,
    )
    await spec.configure(ctx)
    # The interceptor holds the same access dict: configure() filled it in place.
    verifier = interceptor.verifier

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*ctx.service_names, "grpc.health.v1.Health", reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(settings.grpc_address)
    if port == 0:
        raise RuntimeError(f"could not bind gRPC to {settings.grpc_address}")

    checks: dict[str, Check] = {"kafka": kafka_check(producer), **ctx.checks}
    stop_event = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    # identity refuses its deactivated users from its own database; every other service learns of them
    # from identity's events and is not ready before it has read those of the last token lifetime.
    if publisher_of(USERS_TOPIC) != settings.service_name:
        revocations = Revocations(max_token_lifetime=verifier.max_lifetime, leeway=verifier.leeway)
        verifier.use_revocations(revocations)
        watcher = RevocationWatcher(
            revocations,
            bootstrap_servers=settings.kafka_servers,
            client_id=f"{settings.service_name}-revocations",
        )
        tasks.append(asyncio.create_task(watcher.run(stop_event), name="revocation-watcher"))
        checks["revocations"] = watcher.readiness_check
        await watcher.wait_caught_up(REVOCATION_CATCH_UP_WAIT_SECONDS)
    if engine is not None:
        checks["database"] = database_check(engine)
        track_db_pool(settings.service_name, engine)
    readiness = Readiness(
        health_servicer, checks, ctx.service_names, interval=settings.readiness_interval_seconds
    )
    stop_metrics = (
        start_metrics_server(settings.metrics_host, settings.metrics_port) if settings.metrics_port else None
    )

    # Decide readiness before the first probe can ask, so it never sees an unknown service.
    await readiness.evaluate()
    await server.start()
    tasks.append(asyncio.create_task(readiness.run(stop_event), name="readiness"))
    if engine is not None:
        relay = OutboxRelay(
            engine,
            producer,
            service=settings.service_name,
            batch_size=settings.outbox_batch_size,
            poll_interval=settings.outbox_poll_interval_seconds,
        )
        tasks.append(asyncio.create_task(relay.run(stop_event), name="outbox-relay"))
        assert sessions is not None
        tasks.append(
            asyncio.create_task(
                _prune_idempotency_keys(sessions, settings.idempotency_retention_hours, stop_event),
                name="idempotency-prune",
            )
        )
    for consumer in ctx.consumers:
        await consumer.start()
        tasks.append(asyncio.create_task(consumer.run(stop_event), name=f"consumer-{consumer.name}"))
    if isinstance(verifier.source, GrpcJwks | UrlJwks):
        tasks.append(asyncio.create_task(verifier.source.run(stop_event), name="jwks-refresh"))
    for name, job in ctx.background:
        tasks.append(asyncio.create_task(job(stop_event), name=name))
    log.info("service started", grpc_port=port, metrics_port=settings.metrics_port)
    return RunningService(ctx, port, readiness, stop_event, tasks, stop_metrics)


async def _prune_idempotency_keys(
    sessions: async_sessionmaker[AsyncSession], retention_hours: float, stop: asyncio.Event
) -> None:
    """Forget idempotent RPCs' answers after the retention period, hourly (every replica may run
    it: the delete is idempotent). A service without the table (no idempotent RPC) skips it."""
    while not stop.is_set():
        try:
            await idempotency.prune(sessions, timedelta(hours=retention_hours))
        except ProgrammingError:
            return  # no rpc_idempotency table: this service has no idempotent RPCs
        except Exception as exc:  # database restarting: try again next round
            log.warning("idempotency prune failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=3600)


async def serve(spec: ServiceSpec, settings: ServiceSettings) -> None:
    running = await start(spec, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    failed = asyncio.create_task(_first_failure(running.tasks))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({failed, stopper}, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    if failed in done:
        log.error("a background task failed; shutting down", task=failed.result())
        exit_code = 1
    log.info("shutting down")
    failed.cancel()
    stopper.cancel()
    await running.stop()
    shutdown_tracing()  # flush the spans of the last requests to the collector
    log.info("stopped")
    if exit_code:
        raise SystemExit(exit_code)


async def _first_failure(tasks: list[asyncio.Task[None]]) -> str:
    """Name of the first background task that ends with an error (they are meant to run forever)."""
    pending: set[asyncio.Task[Any]] = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                return task.get_name()
    await asyncio.Event().wait()
    return ""


def main(spec: ServiceSpec, argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m confide_{spec.name}")
    parser.add_argument(
        "command", choices=["serve", "migrate", *sorted(spec.commands)], nargs="?", default="serve"
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of an extra command")
    args = parser.parse_args(argv)
    settings = spec.settings_type()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    if args.command in spec.commands:
        sys.exit(spec.commands[args.command](settings, list(args.args)) or 0)
    if args.command == "migrate":
        if spec.migrations is None or not settings.database_url:
            sys.exit(f"{spec.name}: nothing to migrate (no migrations or no database URL)")
        migrations.upgrade(spec.migrations, settings.database_url)
        log.info("migrations applied")
        return
    configure_tracing(settings.service_name, settings.version)
    try:
        asyncio.run(serve(spec, settings))
    except ConfigurationError as exc:
        sys.stderr.write(f"{spec.name}: configuration error: {exc}\n")
        sys.exit(2)


__all__ = ["LIVENESS", "ServiceContext", "ServiceSpec", "main", "serve", "start"]

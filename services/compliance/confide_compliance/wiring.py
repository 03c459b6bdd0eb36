"""The compliance service's wiring: `SPEC` for `confide_chassis.service.main` and for tests, and
`configure(ctx)`, the one place that builds the adapters, the AppContext, the use cases, the
servicers, the consumers and the background job.

    python -m confide_compliance serve              # gRPC + outbox relay + audit consumer + expiry watch
    python -m confide_compliance migrate            # Alembic upgrade head
    python -m confide_compliance seed-demo          # demo credentials (COMPLIANCE_DEV_MODE=true)
    python -m confide_compliance expiry-watch-once [--today YYYY-MM-DD]

Tests start it in-process with `confide_chassis.service.start(SPEC, settings)` after migrating the
database (`confide_compliance.testing.start_compliance` does both).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from datetime import date
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from confide.compliance.v1 import audit_pb2_grpc, authorization_pb2_grpc, registry_pb2_grpc
from confide_chassis import db
from confide_chassis.clock import utc_now
from confide_chassis.service import ServiceContext, ServiceSpec
from confide_chassis.settings import ServiceSettings
from confide_compliance import demo
from confide_compliance.api import audit as audit_api
from confide_compliance.api import authorization as authorization_api
from confide_compliance.api import registry as registry_api
from confide_compliance.app.audit_trail import AuditTrail
from confide_compliance.app.authorization import Authorizations
from confide_compliance.app.context import AppContext
from confide_compliance.app.ports import Clock
from confide_compliance.app.registry import Registry
from confide_compliance.app.watch import ExpiryWatch
from confide_compliance.db.locks import PgSingleRunner
from confide_compliance.db.uow import JoinedUnitOfWork, SqlComplianceUnitOfWork
from confide_compliance.events import consumers
from confide_compliance.reference_data import load_reference_data
from confide_compliance.settings import ComplianceSettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def compliance_settings(settings: ServiceSettings) -> ComplianceSettings:
    if isinstance(settings, ComplianceSettings):
        return settings
    return ComplianceSettings.model_validate(settings.model_dump())


def build_context(
    settings: ComplianceSettings,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    *,
    clock: Clock = utc_now,
) -> AppContext:
    """The use cases' context. Reference data is loaded (and validated) here, once: the service
    refuses to start on invalid data."""
    directory = Path(settings.reference_data_dir) if settings.reference_data_dir else None
    return AppContext(
        uow=lambda: SqlComplianceUnitOfWork(sessions),
        reference=load_reference_data(directory),
        clock=clock,
        runner=PgSingleRunner(engine),
    )


async def configure(ctx: ServiceContext) -> None:
    settings = compliance_settings(ctx.settings)
    sessions = ctx.require_sessions()
    assert ctx.engine is not None
    app = build_context(settings, sessions, ctx.engine)

    # Who may call each RPC is declared on the RPC in the protos (confide.common.v1.access).
    authorization_pb2_grpc.add_AuthorizationServiceServicer_to_server(
        authorization_api.AuthorizationServicer(Authorizations(app)), ctx.server
    )
    ctx.add_grpc_service(authorization_api.SERVICE)
    registry_pb2_grpc.add_CredentialRegistryServiceServicer_to_server(
        registry_api.RegistryServicer(Registry(app)), ctx.server
    )
    ctx.add_grpc_service(registry_api.SERVICE)
    audit_pb2_grpc.add_AuditTrailServiceServicer_to_server(
        audit_api.AuditTrailServicer(AuditTrail(app)), ctx.server
    )
    ctx.add_grpc_service(audit_api.SERVICE)

    def in_transaction_of(session: AsyncSession) -> AppContext:
        """The context for an event handler: units of work join the consumer's transaction."""
        return dataclasses.replace(app, uow=lambda: JoinedUnitOfWork(session))

    ctx.add_consumer(
        consumers.AUDIT_CONSUMER,
        [consumers.AUDIT_TOPIC],
        consumers.audit_event_handler(lambda session: AuditTrail(in_transaction_of(session))),
    )
    ctx.add_consumer(
        consumers.IDENTITY_USERS_CONSUMER,
        [consumers.USERS_TOPIC],
        consumers.identity_user_handler(lambda session: Registry(in_transaction_of(session))),
    )
    ctx.add_consumer(
        consumers.AUTHORITY_DAYS_CONSUMER,
        [consumers.SESSIONS_TOPIC],
        consumers.session_started_handler(lambda session: Authorizations(in_transaction_of(session))),
    )

    if settings.expiry_watch_enabled:
        watch = ExpiryWatch(app)

        async def expiry_watch(stop: asyncio.Event) -> None:
            await watch.run_forever(
                stop,
                interval=settings.expiry_watch_interval_seconds,
                initial_delay=settings.expiry_watch_initial_delay_seconds,
            )

        ctx.add_background("expiry-watch", expiry_watch)


# --------------------------------------------------------------------------------------------------
# Operator commands
# --------------------------------------------------------------------------------------------------


async def _with_context(
    settings: ComplianceSettings, work: str, today: date | None = None
) -> dict[str, object]:
    if not settings.database_url:
        raise SystemExit("compliance: COMPLIANCE_DATABASE_URL is required")
    engine = db.create_engine(settings.database_url, pool_size=2)
    try:
        app = build_context(settings, db.session_factory(engine), engine)
        if work == "seed-demo":
            report = await demo.seed_demo(app)
            return {
                "changed": report.changed,
                "unchanged": report.unchanged,
                "practice_id": demo.DEMO_PRACTICE_ID,
                "clinicians": list(demo.DEMO_CLINICIANS),
            }
        watch_report = await ExpiryWatch(app).run_once(today)
        return {
            "today": watch_report.today.isoformat(),
            "ran": watch_report.ran,
            "clinicians": watch_report.clinicians,
            "notices_sent": watch_report.notices_sent,
            "authorization_changes": watch_report.authorization_changes,
            "by_milestone": watch_report.by_milestone,
        }
    finally:
        await engine.dispose()


def _print(document: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")


def seed_demo_command(settings: ServiceSettings, args: list[str]) -> int:
    """Seed the demo clinicians' credentials (idempotent). Refused unless COMPLIANCE_DEV_MODE=true."""
    compliance = compliance_settings(settings)
    if not compliance.dev_mode:
        sys.stderr.write(
            "compliance seed-demo: refused; set COMPLIANCE_DEV_MODE=true (never in production)\n"
        )
        return 2
    _print(asyncio.run(_with_context(compliance, "seed-demo")))
    return 0


def expiry_watch_once_command(settings: ServiceSettings, args: list[str]) -> int:
    """Run the expiry watch once (events go to the outbox; a running service's relay publishes them)."""
    parser = argparse.ArgumentParser(prog="python -m confide_compliance expiry-watch-once")
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, UTC)"
    )
    options = parser.parse_args(args)
    _print(asyncio.run(_with_context(compliance_settings(settings), "expiry-watch-once", options.today)))
    return 0


SPEC = ServiceSpec(
    name="compliance",
    settings_type=ComplianceSettings,
    configure=configure,
    migrations=MIGRATIONS,
    commands={"seed-demo": seed_demo_command, "expiry-watch-once": expiry_watch_once_command},
)

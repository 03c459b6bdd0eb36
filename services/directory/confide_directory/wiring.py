"""The directory service process: `SPEC` for `confide_chassis.service.main` and for tests. The one module
that builds adapters, the AppContext, use cases, servicers and consumers.

    python -m confide_directory serve       # gRPC + consumers
    python -m confide_directory migrate     # Alembic upgrade head
    python -m confide_directory seed-demo   # demo profiles (DIRECTORY_DEV_MODE=true)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from confide.directory.v1 import directory_pb2_grpc as pb_grpc
from confide_chassis.clock import utc_now
from confide_chassis.logging import get_logger
from confide_chassis.service import ServiceContext, ServiceSpec
from confide_chassis.settings import ServiceSettings
from confide_directory.adapters.compliance import GrpcComplianceClient
from confide_directory.adapters.scheduling import GrpcSchedulingClient
from confide_directory.api import servicers
from confide_directory.app.context import AppContext
from confide_directory.app.ports import AuthorizationPort, AvailabilityPort
from confide_directory.app.profiles import ProfileUseCases
from confide_directory.app.search import SearchUseCases
from confide_directory.db.uow import SqlDirectoryUnitOfWork
from confide_directory.demo import seed_demo_command
from confide_directory.events import consumers
from confide_directory.reference_data import load_vocabulary
from confide_directory.settings import DirectorySettings

log = get_logger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def directory_settings(settings: ServiceSettings) -> DirectorySettings:
    if isinstance(settings, DirectorySettings):
        return settings
    return DirectorySettings.model_validate(settings.model_dump())


def build_spec(
    *,
    clock: Callable[[], datetime] = utc_now,
    authorization: AuthorizationPort | None = None,
    availability: AvailabilityPort | None = None,
) -> ServiceSpec:
    """The service spec; the keyword arguments are for tests (defaults: real clock, compliance and
    scheduling over gRPC)."""

    async def configure(ctx: ServiceContext) -> None:
        settings = directory_settings(ctx.settings)
        sessions = ctx.require_sessions()
        compliance = authorization
        if compliance is None:
            if settings.compliance_address is None:
                log.warning("no compliance address: every therapy search answers UNAVAILABLE (fail closed)")
            client = GrpcComplianceClient(
                settings.compliance_address, deadline_seconds=settings.compliance_deadline_seconds
            )
            ctx.on_shutdown.append(client.close)
            compliance = client
        slots = availability
        if slots is None and settings.scheduling_address is not None:
            scheduling = GrpcSchedulingClient(
                settings.scheduling_address,
                session_type_code=settings.slot_session_type,
                deadline_seconds=settings.scheduling_deadline_seconds,
            )
            ctx.on_shutdown.append(scheduling.close)
            slots = scheduling
        vocabulary = load_vocabulary()
        app = AppContext(
            uow=lambda: SqlDirectoryUnitOfWork(sessions),
            vocabulary=vocabulary,
            authorization=compliance,
            availability=slots,
            clock=clock,
            availability_horizon=timedelta(days=settings.availability_horizon_days),
        )
        profiles = ProfileUseCases(app)
        pb_grpc.add_DirectoryServiceServicer_to_server(
            servicers.DirectoryServicer(SearchUseCases(app), profiles, vocabulary, clock), ctx.server
        )
        ctx.add_grpc_service(servicers.DIRECTORY_SERVICE)
        pb_grpc.add_ProfileServiceServicer_to_server(servicers.ProfileServicer(profiles), ctx.server)
        ctx.add_grpc_service(servicers.PROFILE_SERVICE)

        ctx.add_consumer("directory-compliance", consumers.COMPLIANCE_TOPICS, consumers.handle_compliance)
        ctx.add_consumer("directory-identity", consumers.IDENTITY_TOPICS, consumers.handle_identity)
        ctx.add_consumer("directory-risk-flags", consumers.RISK_TOPICS, consumers.handle_risk_flags)

    return ServiceSpec(
        name="directory",
        settings_type=DirectorySettings,
        configure=configure,
        migrations=MIGRATIONS,
        commands={"seed-demo": seed_demo_command},
    )


SPEC = build_spec()

"""The scheduling service process: ``SPEC`` for ``confide_chassis.service.main`` and for tests.

    python -m confide_scheduling serve       # gRPC + outbox relay + consumers + reminder/maintenance jobs
    python -m confide_scheduling migrate     # Alembic upgrade head
    python -m confide_scheduling seed-demo   # demo availability for the demo clinicians

Tests start it in-process with ``confide_chassis.service.start(build_spec(...), settings)``; ``build_spec``
lets them replace the clock or the compliance port and get hold of the use cases' ``Deps``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_chassis.auth import Access, allow
from confide_chassis.logging import get_logger
from confide_chassis.service import ServiceContext, ServiceSpec
from confide_chassis.settings import ConfigurationError, ServiceSettings
from confide_scheduling.adapters.compliance import GrpcComplianceClient
from confide_scheduling.adapters.jitsi import JitsiRoomLinks
from confide_scheduling.api import servicers as api
from confide_scheduling.app import jobs
from confide_scheduling.app.context import ADMIN, CLIENT, CLINICIAN, Deps, utc_now
from confide_scheduling.app.ports import AuthorizationPort, VideoRoomPort
from confide_scheduling.db.repository import SqlStore
from confide_scheduling.demo import seed_demo_command
from confide_scheduling.events.consumers import (
    COMPLIANCE_TOPICS,
    IDENTITY_TOPICS,
    compliance_handler,
    handle_identity,
)
from confide_scheduling.reference_data import load_session_types
from confide_scheduling.settings import SchedulingSettings

log = get_logger(__name__)

MIGRATIONS = Path(
    os.environ.get("SCHEDULING_MIGRATIONS_DIR") or Path(__file__).resolve().parent.parent / "migrations"
)

ANY_PERSON = allow(CLIENT, CLINICIAN, ADMIN)
STAFF = allow(CLINICIAN, ADMIN, mfa=True)

ACCESS: dict[str, dict[str, Access]] = {
    api.AVAILABILITY_SERVICE: {
        "ListSessionTypes": allow(),
        "GetSchedule": STAFF,
        "SetWeeklySchedule": STAFF,
        "AddAvailabilityException": STAFF,
        "RemoveAvailabilityException": STAFF,
        "AddTimeOff": STAFF,
        "RemoveTimeOff": STAFF,
        "SearchSlots": ANY_PERSON,
    },
    api.APPOINTMENT_SERVICE: {
        "HoldSlot": ANY_PERSON,
        "ConfirmHold": ANY_PERSON,
        "ReleaseHold": ANY_PERSON,
        "BookAppointment": ANY_PERSON,
        "RescheduleAppointment": ANY_PERSON,
        "CancelAppointment": ANY_PERSON,
        "MarkNoShow": STAFF,
        "RecheckAuthorization": STAFF,
        "GetAppointment": ANY_PERSON,
        "ListAppointments": ANY_PERSON,
        "GetCancellationPolicy": allow(),
        "SetCancellationPolicy": allow(ADMIN, mfa=True),
    },
    api.SERIES_SERVICE: {
        "CreateSeries": ANY_PERSON,
        "GetSeries": ANY_PERSON,
        "SkipOccurrence": ANY_PERSON,
        "MoveOccurrence": ANY_PERSON,
        "RescheduleFollowing": ANY_PERSON,
        "CancelFollowing": ANY_PERSON,
    },
    api.WAITLIST_SERVICE: {
        "JoinWaitlist": ANY_PERSON,
        "LeaveWaitlist": allow(CLIENT, ADMIN),
        "ListWaitlist": allow(CLIENT, ADMIN),
        "AcceptWaitlistOffer": allow(CLIENT),
        "DeclineWaitlistOffer": allow(CLIENT),
    },
    api.SCREENING_SERVICE: {
        "SubmitScreening": allow(CLIENT, CLINICIAN),
        "GetLatestScreening": ANY_PERSON,
    },
    api.SESSION_SERVICE: {
        "CheckIn": allow(CLIENT, CLINICIAN),
        "GetJoinLink": allow(CLIENT, CLINICIAN),
        "StartSession": allow(CLINICIAN, mfa=True),
        "CompleteSession": allow(CLINICIAN, mfa=True),
    },
}


def scheduling_settings(settings: ServiceSettings) -> SchedulingSettings:
    if isinstance(settings, SchedulingSettings):
        return settings
    return SchedulingSettings.model_validate(settings.model_dump())


def build_spec(
    *,
    clock: Callable[[], datetime] = utc_now,
    authorization: AuthorizationPort | None = None,
    video: VideoRoomPort | None = None,
    on_configured: Callable[[Deps], None] | None = None,
    background_jobs: bool = True,
) -> ServiceSpec:
    """The service spec; the keyword arguments are for tests (defaults: real clock, compliance over
    gRPC, Jitsi when configured)."""

    async def configure(ctx: ServiceContext) -> None:
        settings = scheduling_settings(ctx.settings)
        ctx.interceptor.idempotency = False  # scheduling still keeps its own idempotency records
        compliance = authorization
        if compliance is None:
            client = GrpcComplianceClient(
                settings.compliance_address, deadline_seconds=settings.compliance_deadline_seconds
            )
            ctx.on_shutdown.append(client.close)
            compliance = client
        if settings.compliance_address is None:
            log.warning("no compliance address: every booking and check-in will be refused (fail closed)")
        rooms = video
        if rooms is None and settings.jitsi_domain and settings.jitsi_app_secret is not None:
            try:
                rooms = JitsiRoomLinks(
                    domain=settings.jitsi_domain,
                    app_id=settings.jitsi_app_id,
                    app_secret=settings.jitsi_app_secret.get_secret_value(),
                )
            except ValueError as exc:
                raise ConfigurationError(f"SCHEDULING_JITSI_*: {exc}") from None
        deps = Deps(
            settings=settings,
            store=SqlStore(ctx.require_sessions()),
            authorization=compliance,
            video=rooms,
            catalogue=load_session_types(),
            clock=clock,
        )
        pb_grpc.add_AvailabilityServiceServicer_to_server(api.AvailabilityServicer(deps), ctx.server)
        pb_grpc.add_AppointmentServiceServicer_to_server(api.AppointmentServicer(deps), ctx.server)
        pb_grpc.add_SeriesServiceServicer_to_server(api.SeriesServicer(deps), ctx.server)
        pb_grpc.add_WaitlistServiceServicer_to_server(api.WaitlistServicer(deps), ctx.server)
        pb_grpc.add_ScreeningServiceServicer_to_server(api.ScreeningServicer(deps), ctx.server)
        pb_grpc.add_SessionServiceServicer_to_server(api.SessionServicer(deps), ctx.server)
        for name, access in ACCESS.items():
            ctx.add_grpc_service(name, access)

        ctx.add_consumer("identity-projections", IDENTITY_TOPICS, handle_identity)
        ctx.add_consumer("compliance-authorizations", COMPLIANCE_TOPICS, compliance_handler(deps.now))
        if background_jobs:
            ctx.add_background(
                "reminders",
                jobs.periodic(
                    "reminders",
                    settings.reminder_interval_seconds,
                    lambda: jobs.emit_due_reminders(deps, deps.now()),
                ),
            )
            ctx.add_background(
                "maintenance",
                jobs.periodic(
                    "maintenance",
                    settings.maintenance_interval_seconds,
                    lambda: jobs.maintain(deps, deps.now()),
                ),
            )
        if on_configured is not None:
            on_configured(deps)

    return ServiceSpec(
        name="scheduling",
        settings_type=SchedulingSettings,
        configure=configure,
        migrations=MIGRATIONS,
        commands={"seed-demo": seed_demo_command},
    )


SPEC = build_spec()

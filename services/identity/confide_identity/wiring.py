"""Wiring: settings -> KEK, unit of work, AppContext, use cases, servicers, key manager, background jobs,
and the operator commands. The one module that builds them.

Identity verifies the access tokens it receives against its own key store (the keys it signs with), not
against `JWKS_FILE`/`JWKS_URL`: `configure` tells the chassis to use that verifier.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from confide.identity.v1 import identity_pb2, identity_pb2_grpc
from confide_chassis import db
from confide_chassis.auth import TokenVerifier
from confide_chassis.clock import utc_now
from confide_chassis.service import RunningService, ServiceContext, ServiceSpec, start
from confide_chassis.settings import ConfigurationError
from confide_identity import cli
from confide_identity.adapters.mail.dev import DevFileMailer
from confide_identity.adapters.mail.memory import InMemoryMailer
from confide_identity.adapters.mail.unconfigured import UnconfiguredMailer
from confide_identity.api.auth import AuthServicer
from confide_identity.api.care_teams import CareTeamServicer
from confide_identity.api.consents import ConsentServicer
from confide_identity.api.profiles import ClientProfileServicer
from confide_identity.api.users import PracticeServicer, UserServicer
from confide_identity.app.context import AppConfig, AppContext
from confide_identity.app.keys import KeyManager, KeyStore
from confide_identity.app.mail import Mailer
from confide_identity.app.ports import UnitOfWorkFactory
from confide_identity.app.use_cases import UseCases
from confide_identity.crypto import Sealer, sealer_from_settings
from confide_identity.db.uow import unit_of_work_factory
from confide_identity.domain.password_hashing import Argon2Params, Argon2PasswordHasher
from confide_identity.domain.tokens import KeyRotationPolicy
from confide_identity.reference_data import load_age_of_consent_table, load_common_passwords
from confide_identity.settings import IdentitySettings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

Clock = Callable[[], datetime]


def rotation_policy(settings: IdentitySettings) -> KeyRotationPolicy:
    return KeyRotationPolicy(
        rotate_every=timedelta(days=settings.key_rotate_days),
        overlap=timedelta(hours=settings.key_overlap_hours),
        publish_lead=timedelta(minutes=settings.key_publish_lead_minutes),
    )


def app_config(settings: IdentitySettings) -> AppConfig:
    return AppConfig(
        public_base_url=settings.public_base_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        mfa_challenge_ttl=timedelta(seconds=settings.mfa_challenge_ttl_seconds),
        invitation_ttl=timedelta(hours=settings.invitation_ttl_hours),
        accept_unverified_consent_ages=settings.accept_unverified_consent_ages,
    )


def hasher_for(settings: IdentitySettings) -> Argon2PasswordHasher:
    return Argon2PasswordHasher(
        Argon2Params(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
    )


def app_context(
    settings: IdentitySettings,
    uow: UnitOfWorkFactory,
    sealer: Sealer,
    store: KeyStore,
    mailer: Mailer,
    clock: Clock = utc_now,
) -> AppContext:
    return AppContext(
        uow=uow,
        hasher=hasher_for(settings),
        sealer=sealer,
        mailer=mailer,
        keys=store,
        common_passwords=load_common_passwords(),
        consent_ages=load_age_of_consent_table(),
        config=app_config(settings),
        clock=clock,
    )


def default_mailer(settings: IdentitySettings) -> Mailer:
    """Dev mode: the dev file mailer. Otherwise no provider exists yet: delivery fails loudly in the logs
    rather than writing links with secret tokens to disk."""
    return DevFileMailer(settings.dev_mail_dir) if settings.dev_mode else UnconfiguredMailer()


@dataclass
class IdentityService:
    """The spec to start, the verifier to start it with, and (after configure) the wired app for tools."""

    settings: IdentitySettings
    store: KeyStore
    verifier: TokenVerifier
    mailer: Mailer
    spec: ServiceSpec = field(init=False)
    app: AppContext | None = None
    use_cases: UseCases | None = None
    keys: KeyManager | None = None


def register_servicers(ctx: ServiceContext, use_cases: UseCases) -> None:
    identity_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(use_cases.auth), ctx.server)
    identity_pb2_grpc.add_PracticeServiceServicer_to_server(PracticeServicer(use_cases.practices), ctx.server)
    identity_pb2_grpc.add_UserServiceServicer_to_server(UserServicer(use_cases.users), ctx.server)
    identity_pb2_grpc.add_ClientProfileServiceServicer_to_server(
        ClientProfileServicer(use_cases.profiles), ctx.server
    )
    identity_pb2_grpc.add_ConsentServiceServicer_to_server(ConsentServicer(use_cases.consents), ctx.server)
    identity_pb2_grpc.add_CareTeamServiceServicer_to_server(
        CareTeamServicer(use_cases.care_teams), ctx.server
    )
    # Who may call each RPC is declared on it in identity.proto (`option (confide.common.v1.access)`).
    for service in identity_pb2.DESCRIPTOR.services_by_name.values():
        ctx.add_grpc_service(service)


def build(
    settings: IdentitySettings, *, mailer: Mailer | None = None, clock: Clock = utc_now
) -> IdentityService:
    """Everything `start` needs. Fails fast (ConfigurationError) without a key-encryption key."""
    sealer = sealer_from_settings(settings)
    store = KeyStore(rotation_policy(settings), clock)
    verifier = TokenVerifier(store, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    service = IdentityService(
        settings=settings,
        store=store,
        verifier=verifier,
        mailer=mailer or default_mailer(settings),
    )

    async def configure_built(ctx: ServiceContext) -> None:
        uow = unit_of_work_factory(ctx.require_sessions(), sealer)
        app = app_context(settings, uow, sealer, store, service.mailer, clock)
        keys = KeyManager(uow, sealer, store, clock=clock, random_bytes=app.random_bytes)
        await keys.bootstrap(settings.signing_key_file)
        use_cases = UseCases.of(app, keys)
        register_servicers(ctx, use_cases)

        async def refresh_keys(stop: asyncio.Event) -> None:
            await keys.run(stop, interval=settings.key_refresh_seconds, auto_rotate=settings.auto_rotate)

        ctx.add_background("signing-keys", refresh_keys)
        ctx.use_verifier(verifier)
        service.app, service.use_cases, service.keys = app, use_cases, keys

    service.spec = ServiceSpec(
        name="identity", settings_type=IdentitySettings, configure=configure_built, migrations=MIGRATIONS
    )
    return service


async def start_identity(service: IdentityService) -> RunningService:
    return await start(service.spec, service.settings, verifier=service.verifier)


async def configure(ctx: ServiceContext) -> None:
    """`python -m confide_identity serve`: wire identity and verify tokens with its own key store."""
    if not isinstance(ctx.settings, IdentitySettings):
        raise TypeError("identity needs IdentitySettings")
    await build(ctx.settings).spec.configure(ctx)


@asynccontextmanager
async def open_operator_app(settings: IdentitySettings, clock: Clock) -> AsyncIterator[cli.OperatorApp]:
    """The application for an operator command: the service's own database, no gRPC, no Kafka, and a
    mailer that keeps the e-mails (the commands print what the operator needs)."""
    if not settings.database_url:
        raise ConfigurationError("IDENTITY_DATABASE_URL is required")
    sealer = sealer_from_settings(settings)
    engine = db.create_engine(settings.database_url)
    try:
        uow = unit_of_work_factory(db.session_factory(engine), sealer)
        store = KeyStore(rotation_policy(settings), clock)
        app = app_context(settings, uow, sealer, store, InMemoryMailer(), clock)
        keys = KeyManager(uow, sealer, store, clock=clock, random_bytes=app.random_bytes)
        yield cli.OperatorApp(app=app, use_cases=UseCases.of(app, keys))
    finally:
        await engine.dispose()


COMMANDS = cli.commands(open_operator_app)

SPEC = ServiceSpec(
    name="identity",
    settings_type=IdentitySettings,
    configure=configure,
    migrations=MIGRATIONS,
    commands=COMMANDS,
)

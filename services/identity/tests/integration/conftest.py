"""The identity service in-process over real gRPC, PostgreSQL and Kafka: one running service per test module.

`Harness` gives tests typed stubs, direct access to the wired app (to set up users quickly without the
e-mail round trip), the in-memory mailer, and access tokens minted with the service's own signing key.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pyotp
import pytest
from aiokafka import AIOKafkaConsumer
from google.rpc import error_details_pb2

from confide.identity.v1 import identity_pb2_grpc
from confide_chassis import migrations
from confide_chassis.auth import Principal as CallerToken
from confide_chassis.grpc.status import details_of, status_from_error
from confide_chassis.ids import new_id
from confide_chassis.service import RunningService
from confide_devstack.devkeys import DevKeys
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_identity.adapters.mail.memory import InMemoryMailer
from confide_identity.app import commands
from confide_identity.app.models import Practice, User
from confide_identity.app.use_cases import UseCases
from confide_identity.domain.claims import build_access_claims
from confide_identity.domain.mfa import TotpCredential
from confide_identity.domain.roles import Principal, Role
from confide_identity.domain.tokens import sign_access_token
from confide_identity.settings import IdentitySettings
from confide_identity.wiring import IdentityService, build, start_identity

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
PASSWORD = "Velvet-Compass-Orchard-77"
TOTP_SECRET = pyotp.random_base32(32)


class Clock:
    """The service's clock: real time plus an offset tests can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def settings_for(
    database_url: str, bootstrap: str, signing_key_file: str | None, **extra: Any
) -> IdentitySettings:
    values: dict[str, Any] = {
        "grpc_port": 0,
        "metrics_port": 0,
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap,
        "key_encryption_key": base64.b64encode(os.urandom(32)).decode(),
        "signing_key_file": signing_key_file,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
        "readiness_interval_seconds": 0.5,
        "outbox_poll_interval_seconds": 0.2,
        "key_refresh_seconds": 3600,
    }
    values.update(extra)
    return IdentitySettings(**values)


@dataclasses.dataclass
class Harness:
    running: RunningService
    service: IdentityService
    mailer: InMemoryMailer
    clock: Clock
    channel: grpc.aio.Channel
    bootstrap: str

    # --- stubs -----------------------------------------------------------------------------------------

    @property
    def auth(self) -> identity_pb2_grpc.AuthServiceAsyncStub:
        return identity_pb2_grpc.AuthServiceStub(self.channel)

    @property
    def practices(self) -> identity_pb2_grpc.PracticeServiceAsyncStub:
        return identity_pb2_grpc.PracticeServiceStub(self.channel)

    @property
    def users(self) -> identity_pb2_grpc.UserServiceAsyncStub:
        return identity_pb2_grpc.UserServiceStub(self.channel)

    @property
    def profiles(self) -> identity_pb2_grpc.ClientProfileServiceAsyncStub:
        return identity_pb2_grpc.ClientProfileServiceStub(self.channel)

    @property
    def consents(self) -> identity_pb2_grpc.ConsentServiceAsyncStub:
        return identity_pb2_grpc.ConsentServiceStub(self.channel)

    @property
    def care_teams(self) -> identity_pb2_grpc.CareTeamServiceAsyncStub:
        return identity_pb2_grpc.CareTeamServiceStub(self.channel)

    @property
    def uc(self) -> UseCases:
        assert self.service.use_cases is not None
        return self.service.use_cases

    # --- setup shortcuts (no e-mail round trip) -------------------------------------------------------------

    async def new_practice(self, *, sign_up: bool = True) -> tuple[Practice, User]:
        slug = f"p-{uuid.uuid4().hex[:12]}"
        practice, created = await self.uc.practices.create_practice(
            None,
            commands.CreatePractice(
                display_name=f"Practice {slug}",
                slug=slug,
                admin_email=f"admin@{slug}.test",
                admin_display_name="Admin Person",
                admin_password_hash=await self.app.hash_password(PASSWORD),
            ),
        )
        await self.enrol_totp(created.user)
        if not sign_up:
            async with self.app.uow() as uow:
                await uow.practices.update(dataclasses.replace(practice, client_sign_up_enabled=False))
                await uow.commit()
        return practice, created.user

    @property
    def app(self) -> Any:
        assert self.service.app is not None
        return self.service.app

    async def add_user(
        self,
        practice_id: uuid.UUID,
        roles: Iterable[Role],
        *,
        email: str | None = None,
        display_name: str | None = "Staff Person",
        password: str | None = PASSWORD,
        verified: bool = True,
        totp: bool = False,
    ) -> User:
        now = self.clock()
        user = User(
            user_id=new_id(),
            practice_id=practice_id,
            email=email or f"u-{uuid.uuid4().hex[:12]}@example.test",
            display_name=display_name,
            roles=frozenset(roles),
            password_hash=await self.app.hash_password(password) if password else None,
            email_verified_at=now if verified else None,
            created_at=now,
        )
        async with self.app.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        if totp:
            await self.enrol_totp(user)
        return user

    async def enrol_totp(self, user: User) -> None:
        now = self.clock()
        async with self.app.uow() as uow:
            await uow.mfa_factors.save_totp(
                user.user_id, TotpCredential(secret=TOTP_SECRET, created_at=now, confirmed_at=now)
            )
            await uow.commit()

    def caller(self, user: User, *, mfa: bool = True) -> CallerToken:
        return CallerToken(
            subject=str(user.user_id),
            practice_id=str(user.practice_id),
            roles=frozenset(role.value for role in user.roles),
            mfa=mfa,
        )

    def token(self, user: User, *, mfa: bool = True, roles: Iterable[Role] | None = None) -> str:
        """An access token as identity would issue it (signed with its active key, real time)."""
        principal = Principal(
            subject_id=user.user_id,
            practice_id=user.practice_id,
            roles=frozenset(roles) if roles is not None else user.roles,
            mfa=mfa,
        )
        claims = build_access_claims(
            principal,
            now=datetime.now(UTC),
            token_id=new_id(),
            issuer=self.service.settings.jwt_issuer,
            audience=self.service.settings.jwt_audience,
        )
        return sign_access_token(claims, self.service.store.signing_key())

    def auth_md(self, user: User, *, mfa: bool = True) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.token(user, mfa=mfa)}"),)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def totp_now(clock: Clock, offset_steps: int = 0, secret: str = TOTP_SECRET) -> str:
    moment = clock() + timedelta(seconds=30 * offset_steps)
    return pyotp.TOTP(secret).at(moment)


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = status_from_error(error)
    if status is None:
        return []
    return [
        v.field
        for d in details_of(status)
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    ]


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    status = status_from_error(error)
    if status is None:
        return None
    return next((d for d in details_of(status) if isinstance(d, error_details_pb2.ErrorInfo)), None)


def precondition_types(error: grpc.aio.AioRpcError) -> list[str]:
    status = status_from_error(error)
    if status is None:
        return []
    return [
        v.type
        for d in details_of(status)
        if isinstance(d, error_details_pb2.PreconditionFailure)
        for v in d.violations
    ]


async def read_topic(
    bootstrap: str, topic: str, keys: set[str], expected: int, timeout: float = 20.0
) -> list[Any]:
    """Records of `topic` keyed by one of `keys`: at least `expected`, then a moment more for duplicates."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_until: float | None = None
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found.extend(r for r in records if r.key is not None and r.key.decode() in keys)
            if len(found) >= expected:
                quiet_until = quiet_until or loop.time() + 0.6
                if loop.time() >= quiet_until:
                    break
    finally:
        await consumer.stop()
    return found


@pytest.fixture(scope="module")
async def identity(
    postgres_cluster: PostgresCluster, kafka_broker: Any, dev_keys: DevKeys
) -> AsyncIterator[Harness]:
    url = await postgres_cluster.create_database_async(unique_database_name("identity"))
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, url)
    clock = Clock()
    mailer = InMemoryMailer()
    service = build(
        settings_for(url, kafka_broker.bootstrap_servers, str(dev_keys.private_key_path)),
        mailer=mailer,
        clock=clock,
    )
    running = await start_identity(service)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield Harness(running, service, mailer, clock, channel, kafka_broker.bootstrap_servers)
    finally:
        await channel.close()
        await running.stop(grace=0)

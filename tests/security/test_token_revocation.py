"""Security: a token stops working everywhere when its user is deactivated, and a stale token never
stands in the way of a public RPC.

identity, compliance and scheduling run in-process over real gRPC, each with its own PostgreSQL
database, sharing the session's Kafka broker (as in tests/journeys/test_sign_in_to_session.py).
identity signs with a key it generated; the other two verify with the JWKS they fetch from it. Nothing
is mocked and the test produces no event: identity's DeactivateUser publishes UserDeactivated through
its outbox, and every other service's chassis revocation watcher reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pyotp
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from confide.common.v1 import jurisdiction_pb2
from confide.compliance.v1 import authorization_pb2, authorization_pb2_grpc
from confide.identity.v1 import identity_pb2, identity_pb2_grpc
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_chassis import migrations
from confide_compliance import testing as compliance_testing
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_identity import seed as identity_seed
from confide_identity.domain.claims import build_access_claims
from confide_identity.domain.roles import Principal, Role
from confide_identity.domain.tokens import sign_access_token
from confide_identity.settings import IdentitySettings
from confide_identity.wiring import COMMANDS as IDENTITY_COMMANDS
from confide_identity.wiring import MIGRATIONS as IDENTITY_MIGRATIONS
from confide_identity.wiring import IdentityService, start_identity
from confide_identity.wiring import build as build_identity
from confide_scheduling import testing as scheduling_testing

pytestmark = pytest.mark.integration

Metadata = tuple[tuple[str, str], ...]

PRACTICE_ID = str(identity_seed.DEMO_PRACTICE_ID)
ALEX_EMAIL = "alex@demo-practice.test"
ALEX_ID = "01930000-0000-7000-8000-0000000000e1"
PATEL_EMAIL = "dr.patel@demo-practice.test"  # a demo clinician no other test signs in as
PATEL_ID = "01930000-0000-7000-8000-0000000000c2"
OPS_EMAIL = "ops@demo-practice.test"
# Compliance and scheduling fetch identity's JWKS in the background after they start.
STARTUP_SECONDS = 60.0
# DeactivateUser → identity's outbox relay → Kafka → every service's revocation watcher (0.5 s polls).
REVOCATION_SECONDS = 15.0


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Stack:
    identity: IdentityService
    identity_channel: grpc.aio.Channel
    compliance_channel: grpc.aio.Channel
    scheduling_channel: grpc.aio.Channel

    @property
    def auth(self) -> identity_pb2_grpc.AuthServiceAsyncStub:
        return identity_pb2_grpc.AuthServiceStub(self.identity_channel)

    @property
    def users(self) -> identity_pb2_grpc.UserServiceAsyncStub:
        return identity_pb2_grpc.UserServiceStub(self.identity_channel)

    async def scheduling_call(self, metadata: Metadata) -> grpc.StatusCode:
        """A protected scheduling RPC any signed-in user may call."""
        stub = pb_grpc.AvailabilityServiceStub(self.scheduling_channel)
        request = pb.ListSessionTypesRequest()
        return await outcome(stub.ListSessionTypes(request, metadata=metadata, timeout=10))

    async def compliance_call(self, metadata: Metadata) -> grpc.StatusCode:
        """A protected compliance RPC any signed-in user may call."""
        start = Timestamp()
        start.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
        stub = authorization_pb2_grpc.AuthorizationServiceStub(self.compliance_channel)
        request = authorization_pb2.FindAuthorizedCliniciansRequest(
            client_jurisdiction=jurisdiction_pb2.JURISDICTION_CA,
            session_start=start,
            client_time_zone="America/Los_Angeles",
            modality=authorization_pb2.MODALITY_VIDEO,
        )
        return await outcome(stub.FindAuthorizedClinicians(request, metadata=metadata, timeout=10))


async def outcome(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def until(check: Callable[[], Awaitable[bool]], *, seconds: float, what: str) -> float:
    """Poll `check` until it holds; the seconds it took. Fails naming `what` after `seconds`."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture(scope="module")
async def stack(
    postgres_cluster: PostgresCluster, kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    bootstrap = str(kafka_broker.bootstrap_servers)
    identity_url, compliance_url, scheduling_url = [
        await postgres_cluster.create_database_async(unique_database_name(f"revocation_{name}"))
        for name in ("identity", "compliance", "scheduling")
    ]
    identity_settings = IdentitySettings(
        grpc_port=0,
        metrics_port=0,
        database_url=identity_url,
        kafka_bootstrap_servers=bootstrap,
        dev_mode=True,  # derived KEK, dev file mailer, seed-demo allowed
        dev_mail_dir=str(tmp_path_factory.mktemp("identity-dev-mail")),
        signing_key_file=None,  # identity's own key: only its JWKS verifies its tokens
        jwks_file=None,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        readiness_interval_seconds=0.5,
        outbox_poll_interval_seconds=0.2,
        key_refresh_seconds=3600,
    )
    await asyncio.to_thread(migrations.upgrade, IDENTITY_MIGRATIONS, identity_url)
    assert await asyncio.to_thread(IDENTITY_COMMANDS["seed-demo"], identity_settings, []) == 0

    async with contextlib.AsyncExitStack() as running:
        identity = build_identity(identity_settings)
        identity_running = await start_identity(identity)
        running.push_async_callback(identity_running.stop, 0)
        identity_target = f"127.0.0.1:{identity_running.port}"
        compliance = await compliance_testing.start_compliance(
            compliance_url, bootstrap, jwks_grpc_target=identity_target, jwks_file=None
        )
        running.push_async_callback(compliance.stop, 0)
        scheduling = await scheduling_testing.start_scheduling(
            scheduling_url,
            bootstrap,
            jwks_grpc_target=identity_target,
            jwks_file=None,
            compliance_target=f"127.0.0.1:{compliance.port}",
        )
        running.push_async_callback(scheduling.running.stop, 0)
        channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            for port in (identity_running.port, compliance.port, scheduling.port)
        ]
        for channel in channels:
            running.push_async_callback(channel.close)
        yield Stack(identity, *channels)


async def sign_in(s: Stack, email: str, *, mfa: bool) -> identity_pb2.Session:
    step = await s.auth.SignIn(
        identity_pb2.SignInRequest(practice_id=PRACTICE_ID, email=email, password=identity_seed.DEMO_PASSWORD)
    )
    if not mfa:
        assert step.next_step == identity_pb2.SIGN_IN_STEP_COMPLETE, email
        return step.session
    assert step.next_step == identity_pb2.SIGN_IN_STEP_MFA_REQUIRED, email
    verified = await s.auth.VerifyMfa(
        identity_pb2.VerifyMfaRequest(
            mfa_challenge_token=step.mfa_challenge_token,
            totp_code=pyotp.TOTP(identity_seed.DEMO_TOTP_SECRET).now(),
        )
    )
    return verified.session


def expired_token(s: Stack, subject: str, role: Role) -> str:
    """A genuine access token of identity's (its active key) that expired five minutes ago."""
    issued = datetime.now(UTC) - timedelta(minutes=20)
    principal = Principal(
        subject_id=uuid.UUID(subject),
        practice_id=uuid.UUID(PRACTICE_ID),
        roles=frozenset({role}),
        mfa=False,
    )
    claims = build_access_claims(
        principal,
        now=issued,
        token_id=uuid.uuid4(),
        issuer=s.identity.settings.jwt_issuer,
        audience=s.identity.settings.jwt_audience,
    )
    return sign_access_token(claims, s.identity.store.signing_key())


async def test_a_deactivated_users_token_is_refused_by_every_service_within_seconds(stack: Stack) -> None:
    s = stack
    patel = await sign_in(s, PATEL_EMAIL, mfa=True)
    alex = await sign_in(s, ALEX_EMAIL, mfa=False)
    as_patel, as_alex = bearer(patel.access_token), bearer(alex.access_token)

    async def both_accept(metadata: Metadata) -> bool:
        return (await s.scheduling_call(metadata), await s.compliance_call(metadata)) == (
            grpc.StatusCode.OK,
            grpc.StatusCode.OK,
        )

    # Until compliance and scheduling have fetched identity's JWKS, genuine tokens are refused.
    await until(lambda: both_accept(as_patel), seconds=STARTUP_SECONDS, what="services verifying tokens")
    assert await both_accept(as_alex)

    ops = await sign_in(s, OPS_EMAIL, mfa=True)  # practice admin with MFA
    await s.users.DeactivateUser(
        identity_pb2.DeactivateUserRequest(user_id=PATEL_ID), metadata=bearer(ops.access_token)
    )
    assert patel.access_token_expire_time.ToDatetime(tzinfo=UTC) > datetime.now(UTC) + timedelta(minutes=5)

    async def both_refuse() -> bool:
        return (await s.scheduling_call(as_patel), await s.compliance_call(as_patel)) == (
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.UNAUTHENTICATED,
        )

    await until(both_refuse, seconds=REVOCATION_SECONDS, what="scheduling and compliance refusing patel")
    # Other users are unaffected, and the refusal lasts.
    assert await both_accept(as_alex)
    assert await both_refuse()
    # identity itself refuses the token too, and the deactivated user cannot sign in again.
    get_user = s.users.GetUser(identity_pb2.GetUserRequest(user_id=PATEL_ID), metadata=as_patel)
    assert await outcome(get_user) is grpc.StatusCode.UNAUTHENTICATED
    assert await outcome(sign_in(s, PATEL_EMAIL, mfa=True)) is grpc.StatusCode.UNAUTHENTICATED


async def test_public_rpcs_ignore_an_expired_token_that_protected_rpcs_refuse(stack: Stack) -> None:
    """A frontend that always attaches its access token can still refresh once that token expired."""
    s = stack
    alex = await sign_in(s, ALEX_EMAIL, mfa=False)
    for stale in (bearer(expired_token(s, ALEX_ID, Role.CLIENT)), bearer("not-a-token")):
        refreshed = await s.auth.Refresh(
            identity_pb2.RefreshRequest(refresh_token=alex.refresh_token), metadata=stale
        )
        assert refreshed.session.access_token
        alex = refreshed.session
        again = await s.auth.SignIn(
            identity_pb2.SignInRequest(
                practice_id=PRACTICE_ID, email=ALEX_EMAIL, password=identity_seed.DEMO_PASSWORD
            ),
            metadata=stale,
        )
        assert again.next_step == identity_pb2.SIGN_IN_STEP_COMPLETE

        protected = s.users.GetUser(identity_pb2.GetUserRequest(user_id=ALEX_ID), metadata=stale)
        assert await outcome(protected) is grpc.StatusCode.UNAUTHENTICATED
        assert await s.scheduling_call(stale) is grpc.StatusCode.UNAUTHENTICATED
    # The refreshed token works where the stale one did not.
    fresh = bearer(alex.access_token)
    me = await s.users.GetUser(identity_pb2.GetUserRequest(user_id=ALEX_ID), metadata=fresh)
    assert me.user.user_id == ALEX_ID

"""Journey: identity's care team reaches messaging; a client and their clinician message securely.

identity (seeded as by `make run`) and messaging run in-process over real gRPC, PostgreSQL and
Kafka. Messaging verifies identity's tokens with the JWKS it fetches from identity over gRPC, and
learns alex's care team (dr.rivera) and profile from identity's events — nothing is seeded into
messaging directly. Then: alex opens a thread, dr.rivera follows it on the live stream, alex writes
in crisis and gets 988/911 in the answer, dr.rivera's stream delivers both messages in order, the
RiskFlagged event reaches Kafka with CloudEvents headers and no text, and a practice admin who is not
on the care team cannot read the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pyotp
import pytest

from confide.identity.v1 import identity_pb2, identity_pb2_grpc
from confide.messaging.v1 import events_pb2 as messaging_events
from confide.messaging.v1 import messaging_pb2 as pb
from confide.messaging.v1 import messaging_pb2_grpc as pb_grpc
from confide_chassis import migrations
from confide_chassis.auth import GrpcJwks
from confide_chassis.service import RunningService
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_identity import seed as identity_seed
from confide_identity.settings import IdentitySettings
from confide_identity.wiring import COMMANDS as IDENTITY_COMMANDS
from confide_identity.wiring import MIGRATIONS as IDENTITY_MIGRATIONS
from confide_identity.wiring import build as build_identity
from confide_identity.wiring import start_identity
from confide_messaging.testing import StartedMessaging, start_messaging
from confide_scheduling.testing import read_records

pytestmark = pytest.mark.integration

T = TypeVar("T")
Metadata = tuple[tuple[str, str], ...]

PRACTICE_ID = str(identity_seed.DEMO_PRACTICE_ID)
ALEX_ID = "01930000-0000-7000-8000-0000000000e1"
RIVERA_ID = "01930000-0000-7000-8000-0000000000c3"
PROPAGATION_SECONDS = 60.0


@dataclass
class Stack:
    identity: RunningService
    messaging: StartedMessaging
    bootstrap: str
    identity_channel: grpc.aio.Channel
    messaging_channel: grpc.aio.Channel

    @property
    def auth(self) -> identity_pb2_grpc.AuthServiceAsyncStub:
        return identity_pb2_grpc.AuthServiceStub(self.identity_channel)

    @property
    def api(self) -> pb_grpc.MessagingServiceAsyncStub:
        return pb_grpc.MessagingServiceStub(self.messaging_channel)


@pytest.fixture(scope="module")
async def stack(
    postgres_cluster: PostgresCluster, kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    bootstrap = str(kafka_broker.bootstrap_servers)
    identity_url, messaging_url = [
        await postgres_cluster.create_database_async(unique_database_name(f"journey_messaging_{name}"))
        for name in ("identity", "messaging")
    ]
    identity_settings = IdentitySettings(
        grpc_port=0,
        metrics_port=0,
        database_url=identity_url,
        kafka_bootstrap_servers=bootstrap,
        dev_mode=True,
        dev_mail_dir=str(tmp_path_factory.mktemp("identity-dev-mail")),
        signing_key_file=None,
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
        identity = await start_identity(build_identity(identity_settings))
        running.push_async_callback(identity.stop, 0)
        target = f"127.0.0.1:{identity.port}"
        messaging = await start_messaging(messaging_url, bootstrap, jwks_grpc_target=target, jwks_file=None)
        running.push_async_callback(messaging.running.stop, 0)
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{p}") for p in (identity.port, messaging.port)]
        for channel in channels:
            running.push_async_callback(channel.close)
        yield Stack(identity, messaging, bootstrap, *channels)


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


async def sign_in(
    auth: identity_pb2_grpc.AuthServiceAsyncStub, email: str, *, mfa: bool
) -> identity_pb2.Session:
    step = await auth.SignIn(
        identity_pb2.SignInRequest(practice_id=PRACTICE_ID, email=email, password=identity_seed.DEMO_PASSWORD)
    )
    if not mfa:
        return step.session
    verified = await auth.VerifyMfa(
        identity_pb2.VerifyMfaRequest(
            mfa_challenge_token=step.mfa_challenge_token,
            totp_code=pyotp.TOTP(identity_seed.DEMO_TOTP_SECRET).now(),
        )
    )
    return verified.session


async def until_accepted(call: Callable[[], Awaitable[T]], *, retry_on: set[grpc.StatusCode], what: str) -> T:
    """Retry while messaging has not yet got identity's keys or events (both arrive asynchronously)."""
    deadline = time.monotonic() + PROPAGATION_SECONDS
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if error.code() not in retry_on or time.monotonic() > deadline:
                raise AssertionError(f"{what}: {error.code().name} {error.details()}") from error
        await asyncio.sleep(0.5)


async def test_a_client_and_their_clinician_message_with_the_care_team_from_identity(stack: Stack) -> None:
    s = stack
    assert isinstance(s.messaging.running.context.interceptor.verifier.source, GrpcJwks)
    alex = await sign_in(s.auth, "alex@demo-practice.test", mfa=False)
    rivera = await sign_in(s.auth, "dr.rivera@demo-practice.test", mfa=True)
    ops = await sign_in(s.auth, "ops@demo-practice.test", mfa=True)
    assert (alex.user_id, rivera.user_id) == (ALEX_ID, RIVERA_ID)
    as_alex, as_rivera, as_ops = (
        bearer(alex.access_token),
        bearer(rivera.access_token),
        bearer(ops.access_token),
    )

    # Until messaging has identity's keys (UNAUTHENTICATED) and alex's care team (FAILED_PRECONDITION).
    created = await until_accepted(
        lambda: s.api.CreateThread(
            pb.CreateThreadRequest(client_id=ALEX_ID, idempotency_key=str(uuid.uuid4())), metadata=as_alex
        ),
        retry_on={grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.FAILED_PRECONDITION},
        what="identity's keys and alex's care team reaching messaging",
    )
    thread = created.thread
    assert [(p.user_id, p.role) for p in thread.participants] == [
        (ALEX_ID, pb.AUTHOR_ROLE_CLIENT),
        (RIVERA_ID, pb.AUTHOR_ROLE_CLINICIAN),
    ]

    stream = s.api.StreamMessages(pb.StreamMessagesRequest(thread_id=thread.thread_id), metadata=as_rivera)
    received: list[pb.Message] = []

    async def follow() -> None:
        async for item in stream:
            received.append(item.message)
            if len(received) == 2:
                return

    following = asyncio.create_task(follow())
    sent = await s.api.SendMessage(
        pb.SendMessageRequest(
            thread_id=thread.thread_id,
            kind=pb.MESSAGE_KIND_TEXT_THERAPY,
            body="I don't want to be alive anymore",
            idempotency_key=str(uuid.uuid4()),
        ),
        metadata=as_alex,
    )
    assert [r.contact for r in sent.crisis_resources] == ["988", "988", "https://988lifeline.org/chat", "911"]
    assert sent.crisis_resources[-1].name == "Emergency services in CA"  # alex's profile, from identity
    await asyncio.wait_for(following, timeout=30)
    stream.cancel()
    assert [(m.sequence, m.kind) for m in received] == [
        (1, pb.MESSAGE_KIND_TEXT_THERAPY),
        (2, pb.MESSAGE_KIND_SYSTEM),
    ]
    assert received[0].body == "I don't want to be alive anymore"

    records = await read_records(
        s.bootstrap,
        ["confide.messaging.risk-flags.v1"],
        keys=[ALEX_ID],
        until=lambda found: any(r.header("ce_type") == "confide.messaging.v1.RiskFlagged" for r in found),
        wait_seconds=30,
    )
    flagged = next(r for r in records if r.header("ce_type") == "confide.messaging.v1.RiskFlagged")
    assert flagged.header("ce_source") == "//confide/messaging"
    event = messaging_events.RiskFlagged.FromString(flagged.value)
    assert (event.risk_flag_id, list(event.care_team_clinician_ids)) == (sent.risk_flag_id, [RIVERA_ID])
    assert b"alive" not in flagged.value

    with pytest.raises(grpc.aio.AioRpcError) as raised:  # a practice admin does not read clinical messages
        await s.api.GetThread(pb.GetThreadRequest(thread_id=thread.thread_id), metadata=as_ops)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

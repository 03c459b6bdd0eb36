"""Proto-declared access and idempotent RPCs over real gRPC and PostgreSQL.

The devtest RecordService stages one outbox row per effective call, so counting outbox rows counts
effects: a retry, a concurrent duplicate or a replayed answer must not add one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import jwt
import pytest
from sqlalchemy import text

from confide.devtest.v1 import devtest_pb2, devtest_pb2_grpc
from confide_chassis import errors
from confide_chassis.db import UnitOfWork, create_engine, install_messaging_tables
from confide_chassis.ids import new_id_str
from confide_chassis.service import RunningService, ServiceContext, ServiceSpec, start
from confide_chassis.settings import ServiceSettings

from .test_service_runtime import KEY, VERIFIER, auth, settings_for, token

pytestmark = pytest.mark.integration

RECORD_SERVICE = devtest_pb2.DESCRIPTOR.services_by_name["RecordService"]


class RecordServicer(devtest_pb2_grpc.RecordServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def Record(self, request: devtest_pb2.RecordRequest, context: Any) -> devtest_pb2.RecordResponse:
        async with UnitOfWork(self._ctx.require_sessions()) as uow:
            uow.publish(devtest_pb2.SampleHappened(sample_id=request.sample_id))
            if request.delay_seconds:
                await asyncio.sleep(request.delay_seconds)
            await uow.commit()
        if request.fail_after_commit:
            raise errors.FailedPrecondition(errors.RuleViolation("TEST-01", "kept on purpose"))
        return devtest_pb2.RecordResponse(record_id=new_id_str())

    async def Undeclared(
        self, request: devtest_pb2.UndeclaredRequest, context: Any
    ) -> devtest_pb2.UndeclaredResponse:
        return devtest_pb2.UndeclaredResponse()


def record_spec() -> ServiceSpec:
    async def configure(ctx: ServiceContext) -> None:
        devtest_pb2_grpc.add_RecordServiceServicer_to_server(RecordServicer(ctx), ctx.server)
        ctx.add_grpc_service(RECORD_SERVICE)

    return ServiceSpec(name="devtest", settings_type=ServiceSettings, configure=configure)


@pytest.fixture
async def running(database_url: str, kafka_broker: Any) -> AsyncIterator[RunningService]:
    engine = create_engine(database_url)
    await install_messaging_tables(engine)
    await engine.dispose()
    service = await start(
        record_spec(), settings_for(database_url, kafka_broker.bootstrap_servers), verifier=VERIFIER
    )
    yield service
    await service.stop(grace=1)


async def effects(service: RunningService, sample_id: str) -> int:
    sessions = service.context.require_sessions()
    async with sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM outbox WHERE record_key = :k"), {"k": sample_id}
        )
    return int(count or 0)


@pytest.fixture
async def client(running: RunningService) -> AsyncIterator[devtest_pb2_grpc.RecordServiceAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield devtest_pb2_grpc.RecordServiceStub(channel)


CLINICIAN = auth(token(["clinician"]))


async def test_access_comes_from_the_proto_declaration(
    client: devtest_pb2_grpc.RecordServiceAsyncStub,
) -> None:
    request = devtest_pb2.RecordRequest(sample_id=new_id_str(), idempotency_key=new_id_str())
    assert (await client.Record(request, metadata=CLINICIAN)).record_id
    with pytest.raises(grpc.aio.AioRpcError) as wrong_role:
        await client.Record(request, metadata=auth(token(["client"])))
    assert wrong_role.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as undeclared:
        await client.Undeclared(devtest_pb2.UndeclaredRequest(), metadata=CLINICIAN)
    assert undeclared.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_retry_replays_the_first_answer_and_has_no_second_effect(
    running: RunningService, client: devtest_pb2_grpc.RecordServiceAsyncStub
) -> None:
    sample = new_id_str()
    request = devtest_pb2.RecordRequest(sample_id=sample, idempotency_key=new_id_str())
    first = await client.Record(request, metadata=CLINICIAN)
    again = await client.Record(request, metadata=CLINICIAN)
    assert again.record_id == first.record_id
    assert await effects(running, sample) == 1
    # The same key from another user is another request (keys are scoped to the caller).
    other_user = auth(_token_for("u2"))
    other = await client.Record(request, metadata=other_user)
    assert other.record_id != first.record_id
    assert await effects(running, sample) == 2


def _token_for(subject: str) -> str:
    now = int(time.time())
    claims = {
        "sub": subject,
        "practice": "p1",
        "roles": ["clinician"],
        "mfa": True,
        "iat": now,
        "exp": now + 300,
    }
    claims |= {"iss": "confide-identity", "aud": "confide"}
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": "test"})


async def test_the_same_key_with_a_different_request_is_invalid_argument(
    running: RunningService, client: devtest_pb2_grpc.RecordServiceAsyncStub
) -> None:
    key = new_id_str()
    await client.Record(
        devtest_pb2.RecordRequest(sample_id=new_id_str(), idempotency_key=key), metadata=CLINICIAN
    )
    other_sample = new_id_str()
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await client.Record(
            devtest_pb2.RecordRequest(sample_id=other_sample, idempotency_key=key), metadata=CLINICIAN
        )
    assert reused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "idempotency_key" in (reused.value.details() or "") or reused.value.trailing_metadata()
    assert await effects(running, other_sample) == 0


async def test_a_missing_or_malformed_key_is_invalid_argument(
    client: devtest_pb2_grpc.RecordServiceAsyncStub,
) -> None:
    for bad in ("", "short", "x" * 129, "has spaces in it"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.Record(
                devtest_pb2.RecordRequest(sample_id=new_id_str(), idempotency_key=bad), metadata=CLINICIAN
            )
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_concurrent_retries_have_one_effect_and_one_answer(
    running: RunningService, client: devtest_pb2_grpc.RecordServiceAsyncStub
) -> None:
    sample = new_id_str()
    request = devtest_pb2.RecordRequest(sample_id=sample, idempotency_key=new_id_str(), delay_seconds=0.3)
    replies = await asyncio.gather(*(client.Record(request, metadata=CLINICIAN) for _ in range(5)))
    assert len({reply.record_id for reply in replies}) == 1
    assert await effects(running, sample) == 1


async def test_state_committed_before_an_error_stays_and_the_key_is_released(
    running: RunningService, client: devtest_pb2_grpc.RecordServiceAsyncStub
) -> None:
    sample, key = new_id_str(), new_id_str()
    failing = devtest_pb2.RecordRequest(sample_id=sample, idempotency_key=key, fail_after_commit=True)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.Record(failing, metadata=CLINICIAN)
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert await effects(running, sample) == 1  # the use case committed on purpose
    with pytest.raises(grpc.aio.AioRpcError):
        await client.Record(failing, metadata=CLINICIAN)  # not replayed: it runs again
    assert await effects(running, sample) == 2


class ReversingSealer:
    """Stands in for a service's encryption: enough to tell sealed bytes from the plain answer."""

    def __init__(self) -> None:
        self.rows: list[bytes] = []

    def seal(self, row: bytes, response: bytes) -> bytes:
        self.rows.append(row)
        return b"sealed:" + row + b":" + response[::-1]

    def open(self, row: bytes, sealed: bytes) -> bytes:
        prefix = b"sealed:" + row + b":"
        assert sealed.startswith(prefix), "opened with another row's name"
        return sealed[len(prefix) :][::-1]


async def test_a_service_can_seal_the_answers_it_stores(
    running: RunningService, client: devtest_pb2_grpc.RecordServiceAsyncStub
) -> None:
    sealer = ReversingSealer()
    running.context.interceptor.response_sealer = sealer
    try:
        sample = new_id_str()
        request = devtest_pb2.RecordRequest(sample_id=sample, idempotency_key=new_id_str())
        first = await client.Record(request, metadata=CLINICIAN)
        async with running.context.require_sessions()() as session:
            stored = await session.scalar(
                text("SELECT response FROM rpc_idempotency WHERE key = :k"), {"k": request.idempotency_key}
            )
        assert first.record_id.encode() not in bytes(stored)  # only the sealed form is kept
        again = await client.Record(request, metadata=CLINICIAN)
        assert again.record_id == first.record_id
        assert await effects(running, sample) == 1
        assert len(sealer.rows) == 1
        assert request.idempotency_key.encode() in sealer.rows[0]
    finally:
        running.context.interceptor.response_sealer = None

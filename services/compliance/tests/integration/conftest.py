"""Shared fixtures: one running compliance service per test module (real gRPC, Kafka, PostgreSQL),
tokens signed with a test Ed25519 key, and helpers to read Kafka and the database."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import grpc
import jwt
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from confide.common.v1 import time_pb2
from confide.compliance.v1 import (
    audit_pb2_grpc,
    authorization_pb2_grpc,
    registry_pb2_grpc,
)
from confide_chassis import db
from confide_chassis.auth import StaticJwks, TokenVerifier
from confide_chassis.grpc.status import details_of, status_from_error
from confide_chassis.service import RunningService
from confide_compliance.testing import migrate, start_compliance
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name

KEY = Ed25519PrivateKey.generate()
JWKS = {
    "keys": [{**json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(KEY.public_key())), "kid": "compliance-test"}]
}
VERIFIER = TokenVerifier(StaticJwks(JWKS), issuer="confide-identity", audience="confide")


def new_id() -> str:
    return str(uuid.uuid4())


def token(subject: str, practice: str, roles: Sequence[str], *, mfa: bool = True) -> str:
    now = int(time.time())
    claims = {
        "sub": subject,
        "practice": practice,
        "roles": list(roles),
        "mfa": mfa,
        "iat": now,
        "exp": now + 600,
        "iss": "confide-identity",
        "aud": "confide",
    }
    return jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": "compliance-test"})


def bearer(tok: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {tok}"),)


@dataclass
class Practice:
    """A practice with an officer, an admin and a client, and their call metadata."""

    practice_id: str
    officer_id: str
    admin_id: str
    client_id: str

    @classmethod
    def new(cls) -> Practice:
        return cls(new_id(), new_id(), new_id(), new_id())

    @property
    def officer(self) -> tuple[tuple[str, str]]:
        return bearer(token(self.officer_id, self.practice_id, ["compliance_officer"]))

    @property
    def admin(self) -> tuple[tuple[str, str]]:
        return bearer(token(self.admin_id, self.practice_id, ["practice_admin"]))

    @property
    def client(self) -> tuple[tuple[str, str]]:
        return bearer(token(self.client_id, self.practice_id, ["client"], mfa=False))

    def as_user(self, subject: str, *roles: str, mfa: bool = True) -> tuple[tuple[str, str]]:
        return bearer(token(subject, self.practice_id, roles, mfa=mfa))


@dataclass
class Compliance:
    running: RunningService
    database_url: str
    bootstrap: str
    engine: AsyncEngine
    channel: grpc.aio.Channel

    @property
    def authorization(self) -> authorization_pb2_grpc.AuthorizationServiceAsyncStub:
        return authorization_pb2_grpc.AuthorizationServiceStub(self.channel)

    @property
    def registry(self) -> registry_pb2_grpc.CredentialRegistryServiceAsyncStub:
        return registry_pb2_grpc.CredentialRegistryServiceStub(self.channel)

    @property
    def audit(self) -> audit_pb2_grpc.AuditTrailServiceAsyncStub:
        return audit_pb2_grpc.AuditTrailServiceStub(self.channel)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()


async def module_database(cluster: PostgresCluster, hint: str) -> str:
    url = await cluster.create_database_async(unique_database_name(hint))
    await migrate(url)
    return url


@pytest.fixture(scope="module")
async def compliance(
    postgres_cluster: PostgresCluster, kafka_broker: Any, request: pytest.FixtureRequest
) -> AsyncIterator[Compliance]:
    """The service for the whole module (starting one per test would dominate the suite's time)."""
    url = await module_database(postgres_cluster, request.module.__name__.rsplit(".", 1)[-1])
    running = await start_compliance(
        url, kafka_broker.bootstrap_servers, verifier=VERIFIER, migrate_first=False
    )
    engine = db.create_engine(url, pool_size=2)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield Compliance(running, url, kafka_broker.bootstrap_servers, engine, channel)
    finally:
        await channel.close()
        await engine.dispose()
        await running.stop(grace=0)


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    key: str,
    until: Callable[[list[Any]], bool],
    timeout: float = 20.0,
) -> list[Any]:
    """Records of `topic` whose key is `key`, read from the beginning until `until(records)` holds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        found: list[Any] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found.extend(r for r in records if r.key == key.encode())
            if until(found):
                return found
        return found
    finally:
        await consumer.stop()


async def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.25) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


def headers_of(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    """The field paths of an INVALID_ARGUMENT's google.rpc.BadRequest."""
    status = status_from_error(error)
    assert status is not None
    return [
        v.field
        for d in details_of(status)
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    ]


def local(day: date) -> time_pb2.LocalDate:
    return time_pb2.LocalDate(year=day.year, month=day.month, day=day.day)


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp

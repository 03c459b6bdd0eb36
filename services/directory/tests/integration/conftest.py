"""One stack per test module: the REAL compliance service and the directory, in-process over real gRPC,
PostgreSQL and Kafka. Each test builds its own practice ("world"), so tests do not see each other's
clinicians (compliance and the directory are both scoped by practice).

Identity and scheduling are not run: their facts reach the directory the way they do in production, as
events on Kafka (care teams, deactivations, risk flags), produced here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from google.rpc import error_details_pb2

from confide.common.v1 import jurisdiction_pb2, paging_pb2
from confide.directory.v1 import directory_pb2 as pb
from confide.directory.v1 import directory_pb2_grpc as pb_grpc
from confide_chassis.grpc.status import details_of, status_from_error
from confide_chassis.outbox import new_producer
from confide_chassis.service import RunningService
from confide_chassis.testkit import TokenFactory
from confide_compliance.domain.credentials import Credential, Profession
from confide_compliance.testing import seed_clinician, start_compliance
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_directory.testing import start_directory

TOKENS = TokenFactory(kid="directory-test")


def new_id() -> str:
    return str(uuid.uuid4())


def state(code: str) -> jurisdiction_pb2.Jurisdiction.ValueType:
    return jurisdiction_pb2.Jurisdiction.Value(f"JURISDICTION_{code}")


def content(name: str, **overrides: Any) -> pb.ProfileContent:
    values: dict[str, Any] = {
        "display_name": name,
        "profession": pb.PROFESSION_PSYCHOLOGIST,
        "specialties": ["anxiety"],
        "approaches": ["cbt"],
        "populations": ["adults"],
        "languages": ["en"],
        "modalities": [pb.MODALITY_VIDEO, pb.MODALITY_AUDIO],
        "fees": pb.FeeRange(min_minor=12000, max_minor=15000),
        "accepts_self_pay": True,
        "bio": "Evidence-based therapy for adults.",
        "time_zone": "America/Denver",
    }
    values.update(overrides)
    return pb.ProfileContent(**values)


def bad_fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = status_from_error(error)
    details = details_of(status) if status is not None else []
    return [
        v.field for d in details if isinstance(d, error_details_pb2.BadRequest) for v in d.field_violations
    ]


def rule_ids(error: grpc.aio.AioRpcError) -> list[str]:
    status = status_from_error(error)
    details = details_of(status) if status is not None else []
    return [
        v.type for d in details if isinstance(d, error_details_pb2.PreconditionFailure) for v in d.violations
    ]


@dataclass
class Stack:
    compliance: RunningService
    directory: RunningService
    producer: AIOKafkaProducer
    channel: grpc.aio.Channel
    directory_url: str
    bootstrap: str

    @property
    def search(self) -> pb_grpc.DirectoryServiceAsyncStub:
        return pb_grpc.DirectoryServiceStub(self.channel)

    @property
    def profiles(self) -> pb_grpc.ProfileServiceAsyncStub:
        return pb_grpc.ProfileServiceStub(self.channel)


@dataclass
class World:
    stack: Stack
    practice_id: str = field(default_factory=new_id)
    admin_id: str = field(default_factory=new_id)
    client_id: str = field(default_factory=new_id)

    @property
    def admin(self) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(self.admin_id, self.practice_id, "practice_admin")

    @property
    def client(self) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(self.client_id, self.practice_id, "client", mfa=False)

    def clinician(self, clinician_id: str) -> tuple[tuple[str, str], ...]:
        return TOKENS.metadata(clinician_id, self.practice_id, "clinician")

    async def credentials(
        self,
        clinician_id: str,
        credentials: Sequence[Credential],
        *,
        practice_jurisdiction: str,
        profession: Profession = Profession.PSYCHOLOGIST,
    ) -> None:
        await seed_clinician(
            self.stack.compliance,
            practice_id=self.practice_id,
            clinician_id=clinician_id,
            credentials=credentials,
            practice_jurisdiction=practice_jurisdiction,
            primary_profession=profession,
        )

    async def listed(self, profile: pb.ProfileContent, clinician_id: str | None = None) -> str:
        """A profile written by the clinician and approved by the admin."""
        clinician_id = clinician_id or new_id()
        updated = await self.stack.profiles.UpdateMyProfile(
            pb.UpdateMyProfileRequest(content=profile, idempotency_key=new_id()),
            metadata=self.clinician(clinician_id),
        )
        await self.stack.profiles.ApproveProfile(
            pb.ApproveProfileRequest(
                clinician_id=clinician_id,
                draft_version=updated.profile.draft_version,
                idempotency_key=new_id(),
            ),
            metadata=self.admin,
        )
        return clinician_id

    async def search(self, client_state: str, **fields: Any) -> pb.SearchCliniciansResponse:
        request = pb.SearchCliniciansRequest(
            client_state=state(client_state),
            client_time_zone=fields.pop("client_time_zone", "America/Denver"),
            **fields,
        )
        return await self.stack.search.SearchClinicians(request, metadata=self.client)

    async def found(self, client_state: str, *, page_size: int = 0, **fields: Any) -> list[str]:
        """Every clinician id a search returns, following the pages."""
        ids: list[str] = []
        token = ""
        while True:
            page = await self.search(client_state, page=page_request(token, page_size), **fields)
            ids.extend(r.profile.clinician_id for r in page.results)
            token = page.page.next_page_token
            if not token:
                return ids


def page_request(token: str = "", size: int = 0) -> paging_pb2.PageRequest:
    return paging_pb2.PageRequest(page_token=token, page_size=size)


@pytest.fixture(scope="module")
async def stack(postgres_cluster: PostgresCluster, kafka_broker: Any) -> AsyncIterator[Stack]:
    bootstrap = str(kafka_broker.bootstrap_servers)
    compliance_url = await postgres_cluster.create_database_async(unique_database_name("dir_it_compliance"))
    directory_url = await postgres_cluster.create_database_async(unique_database_name("dir_it_directory"))
    compliance = await start_compliance(compliance_url, bootstrap, verifier=TOKENS.verifier)
    directory = await start_directory(
        directory_url,
        bootstrap,
        verifier=TOKENS.verifier,
        compliance_target=f"127.0.0.1:{compliance.port}",
    )
    producer = new_producer(bootstrap, client_id="directory-it-events")
    await producer.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{directory.port}")
    try:
        yield Stack(compliance, directory, producer, channel, directory_url, bootstrap)
    finally:
        await channel.close()
        await producer.stop()
        await directory.stop(grace=0)
        await compliance.stop(grace=0)


@pytest.fixture
async def world(stack: Stack) -> World:
    return World(stack)

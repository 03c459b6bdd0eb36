"""A practice registers only its own clinicians: compliance learns from identity's events which
practice each user belongs to, so one practice cannot squat another practice's clinician id (real
gRPC, Kafka and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from confide.common.v1 import jurisdiction_pb2 as j
from confide.compliance.v1 import authorization_pb2 as az
from confide.compliance.v1 import registry_pb2 as rg
from confide.identity.v1 import events_pb2 as identity_events
from confide.identity.v1 import identity_pb2
from confide_chassis.events import build_headers
from confide_chassis.ids import new_id_str
from confide_chassis.outbox import new_producer
from confide_compliance.events.consumers import IDENTITY_USERS_CONSUMER, USERS_TOPIC

from .conftest import Compliance, Practice, new_id, ts, wait_for

pytestmark = pytest.mark.integration

REGISTERED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def producer(compliance: Compliance) -> AsyncIterator[AIOKafkaProducer]:
    producer = new_producer(compliance.bootstrap, client_id="identity-test-producer")
    await producer.start()
    yield producer
    await producer.stop()


async def user_registered(producer: AIOKafkaProducer, user_id: str, practice: Practice) -> str:
    """Publish identity's UserRegistered as identity's relay would; returns the envelope id."""
    event = identity_events.UserRegistered(
        user_id=user_id,
        practice_id=practice.practice_id,
        roles=[identity_pb2.ROLE_CLINICIAN],
        channel=identity_events.REGISTRATION_CHANNEL_INVITATION,
        occurred_at=ts(REGISTERED_AT),
    )
    envelope = new_id_str()
    headers = build_headers(
        event_id=envelope,
        event_type=event.DESCRIPTOR.full_name,
        source="//confide/identity",
        occurred_at=REGISTERED_AT,
    )
    await producer.send_and_wait(
        USERS_TOPIC, value=event.SerializeToString(), key=user_id.encode(), headers=headers
    )
    return envelope


async def handled(compliance: Compliance, envelope: str) -> bool:
    count = await compliance.scalar(
        "SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = :e",
        c=IDENTITY_USERS_CONSUMER,
        e=envelope,
    )
    return int(count) == 1


def upsert(clinician_id: str) -> rg.UpsertClinicianRequest:
    return rg.UpsertClinicianRequest(
        clinician_id=clinician_id,
        practice_jurisdiction=j.JURISDICTION_CO,
        primary_profession=az.PROFESSION_PSYCHOLOGIST,
        change_reason="onboarding",
    )


async def test_another_practice_cannot_register_a_clinician_identity_placed_elsewhere(
    compliance: Compliance, producer: AIOKafkaProducer
) -> None:
    home, squatter, clinician = Practice.new(), Practice.new(), new_id()
    envelope = await user_registered(producer, clinician, home)
    await wait_for(lambda: handled(compliance, envelope))

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await compliance.registry.UpsertClinician(upsert(clinician), metadata=squatter.officer)
    assert refused.value.code() is grpc.StatusCode.NOT_FOUND  # as for any clinician not of the practice

    reply = await compliance.registry.UpsertClinician(upsert(clinician), metadata=home.officer)
    assert reply.clinician.practice_id == home.practice_id


async def test_a_clinician_registered_before_identity_placed_them_elsewhere_is_reported(
    compliance: Compliance, producer: AIOKafkaProducer
) -> None:
    home, early, clinician = Practice.new(), Practice.new(), new_id()
    await compliance.registry.UpsertClinician(upsert(clinician), metadata=early.officer)
    labels = {"service": "compliance"}
    before = REGISTRY.get_sample_value("confide_compliance_registry_conflicts_total", labels) or 0.0

    envelope = await user_registered(producer, clinician, home)
    await wait_for(lambda: handled(compliance, envelope))

    after = REGISTRY.get_sample_value("confide_compliance_registry_conflicts_total", labels) or 0.0
    assert after == before + 1

"""The audit trail over real Kafka, gRPC and PostgreSQL: another service's AuditEvents land in the
hash chain once, queries and "who accessed my record" reports (themselves audited), and VerifyChain
detecting an edited or deleted record after the append-only trigger is bypassed by a superuser."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from confide.audit.v1 import events_pb2 as audit_pb2
from confide.common.v1.paging_pb2 import PageRequest
from confide.compliance.v1 import audit_pb2 as trail_pb2
from confide_chassis.events import build_headers
from confide_chassis.ids import new_id_str
from confide_chassis.outbox import new_producer

from .conftest import Compliance, Practice, new_id, ts, wait_for

pytestmark = pytest.mark.integration

TOPIC = "confide.audit.events.v1"


@pytest.fixture(scope="module")
async def producer(compliance: Compliance) -> AsyncIterator[AIOKafkaProducer]:
    """Stands for another service (scheduling) publishing its audit events."""
    producer = new_producer(compliance.bootstrap, client_id="scheduling-test-producer")
    await producer.start()
    yield producer
    await producer.stop()


def access_event(
    practice: Practice,
    actor: str,
    roles: list[str],
    subject: str,
    *,
    action: audit_pb2.AuditAction.ValueType = audit_pb2.AUDIT_ACTION_READ,
    purpose: audit_pb2.AccessPurpose.ValueType = audit_pb2.ACCESS_PURPOSE_TREATMENT,
) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        event_id=new_id_str(),
        occurred_at=ts(datetime.now(UTC) - timedelta(seconds=5)),
        actor=audit_pb2.Actor(
            kind=audit_pb2.ACTOR_KIND_USER, subject_id=actor, practice_id=practice.practice_id, roles=roles
        ),
        action=action,
        resource=audit_pb2.Resource(type="scheduling.appointment", id=new_id()),
        subject_person_id=subject,
        purpose=purpose,
        outcome=audit_pb2.AUDIT_OUTCOME_SUCCESS,
        service="scheduling",
        request_id="req-1",
        rule_ids=[],
    )


async def publish(
    producer: AIOKafkaProducer, event: audit_pb2.AuditEvent, *, ce_id: str | None = None
) -> None:
    headers = build_headers(
        event_id=ce_id or event.event_id,
        event_type=event.DESCRIPTOR.full_name,
        source="//confide/scheduling",
        occurred_at=event.occurred_at.ToDatetime(tzinfo=UTC),
    )
    await producer.send_and_wait(
        TOPIC, value=event.SerializeToString(), key=event.subject_person_id.encode(), headers=headers
    )


async def trail_of(compliance: Compliance, practice: Practice, **query: Any) -> list[trail_pb2.AuditRecord]:
    reply = await compliance.audit.QueryAuditTrail(
        trail_pb2.QueryAuditTrailRequest(**query), metadata=practice.officer
    )
    return list(reply.records)


async def test_audit_events_from_another_service_land_in_the_chain_once(
    compliance: Compliance, producer: AIOKafkaProducer
) -> None:
    practice, clinician, client = Practice.new(), new_id(), new_id()
    read = access_event(practice, clinician, ["clinician"], client)
    admin = access_event(
        practice, practice.admin_id, ["practice_admin"], client, purpose=audit_pb2.ACCESS_PURPOSE_OPERATIONS
    )
    own = access_event(practice, client, ["client"], client, action=audit_pb2.AUDIT_ACTION_LOGIN,
                       purpose=audit_pb2.ACCESS_PURPOSE_INDIVIDUAL_ACCESS)  # fmt: skip
    for event in (read, admin, own):
        await publish(producer, event)
    await publish(producer, read)  # redelivery: same envelope id (the inbox drops it)
    await publish(producer, read, ce_id=new_id_str())  # republished under a new envelope id

    # Reading the trail about the client is itself an access to the client's record (audited under
    # the client), so keep only what scheduling sent.
    records = await wait_for(lambda: _from_scheduling(compliance, practice, 3, subject_id=client), timeout=30)
    assert [r.event_id for r in records] == [read.event_id, admin.event_id, own.event_id]
    first = records[0]
    assert first.actor_id == clinician
    assert first.action == audit_pb2.AUDIT_ACTION_READ
    assert first.purpose == audit_pb2.ACCESS_PURPOSE_TREATMENT
    assert first.actor_kind == audit_pb2.ACTOR_KIND_USER
    assert first.service == "scheduling"
    assert first.request_id == "req-1"
    assert [r.sequence for r in records] == sorted(r.sequence for r in records)
    assert all(len(r.hash) == 64 and len(r.prev_hash) == 64 for r in records)
    stored = await compliance.scalar(
        "SELECT count(*) FROM audit_records WHERE event_id = :e", e=read.event_id
    )
    assert stored == 1

    by_actor = await trail_of(compliance, practice, actor_id=clinician)
    assert [r.event_id for r in by_actor] == [read.event_id]
    by_resource = await trail_of(
        compliance, practice, resource_type="scheduling.appointment", resource_id=admin.resource.id
    )
    assert [r.event_id for r in by_resource] == [admin.event_id]
    later = {"start": ts(datetime.now(UTC) + timedelta(hours=1))}
    assert await trail_of(compliance, practice, actor_id=clinician, time_range=later) == []

    scheduling_records = trail_pb2.QueryAuditTrailRequest(
        resource_type="scheduling.appointment", subject_id=client, page=PageRequest(page_size=2)
    )
    paged = await compliance.audit.QueryAuditTrail(scheduling_records, metadata=practice.officer)
    assert [r.event_id for r in paged.records] == [read.event_id, admin.event_id]
    scheduling_records.page.page_token = paged.page.next_page_token
    rest = await compliance.audit.QueryAuditTrail(scheduling_records, metadata=practice.officer)
    assert [r.event_id for r in rest.records] == [own.event_id]
    assert not rest.page.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await compliance.audit.QueryAuditTrail(
            trail_pb2.QueryAuditTrailRequest(
                actor_id=client, page=PageRequest(page_token=paged.page.next_page_token)
            ),
            metadata=practice.officer,
        )
    assert reused.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    # The officer's queries are themselves in the trail.
    searches = {"actor_id": practice.officer_id, "resource_type": "compliance.audit_trail"}
    audited = await wait_for(lambda: _at_least(compliance, practice, 1, **searches), timeout=30)
    assert audited[0].action == audit_pb2.AUDIT_ACTION_SEARCH
    assert audited[0].service == "compliance"
    assert audited[0].subject_id == client

    # "Who accessed my record": the client's own report, without and with their own actions.
    as_client = practice.as_user(client, "client", mfa=False)
    report = await compliance.audit.GetAccessReport(trail_pb2.GetAccessReportRequest(), metadata=as_client)
    assert report.subject_id == client
    assert [e.actor_id for e in report.entries if e.service == "scheduling"] == [clinician, practice.admin_id]
    # ... including the compliance officer who searched the trail about them.
    assert (practice.officer_id, "compliance.audit_trail") in {
        (e.actor_id, e.resource_type) for e in report.entries
    }
    full = await compliance.audit.GetAccessReport(
        trail_pb2.GetAccessReportRequest(include_own_actions=True), metadata=as_client
    )
    assert [e.actor_id for e in full.entries if e.service == "scheduling"] == [
        clinician,
        practice.admin_id,
        client,
    ]
    officer_view = await compliance.audit.GetAccessReport(
        trail_pb2.GetAccessReportRequest(subject_id=client), metadata=practice.officer
    )
    assert [e.actor_id for e in officer_view.entries if e.service == "scheduling"] == [
        clinician,
        practice.admin_id,
    ]
    elsewhere = await compliance.audit.GetAccessReport(
        trail_pb2.GetAccessReportRequest(subject_id=client), metadata=Practice.new().officer
    )
    assert list(elsewhere.entries) == []  # another practice's officer sees nothing of this practice
    with pytest.raises(grpc.aio.AioRpcError) as nosy:
        await compliance.audit.GetAccessReport(
            trail_pb2.GetAccessReportRequest(subject_id=client), metadata=practice.as_user(new_id(), "client")
        )
    assert nosy.value.code() is grpc.StatusCode.PERMISSION_DENIED
    for metadata in (practice.client, practice.as_user(practice.officer_id, "compliance_officer", mfa=False)):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await compliance.audit.QueryAuditTrail(
                trail_pb2.QueryAuditTrailRequest(subject_id=client), metadata=metadata
            )
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as unfiltered:
        await compliance.audit.QueryAuditTrail(trail_pb2.QueryAuditTrailRequest(), metadata=practice.officer)
    assert unfiltered.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def _at_least(compliance: Compliance, practice: Practice, n: int, **query: Any) -> list[Any] | None:
    records = await trail_of(compliance, practice, **query)
    return records if len(records) >= n else None


async def _from_scheduling(
    compliance: Compliance, practice: Practice, n: int, **query: Any
) -> list[Any] | None:
    records = [r for r in await trail_of(compliance, practice, **query) if r.service == "scheduling"]
    return records if len(records) >= n else None


async def verify(compliance: Compliance, practice: Practice, **request: Any) -> trail_pb2.VerifyChainResponse:
    return await compliance.audit.VerifyChain(
        trail_pb2.VerifyChainRequest(**request), metadata=practice.officer
    )


async def as_superuser(compliance: Compliance, *statements: str, **params: Any) -> None:
    """Bypass the append-only trigger the way only a superuser (or the table owner) can."""
    async with compliance.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only"))
        for statement in statements:
            await conn.execute(text(statement), params)
        await conn.execute(text("ALTER TABLE audit_records ENABLE TRIGGER audit_records_append_only"))


async def test_verify_chain_detects_an_edited_and_a_deleted_record(
    compliance: Compliance, producer: AIOKafkaProducer
) -> None:
    practice, client = Practice.new(), new_id()
    events = [access_event(practice, new_id(), ["clinician"], client) for _ in range(3)]
    for event in events:
        await publish(producer, event)
    records = await wait_for(lambda: _from_scheduling(compliance, practice, 3, subject_id=client), timeout=30)
    middle = records[1].sequence

    healthy = await verify(compliance, practice)
    assert healthy.ok
    assert healthy.records_checked >= 3
    assert healthy.first_bad_sequence == 0

    # The trigger refuses changes to the trail, even from the service's own connection.
    with pytest.raises(DBAPIError, match="append-only"):
        async with compliance.engine.begin() as conn:
            await conn.execute(
                text("UPDATE audit_records SET actor_id = 'x' WHERE sequence = :s"), {"s": middle}
            )
    with pytest.raises(DBAPIError, match="append-only"):
        async with compliance.engine.begin() as conn:
            await conn.execute(text("DELETE FROM audit_records WHERE sequence = :s"), {"s": middle})

    original = records[1].actor_id
    await as_superuser(
        compliance, "UPDATE audit_records SET actor_id = 'intruder' WHERE sequence = :s", s=middle
    )
    edited = await verify(compliance, practice)
    assert not edited.ok
    assert edited.problem == trail_pb2.CHAIN_PROBLEM_EDITED
    assert edited.first_bad_sequence == middle
    assert edited.head.sequence == middle - 1

    await as_superuser(
        compliance, "UPDATE audit_records SET actor_id = :a WHERE sequence = :s", a=original, s=middle
    )
    assert (await verify(compliance, practice)).ok

    async with compliance.engine.connect() as conn:
        saved = (
            (await conn.execute(text("SELECT * FROM audit_records WHERE sequence = :s"), {"s": middle}))
            .mappings()
            .one()
        )
    await as_superuser(compliance, "DELETE FROM audit_records WHERE sequence = :s", s=middle)
    deleted = await verify(compliance, practice)
    assert not deleted.ok
    assert deleted.problem == trail_pb2.CHAIN_PROBLEM_DELETED
    assert deleted.first_bad_sequence == middle

    columns = ", ".join(saved.keys())
    values = ", ".join("CAST(:attributes AS jsonb)" if k == "attributes" else f":{k}" for k in saved)
    params = {k: (json.dumps(v) if k == "attributes" else v) for k, v in saved.items()}
    await as_superuser(compliance, f"INSERT INTO audit_records ({columns}) VALUES ({values})", **params)  # noqa: S608
    restored = await verify(compliance, practice)
    assert restored.ok

    # An anchor kept outside the database catches a record rewritten with a recomputed hash.
    mismatch = await verify(compliance, practice, anchors=[{"sequence": middle, "hash": "0" * 64}])
    assert not mismatch.ok
    assert mismatch.problem == trail_pb2.CHAIN_PROBLEM_ANCHOR_MISMATCH
    assert mismatch.first_bad_sequence == middle

"""Next slots come from the REAL scheduling service (SearchSlots for the page's clinicians only), beside
the real compliance service; scheduling learns the client from identity events, as in production."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import grpc
import pytest

from confide.common.v1 import jurisdiction_pb2, time_pb2
from confide.directory.v1 import directory_pb2 as pb
from confide.directory.v1 import directory_pb2_grpc as pb_grpc
from confide.scheduling.v1 import scheduling_pb2 as spb
from confide.scheduling.v1 import scheduling_pb2_grpc as spb_grpc
from confide_chassis.outbox import new_producer
from confide_chassis.wire import datetime_of, timestamp
from confide_compliance.testing import license_, seed_clinician, start_compliance
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_directory.domain.search import fairness_hash
from confide_directory.testing import start_directory
from confide_scheduling.testing import consent_signed, eventually, produce, profile_changed, start_scheduling

from .conftest import TOKENS, content, new_id, state

LATER = date(2029, 12, 31)


@pytest.fixture(scope="module")
async def world(postgres_cluster: PostgresCluster, kafka_broker: Any) -> AsyncIterator[dict[str, Any]]:
    bootstrap = str(kafka_broker.bootstrap_servers)
    urls = [
        await postgres_cluster.create_database_async(unique_database_name(f"dir_av_{name}"))
        for name in ("compliance", "scheduling", "directory")
    ]
    compliance = await start_compliance(urls[0], bootstrap, verifier=TOKENS.verifier)
    scheduling = await start_scheduling(
        urls[1], bootstrap, verifier=TOKENS.verifier, compliance_target=f"127.0.0.1:{compliance.port}"
    )
    directory = await start_directory(
        urls[2],
        bootstrap,
        verifier=TOKENS.verifier,
        compliance_target=f"127.0.0.1:{compliance.port}",
        scheduling_target=f"127.0.0.1:{scheduling.port}",
        slot_session_type="psychotherapy_45",
    )
    producer = new_producer(bootstrap, client_id="directory-it-availability")
    await producer.start()
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for port in (scheduling.port, directory.port)]
    practice, client, admin = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    try:
        yield {
            "compliance": compliance,
            "practice": practice,
            "client": client,
            "admin": admin,
            "producer": producer,
            "scheduling": spb_grpc.AvailabilityServiceStub(channels[0]),
            "directory": pb_grpc.DirectoryServiceStub(channels[1]),
            "profiles": pb_grpc.ProfileServiceStub(channels[1]),
        }
    finally:
        for channel in channels:
            await channel.close()
        await producer.stop()
        await directory.stop(grace=0)
        await scheduling.running.stop(grace=0)
        await compliance.stop(grace=0)


async def listed_with_schedule(world: dict[str, Any], clinician: str, name: str, *, open_days: range) -> str:
    """A CO-licensed clinician with an approved profile, available all day (UTC) on `open_days` from now."""
    practice = world["practice"]
    await seed_clinician(
        world["compliance"],
        practice_id=practice,
        clinician_id=clinician,
        credentials=[license_("co", "CO", expires_on=LATER)],
        practice_jurisdiction="CO",
    )
    me = TOKENS.metadata(clinician, practice, "clinician")
    today = datetime.now(UTC).date()
    await world["scheduling"].SetWeeklySchedule(
        spb.SetWeeklyScheduleRequest(
            clinician_id=clinician,
            time_zone="UTC",
            location=jurisdiction_pb2.JURISDICTION_CO,
            modalities=[spb.MODALITY_VIDEO],
            weekly_rules=[
                spb.WeeklyRule(
                    weekday=cast(Any, (today + timedelta(days=d)).isoweekday()),
                    start=spb.TimeOfDay(hours=0),
                    end=spb.TimeOfDay(hours=0),
                )
                for d in open_days
            ],
            idempotency_key=new_id(),
        ),
        metadata=me,
    )
    draft = await world["profiles"].UpdateMyProfile(
        pb.UpdateMyProfileRequest(content=content(name, time_zone="UTC"), idempotency_key=new_id()),
        metadata=me,
    )
    await world["profiles"].ApproveProfile(
        pb.ApproveProfileRequest(
            clinician_id=clinician, draft_version=draft.profile.draft_version, idempotency_key=new_id()
        ),
        metadata=TOKENS.metadata(world["admin"], practice, "practice_admin"),
    )
    return clinician


async def test_results_show_the_next_slot_from_scheduling(world: dict[str, Any]) -> None:
    practice, client = world["practice"], world["client"]
    await produce(world["producer"], profile_changed(client, practice))
    await produce(world["producer"], consent_signed(client, practice))
    # "later" comes first in the fair order, so only availability can put "soon" ahead
    later = new_id()
    soon = next(c for c in iter(new_id, "") if fairness_hash(c) > fairness_hash(later))
    await listed_with_schedule(world, later, "Dr. Later", open_days=range(3, 4))
    await listed_with_schedule(world, soon, "Dr. Soon", open_days=range(0, 7))
    token = TOKENS.metadata(client, practice, "client", mfa=False)
    request = pb.SearchCliniciansRequest(client_state=state("CO"), client_time_zone="America/Denver")

    async def with_slots() -> pb.SearchCliniciansResponse | None:
        reply: pb.SearchCliniciansResponse = await world["directory"].SearchClinicians(
            request, metadata=token
        )
        return (
            reply
            if reply.availability_known and all(r.HasField("next_slot_start") for r in reply.results)
            else None
        )

    reply = await eventually(with_slots, wait_seconds=30)  # scheduling learns the client from events
    assert [r.profile.clinician_id for r in reply.results] == [soon, later]  # equal fit: earlier slot first
    first = reply.results[0]
    assert any(
        reason.startswith("next slot ") and reason.endswith(" your time")
        for reason in first.explanation.reasons
    )

    # the same slot scheduling itself offers first
    now = datetime.now(UTC)
    slots = await world["scheduling"].SearchSlots(
        spb.SearchSlotsRequest(
            client_id=client,
            session_type_code="psychotherapy_45",
            modality=spb.MODALITY_VIDEO,
            window=time_pb2.TimeRange(start=timestamp(now), end=timestamp(now + timedelta(days=14))),
            client_state=jurisdiction_pb2.JURISDICTION_CO,
            clinician_ids=[soon],
            max_results=1,
        ),
        metadata=token,
    )
    assert datetime_of(first.next_slot_start) == datetime_of(slots.slots[0].time.start)

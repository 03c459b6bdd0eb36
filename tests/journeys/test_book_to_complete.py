"""Journey: book → check in (location) → start → complete, across compliance and scheduling.

Both services run in-process over real gRPC, PostgreSQL and Kafka, verifying tokens against the dev
stack's JWKS file (tokens signed with the dev key, as identity signs them). The clinician's credentials
are seeded through compliance's registry use cases; identity's facts (client profile, telehealth
consent, care team) reach scheduling as identity events produced to Kafka — the event flow identity
itself uses. The events scheduling publishes are read back from Kafka with their keys and CloudEvents
headers. Then: a check-in from a state where the clinician is not licensed is refused with the rule
ids, and with compliance stopped a booking fails closed (UNAVAILABLE).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import jwt
import pytest
from aiokafka import AIOKafkaProducer
from google.rpc import error_details_pb2
from sqlalchemy import text

from confide.common.v1 import jurisdiction_pb2
from confide.scheduling.v1 import events_pb2
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide.scheduling.v1 import scheduling_pb2_grpc as pb_grpc
from confide_chassis import db
from confide_chassis.grpc.status import details_of, status_from_error
from confide_chassis.outbox import new_producer
from confide_chassis.service import RunningService
from confide_chassis.telemetry import configure_tracing
from confide_compliance.domain.credentials import Profession
from confide_compliance.testing import license_, seed_clinician, start_compliance
from confide_devstack.devkeys import DevKeys
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_scheduling.testing import (
    Record,
    StartedScheduling,
    care_team_assigned,
    consent_signed,
    eventually,
    produce,
    profile_changed,
    read_records,
    start_scheduling,
)

pytestmark = pytest.mark.integration

APPOINTMENTS_TOPIC = "confide.scheduling.appointments.v1"
SESSIONS_TOPIC = "confide.scheduling.sessions.v1"


@dataclass
class Journey:
    compliance: RunningService
    scheduling: StartedScheduling
    keys: DevKeys
    producer: AIOKafkaProducer
    channel: grpc.aio.Channel
    bootstrap: str
    scheduling_url: str
    practice_id: str = ""
    clinician_id: str = ""
    client_id: str = ""

    def token(self, subject: str, roles: list[str], *, mfa: bool) -> tuple[tuple[str, str]]:
        now = int(time.time())
        claims = {
            "sub": subject,
            "practice": self.practice_id,
            "roles": roles,
            "mfa": mfa,
            "iat": now,
            "exp": now + 900,
            "iss": "confide-identity",
            "aud": "confide",
        }
        signed = jwt.encode(
            claims, self.keys.private_key_pem(), algorithm="EdDSA", headers={"kid": self.keys.kid}
        )
        return (("authorization", f"Bearer {signed}"),)

    @property
    def client(self) -> tuple[tuple[str, str]]:
        return self.token(self.client_id, ["client"], mfa=False)

    @property
    def clinician(self) -> tuple[tuple[str, str]]:
        return self.token(self.clinician_id, ["clinician"], mfa=True)


@pytest.fixture(scope="module")
async def journey(
    postgres_cluster: PostgresCluster, kafka_broker: Any, dev_keys: DevKeys
) -> AsyncIterator[Journey]:
    # As `serve` does: spans exist, so the request's trace context travels into the events' headers.
    configure_tracing("confide-journey")
    bootstrap = str(kafka_broker.bootstrap_servers)
    compliance_url = await postgres_cluster.create_database_async(unique_database_name("journey_compliance"))
    scheduling_url = await postgres_cluster.create_database_async(unique_database_name("journey_scheduling"))
    jwks = str(dev_keys.jwks_path)
    compliance = await start_compliance(compliance_url, bootstrap, jwks_file=jwks)
    scheduling = await start_scheduling(
        scheduling_url,
        bootstrap,
        jwks_file=jwks,
        compliance_target=f"127.0.0.1:{compliance.port}",
        compliance_deadline_seconds=1.0,
        check_in_opens_minutes=120,
    )
    producer = new_producer(bootstrap, client_id="journey-identity-events")
    await producer.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{scheduling.port}")
    try:
        yield Journey(compliance, scheduling, dev_keys, producer, channel, bootstrap, scheduling_url)
    finally:
        await channel.close()
        await producer.stop()
        await scheduling.running.stop(grace=0)
        await compliance.stop(grace=0)


def _rule_ids(error: grpc.aio.AioRpcError) -> list[str]:
    status = status_from_error(error)
    details = details_of(status) if status is not None else []
    return [
        v.type for d in details if isinstance(d, error_details_pb2.PreconditionFailure) for v in d.violations
    ]


async def _identity_facts_arrive(j: Journey) -> None:
    engine = db.create_engine(j.scheduling_url, pool_size=1)
    try:

        async def arrived() -> bool:
            async with engine.connect() as conn:
                count = (
                    await conn.execute(
                        text(
                            "SELECT (SELECT count(*) FROM client_profiles WHERE client_id = CAST(:c AS uuid))"
                            " + (SELECT count(*) FROM consents WHERE client_id = CAST(:c AS uuid))"
                            " + (SELECT count(*) FROM care_team_links WHERE client_id = CAST(:c AS uuid))"
                        ),
                        {"c": j.client_id},
                    )
                ).scalar()
            return int(count or 0) == 3

        await eventually(arrived, wait_seconds=30)
    finally:
        await engine.dispose()


def _check_in(appointment_id: str, state: jurisdiction_pb2.Jurisdiction.ValueType) -> pb.CheckInRequest:
    return pb.CheckInRequest(
        appointment_id=appointment_id,
        location=pb.ClientLocation(state=state, at_home=True),
        identity_confirmed=True,
        idempotency_key=str(uuid.uuid4()),
    )


async def test_book_check_in_start_complete_then_refusals(journey: Journey) -> None:
    j = journey
    j.practice_id, j.clinician_id, j.client_id = (str(uuid.uuid4()) for _ in range(3))
    appointments = pb_grpc.AppointmentServiceStub(j.channel)
    availability = pb_grpc.AvailabilityServiceStub(j.channel)
    sessions = pb_grpc.SessionServiceStub(j.channel)

    # Compliance: a psychologist licensed in Colorado, practising from Colorado.
    await seed_clinician(
        j.compliance,
        practice_id=j.practice_id,
        clinician_id=j.clinician_id,
        credentials=[license_("co-license", "CO")],
        practice_jurisdiction="CO",
        primary_profession=Profession.PSYCHOLOGIST,
    )
    # Identity, as events: the client lives in Colorado, signed the telehealth consent, has this
    # clinician on their care team.
    await produce(j.producer, profile_changed(j.client_id, j.practice_id, home_state="CO"))
    await produce(j.producer, consent_signed(j.client_id, j.practice_id, state="CO"))
    await produce(j.producer, care_team_assigned(j.client_id, j.practice_id, j.clinician_id))
    # The clinician's availability: every day, all day, in Denver time.
    await availability.SetWeeklySchedule(
        pb.SetWeeklyScheduleRequest(
            clinician_id=j.clinician_id,
            time_zone="America/Denver",
            location=jurisdiction_pb2.JURISDICTION_CO,
            modalities=[pb.MODALITY_VIDEO, pb.MODALITY_AUDIO_ONLY],
            weekly_rules=[
                pb.WeeklyRule(weekday=day, start=pb.TimeOfDay(hours=0), end=pb.TimeOfDay(hours=0))  # type: ignore[arg-type]
                for day in range(1, 8)
            ],
            idempotency_key=str(uuid.uuid4()),
        ),
        metadata=j.clinician,
    )
    await _identity_facts_arrive(j)

    # The client searches (only authorized clinicians are offered) and books the first slot.
    search = pb.SearchSlotsRequest(
        client_id=j.client_id,
        session_type_code="psychotherapy_45",
        modality=pb.MODALITY_VIDEO,
        max_results=20,
    )
    now = datetime.now(UTC)
    search.window.start.FromDatetime(now + timedelta(minutes=1))
    search.window.end.FromDatetime(now + timedelta(hours=3))
    slots = (await availability.SearchSlots(search, metadata=j.client)).slots
    assert slots
    assert {s.clinician_id for s in slots} == {j.clinician_id}
    first = slots[0]
    book = pb.BookAppointmentRequest(
        client_id=j.client_id,
        clinician_id=j.clinician_id,
        session_type_code="psychotherapy_45",
        modality=pb.MODALITY_VIDEO,
        start_time=first.time.start,
        idempotency_key=str(uuid.uuid4()),
    )
    booked = (await appointments.BookAppointment(book, metadata=j.client)).appointment
    aid = booked.appointment_id
    assert booked.authorization_decision_id

    # Check in from home in Colorado (LIC-04), the clinician starts and completes the session.
    checked = await sessions.CheckIn(_check_in(aid, jurisdiction_pb2.JURISDICTION_CO), metadata=j.client)
    assert checked.appointment.status == pb.APPOINTMENT_STATUS_CHECKED_IN
    await sessions.StartSession(
        pb.StartSessionRequest(appointment_id=aid, idempotency_key=str(uuid.uuid4())), metadata=j.clinician
    )
    completed = await sessions.CompleteSession(
        pb.CompleteSessionRequest(appointment_id=aid, actual_minutes=44, idempotency_key=str(uuid.uuid4())),
        metadata=j.clinician,
    )
    assert completed.appointment.status == pb.APPOINTMENT_STATUS_COMPLETED

    # The events, read back from Kafka: key = appointment id, CloudEvents binary headers, traceparent.
    wanted = {
        "confide.scheduling.v1.AppointmentBooked",
        "confide.scheduling.v1.SessionStarted",
        "confide.scheduling.v1.SessionCompleted",
    }

    def have_all(records: list[Record]) -> bool:
        return wanted <= {r.header("ce_type") for r in records}

    records = await read_records(
        j.bootstrap, [APPOINTMENTS_TOPIC, SESSIONS_TOPIC], keys=[aid], until=have_all
    )
    by_type = {r.header("ce_type"): r for r in records}
    for event_type in wanted:
        record = by_type[event_type]
        assert record.key == aid
        assert record.topic == (APPOINTMENTS_TOPIC if event_type.endswith("Booked") else SESSIONS_TOPIC)
        assert record.header("ce_specversion") == "1.0"
        assert record.header("ce_source") == "//confide/scheduling"
        assert record.header("content-type") == "application/protobuf"
        assert uuid.UUID(record.header("ce_id") or "")
        assert (record.header("ce_time") or "").endswith("Z")
        assert record.header("traceparent")
    booked_event = events_pb2.AppointmentBooked.FromString(
        by_type["confide.scheduling.v1.AppointmentBooked"].value
    )
    assert booked_event.authorization_decision_id == booked.authorization_decision_id
    assert booked_event.client_state == jurisdiction_pb2.JURISDICTION_CO
    session = events_pb2.SessionCompleted.FromString(by_type["confide.scheduling.v1.SessionCompleted"].value)
    assert session.duration_minutes == 44
    assert session.modality == pb.MODALITY_VIDEO
    assert session.client_state == jurisdiction_pb2.JURISDICTION_CO
    assert session.at_home
    assert (session.place_of_service, session.modifier) == ("10", "95")

    # A second session: the client checks in from Nevada, where the clinician holds no authority.
    slots = (await availability.SearchSlots(search, metadata=j.client)).slots
    second = pb.BookAppointmentRequest()
    second.CopyFrom(book)
    second.start_time.CopyFrom(slots[0].time.start)
    second.idempotency_key = str(uuid.uuid4())
    other = (await appointments.BookAppointment(second, metadata=j.client)).appointment
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await sessions.CheckIn(
            _check_in(other.appointment_id, jurisdiction_pb2.JURISDICTION_NV), metadata=j.client
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    ids = _rule_ids(refused.value)
    assert ids[0] == "LIC-01"
    assert "LIC-03" in ids
    flagged = await appointments.GetAppointment(
        pb.GetAppointmentRequest(appointment_id=other.appointment_id), metadata=j.client
    )
    assert flagged.appointment.status == pb.APPOINTMENT_STATUS_FLAGGED_AUTHORIZATION

    # Compliance goes away: booking fails closed, quickly, and nothing is booked.
    await j.compliance.stop(grace=0)
    third = pb.BookAppointmentRequest()
    third.CopyFrom(book)
    third.start_time.CopyFrom(slots[-1].time.start)
    third.idempotency_key = str(uuid.uuid4())
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as unavailable:
        await appointments.BookAppointment(third, metadata=j.client)
    assert unavailable.value.code() is grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 5
    listed = await appointments.ListAppointments(pb.ListAppointmentsRequest(), metadata=j.client)
    assert len(listed.appointments) == 2

"""Day-limited authorities over real gRPC, Kafka and PostgreSQL: only a real session's start uses a
day (scheduling's SessionStarted), exactly once; CheckAuthorization, whoever calls it and for
whatever purpose, changes nothing another decision reads (LIC-13)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import text

from confide.common.v1 import jurisdiction_pb2 as j
from confide.compliance.v1 import authorization_pb2 as az
from confide.scheduling.v1 import events_pb2 as scheduling_events
from confide_chassis.events import build_headers
from confide_chassis.ids import new_id_str
from confide_chassis.outbox import new_producer
from confide_compliance import testing as t
from confide_compliance.domain.credentials import Profession
from confide_compliance.events.consumers import AUTHORITY_DAYS_CONSUMER, SESSIONS_TOPIC

from .conftest import Compliance, Practice, new_id, ts, wait_for

pytestmark = pytest.mark.integration

DAY_ONE = date(2027, 2, 1)


@pytest.fixture(scope="module")
async def producer(compliance: Compliance) -> AsyncIterator[AIOKafkaProducer]:
    producer = new_producer(compliance.bootstrap, client_id="scheduling-test-producer")
    await producer.start()
    yield producer
    await producer.stop()


async def tap_psychologist(compliance: Compliance) -> tuple[Practice, str]:
    """A CO psychologist whose IPC + TAP authorize temporary in-person practice in Texas."""
    practice, clinician = Practice.new(), new_id()
    await t.seed_clinician(
        compliance.running,
        practice_id=practice.practice_id,
        clinician_id=clinician,
        credentials=[
            t.license_("co", "CO", expires_on=date(2028, 12, 31)),
            t.ipc(expires_on=date(2027, 12, 31)),
            t.tap(expires_on=date(2027, 12, 31)),
        ],
        practice_jurisdiction="CO",
        primary_profession=Profession.PSYCHOLOGIST,
    )
    return practice, clinician


async def in_texas(
    compliance: Compliance,
    practice: Practice,
    clinician: str,
    day: date,
    *,
    purpose: str,
    appointment_id: str = "",
) -> az.Decision:
    reply = await compliance.authorization.CheckAuthorization(
        az.CheckAuthorizationRequest(
            clinician_id=clinician,
            client_jurisdiction=j.JURISDICTION_TX,
            clinician_jurisdiction=j.JURISDICTION_TX,
            session_start=ts(datetime(day.year, day.month, day.day, 16, 0, tzinfo=UTC)),
            client_time_zone="America/Chicago",
            modality=az.MODALITY_IN_PERSON,
            purpose=purpose,
            appointment_id=appointment_id,
        ),
        metadata=practice.client,
    )
    return reply.decision


def day_of(decision: az.Decision) -> str:
    return next(r.message for r in decision.reasons if r.rule_id == "LIC-13")


async def days_used(compliance: Compliance, clinician: str) -> int:
    return int(
        await compliance.scalar(
            "SELECT count(*) FROM authority_day_usage WHERE clinician_id = :c", c=clinician
        )
    )


async def handled(compliance: Compliance, envelope_ids: set[str]) -> bool:
    count = await compliance.scalar(
        "SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = ANY(:ids)",
        c=AUTHORITY_DAYS_CONSUMER,
        ids=sorted(envelope_ids),
    )
    return int(count) == len(envelope_ids)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "compliance", **labels}) or 0.0


async def session_started(
    producer: AIOKafkaProducer,
    practice: Practice,
    clinician: str,
    appointment_id: str,
    decision_id: str,
    *,
    ce_id: str | None = None,
) -> str:
    """Publish scheduling's SessionStarted as scheduling's relay would; returns the envelope id."""
    started = datetime(DAY_ONE.year, DAY_ONE.month, DAY_ONE.day, 16, 0, tzinfo=UTC)
    event = scheduling_events.SessionStarted(
        appointment_id=appointment_id,
        practice_id=practice.practice_id,
        clinician_id=clinician,
        client_id=practice.client_id,
        client_state=j.JURISDICTION_TX,
        authorization_decision_id=decision_id,
        started_at=ts(started),
    )
    envelope = ce_id or new_id_str()
    headers = build_headers(
        event_id=envelope,
        event_type=event.DESCRIPTOR.full_name,
        source="//confide/scheduling",
        occurred_at=started,
    )
    await producer.send_and_wait(
        SESSIONS_TOPIC, value=event.SerializeToString(), key=appointment_id.encode(), headers=headers
    )
    return envelope


async def test_lic_13_check_in_queries_by_a_client_use_no_days_of_the_clinicians_tap(
    compliance: Compliance,
) -> None:
    practice, clinician = await tap_psychologist(compliance)
    # 35 "check-ins" for appointments that do not exist, on 35 different days: more than the 30 a
    # year TAP allows. Before, each allowed one recorded a day and the clinician's real bookings
    # in Texas failed from the 31st on.
    for offset in range(35):
        decision = await in_texas(
            compliance,
            practice,
            clinician,
            DAY_ONE + timedelta(days=offset),
            purpose="check_in",
            appointment_id=new_id(),
        )
        assert decision.allowed
    assert await days_used(compliance, clinician) == 0

    booking = await in_texas(compliance, practice, clinician, date(2027, 6, 1), purpose="booking")
    assert booking.allowed
    assert booking.authority.kind == az.AUTHORITY_KIND_PSYPACT_TAP
    assert "day 1 of 30" in day_of(booking)


async def test_lic_13_a_started_session_counts_its_day_once_even_when_delivered_twice(
    compliance: Compliance, producer: AIOKafkaProducer
) -> None:
    practice, clinician = await tap_psychologist(compliance)
    appointment = new_id()
    check_in = await in_texas(
        compliance, practice, clinician, DAY_ONE, purpose="check_in", appointment_id=appointment
    )
    assert check_in.allowed

    first = await session_started(producer, practice, clinician, appointment, check_in.decision_id)
    await session_started(  # Kafka redelivers: the same envelope
        producer, practice, clinician, appointment, check_in.decision_id, ce_id=first
    )
    again = await session_started(  # republished under a new envelope id
        producer, practice, clinician, appointment, check_in.decision_id
    )
    await wait_for(lambda: handled(compliance, {first, again}))
    assert await days_used(compliance, clinician) == 1
    day = await compliance.scalar("SELECT day FROM authority_day_usage WHERE clinician_id = :c", c=clinician)
    assert day == DAY_ONE

    recorded = sample("confide_compliance_session_starts_total", outcome="already_recorded")
    assert recorded >= 1  # the republished event
    later = await in_texas(compliance, practice, clinician, date(2027, 6, 1), purpose="booking")
    assert "day 2 of 30" in day_of(later)
    same_day = await in_texas(compliance, practice, clinician, DAY_ONE, purpose="booking")
    assert "day 1 of 30" in day_of(same_day)


async def test_lic_13_a_session_counts_no_day_on_a_decision_that_is_not_its_check_in(
    compliance: Compliance, producer: AIOKafkaProducer
) -> None:
    practice, clinician = await tap_psychologist(compliance)
    appointment = new_id()
    booking = await in_texas(
        compliance, practice, clinician, DAY_ONE, purpose="booking", appointment_id=appointment
    )
    someone_elses = await in_texas(
        compliance, practice, clinician, DAY_ONE, purpose="check_in", appointment_id=new_id()
    )
    envelopes = {
        await session_started(producer, practice, clinician, appointment, booking.decision_id),
        await session_started(producer, practice, clinician, appointment, someone_elses.decision_id),
        await session_started(producer, practice, clinician, appointment, ""),
        await session_started(producer, Practice.new(), clinician, appointment, new_id()),
    }
    await wait_for(lambda: handled(compliance, envelopes))
    assert await days_used(compliance, clinician) == 0


async def test_lic_13_two_sessions_checked_in_on_the_last_day_are_both_counted_and_the_overrun_reported(
    compliance: Compliance, producer: AIOKafkaProducer
) -> None:
    """The race of ADR 14: with 29 of 30 days used, sessions on two different days are both checked
    in (each sees day 30) before either starts. Both happened, so both days count; the overrun is
    reported and every later decision for that authority and state is denied."""
    practice, clinician = await tap_psychologist(compliance)
    first_session_day = date(2027, 3, 1)
    async with compliance.engine.begin() as conn:
        authority_id = str(
            await conn.scalar(
                text(
                    "SELECT credential_id FROM credentials WHERE clinician_id = :c AND kind = 'psypact_tap'"
                ),
                {"c": clinician},
            )
        )
        for offset in range(29):  # 29 days already used this year (January and February sessions)
            await conn.execute(
                text(
                    "INSERT INTO authority_day_usage (authority_id, jurisdiction, day, practice_id, "
                    "clinician_id, decision_id) VALUES (:a, 'TX', :d, :p, :c, :x)"
                ),
                {
                    "a": authority_id,
                    "d": date(2027, 1, 10) + timedelta(days=offset),
                    "p": practice.practice_id,
                    "c": clinician,
                    "x": new_id(),
                },
            )
    overruns = sample("confide_compliance_day_limit_overruns_total")
    recorded = sample("confide_compliance_session_starts_total", outcome="recorded")

    appointments = (new_id(), new_id())
    check_ins = [
        await in_texas(compliance, practice, clinician, day, purpose="check_in", appointment_id=appointment)
        for day, appointment in zip(
            (first_session_day, first_session_day + timedelta(days=1)), appointments, strict=True
        )
    ]
    assert all(c.allowed for c in check_ins)
    assert all("day 30 of 30" in day_of(c) for c in check_ins)
    envelopes = {
        await session_started(producer, practice, clinician, appointment, c.decision_id)
        for appointment, c in zip(appointments, check_ins, strict=True)
    }
    await wait_for(lambda: handled(compliance, envelopes))

    assert await days_used(compliance, clinician) == 31
    assert sample("confide_compliance_session_starts_total", outcome="recorded") == recorded + 2
    assert sample("confide_compliance_day_limit_overruns_total") == overruns + 1
    later = await in_texas(compliance, practice, clinician, date(2027, 6, 1), purpose="booking")
    assert not later.allowed
    assert "LIC-13" in later.denied_rule_ids

"""Reminders emitted once with concurrent runners; a lapsed authorization (real compliance →
AuthorizationChanged on Kafka) flags future appointments; screening risk flags; hold expiry."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from confide.scheduling.v1 import events_pb2
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide_chassis import db
from confide_chassis.ids import new_id_str
from confide_compliance.domain.credentials import CredentialStatus, Profession
from confide_compliance.testing import license_, seed_clinician
from confide_scheduling.app import jobs
from confide_scheduling.db.uow import unit_of_work_factory
from confide_scheduling.testing import eventually

from .conftest import Stack, error_info, new_world, next_slot, rule_ids

pytestmark = pytest.mark.integration


async def test_msg_03_reminder_is_emitted_once_with_two_concurrent_runners(stack: Stack) -> None:
    world = await new_world(stack)
    start = next_slot(timedelta(hours=3))
    booked = await stack.appointments.BookAppointment(world.book_request(start), metadata=world.client())
    aid = booked.appointment.appointment_id

    # A second replica: its own engine and connection pool, the same database.
    deps = stack.scheduling.deps
    engine = db.create_engine(deps.settings.database_url or "")
    replica = dataclasses.replace(deps, uow=unit_of_work_factory(db.session_factory(engine)))
    try:
        tick = start - timedelta(minutes=59)  # the 1 h reminder is due; the 24 h one predates the booking
        counts = await asyncio.gather(
            *(jobs.emit_due_reminders(runner, tick) for runner in (deps, replica, deps, replica))
        )
        again = await jobs.emit_due_reminders(replica, tick + timedelta(minutes=5))
    finally:
        await engine.dispose()
    reminders = [t for t in await stack.outbox_types(aid) if t.endswith("ReminderDue")]
    assert reminders == ["confide.scheduling.v1.ReminderDue"]
    assert again == 0
    assert sum(counts) >= 1  # other worlds' reminders may be due at the same tick too

    payload = await stack.scalar(
        "SELECT payload FROM outbox WHERE record_key = :k AND event_type LIKE '%ReminderDue'", k=aid
    )
    reminder = events_pb2.ReminderDue.FromString(payload)
    assert reminder.offset_minutes == 60
    assert reminder.start_time.ToDatetime(tzinfo=UTC) == start
    assert reminder.reminder_id.startswith(f"reminder:{aid}:60m:")
    # MSG-03: ids and the time only; nothing about the clinician, session type or modality.
    fields = {f.name for f, _ in reminder.ListFields()}
    assert fields <= {
        "appointment_id",
        "reminder_id",
        "start_time",
        "offset_minutes",
        "client_id",
        "clinician_id",
        "practice_id",
        "occurred_at",
    }


async def test_lic_03_authorization_lapse_flags_future_appointments_and_emits_flagged(stack: Stack) -> None:
    world = await new_world(stack, clients=2)
    first = await stack.appointments.BookAppointment(
        world.book_request(next_slot(timedelta(days=2))), metadata=world.client()
    )
    second = await stack.appointments.BookAppointment(
        world.book_request(next_slot(timedelta(days=3)), client=1), metadata=world.client(1)
    )
    # Compliance: the clinician's CO license is suspended → AuthorizationChanged (lost CO) on Kafka.
    await seed_clinician(
        stack.compliance,
        practice_id=world.practice_id,
        clinician_id=world.clinician_id,
        credentials=[license_("lic-CO", "CO", status=CredentialStatus.SUSPENDED)],
        practice_jurisdiction="CO",
        primary_profession=Profession.PSYCHOLOGIST,
    )
    ids = [first.appointment.appointment_id, second.appointment.appointment_id]

    async def all_flagged() -> bool:
        count = await stack.scalar(
            "SELECT count(*) FROM appointments WHERE id = ANY(CAST(:ids AS uuid[]))"
            " AND status = 'flagged_authorization'",
            ids=ids,
        )
        return int(count) == 2

    await eventually(all_flagged, wait_seconds=30)
    for aid in ids:
        types = await stack.outbox_types(aid)
        assert types[-1] == "confide.scheduling.v1.AppointmentFlagged"
        flagged = events_pb2.AppointmentFlagged.FromString(
            await stack.scalar(
                "SELECT payload FROM outbox WHERE record_key = :k AND event_type LIKE '%Flagged'", k=aid
            )
        )
        assert flagged.reason == events_pb2.FLAG_REASON_AUTHORIZATION_LAPSED
        assert flagged.rule_ids

    # A flagged appointment cannot be checked in or restored while the license is suspended.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stack.appointments.RecheckAuthorization(
            pb.RecheckAuthorizationRequest(appointment_id=ids[0], idempotency_key=new_id_str()),
            metadata=world.clinician,
        )
    assert denied.value.code() is grpc.StatusCode.FAILED_PRECONDITION

    # New bookings are refused by compliance (fail closed on deny).
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.appointments.BookAppointment(
            world.book_request(next_slot(timedelta(days=4))), metadata=world.client()
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert all(r.startswith("LIC-") for r in rule_ids(refused.value))


async def test_safe_23_high_risk_screening_blocks_self_booking_and_flags_the_care_team(stack: Stack) -> None:
    world = await new_world(stack)
    client_id = world.clients[0]
    screening = await stack.screening.SubmitScreening(
        pb.SubmitScreeningRequest(
            client_id=client_id,
            phq9=pb.Phq9Answers(answers=[2, 2, 1, 1, 1, 1, 1, 1, 2]),
            cssrs=pb.CssrsAnswers(
                wish_to_be_dead=True,
                suicidal_thoughts=True,
                thoughts_with_method=True,
                intent_without_plan=True,
                intent_with_plan=False,
                suicidal_behaviour_lifetime=False,
            ),
            idempotency_key=new_id_str(),
        ),
        metadata=world.client(),
    )
    result = screening.screening
    assert result.triage_level == pb.TRIAGE_LEVEL_HIGH_RISK
    assert result.self_booking == pb.SELF_BOOKING_BLOCKED
    assert result.phq9_total == 12
    assert result.phq9_item9_positive
    assert result.cssrs_risk == pb.CSSRS_RISK_HIGH
    contacts = {r.contact for r in result.crisis_resources}
    assert {"988", "911"} <= contacts
    assert result.risk_flag_id

    # Never a silent queue: RiskFlagged for the care team, keyed by the client.
    assert await stack.outbox_types(client_id) == ["confide.scheduling.v1.RiskFlagged"]
    flag = events_pb2.RiskFlagged.FromString(
        await stack.scalar(
            "SELECT payload FROM outbox WHERE record_key = :k AND event_type LIKE '%RiskFlagged'", k=client_id
        )
    )
    assert list(flag.care_team_clinician_ids) == [world.clinician_id]
    assert flag.level == pb.TRIAGE_LEVEL_HIGH_RISK
    assert "SAFE-23" in flag.rule_ids

    with pytest.raises(grpc.aio.AioRpcError) as blocked:
        await stack.appointments.BookAppointment(
            world.book_request(next_slot(timedelta(days=1))), metadata=world.client()
        )
    assert blocked.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert rule_ids(blocked.value) == ["SAFE-23", "SAFE-24"]
    assert "988" in error_info(blocked.value)["crisis_contacts"]

    # The clinician books the live assessment; it carries the clinician-review flag.
    booked = await stack.appointments.BookAppointment(
        world.book_request(next_slot(timedelta(days=1))), metadata=world.clinician
    )
    assert booked.appointment.clinician_review_required


async def test_expired_hold_is_released_by_maintenance(stack: Stack) -> None:
    world = await new_world(stack)
    start = next_slot(timedelta(days=8))
    base = world.book_request(start)
    held = await stack.appointments.HoldSlot(
        pb.HoldSlotRequest(
            client_id=base.client_id,
            clinician_id=base.clinician_id,
            session_type_code=base.session_type_code,
            modality=base.modality,
            start_time=base.start_time,
            idempotency_key=new_id_str(),
        ),
        metadata=world.client(),
    )
    aid = held.appointment.appointment_id
    later = datetime.now(UTC) + timedelta(hours=1)
    await jobs.expire_holds(stack.scheduling.deps, later)
    status = await stack.scalar("SELECT status FROM appointments WHERE id = CAST(:a AS uuid)", a=aid)
    reason = await stack.scalar("SELECT cancel_reason FROM appointments WHERE id = CAST(:a AS uuid)", a=aid)
    assert (status, reason) == ("cancelled", "hold_expired")

"""Scheduling's domain counters move with what happens: bookings, booking denials by rule id,
check-ins by outcome, high-risk screenings, no-shows, cancellations (late or not). Labels are bounded
codes, never ids."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from prometheus_client import REGISTRY

from confide.common.v1 import jurisdiction_pb2
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide_chassis.ids import new_id, new_id_str
from confide_scheduling.app.ports import AppointmentRecord, new_room_name, practice_uuid
from confide_scheduling.db.repositories import SqlAppointmentRepository
from confide_scheduling.domain.appointments import AuthorizationDecision, book
from confide_scheduling.reference_data import load_session_types

from .conftest import Stack, new_world, next_slot

pytestmark = pytest.mark.integration


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "scheduling", **labels}) or 0.0


class Counts:
    """Counter values at a point in time, to compare after the calls."""

    def __init__(self) -> None:
        self.values = {
            "booked": sample("confide_scheduling_bookings_total", via="book"),
            "denied_notice": sample("confide_scheduling_booking_denials_total", rule_id="SCHED-03"),
            "check_in_accepted": sample("confide_scheduling_check_ins_total", outcome="accepted"),
            "check_in_refused": sample("confide_scheduling_check_ins_total", outcome="refused"),
            "high_risk": sample("confide_scheduling_high_risk_screenings_total"),
            "no_show": sample("confide_scheduling_no_shows_total"),
            "late_client": sample(
                "confide_scheduling_cancellations_total", cancelled_by="client", late="true"
            ),
            "on_time_client": sample(
                "confide_scheduling_cancellations_total", cancelled_by="client", late="false"
            ),
        }

    def moved(self, before: Counts) -> dict[str, float]:
        return {k: v - before.values[k] for k, v in self.values.items() if v != before.values[k]}


async def test_domain_counters_move_with_bookings_denials_check_ins_screenings_no_shows_and_cancellations(
    stack: Stack,
) -> None:
    world = await new_world(stack, clients=2)
    before = Counts()

    # Two bookings: one cancelled on time (days ahead), one checked in twice (refused, then accepted).
    later = await stack.appointments.BookAppointment(
        world.book_request(next_slot(timedelta(days=3))), metadata=world.client()
    )
    soon = await stack.appointments.BookAppointment(
        world.book_request(next_slot(), client=1), metadata=world.client(1)
    )
    await stack.appointments.CancelAppointment(
        pb.CancelAppointmentRequest(
            appointment_id=later.appointment.appointment_id, idempotency_key=new_id_str()
        ),
        metadata=world.client(),
    )
    # A denial: the start is in the past (SCHED-03).
    with pytest.raises(grpc.aio.AioRpcError):
        await stack.appointments.BookAppointment(
            world.book_request(next_slot() - timedelta(days=1)), metadata=world.client()
        )

    def check_in(appointment_id: str, state: int) -> pb.CheckInRequest:
        return pb.CheckInRequest(
            appointment_id=appointment_id,
            location=pb.ClientLocation(state=state, at_home=True),  # type: ignore[arg-type]
            identity_confirmed=True,
            idempotency_key=new_id_str(),
        )

    with pytest.raises(grpc.aio.AioRpcError):  # LIC-01: not licensed where the client is now
        await stack.sessions.CheckIn(
            check_in(soon.appointment.appointment_id, jurisdiction_pb2.JURISDICTION_CA),
            metadata=world.client(1),
        )
    # An accepted check-in, in another practice (one clinician cannot have two sessions at once).
    other = await new_world(stack)
    elsewhere = await stack.appointments.BookAppointment(
        other.book_request(next_slot()), metadata=other.client()
    )
    await stack.sessions.CheckIn(
        check_in(elsewhere.appointment.appointment_id, jurisdiction_pb2.JURISDICTION_CO),
        metadata=other.client(),
    )

    # A late cancellation: a third booking, cancelled inside the 24 h window.
    third = await stack.appointments.BookAppointment(
        world.book_request(next_slot(timedelta(hours=3))), metadata=world.client()
    )
    await stack.appointments.CancelAppointment(
        pb.CancelAppointmentRequest(
            appointment_id=third.appointment.appointment_id, idempotency_key=new_id_str()
        ),
        metadata=world.client(),
    )

    # A high-risk screening.
    await stack.screening.SubmitScreening(
        pb.SubmitScreeningRequest(
            client_id=world.clients[1],
            cssrs=pb.CssrsAnswers(
                wish_to_be_dead=True,
                suicidal_thoughts=True,
                thoughts_with_method=True,
                intent_without_plan=True,
                intent_with_plan=True,
                suicidal_behaviour_lifetime=False,
            ),
            idempotency_key=new_id_str(),
        ),
        metadata=world.client(1),
    )

    # A no-show: an appointment that started an hour ago (written directly, as time cannot be moved).
    kind = load_session_types().get("psychotherapy_45")
    start = next_slot() - timedelta(hours=2)
    missed = book(
        appointment_id=new_id(),
        practice_id=practice_uuid(world.practice_id),
        clinician_id=uuid.UUID(world.clinician_id),
        client_id=uuid.UUID(world.clients[0]),
        session_type=kind,
        modality=next(iter(kind.modalities)),
        start=start,
        now=start - timedelta(days=1),
        authorization=AuthorizationDecision("d", True),
    )
    sessions = stack.scheduling.running.context.require_sessions()
    async with sessions() as session, session.begin():
        await SqlAppointmentRepository(session).add(
            AppointmentRecord(missed, world.practice_id, "CO", "UTC", new_room_name(), "client")
        )
    await stack.appointments.MarkNoShow(
        pb.MarkNoShowRequest(appointment_id=str(missed.id), idempotency_key=new_id_str()),
        metadata=world.clinician,
    )

    moved = Counts().moved(before)
    # Other tests of the module share the process-wide registry but run before or after, not meanwhile.
    assert moved == {
        "booked": 4,
        "denied_notice": 1,
        "check_in_accepted": 1,
        "check_in_refused": 1,
        "high_risk": 1,
        "no_show": 1,
        "late_client": 1,
        "on_time_client": 1,
    }
    exported = {m.name for m in REGISTRY.collect()}
    assert {
        "confide_scheduling_bookings",
        "confide_scheduling_booking_denials",
        "confide_scheduling_check_ins",
        "confide_scheduling_high_risk_screenings",
        "confide_scheduling_no_shows",
        "confide_scheduling_cancellations",
    } <= exported

"""Booking over real gRPC, PostgreSQL, Kafka and the real compliance service."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta

import grpc
import pytest

from confide.common.v1 import jurisdiction_pb2
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide_chassis.errors import Conflict
from confide_chassis.ids import new_id
from confide_scheduling.app.ports import AppointmentRecord, new_room_name, practice_uuid
from confide_scheduling.db.repositories import SqlAppointmentRepository
from confide_scheduling.domain.appointments import AppointmentStatus, AuthorizationDecision, book
from confide_scheduling.reference_data import load_session_types

from .conftest import Stack, bad_fields, error_info, new_world, next_slot, rule_ids

pytestmark = pytest.mark.integration


async def test_book_one_step_stores_the_decision_and_emits_booked(stack: Stack) -> None:
    world = await new_world(stack)
    start = next_slot(timedelta(days=1))
    reply = await stack.appointments.BookAppointment(world.book_request(start), metadata=world.client())
    appointment = reply.appointment
    assert appointment.status == pb.APPOINTMENT_STATUS_BOOKED
    assert appointment.time.start.ToDatetime().replace(tzinfo=start.tzinfo) == start
    assert appointment.authorization_decision_id  # LIC-03: the compliance decision is stored
    assert appointment.authorized_client_state == jurisdiction_pb2.JURISDICTION_CO
    assert await stack.outbox_types(appointment.appointment_id) == ["confide.scheduling.v1.AppointmentBooked"]


async def test_concurrent_double_booking_attempts_exactly_one_wins(stack: Stack) -> None:
    world = await new_world(stack, clients=6)
    start = next_slot(timedelta(days=2))
    calls = [
        stack.appointments.BookAppointment(world.book_request(start, client=i), metadata=world.client(i))
        for i in range(6)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    won = [r for r in results if isinstance(r, pb.BookAppointmentResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1, results
    assert len(lost) == 5
    assert {e.code() for e in lost} == {grpc.StatusCode.ABORTED}
    booked = await stack.scalar(
        "SELECT count(*) FROM appointments WHERE clinician_id = CAST(:c AS uuid) AND status = 'booked'",
        c=world.clinician_id,
    )
    assert booked == 1


async def test_exclusion_constraint_is_the_last_guard_against_double_booking(stack: Stack) -> None:
    """Bypassing the per-clinician lock (two writers straight to the database), the exclusion constraint
    still lets exactly one of two overlapping appointments in, and the loser gets Conflict (ABORTED)."""
    world = await new_world(stack)
    kind = load_session_types().get("psychotherapy_60")
    start = next_slot(timedelta(days=3))
    sessions = stack.scheduling.running.context.require_sessions()

    def record(offset: timedelta) -> AppointmentRecord:
        appointment = book(
            appointment_id=new_id(),
            practice_id=practice_uuid(world.practice_id),
            clinician_id=uuid.UUID(world.clinician_id),
            client_id=uuid.UUID(world.clients[0]),
            session_type=kind,
            modality=kind.modalities.__iter__().__next__(),
            start=start + offset,
            now=start - timedelta(days=1),
            authorization=AuthorizationDecision("d", True),
        )
        return AppointmentRecord(appointment, world.practice_id, "CO", "UTC", new_room_name(), "client")

    gate = asyncio.Barrier(2)

    async def insert(rec: AppointmentRecord) -> str:
        async with sessions() as session, session.begin():
            await gate.wait()
            try:
                await SqlAppointmentRepository(session).add(rec)
            except Conflict:
                return "conflict"
        return "inserted"

    outcomes = await asyncio.gather(insert(record(timedelta(0))), insert(record(timedelta(0))))
    assert sorted(outcomes) == ["conflict", "inserted"]

    async with sessions() as session:
        # A partial overlap is refused too ...
        with pytest.raises(Conflict):
            async with session.begin():
                await SqlAppointmentRepository(session).add(record(timedelta(minutes=30)))
        # ... back-to-back is not an overlap ([start, end) ranges) ...
        async with session.begin():
            await SqlAppointmentRepository(session).add(record(timedelta(minutes=60)))
        # ... and a cancelled appointment does not occupy the calendar.
        cancelled = record(timedelta(minutes=120))
        cancelled = cancelled.with_appointment(
            dataclasses.replace(cancelled.appointment, status=AppointmentStatus.CANCELLED)
        )
        async with session.begin():
            await SqlAppointmentRepository(session).add(cancelled)
            await SqlAppointmentRepository(session).add(record(timedelta(minutes=120)))


async def test_idempotent_retry_books_once(stack: Stack) -> None:
    world = await new_world(stack)
    start = next_slot(timedelta(days=4))
    request = world.book_request(start, key="retry-key-0001")
    first = await stack.appointments.BookAppointment(request, metadata=world.client())
    again = await stack.appointments.BookAppointment(request, metadata=world.client())
    concurrent = await asyncio.gather(
        *(stack.appointments.BookAppointment(request, metadata=world.client()) for _ in range(4))
    )
    ids = {first.appointment.appointment_id, again.appointment.appointment_id}
    ids |= {r.appointment.appointment_id for r in concurrent}
    assert len(ids) == 1
    count = await stack.scalar(
        "SELECT count(*) FROM appointments WHERE client_id = CAST(:c AS uuid)", c=world.clients[0]
    )
    assert count == 1
    assert await stack.outbox_types(first.appointment.appointment_id) == [
        "confide.scheduling.v1.AppointmentBooked"
    ]

    # The same key for a different request is the client's bug: INVALID_ARGUMENT on the key.
    other = world.book_request(start + timedelta(hours=2), key="retry-key-0001")
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await stack.appointments.BookAppointment(other, metadata=world.client())
    assert reused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(reused.value) == ["idempotency_key"]


async def test_safe_10_safe_12_booking_without_current_consent_is_failed_precondition(stack: Stack) -> None:
    world = await new_world(stack, consent=False)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.appointments.BookAppointment(
            world.book_request(next_slot(timedelta(days=1))), metadata=world.client()
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert rule_ids(refused.value) == ["SAFE-10", "SAFE-12"]
    assert error_info(refused.value)["rule_ids"] == "SAFE-10,SAFE-12"
    assert (
        await stack.scalar(
            "SELECT count(*) FROM appointments WHERE client_id = CAST(:c AS uuid)", c=world.clients[0]
        )
        == 0
    )


async def test_safe_12_consent_must_cover_the_state_the_client_will_be_in(stack: Stack) -> None:
    world = await new_world(stack, licensed=("CO", "CA"))
    request = world.book_request(next_slot(timedelta(days=1)), client_state=jurisdiction_pb2.JURISDICTION_CA)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.appointments.BookAppointment(request, metadata=world.client())
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "SAFE-12" in rule_ids(refused.value)


async def test_lic_03_compliance_deny_is_failed_precondition_with_its_rule_ids(stack: Stack) -> None:
    # Licensed only in CO; the consent is for CO too, so only licensure can refuse a TX booking... the
    # client's consent must cover TX, so sign one for TX first.
    from confide_scheduling.testing import consent_signed, eventually, produce

    world = await new_world(stack)
    await produce(stack.producer, consent_signed(world.clients[0], world.practice_id, state="TX"))
    await eventually(
        lambda: stack.scalar(
            "SELECT count(*) FROM consents WHERE client_id = CAST(:c AS uuid) AND jurisdiction = 'TX'",
            c=world.clients[0],
        )
    )
    request = world.book_request(next_slot(timedelta(days=1)), client_state=jurisdiction_pb2.JURISDICTION_TX)
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stack.appointments.BookAppointment(request, metadata=world.client())
    assert denied.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    ids = rule_ids(denied.value)
    assert ids
    assert all(i.startswith("LIC-") for i in ids)
    assert error_info(denied.value).get("authorization_decision_id")
    assert (
        await stack.scalar(
            "SELECT count(*) FROM appointments WHERE client_id = CAST(:c AS uuid)", c=world.clients[0]
        )
        == 0
    )


async def test_hold_then_confirm_books_and_release_frees_the_slot(stack: Stack) -> None:
    world = await new_world(stack, clients=2)
    start = next_slot(timedelta(days=5))
    base = world.book_request(start)
    hold = pb.HoldSlotRequest(
        client_id=base.client_id,
        clinician_id=base.clinician_id,
        session_type_code=base.session_type_code,
        modality=base.modality,
        start_time=base.start_time,
        idempotency_key="hold-key-00001",
    )
    held = (await stack.appointments.HoldSlot(hold, metadata=world.client())).appointment
    assert held.status == pb.APPOINTMENT_STATUS_HELD
    assert held.hold_expire_time.seconds > 0
    # The held time is taken for everybody else.
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await stack.appointments.BookAppointment(
            world.book_request(start, client=1), metadata=world.client(1)
        )
    assert taken.value.code() is grpc.StatusCode.ABORTED
    confirmed = await stack.appointments.ConfirmHold(
        pb.ConfirmHoldRequest(appointment_id=held.appointment_id, idempotency_key="confirm-key-0001"),
        metadata=world.client(),
    )
    assert confirmed.appointment.status == pb.APPOINTMENT_STATUS_BOOKED
    assert confirmed.appointment.authorization_decision_id

    cancelled = await stack.appointments.CancelAppointment(
        pb.CancelAppointmentRequest(appointment_id=held.appointment_id, idempotency_key="cancel-key-0001"),
        metadata=world.client(),
    )
    assert cancelled.appointment.status == pb.APPOINTMENT_STATUS_CANCELLED  # days ahead: on time
    assert not cancelled.late
    booked = await stack.appointments.BookAppointment(
        world.book_request(start, client=1), metadata=world.client(1)
    )
    assert booked.appointment.status == pb.APPOINTMENT_STATUS_BOOKED
    assert await stack.outbox_types(held.appointment_id) == [
        "confide.scheduling.v1.AppointmentBooked",
        "confide.scheduling.v1.AppointmentCancelled",
    ]


async def test_bad_input_is_invalid_argument_with_field_paths_never_internal(stack: Stack) -> None:
    world = await new_world(stack)
    start = next_slot(timedelta(days=1))
    cases: list[tuple[object, str, list[str]]] = []

    not_uuid = world.book_request(start)
    not_uuid.client_id = "not-a-uuid"
    cases.append(
        (stack.appointments.BookAppointment(not_uuid, metadata=world.client()), "book", ["client_id"])
    )

    no_start = world.book_request(start)
    no_start.ClearField("start_time")
    cases.append(
        (stack.appointments.BookAppointment(no_start, metadata=world.client()), "book", ["start_time"])
    )

    no_modality = world.book_request(start, modality=pb.MODALITY_UNSPECIFIED)
    cases.append(
        (stack.appointments.BookAppointment(no_modality, metadata=world.client()), "book", ["modality"])
    )

    unknown_type = world.book_request(start, session_type_code="massage_90")
    cases.append(
        (
            stack.appointments.BookAppointment(unknown_type, metadata=world.client()),
            "book",
            ["session_type_code"],
        )
    )

    no_key = world.book_request(start)
    no_key.idempotency_key = ""
    cases.append(
        (stack.appointments.BookAppointment(no_key, metadata=world.client()), "book", ["idempotency_key"])
    )

    bad_key = world.book_request(start, key="x")
    cases.append(
        (stack.appointments.BookAppointment(bad_key, metadata=world.client()), "book", ["idempotency_key"])
    )

    phq9 = pb.SubmitScreeningRequest(
        client_id=world.clients[0], phq9=pb.Phq9Answers(answers=[0, 1, 2, 9]), idempotency_key="screen-key-01"
    )
    cases.append(
        (
            stack.screening.SubmitScreening(phq9, metadata=world.client()),
            "screen",
            ["phq9.answers", "phq9.answers[3]"],
        )
    )

    check_in = pb.CheckInRequest(
        appointment_id=str(new_id()),
        location=pb.ClientLocation(state=jurisdiction_pb2.JURISDICTION_UNSPECIFIED),
        identity_confirmed=True,
        idempotency_key="checkin-key-01",
    )
    cases.append((stack.sessions.CheckIn(check_in, metadata=world.client()), "check-in", ["location.state"]))

    window = pb.SearchSlotsRequest(client_id=world.clients[0], session_type_code="psychotherapy_45")
    window.window.start.FromDatetime(start)
    window.window.end.FromDatetime(start - timedelta(hours=1))
    cases.append((stack.availability.SearchSlots(window, metadata=world.client()), "search", ["window.end"]))

    for call, name, fields in cases:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call  # type: ignore[misc]
        assert failed.value.code() is grpc.StatusCode.INVALID_ARGUMENT, (name, failed.value.details())
        assert bad_fields(failed.value) == fields, name


async def test_another_practice_cannot_see_or_book_a_client(stack: Stack) -> None:
    world = await new_world(stack)
    other = await new_world(stack)
    reply = await stack.appointments.BookAppointment(
        world.book_request(next_slot(timedelta(days=6))), metadata=world.client()
    )
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await stack.appointments.GetAppointment(
            pb.GetAppointmentRequest(appointment_id=reply.appointment.appointment_id), metadata=other.admin
        )
    assert hidden.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stack.appointments.BookAppointment(
            world.book_request(next_slot(timedelta(days=6, hours=2))), metadata=other.client()
        )
    assert foreign.value.code() in {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND}


async def test_every_rpc_with_an_empty_or_garbled_request_never_answers_internal(stack: Stack) -> None:
    world = await new_world(stack)
    callers = {"client": world.client(), "clinician": world.clinician, "admin": world.admin}
    checked = 0
    for service in pb.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            request_type = getattr(pb, method.input_type.name)
            garbled = request_type()
            for field in request_type.DESCRIPTOR.fields:
                if field.type == field.TYPE_STRING and not field.is_repeated:
                    setattr(garbled, field.name, "garbage")
            for request in (request_type(), garbled):
                call = stack.channel.unary_unary(
                    f"/{service.full_name}/{method.name}",
                    request_serializer=request_type.SerializeToString,
                    response_deserializer=lambda data: data,
                )
                for metadata in callers.values():
                    code = grpc.StatusCode.OK
                    try:
                        await call(request, metadata=metadata)
                    except grpc.aio.AioRpcError as error:
                        code = error.code()
                    assert code is not grpc.StatusCode.INTERNAL, method.full_name
                    checked += 1
    assert checked > 200

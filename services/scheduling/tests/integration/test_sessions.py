"""The session lifecycle: check-in with the client's location (authorization re-checked, fail closed),
video join link for participants only, start, complete with the facts billing needs."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import grpc
import jwt
import pytest

from confide.common.v1 import jurisdiction_pb2
from confide.scheduling.v1 import events_pb2
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide_chassis.ids import new_id_str

from .conftest import JITSI_APP_ID, JITSI_DOMAIN, JITSI_SECRET, Stack, World, new_world, next_slot, rule_ids

pytestmark = pytest.mark.integration


async def _booked_soon(stack: Stack, world: World, **fields: Any) -> pb.Appointment:
    reply = await stack.appointments.BookAppointment(
        world.book_request(next_slot(), **fields), metadata=world.client()
    )
    return reply.appointment


def _check_in(
    appointment_id: str, state: int, *, at_home: bool = True, confirmed: bool = True
) -> pb.CheckInRequest:
    return pb.CheckInRequest(
        appointment_id=appointment_id,
        location=pb.ClientLocation(state=state, at_home=at_home, emergency_address_ref="addr_123"),  # type: ignore[arg-type]
        identity_confirmed=confirmed,
        idempotency_key=new_id_str(),
    )


async def test_check_in_start_complete_carries_billing_facts(stack: Stack) -> None:
    world = await new_world(stack)
    appointment = await _booked_soon(stack, world)
    aid = appointment.appointment_id

    checked = await stack.sessions.CheckIn(
        _check_in(aid, jurisdiction_pb2.JURISDICTION_CO, at_home=True), metadata=world.client()
    )
    assert checked.appointment.status == pb.APPOINTMENT_STATUS_CHECKED_IN
    assert checked.appointment.check_in.location.state == jurisdiction_pb2.JURISDICTION_CO
    assert checked.appointment.check_in.authorization_decision_id

    started = await stack.sessions.StartSession(
        pb.StartSessionRequest(appointment_id=aid, idempotency_key=new_id_str()), metadata=world.clinician
    )
    assert started.appointment.status == pb.APPOINTMENT_STATUS_IN_SESSION

    done = await stack.sessions.CompleteSession(
        pb.CompleteSessionRequest(
            appointment_id=aid,
            actual_minutes=41,
            delivered_modality=pb.MODALITY_AUDIO_ONLY,
            idempotency_key=new_id_str(),
        ),
        metadata=world.clinician,
    )
    assert done.appointment.status == pb.APPOINTMENT_STATUS_COMPLETED
    assert done.facts.duration_minutes == 41
    assert done.facts.place_of_service == "10"  # BILL-11: at home
    assert done.facts.modifier == "93"  # BILL-12: fell back to audio-only
    assert await stack.outbox_types(aid) == [
        "confide.scheduling.v1.AppointmentBooked",
        "confide.scheduling.v1.SessionStarted",
        "confide.scheduling.v1.SessionCompleted",
    ]
    payload = await stack.scalar(
        "SELECT payload FROM outbox WHERE record_key = :k AND event_type LIKE '%SessionCompleted'", k=aid
    )
    completed = events_pb2.SessionCompleted.FromString(payload)
    assert completed.client_state == jurisdiction_pb2.JURISDICTION_CO
    assert completed.at_home is True
    assert completed.modality == pb.MODALITY_AUDIO_ONLY
    assert completed.session_type_code == "psychotherapy_45"
    # No PHI: the emergency address reference stays in scheduling.
    assert b"addr_123" not in payload


async def test_lic_01_check_in_from_an_unlicensed_state_is_refused_and_flagged(stack: Stack) -> None:
    world = await new_world(stack)
    appointment = await _booked_soon(stack, world)
    aid = appointment.appointment_id
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.sessions.CheckIn(
            _check_in(aid, jurisdiction_pb2.JURISDICTION_CA), metadata=world.client()
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    ids = rule_ids(refused.value)
    assert ids[0] == "LIC-01"
    assert len(ids) > 1  # plus the compliance decision's own rule ids

    current = await stack.appointments.GetAppointment(
        pb.GetAppointmentRequest(appointment_id=aid), metadata=world.clinician
    )
    assert current.appointment.status == pb.APPOINTMENT_STATUS_FLAGGED_AUTHORIZATION
    assert current.appointment.check_in.location.state == jurisdiction_pb2.JURISDICTION_CA
    assert await stack.outbox_types(aid) == [
        "confide.scheduling.v1.AppointmentBooked",
        "confide.scheduling.v1.AppointmentFlagged",
    ]
    flagged = events_pb2.AppointmentFlagged.FromString(
        await stack.scalar(
            "SELECT payload FROM outbox WHERE record_key = :k AND event_type LIKE '%AppointmentFlagged'",
            k=aid,
        )
    )
    assert flagged.reason == events_pb2.FLAG_REASON_CHECK_IN_DENIED
    assert list(flagged.rule_ids) == ids
    # A flagged session cannot start.
    with pytest.raises(grpc.aio.AioRpcError) as blocked:
        await stack.sessions.StartSession(
            pb.StartSessionRequest(appointment_id=aid, idempotency_key=new_id_str()), metadata=world.clinician
        )
    assert blocked.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_safe_01_check_in_requires_confirmed_identity(stack: Stack) -> None:
    world = await new_world(stack)
    appointment = await _booked_soon(stack, world)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.sessions.CheckIn(
            _check_in(appointment.appointment_id, jurisdiction_pb2.JURISDICTION_CO, confirmed=False),
            metadata=world.client(),
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert rule_ids(refused.value) == ["SAFE-01"]


async def test_join_link_is_a_signed_jitsi_room_for_participants_only(stack: Stack) -> None:
    world = await new_world(stack, clients=2)
    appointment = await _booked_soon(stack, world)
    aid = appointment.appointment_id

    # LIC-04: the client checks in (states their location) before getting into the room.
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await stack.sessions.GetJoinLink(pb.GetJoinLinkRequest(appointment_id=aid), metadata=world.client())
    assert early.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert rule_ids(early.value) == ["LIC-04"]

    await stack.sessions.CheckIn(_check_in(aid, jurisdiction_pb2.JURISDICTION_CO), metadata=world.client())
    client_link = await stack.sessions.GetJoinLink(
        pb.GetJoinLinkRequest(appointment_id=aid), metadata=world.client()
    )
    clinician_link = await stack.sessions.GetJoinLink(
        pb.GetJoinLinkRequest(appointment_id=aid), metadata=world.clinician
    )
    for link, moderator, user in (
        (client_link, False, world.clients[0]),
        (clinician_link, True, world.clinician_id),
    ):
        url = urlparse(link.url)
        assert url.scheme == "https"
        assert url.netloc == JITSI_DOMAIN
        room = url.path.lstrip("/")
        claims = jwt.decode(
            parse_qs(url.query)["jwt"][0],
            JITSI_SECRET,
            algorithms=["HS256"],
            audience="jitsi",
            issuer=JITSI_APP_ID,
        )
        assert claims["sub"] == JITSI_DOMAIN
        assert claims["room"] == room
        assert claims["context"]["user"] == {"id": user, "moderator": moderator}
        assert link.moderator is moderator
        # Unguessable and free of PHI: no ids of the people or the appointment in the room name.
        assert aid not in room
        assert world.clients[0] not in room
    assert urlparse(client_link.url).path == urlparse(clinician_link.url).path

    # Not a participant: another client of the same practice, or an admin.
    for outsider in (world.client(1), world.admin):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stack.sessions.GetJoinLink(pb.GetJoinLinkRequest(appointment_id=aid), metadata=outsider)
        assert denied.value.code() in {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED}


async def test_no_show_only_after_the_grace_period(stack: Stack) -> None:
    world = await new_world(stack)
    appointment = await _booked_soon(stack, world)
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await stack.appointments.MarkNoShow(
            pb.MarkNoShowRequest(appointment_id=appointment.appointment_id, idempotency_key=new_id_str()),
            metadata=world.clinician,
        )
    assert early.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert rule_ids(early.value) == ["SCHED-05"]


async def test_late_cancellation_inside_the_window(stack: Stack) -> None:
    world = await new_world(stack)
    appointment = await _booked_soon(stack, world)
    reply = await stack.appointments.CancelAppointment(
        pb.CancelAppointmentRequest(appointment_id=appointment.appointment_id, idempotency_key=new_id_str()),
        metadata=world.client(),
    )
    assert reply.late
    assert reply.appointment.status == pb.APPOINTMENT_STATUS_LATE_CANCELLED
    assert not reply.fee.applies  # BILL-41: no written fee agreement known, so never charged
    assert reply.fee.waived_because == pb.FEE_WAIVER_NO_FEE_CONFIGURED

"""A caller creates nothing that affects someone else: no holds blocking a clinician's calendar en
masse, no bookings into a colleague's calendar, no waitlist crowding or entries naming another
practice's clinicians, no schedules claimed for clinicians of other practices, and no care-team
rights borrowed from another practice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import grpc
import pytest

from confide.common.v1 import jurisdiction_pb2
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide_chassis.ids import new_id_str
from confide_scheduling.testing import care_team_assigned, eventually, produce

from .conftest import SCHEDULE_ZONE, TOKENS, Stack, World, bad_fields, new_world, next_slot, rule_ids

pytestmark = pytest.mark.integration


def hold_request(
    world: World, start: Any, *, client: int = 0, clinician_id: str | None = None
) -> pb.HoldSlotRequest:
    request = pb.HoldSlotRequest(
        client_id=world.clients[client],
        clinician_id=clinician_id or world.clinician_id,
        session_type_code="psychotherapy_45",
        modality=pb.MODALITY_VIDEO,
        idempotency_key=new_id_str(),
    )
    request.start_time.FromDatetime(start)
    return request


def weekly_schedule(clinician_id: str) -> pb.SetWeeklyScheduleRequest:
    return pb.SetWeeklyScheduleRequest(
        clinician_id=clinician_id,
        time_zone=SCHEDULE_ZONE,
        location=jurisdiction_pb2.JURISDICTION_CO,
        modalities=[pb.MODALITY_VIDEO],
        weekly_rules=[
            pb.WeeklyRule(weekday=cast(Any, day), start=pb.TimeOfDay(hours=0), end=pb.TimeOfDay(hours=0))
            for day in range(1, 8)
        ],
        idempotency_key=new_id_str(),
    )


async def test_sched_10_a_client_keeps_only_three_holds_open_at_once(stack: Stack) -> None:
    world = await new_world(stack)
    first = next_slot(timedelta(days=2)).replace(hour=9, minute=0)  # hours 9-13 UTC: inside one day
    held = [
        await stack.appointments.HoldSlot(
            hold_request(world, first + timedelta(hours=i)), metadata=world.client()
        )
        for i in range(3)
    ]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.appointments.HoldSlot(
            hold_request(world, first + timedelta(hours=3)), metadata=world.client()
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert rule_ids(refused.value) == ["SCHED-10"]
    # Staff acting for the client count against the same allowance.
    with pytest.raises(grpc.aio.AioRpcError) as by_staff:
        await stack.appointments.HoldSlot(
            hold_request(world, first + timedelta(hours=4)), metadata=world.clinician
        )
    assert rule_ids(by_staff.value) == ["SCHED-10"]

    # Releasing one frees the allowance again.
    await stack.appointments.ReleaseHold(
        pb.ReleaseHoldRequest(
            appointment_id=held[0].appointment.appointment_id, idempotency_key=new_id_str()
        ),
        metadata=world.client(),
    )
    again = await stack.appointments.HoldSlot(
        hold_request(world, first + timedelta(hours=3)), metadata=world.client()
    )
    assert again.appointment.status == pb.APPOINTMENT_STATUS_HELD


async def test_a_clinician_books_only_into_their_own_calendar(stack: Stack) -> None:
    world = await new_world(stack)
    colleague = new_id_str()
    colleague_token = TOKENS.metadata(colleague, world.practice_id, "clinician")
    await stack.availability.SetWeeklySchedule(weekly_schedule(colleague), metadata=colleague_token)
    start = next_slot(timedelta(days=2)).replace(hour=9, minute=0)

    # The client is on the world clinician's care team, not the colleague's.
    into_colleague = world.book_request(start)
    into_colleague.clinician_id = colleague
    with pytest.raises(grpc.aio.AioRpcError) as booking:
        await stack.appointments.BookAppointment(into_colleague, metadata=world.clinician)
    assert booking.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as hold:
        await stack.appointments.HoldSlot(
            hold_request(world, start, clinician_id=colleague), metadata=world.clinician
        )
    assert hold.value.code() is grpc.StatusCode.PERMISSION_DENIED
    series = pb.CreateSeriesRequest(
        client_id=world.clients[0],
        clinician_id=colleague,
        session_type_code="psychotherapy_45",
        modality=pb.MODALITY_VIDEO,
        frequency=pb.RECURRENCE_FREQUENCY_WEEKLY,
        count=2,
        idempotency_key=new_id_str(),
    )
    series.first_start_time.FromDatetime(start)
    with pytest.raises(grpc.aio.AioRpcError) as recurring:
        await stack.series.CreateSeries(series, metadata=world.clinician)
    assert recurring.value.code() is grpc.StatusCode.PERMISSION_DENIED
    # Nothing was written into the colleague's calendar.
    count = await stack.scalar(
        "SELECT count(*) FROM appointments WHERE clinician_id = CAST(:c AS uuid)", c=colleague
    )
    assert count == 0


async def test_sched_10_waitlist_entries_per_client_are_bounded_and_name_only_practice_clinicians(
    stack: Stack,
) -> None:
    world = await new_world(stack)
    elsewhere = await new_world(stack, clients=0)

    def join(clinician_ids: list[str]) -> pb.JoinWaitlistRequest:
        return pb.JoinWaitlistRequest(
            client_id=world.clients[0],
            session_type_codes=["psychotherapy_45"],
            clinician_ids=clinician_ids,
            idempotency_key=new_id_str(),
        )

    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stack.waitlist.JoinWaitlist(join([elsewhere.clinician_id]), metadata=world.client())
    assert foreign.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(foreign.value) == ["clinician_ids"]

    for _ in range(5):
        await stack.waitlist.JoinWaitlist(join([world.clinician_id]), metadata=world.client())
    with pytest.raises(grpc.aio.AioRpcError) as crowded:
        await stack.waitlist.JoinWaitlist(join([world.clinician_id]), metadata=world.client())
    assert crowded.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert rule_ids(crowded.value) == ["SCHED-10"]
    listed = await stack.waitlist.ListWaitlist(
        pb.ListWaitlistRequest(client_id=world.clients[0]), metadata=world.client()
    )
    assert len(listed.entries) == 5


async def test_sched_11_an_admin_cannot_claim_a_clinician_without_a_schedule(stack: Stack) -> None:
    world = await new_world(stack, clients=0)
    other_practice_clinician = new_id_str()

    with pytest.raises(grpc.aio.AioRpcError) as claimed:
        await stack.availability.SetWeeklySchedule(
            weekly_schedule(other_practice_clinician), metadata=world.admin
        )
    assert claimed.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert rule_ids(claimed.value) == ["SCHED-11"]
    assert (
        await stack.scalar(
            "SELECT count(*) FROM clinician_schedules WHERE clinician_id = CAST(:c AS uuid)",
            c=other_practice_clinician,
        )
        == 0
    )

    # The clinician's own practice is not locked out: the clinician sets it up, then their admin manages it.
    own_practice = new_id_str()
    await stack.availability.SetWeeklySchedule(
        weekly_schedule(other_practice_clinician),
        metadata=TOKENS.metadata(other_practice_clinician, own_practice, "clinician"),
    )
    managed = await stack.availability.SetWeeklySchedule(
        weekly_schedule(other_practice_clinician),
        metadata=TOKENS.metadata(new_id_str(), own_practice, "practice_admin"),
    )
    assert managed.schedule.clinician_id == other_practice_clinician
    # ... and the first world's admin still cannot touch it.
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stack.availability.SetWeeklySchedule(
            weekly_schedule(other_practice_clinician), metadata=world.admin
        )
    assert foreign.value.code() is grpc.StatusCode.NOT_FOUND


async def test_a_care_team_link_of_another_practice_gives_no_rights_over_the_client(stack: Stack) -> None:
    world = await new_world(stack, clients=0)
    client_id = new_id_str()
    other_practice = new_id_str()
    # The world's clinician is linked to the client in another practice; the client's profile has not
    # reached scheduling, so only the care-team link could vouch for the clinician.
    await produce(stack.producer, care_team_assigned(client_id, other_practice, world.clinician_id))

    async def arrived() -> bool:
        count = await stack.scalar(
            "SELECT count(*) FROM care_team_links WHERE client_id = CAST(:c AS uuid)", c=client_id
        )
        return int(count) == 1

    await eventually(arrived, wait_seconds=30)
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stack.screening.SubmitScreening(
            pb.SubmitScreeningRequest(
                client_id=client_id,
                phq9=pb.Phq9Answers(answers=[3] * 9),
                idempotency_key=new_id_str(),
            ),
            metadata=world.clinician,
        )
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    count = await stack.scalar(
        "SELECT count(*) FROM screenings WHERE client_id = CAST(:c AS uuid)", c=client_id
    )
    assert count == 0

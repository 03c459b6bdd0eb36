"""Slot search limited to authorized clinicians (compliance FindAuthorizedClinicians), recurring series
with per-occurrence conflicts, the waitlist offer cycle, and the migrations matching the tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from confide.common.v1 import jurisdiction_pb2
from confide.scheduling.v1 import scheduling_pb2 as pb
from confide_chassis.idempotency import idempotency_table
from confide_chassis.ids import new_id_str
from confide_scheduling.db.tables import metadata

from .conftest import Stack, new_world, next_slot

pytestmark = pytest.mark.integration


def _window(start: datetime, hours: int) -> pb.SearchSlotsRequest:
    request = pb.SearchSlotsRequest(session_type_code="psychotherapy_60", max_results=500)
    request.window.start.FromDatetime(start)
    request.window.end.FromDatetime(start + timedelta(hours=hours))
    return request


async def test_lic_01_slot_search_offers_only_clinicians_authorized_for_the_clients_state(
    stack: Stack,
) -> None:
    world = await new_world(stack, time_zone="UTC")  # days ahead, in UTC days
    start = next_slot(timedelta(days=1)).replace(hour=8, minute=0)
    request = _window(start, 4)
    request.client_id = world.clients[0]
    request.clinician_ids.append(world.clinician_id)
    found = await stack.availability.SearchSlots(request, metadata=world.client())
    assert found.client_state == jurisdiction_pb2.JURISDICTION_CO
    assert found.client_time_zone == "America/Denver"
    assert found.slots
    assert {s.clinician_id for s in found.slots} == {world.clinician_id}
    first = found.slots[0]
    denver = datetime.fromtimestamp(first.time.start.seconds, ZoneInfo("America/Denver"))
    assert first.client_local_start == denver.isoformat()  # rendered in the client's zone
    assert set(first.modalities) == {pb.MODALITY_VIDEO, pb.MODALITY_AUDIO_ONLY, pb.MODALITY_LIVE_CHAT}

    # Book one slot: it disappears from the next search.
    taken = datetime.fromtimestamp(first.time.start.seconds, UTC)
    await stack.appointments.BookAppointment(world.book_request(taken), metadata=world.client())
    again = await stack.availability.SearchSlots(request, metadata=world.client())
    assert all(s.time.start.seconds != first.time.start.seconds for s in again.slots)

    # A client travelling to California: this clinician is not authorized there (LIC-01/LIC-03).
    request.client_state = jurisdiction_pb2.JURISDICTION_CA
    elsewhere = await stack.availability.SearchSlots(request, metadata=world.client())
    assert list(elsewhere.slots) == []


async def test_slot_search_leaves_out_time_off_and_blocked_days(stack: Stack) -> None:
    world = await new_world(stack, time_zone="UTC")  # days ahead, in UTC days
    start = next_slot(timedelta(days=1)).replace(hour=8, minute=0)
    request = _window(start, 4)
    request.client_id = world.clients[0]
    request.clinician_ids.append(world.clinician_id)
    hour_later = (start + timedelta(hours=1)).timestamp()
    before = await stack.availability.SearchSlots(request, metadata=world.client())
    assert any(s.time.start.seconds < hour_later for s in before.slots)

    # Time off for the first hour: no slot starts inside it, later ones remain.
    time_off = pb.AddTimeOffRequest(clinician_id=world.clinician_id, idempotency_key=new_id_str())
    time_off.range.start.FromDatetime(start)
    time_off.range.end.FromDatetime(start + timedelta(hours=1))
    await stack.availability.AddTimeOff(time_off, metadata=world.clinician)
    found = await stack.availability.SearchSlots(request, metadata=world.client())
    assert found.slots
    assert all(s.time.start.seconds >= hour_later for s in found.slots)

    # A whole day blocked (UTC schedule): nothing is offered that day.
    blocked = pb.AddAvailabilityExceptionRequest(
        clinician_id=world.clinician_id, idempotency_key=new_id_str()
    )
    blocked.exception.date.year = start.year
    blocked.exception.date.month = start.month
    blocked.exception.date.day = start.day
    blocked.exception.kind = pb.EXCEPTION_KIND_BLOCKED
    await stack.availability.AddAvailabilityException(blocked, metadata=world.clinician)
    assert list((await stack.availability.SearchSlots(request, metadata=world.client())).slots) == []


async def test_recurring_series_reports_conflicts_per_occurrence(stack: Stack) -> None:
    world = await new_world(stack, clients=2, time_zone="UTC")
    first = next_slot(timedelta(days=1)).replace(hour=15, minute=0)
    # Another client already has the third week's slot.
    await stack.appointments.BookAppointment(
        world.book_request(first + timedelta(weeks=2), client=1), metadata=world.client(1)
    )
    request = pb.CreateSeriesRequest(
        client_id=world.clients[0],
        clinician_id=world.clinician_id,
        session_type_code="psychotherapy_45",
        modality=pb.MODALITY_VIDEO,
        frequency=pb.RECURRENCE_FREQUENCY_WEEKLY,
        count=4,
        idempotency_key=new_id_str(),
    )
    request.first_start_time.FromDatetime(first)
    created = await stack.series.CreateSeries(request, metadata=world.client())
    assert created.series.rrule.startswith("DTSTART;TZID=UTC:")
    assert len(created.appointments) == 3
    assert [c.problem for c in created.conflicts] == [pb.OCCURRENCE_PROBLEM_CONFLICT]
    conflict_day = created.conflicts[0].occurrence_date
    assert (conflict_day.year, conflict_day.month, conflict_day.day) == (
        (first + timedelta(weeks=2)).year,
        (first + timedelta(weeks=2)).month,
        (first + timedelta(weeks=2)).day,
    )
    series_id = created.series.series_id

    # "This one": skip the second week.
    second = created.appointments[1].occurrence_date
    skipped = await stack.series.SkipOccurrence(
        pb.SkipOccurrenceRequest(series_id=series_id, occurrence_date=second, idempotency_key=new_id_str()),
        metadata=world.client(),
    )
    assert skipped.appointment.status == pb.APPOINTMENT_STATUS_CANCELLED
    assert len(skipped.series.skipped_dates) == 1

    # "This and following": cancel from the fourth week on.
    fourth = created.appointments[2].occurrence_date
    cancelled = await stack.series.CancelFollowing(
        pb.CancelFollowingRequest(series_id=series_id, from_date=fourth, idempotency_key=new_id_str()),
        metadata=world.client(),
    )
    assert cancelled.cancelled_count == 1
    got = await stack.series.GetSeries(pb.GetSeriesRequest(series_id=series_id), metadata=world.clinician)
    statuses = [a.status for a in got.appointments]
    assert statuses == [
        pb.APPOINTMENT_STATUS_BOOKED,
        pb.APPOINTMENT_STATUS_CANCELLED,
        pb.APPOINTMENT_STATUS_CANCELLED,
    ]


async def test_waitlist_gets_the_freed_slot_with_an_expiring_offer(stack: Stack) -> None:
    world = await new_world(stack, clients=2, time_zone="UTC")
    start = next_slot(timedelta(days=2)).replace(hour=9, minute=0)
    booked = await stack.appointments.BookAppointment(world.book_request(start), metadata=world.client())
    joined = await stack.waitlist.JoinWaitlist(
        pb.JoinWaitlistRequest(
            client_id=world.clients[1],
            session_type_codes=["psychotherapy_45"],
            clinician_ids=[world.clinician_id],
            idempotency_key=new_id_str(),
        ),
        metadata=world.client(1),
    )
    assert joined.entry.status == pb.WAITLIST_STATUS_WAITING

    await stack.appointments.CancelAppointment(
        pb.CancelAppointmentRequest(
            appointment_id=booked.appointment.appointment_id, idempotency_key=new_id_str()
        ),
        metadata=world.client(),
    )
    listed = await stack.waitlist.ListWaitlist(
        pb.ListWaitlistRequest(client_id=world.clients[1]), metadata=world.client(1)
    )
    assert len(listed.offers) == 1
    offer = listed.offers[0]
    assert offer.time.start.seconds == booked.appointment.time.start.seconds
    assert offer.expire_time.seconds > datetime.now(UTC).timestamp()

    # Only the client the offer is for may accept it.
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stack.waitlist.AcceptWaitlistOffer(
            pb.AcceptWaitlistOfferRequest(
                offer_id=offer.offer_id, modality=pb.MODALITY_VIDEO, idempotency_key=new_id_str()
            ),
            metadata=world.client(),
        )
    assert foreign.value.code() is grpc.StatusCode.NOT_FOUND

    accepted = await stack.waitlist.AcceptWaitlistOffer(
        pb.AcceptWaitlistOfferRequest(
            offer_id=offer.offer_id, modality=pb.MODALITY_VIDEO, idempotency_key=new_id_str()
        ),
        metadata=world.client(1),
    )
    assert accepted.offer.status == pb.OFFER_STATUS_ACCEPTED
    assert accepted.appointment.status == pb.APPOINTMENT_STATUS_BOOKED
    assert accepted.appointment.client_id == world.clients[1]


async def test_migrations_create_exactly_the_tables_the_code_uses(stack: Stack) -> None:
    def compare(connection: object) -> list[object]:
        context = MigrationContext.configure(connection)  # type: ignore[arg-type]
        return list(compare_metadata(context, metadata))

    async with stack.engine.connect() as conn:
        diff = await conn.run_sync(compare)
    # Indexes and constraints are written as DDL in the migration (partial indexes, the exclusion
    # constraint) and not mirrored in the Table objects; columns and tables must match exactly.
    flat: list[Any] = [item for d in diff for item in (d if isinstance(d, list) else [d])]
    kinds = {"add_table", "remove_table", "add_column", "remove_column", "modify_type", "modify_nullable"}
    chassis_tables = {"outbox", "inbox", "alembic_version", idempotency_table.name}
    relevant = [
        d for d in flat if d[0] in kinds and not (d[0] == "remove_table" and d[1].name in chassis_tables)
    ]
    assert relevant == []

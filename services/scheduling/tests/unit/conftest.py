"""Shared builders for the scheduling domain unit tests (pure: no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from confide_scheduling.domain.appointments import Appointment, AppointmentStatus
from confide_scheduling.domain.catalog import Modality, SessionKind, SessionType
from confide_scheduling.domain.location import CheckInRecord, ClientLocation

PRACTICE = UUID("01900000-0000-7000-8000-000000000001")
CLINICIAN = UUID("01900000-0000-7000-8000-000000000002")
CLIENT = UUID("01900000-0000-7000-8000-000000000003")
APPOINTMENT = UUID("01900000-0000-7000-8000-000000000004")

THERAPY_60 = SessionType("psychotherapy_60", SessionKind.PSYCHOTHERAPY, timedelta(minutes=60))
START = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)  # a Monday, 10:00 in New York

AppointmentFactory = Callable[..., Appointment]


def make_appointment(**overrides: Any) -> Appointment:
    start: datetime = overrides.pop("start", START)
    session_type: SessionType = overrides.pop("session_type", THERAPY_60)
    fields: dict[str, Any] = {
        "id": APPOINTMENT,
        "practice_id": PRACTICE,
        "clinician_id": CLINICIAN,
        "client_id": CLIENT,
        "session_type": session_type,
        "modality": Modality.VIDEO,
        "start": start,
        "end": start + session_type.duration,
        "status": AppointmentStatus.BOOKED,
        "created_at": start - timedelta(days=7),
        "updated_at": start - timedelta(days=7),
        "scheduled_at": start - timedelta(days=7),
        "authorization_decision_id": "dec-1",
    }
    fields.update(overrides)
    appointment = Appointment(**fields)
    if (
        appointment.status in {AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_SESSION}
        and "check_in" not in overrides
    ):
        record = CheckInRecord(
            start - timedelta(minutes=5), ClientLocation("NY", at_home=True), True, "dec-2"
        )
        appointment = dataclasses.replace(appointment, check_in=record)
    if appointment.status is AppointmentStatus.IN_SESSION and appointment.started_at is None:
        appointment = dataclasses.replace(appointment, started_at=start)
    return appointment


@pytest.fixture
def appointment_factory() -> AppointmentFactory:
    return make_appointment

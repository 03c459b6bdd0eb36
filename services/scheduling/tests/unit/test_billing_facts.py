from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from confide_chassis.errors import FailedPrecondition, InvalidArgument
from confide_scheduling.domain.appointments import Appointment, AppointmentStatus
from confide_scheduling.domain.billing_facts import (
    PlaceOfService,
    TelehealthModifier,
    complete_session,
    place_of_service,
    telehealth_modifier,
)
from confide_scheduling.domain.catalog import Modality, SessionKind
from confide_scheduling.domain.location import CheckInRecord, ClientLocation

AppointmentFactory = Callable[..., Appointment]
START = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(("at_home", "pos"), [(True, "10"), (False, "02")])
def test_bill_11_pos_from_session_location(at_home: bool, pos: str) -> None:
    assert place_of_service(at_home).value == pos


@pytest.mark.parametrize(
    ("modality", "modifier"),
    [
        (Modality.VIDEO, TelehealthModifier.SYNCHRONOUS_AUDIO_VIDEO),
        (Modality.AUDIO, TelehealthModifier.SYNCHRONOUS_AUDIO_ONLY),
        (Modality.LIVE_CHAT, None),
    ],
)
def test_bill_12_modifier_from_delivered_modality(
    modality: Modality, modifier: TelehealthModifier | None
) -> None:
    assert telehealth_modifier(modality) == modifier


def test_bill_12_modifier_codes() -> None:
    assert TelehealthModifier.SYNCHRONOUS_AUDIO_VIDEO.value == "95"
    assert TelehealthModifier.SYNCHRONOUS_AUDIO_ONLY.value == "93"
    with pytest.raises(InvalidArgument):
        telehealth_modifier(Modality.MESSAGING)


def in_session(factory: AppointmentFactory, *, at_home: bool, state: str = "NJ") -> Appointment:
    record = CheckInRecord(
        START - timedelta(minutes=3), ClientLocation(state, at_home=at_home), True, "dec-2"
    )
    return factory(start=START, status=AppointmentStatus.IN_SESSION, check_in=record, started_at=START)


def test_bill_11_bill_12_completed_session_facts(appointment_factory: AppointmentFactory) -> None:
    appointment = in_session(appointment_factory, at_home=True)
    done, facts = complete_session(appointment, START + timedelta(minutes=55), actual_minutes=53)
    assert done.status is AppointmentStatus.COMPLETED
    assert done.ended_at == START + timedelta(minutes=55)
    assert done.delivered_modality is Modality.VIDEO
    assert facts.duration_minutes == 53
    assert facts.modality is Modality.VIDEO
    assert facts.client_state == "NJ"
    assert facts.at_home is True
    assert facts.place_of_service is PlaceOfService.TELEHEALTH_IN_HOME
    assert facts.modifier is TelehealthModifier.SYNCHRONOUS_AUDIO_VIDEO
    assert facts.session_type_code == "psychotherapy_60"
    assert facts.session_kind is SessionKind.PSYCHOTHERAPY
    assert facts.started_at == START


def test_bill_12_video_that_fell_back_to_phone_is_audio_only(appointment_factory: AppointmentFactory) -> None:
    appointment = in_session(appointment_factory, at_home=False)
    done, facts = complete_session(
        appointment, START + timedelta(minutes=40), actual_minutes=38, delivered_modality=Modality.AUDIO
    )
    assert facts.modifier is TelehealthModifier.SYNCHRONOUS_AUDIO_ONLY
    assert facts.place_of_service is PlaceOfService.TELEHEALTH_OTHER_THAN_HOME
    assert done.modality is Modality.VIDEO  # what was booked is kept
    assert done.delivered_modality is Modality.AUDIO


@pytest.mark.parametrize("minutes", [0, -5, 241])
def test_actual_minutes_are_validated(appointment_factory: AppointmentFactory, minutes: int) -> None:
    with pytest.raises(InvalidArgument) as err:
        complete_session(in_session(appointment_factory, at_home=True), START, actual_minutes=minutes)
    assert err.value.violations[0].field == "actual_minutes"


def test_complete_only_from_in_session(appointment_factory: AppointmentFactory) -> None:
    with pytest.raises(FailedPrecondition) as err:
        complete_session(appointment_factory(start=START), START, actual_minutes=50)
    assert err.value.rule_ids == ("SCHED-01",)

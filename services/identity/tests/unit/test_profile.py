from __future__ import annotations

from dataclasses import asdict, replace
from datetime import date
from uuid import UUID, uuid4

import pytest

from confide_chassis.errors import InvalidArgument
from confide_identity.domain.age_of_consent import AgeOfConsentTable
from confide_identity.domain.profile import (
    ClientProfile,
    ClientProfileInput,
    PayerType,
    changed_fields,
    client_profile_facts,
    normalize_e164,
    parse_client_profile,
    profile_input,
)

TODAY = date(2026, 3, 2)
GOOD = ClientProfileInput(
    legal_name="  Jordan   Avery Lee ",
    preferred_name="Jo",
    date_of_birth="1990-04-12",
    home_state="ca",
    time_zone="America/Los_Angeles",
    emergency_contact_name="Sam Lee",
    emergency_contact_phone="+1 (415) 555-0134",
    payer_type="self_pay",
)


def parse(data: ClientProfileInput) -> ClientProfile:
    return parse_client_profile(data, client_id=uuid4(), practice_id=uuid4(), today=TODAY)


def fields_of(error: InvalidArgument) -> set[str]:
    return {v.field for v in error.violations}


def test_good_profile_is_normalised() -> None:
    profile = parse(GOOD)
    assert profile.legal_name == "Jordan Avery Lee"
    assert profile.home_state == "CA"
    assert profile.date_of_birth == date(1990, 4, 12)
    assert profile.emergency_contact.phone == "+14155550134"
    assert profile.payer_type is PayerType.SELF_PAY


def test_every_bad_field_is_reported_with_its_path() -> None:
    bad = ClientProfileInput(
        legal_name="  ",
        preferred_name="x" * 101,
        date_of_birth="12/04/1990",
        home_state="XX",
        time_zone="Mars/Olympus_Mons",
        emergency_contact_name="",
        emergency_contact_phone="415-555-0134",
        payer_type="cash",
    )
    with pytest.raises(InvalidArgument) as raised:
        parse(bad)
    assert fields_of(raised.value) == {
        "profile.legal_name",
        "profile.preferred_name",
        "profile.date_of_birth",
        "profile.home_state",
        "profile.time_zone",
        "profile.emergency_contact.name",
        "profile.emergency_contact.phone",
        "profile.payer_type",
    }


@pytest.mark.parametrize("dob", ["2026-03-03", "1880-01-01"])
def test_implausible_dates_of_birth(dob: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse(replace(GOOD, date_of_birth=dob))
    assert fields_of(raised.value) == {"profile.date_of_birth"}


@pytest.mark.parametrize("zone", ["America/Chicago", "Pacific/Honolulu", "America/Puerto_Rico", "UTC"])
def test_iana_time_zones_are_accepted(zone: str) -> None:
    assert parse(replace(GOOD, time_zone=zone)).time_zone == zone


@pytest.mark.parametrize(
    "zone", ["EST5EDTx", "america/chicago", "../../etc/passwd", "", "Central", "localtime"]
)
def test_non_iana_time_zones_are_rejected(zone: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse(replace(GOOD, time_zone=zone))
    assert fields_of(raised.value) == {"profile.time_zone"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155550134", "+14155550134"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1.415.555.0134", "+14155550134"),
        ("4155550134", None),
        ("+0123456789", None),
        ("+1415555013412345", None),
        ("+1-415-CALL-NOW", None),
    ],
)
def test_e164_validation(raw: str, expected: str | None) -> None:
    assert normalize_e164(raw) == expected


def test_all_payer_types() -> None:
    for payer in ("self_pay", "insurance", "federal_program", "INSURANCE"):
        assert parse(replace(GOOD, payer_type=payer)).payer_type is PayerType(payer.lower())


def test_events_carry_only_ids_and_coded_fields(consent_table: AgeOfConsentTable) -> None:
    profile = parse(GOOD)
    facts = client_profile_facts(profile, table=consent_table, on_date=TODAY)
    values = {key: str(value) for key, value in asdict(facts).items()}
    assert set(values) == {
        "client_id",
        "practice_id",
        "home_state",
        "time_zone",
        "payer_type",
        "is_minor",
        "is_minor_for_consent",
        "guardian_consent_required",
    }
    text = " ".join(values.values())
    for phi in ("Jordan", "Lee", "Sam", "1990", "4155550134"):
        assert phi not in text
    assert isinstance(facts.client_id, UUID)
    assert not facts.is_minor


def test_minor_flags_in_the_facts(consent_table: AgeOfConsentTable) -> None:
    teen = parse(replace(GOOD, date_of_birth="2013-01-01", home_state="TX"))
    facts = client_profile_facts(teen, table=consent_table, on_date=TODAY)
    assert facts.is_minor
    assert facts.is_minor_for_consent
    assert facts.guardian_consent_required


def test_changed_fields_names_not_values() -> None:
    before = parse(GOOD)
    merged = replace(profile_input(before), home_state="WA", emergency_contact_phone="+12065550100")
    after = parse_client_profile(
        merged, client_id=before.client_id, practice_id=before.practice_id, today=TODAY
    )
    assert changed_fields(before, after) == ("home_state", "emergency_contact.phone")
    assert changed_fields(before, before) == ()


def test_custom_field_prefix() -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_client_profile(
            replace(GOOD, home_state="??"),
            client_id=uuid4(),
            practice_id=uuid4(),
            today=TODAY,
            field_prefix="",
        )
    assert fields_of(raised.value) == {"home_state"}

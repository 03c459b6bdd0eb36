from __future__ import annotations

from datetime import date, timedelta

import pytest

from confide_chassis.errors import InvalidArgument, NotFound
from confide_scheduling.domain.catalog import Modality, SessionKind, SessionType
from confide_scheduling.reference_data import load_session_types, parse_session_types


def test_default_session_types_are_packaged_with_as_of() -> None:
    catalogue = load_session_types()
    assert catalogue.as_of >= date(2026, 1, 1)
    durations = {t.code: t.duration for t in catalogue.session_types}
    assert durations == {
        "intake_60": timedelta(minutes=60),
        "psychotherapy_30": timedelta(minutes=30),
        "psychotherapy_45": timedelta(minutes=45),
        "psychotherapy_60": timedelta(minutes=60),
        "family_60": timedelta(minutes=60),
    }
    assert catalogue.get("intake_60").kind is SessionKind.INTAKE
    with pytest.raises(NotFound):
        catalogue.get("massage_90")


def test_durations_are_configurable() -> None:
    text = """
as_of: 2026-03-01
session_types:
  - code: psychotherapy_50
    kind: psychotherapy
    duration_minutes: 50
    buffer_minutes: 10
    modalities: [video]
"""
    (only,) = parse_session_types(text).session_types
    assert only.duration == timedelta(minutes=50)
    assert only.modalities == {Modality.VIDEO}


def test_session_type_validation() -> None:
    with pytest.raises(InvalidArgument) as err:
        SessionType(
            "Bad Code", SessionKind.FAMILY, timedelta(minutes=3), modalities=frozenset({Modality.MESSAGING})
        )
    assert {v.field for v in err.value.violations} == {
        "session_type.code",
        "session_type.duration",
        "session_type.modalities",
    }

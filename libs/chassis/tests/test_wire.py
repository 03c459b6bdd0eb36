"""The shared wire conversions keep instants in UTC and map jurisdictions both ways."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from confide.common.v1 import jurisdiction_pb2
from confide_chassis import wire


def test_an_instant_survives_the_wire_whatever_its_zone() -> None:
    denver = timezone(timedelta(hours=-7))
    moment = datetime(2026, 3, 8, 1, 30, tzinfo=denver)
    back = wire.datetime_of(wire.timestamp(moment))
    assert back == moment
    assert back.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        wire.timestamp(datetime(2026, 1, 1))


def test_optional_timestamp_and_local_date() -> None:
    assert wire.optional_timestamp(None) is None
    day = wire.local_date(date(2026, 2, 28))
    assert (day.year, day.month, day.day) == (2026, 2, 28)


def test_jurisdictions_map_both_ways() -> None:
    assert wire.jurisdiction_value("CA") == jurisdiction_pb2.JURISDICTION_CA
    assert wire.jurisdiction_value("dc") == jurisdiction_pb2.JURISDICTION_DC
    assert wire.jurisdiction_value(None) == jurisdiction_pb2.JURISDICTION_UNSPECIFIED
    assert wire.jurisdiction_code(jurisdiction_pb2.JURISDICTION_PR) == "PR"
    assert wire.jurisdiction_code(jurisdiction_pb2.JURISDICTION_UNSPECIFIED) is None
    assert wire.jurisdiction_code(999) is None
    with pytest.raises(ValueError, match="XX"):
        wire.jurisdiction_value("XX")

"""Conversions between Python values and the shared protobuf types every service speaks.

Times on the wire are `google.protobuf.Timestamp` (UTC); calendar days are
`confide.common.v1.LocalDate`; US states and territories are `confide.common.v1.Jurisdiction`,
whose member names are `JURISDICTION_` + the USPS code. One implementation here keeps the services
from drifting apart on time zones or unknown codes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from confide.common.v1 import jurisdiction_pb2, time_pb2

_JURISDICTION_PREFIX = "JURISDICTION_"


def timestamp(moment: datetime) -> Timestamp:
    """An aware datetime as a Timestamp (naive datetimes are refused: their zone is unknown)."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place on the wire")
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def optional_timestamp(moment: datetime | None) -> Timestamp | None:
    return None if moment is None else timestamp(moment)


def datetime_of(stamp: Timestamp) -> datetime:
    """The Timestamp as an aware UTC datetime."""
    return stamp.ToDatetime(tzinfo=UTC)


def local_date(day: date) -> time_pb2.LocalDate:
    return time_pb2.LocalDate(year=day.year, month=day.month, day=day.day)


def jurisdiction_value(code: str | None) -> jurisdiction_pb2.Jurisdiction.ValueType:
    """A USPS code ("CA") as a Jurisdiction; UNSPECIFIED for none. ValueError for an unknown code."""
    if not code:
        return jurisdiction_pb2.JURISDICTION_UNSPECIFIED
    return jurisdiction_pb2.Jurisdiction.Value(_JURISDICTION_PREFIX + code.upper())


def jurisdiction_code(value: int) -> str | None:
    """A Jurisdiction as its USPS code; None when unspecified or not a known member."""
    if value == jurisdiction_pb2.JURISDICTION_UNSPECIFIED:
        return None
    try:
        name = jurisdiction_pb2.Jurisdiction.Name(value)  # type: ignore[arg-type]
    except ValueError:
        return None
    return name.removeprefix(_JURISDICTION_PREFIX)

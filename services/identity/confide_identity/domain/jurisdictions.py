"""US jurisdictions by USPS two-letter code: 50 states, DC and the inhabited territories."""

from __future__ import annotations

from typing import Final

US_STATES: Final[frozenset[str]] = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
    ]
)
US_JURISDICTIONS: Final[frozenset[str]] = US_STATES | frozenset({"DC", "PR", "GU", "VI", "AS", "MP"})


def normalize_jurisdiction(value: str) -> str | None:
    """The upper-case code when `value` names a US jurisdiction, else None."""
    code = value.strip().upper()
    return code if code in US_JURISDICTIONS else None

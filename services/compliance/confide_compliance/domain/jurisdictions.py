"""US jurisdictions a license, compact or client location can refer to (LIC-01).

Codes are USPS two-letter codes: the 50 states, the District of Columbia and the five inhabited
territories. PSYPACT's "CNMI" is the Northern Mariana Islands, code ``MP``.
"""

from __future__ import annotations

from confide_chassis.errors import InvalidArgument

STATES: frozenset[str] = frozenset(
    {
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA",
        "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD",
        "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
        "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC",
        "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
    }
)  # fmt: skip
DISTRICT: frozenset[str] = frozenset({"DC"})
TERRITORIES: frozenset[str] = frozenset({"PR", "GU", "VI", "AS", "MP"})
JURISDICTIONS: frozenset[str] = STATES | DISTRICT | TERRITORIES

# Sorted once so that anything iterating over jurisdictions is deterministic.
ALL_JURISDICTIONS: tuple[str, ...] = tuple(sorted(JURISDICTIONS))


def normalize_jurisdiction(code: object) -> str | None:
    """The canonical code for `code` (trimmed, upper-case), or None if it is not a known jurisdiction."""
    if not isinstance(code, str):
        return None
    candidate = code.strip().upper()
    return candidate if candidate in JURISDICTIONS else None


def require_jurisdiction(code: object, field: str) -> str:
    """Like `normalize_jurisdiction` but refuses unknown codes with INVALID_ARGUMENT on `field`."""
    normalized = normalize_jurisdiction(code)
    if normalized is None:
        raise InvalidArgument.field(
            field, f"unknown jurisdiction {code!r}: expected a USPS code of a US state, DC or territory"
        )
    return normalized

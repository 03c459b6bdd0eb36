"""The client's location at session time (LIC-01, LIC-04, SAFE-02) and the check-in record."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from confide_chassis.errors import ValidationCollector

__all__ = ["US_JURISDICTIONS", "CheckInRecord", "ClientLocation"]

# USPS codes of the 50 states, DC and the inhabited territories: the jurisdictions that license clinicians.
_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM",
    "NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP",
)
US_JURISDICTIONS: frozenset[str] = frozenset(code for line in _CODES for code in line.split())

_REF = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class ClientLocation:
    """Where the client says they are at check-in.

    ``state`` is a 2-letter USPS code (LIC-01: the session happens there); ``at_home`` drives POS 10 vs 02
    (BILL-11). ``emergency_address_ref`` is an opaque id of an address usable by first responders
    (SAFE-02), kept by the owner of addresses; it is stored on the appointment but never put into events.
    """

    state: str
    at_home: bool
    emergency_address_ref: str | None = None

    def __post_init__(self) -> None:
        errors = ValidationCollector()
        errors.require(
            self.state in US_JURISDICTIONS,
            "location.state",
            "must be a 2-letter US state or territory code (upper case)",
        )
        if self.emergency_address_ref is not None:
            errors.require(
                bool(_REF.match(self.emergency_address_ref)),
                "location.emergency_address_ref",
                "must be an opaque reference id (letters, digits, - and _)",
            )
        errors.raise_if_any()


@dataclass(frozen=True, slots=True)
class CheckInRecord:
    """What was captured at check-in (LIC-04, SAFE-01, SAFE-02)."""

    at: datetime
    location: ClientLocation
    identity_confirmed: bool
    authorization_decision_id: str | None = None

    def event_facts(self) -> dict[str, str | bool]:
        """The facts an event may carry: no address reference, no free text (architecture: no PHI)."""
        return {
            "checked_in_at": self.at.isoformat(),
            "client_state": self.location.state,
            "at_home": self.location.at_home,
            "identity_confirmed": self.identity_confirmed,
        }

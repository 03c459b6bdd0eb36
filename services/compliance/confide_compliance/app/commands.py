"""Commands: one frozen dataclass per state-changing use case, holding domain values (built by
`api.mapping` from requests, or by `events.consumers` from events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RecordSessionDay:
    """A session of a real appointment started (scheduling's SessionStarted): count its day against
    the day-limited authority its check-in decision relied on (LIC-13, LIC-60)."""

    appointment_id: str
    practice_id: str
    clinician_id: str
    client_jurisdiction: str
    authorization_decision_id: str
    started_at: datetime

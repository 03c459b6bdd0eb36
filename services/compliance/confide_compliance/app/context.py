"""The application context: what every use case runs on, built once in `wiring` (reference data
loaded and validated once: the service refuses to start on invalid data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from confide_chassis.clock import utc_now
from confide_compliance.app.ports import Clock, SingleRunner, UnitOfWorkFactory
from confide_compliance.domain.reference import ReferenceData


@dataclass(frozen=True, slots=True)
class AppContext:
    uow: UnitOfWorkFactory
    reference: ReferenceData
    clock: Clock = utc_now
    runner: SingleRunner | None = None  # the expiry watch's cluster-wide lock

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def today(self) -> date:
        return self.now().date()

"""The use cases' context, built once in wiring."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from confide_directory.app.ports import AuthorizationPort, AvailabilityPort, UnitOfWork
from confide_directory.domain.vocabulary import Vocabulary


@dataclass(frozen=True, slots=True)
class AppContext:
    uow: Callable[[], UnitOfWork]
    vocabulary: Vocabulary
    authorization: AuthorizationPort
    availability: AvailabilityPort | None
    clock: Callable[[], datetime]
    availability_horizon: timedelta = timedelta(days=14)

    def now(self) -> datetime:
        return self.clock()

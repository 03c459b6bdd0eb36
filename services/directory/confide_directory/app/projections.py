"""Keeping the directory current from other services' events (each handler runs in the consumer's
transaction, with the inbox row, so a redelivered event changes nothing twice)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from confide_directory.app.ports import ProjectionRepository


class Projections:
    def __init__(self, projections: ProjectionRepository) -> None:
        self._projections = projections

    async def authorization_changed(
        self, clinician_id: str, gained: Sequence[str], lost: Sequence[str]
    ) -> None:
        await self._projections.cover(clinician_id, gained, lost)

    async def credential_lapsed(self, clinician_id: str, jurisdiction: str | None) -> None:
        # A lapsed or suspended license: the state leaves the profile's coverage at once. Searches do
        # not depend on this copy (they ask compliance), so it can only err towards showing less.
        if jurisdiction:
            await self._projections.cover(clinician_id, (), (jurisdiction,))

    async def care_team_assigned(self, link_id: str, client_id: str, clinician_id: str) -> None:
        await self._projections.assign_care_team(link_id, client_id, clinician_id)

    async def care_team_removed(self, link_id: str) -> None:
        await self._projections.remove_care_team(link_id)

    async def risk_flagged(self, client_id: str, at: datetime) -> None:
        await self._projections.flag_risk(client_id, at)

    async def user_deactivated(self, user_id: str, at: datetime) -> None:
        await self._projections.deactivate(user_id, at)

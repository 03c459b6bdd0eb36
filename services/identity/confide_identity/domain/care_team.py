"""Care team: which clinicians treat which client. This link is what lets a clinician see a client's
data in every service (authorization relation CARE_TEAM; events carry it).

Invariants (IDN-CARE-01): the clinician is an active user holding the clinician role, the client an active
user holding the client role, both in the link's practice; at most one active link per pair. Links are
never deleted: removal stamps `removed_at` so the history stays auditable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from confide_chassis.errors import AlreadyExists, FailedPrecondition, NotFound, RuleViolation
from confide_identity.domain.common import require_utc
from confide_identity.domain.roles import PracticeMember, Role
from confide_identity.domain.rules import IDN_CARE_01


@dataclass(frozen=True, slots=True)
class CareTeamLink:
    link_id: UUID
    practice_id: UUID
    client_id: UUID
    clinician_id: UUID
    assigned_at: datetime
    assigned_by: UUID
    removed_at: datetime | None = None
    removed_by: UUID | None = None

    @property
    def active(self) -> bool:
        return self.removed_at is None


def _rule(description: str, subject: str) -> FailedPrecondition:
    return FailedPrecondition(RuleViolation(IDN_CARE_01, description, subject=subject))


def assign_clinician(
    *,
    link_id: UUID,
    practice_id: UUID,
    client: PracticeMember,
    clinician: PracticeMember,
    existing_links: Iterable[CareTeamLink],
    assigned_by: UUID,
    now: datetime,
) -> CareTeamLink:
    """A new active link, or an error: `NotFound` for a user outside the practice (existence is not
    revealed across tenants), `FailedPrecondition` IDN-CARE-01 for a wrong role or an inactive user,
    `AlreadyExists` for a duplicate active link."""
    require_utc(now)
    if client.practice_id != practice_id:
        raise NotFound("client not found")
    if clinician.practice_id != practice_id:
        raise NotFound("clinician not found")
    if client.user_id == clinician.user_id:
        raise _rule("a user cannot be on their own care team", "clinician_id")
    if not clinician.has_role(Role.CLINICIAN):
        raise _rule("the assigned user does not hold the clinician role", "clinician_id")
    if not clinician.active:
        raise _rule("the clinician's account is not active", "clinician_id")
    if not client.has_role(Role.CLIENT):
        raise _rule("the user does not hold the client role", "client_id")
    if not client.active:
        raise _rule("the client's account is not active", "client_id")
    for link in existing_links:
        if link.active and link.client_id == client.user_id and link.clinician_id == clinician.user_id:
            raise AlreadyExists("the clinician is already on this client's care team")
    return CareTeamLink(
        link_id=link_id,
        practice_id=practice_id,
        client_id=client.user_id,
        clinician_id=clinician.user_id,
        assigned_at=now,
        assigned_by=assigned_by,
    )


def remove_clinician(link: CareTeamLink, *, removed_by: UUID, now: datetime) -> CareTeamLink:
    """End an active link; removing an ended link is `FailedPrecondition` (nothing to remove)."""
    require_utc(now)
    if not link.active:
        raise _rule("the care-team link has already been removed", "link_id")
    return replace(link, removed_at=now, removed_by=removed_by)


def active_care_team(links: Iterable[CareTeamLink], client_id: UUID) -> frozenset[UUID]:
    """Clinician ids actively linked to `client_id` (feeds `authorization.Resource.care_team`)."""
    return frozenset(link.clinician_id for link in links if link.active and link.client_id == client_id)


def links_to_end_on_deactivation(links: Iterable[CareTeamLink], user_id: UUID) -> tuple[CareTeamLink, ...]:
    """Active links a deactivated user (client or clinician) takes part in; the app removes them."""
    return tuple(
        link for link in links if link.active and (link.client_id == user_id or link.clinician_id == user_id)
    )

"""Care teams: assign and remove clinicians, list a client's team (IDN-CARE-01)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from confide.identity.v1 import events_pb2
from confide_chassis import audit
from confide_chassis.auth import Principal as CallerToken
from confide_chassis.errors import NotFound
from confide_chassis.ids import new_id
from confide_identity.app import commands, events
from confide_identity.app.context import AppContext
from confide_identity.app.ports import IdentityUnitOfWork
from confide_identity.app.support import (
    audit_record,
    authorize_or_audit,
    caller_audit,
    load_caller,
    require_user,
)
from confide_identity.domain.authorization import Action, Resource, authorize
from confide_identity.domain.care_team import (
    CareTeamLink,
    active_care_team,
    assign_clinician,
    remove_clinician,
)

REASON_CODES = {events.REMOVED: "removed", events.USER_DEACTIVATED: "user_deactivated"}


@dataclass(frozen=True, slots=True)
class CareTeamEntry:
    link: CareTeamLink
    clinician_display_name: str


async def end_links_involving(
    uow: IdentityUnitOfWork,
    practice_id: UUID,
    user_id: UUID,
    *,
    by: UUID,
    now: datetime,
    reason: events_pb2.CareTeamRemovalReason.ValueType,
    as_client: bool = True,
    as_clinician: bool = True,
) -> int:
    """End the user's active links (deactivation, role change), each with its CareTeamRemoved event."""
    ended = 0
    for link in await uow.care_teams.involving(practice_id, user_id):
        if (link.client_id == user_id and as_client) or (link.clinician_id == user_id and as_clinician):
            removed = remove_clinician(link, removed_by=by, now=now)
            await uow.care_teams.save(removed, reason=REASON_CODES[reason])
            uow.publish(events.care_team_removed(removed, reason))
            ended += 1
    return ended


class CareTeamUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def assign(self, token: CallerToken, command: commands.AssignClinician) -> CareTeamEntry:
        ctx = self.ctx
        client_id, clinician_id = command.client_id, command.clinician_id
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(caller.principal, Action.CARE_TEAM_ASSIGN, Resource.practice(caller.practice_id))
            client = await uow.users.get(caller.practice_id, client_id, for_update=True)
            if client is None:
                raise NotFound("client not found")
            clinician = await uow.users.get(caller.practice_id, clinician_id, for_update=True)
            if clinician is None:
                raise NotFound("clinician not found")
            link = assign_clinician(
                link_id=new_id(),
                practice_id=caller.practice_id,
                client=client.member(),
                clinician=clinician.member(),
                existing_links=await uow.care_teams.for_client(caller.practice_id, client_id, lock=True),
                assigned_by=caller.user_id,
                now=now,
            )
            await uow.care_teams.add(link)
            uow.publish(
                events.care_team_assigned(link),
                audit_record(
                    action=audit.CREATE,
                    resource_type="care_team",
                    resource_id=link.link_id,
                    subject=client_id,
                    purpose=audit.OPERATIONS,
                    actor=token,
                    now=now,
                ),
            )
            await uow.commit()
        return CareTeamEntry(link=link, clinician_display_name=clinician.display_name or "")

    async def remove(self, token: CallerToken, command: commands.RemoveClinician) -> None:
        ctx = self.ctx
        link_id = command.link_id
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(caller.principal, Action.CARE_TEAM_REMOVE, Resource.practice(caller.practice_id))
            link = await uow.care_teams.get(caller.practice_id, link_id)
            if link is None:
                raise NotFound("care-team link not found")
            removed = remove_clinician(link, removed_by=caller.user_id, now=now)
            await uow.care_teams.save(removed, reason=REASON_CODES[events.REMOVED])
            uow.publish(
                events.care_team_removed(removed, events.REMOVED),
                audit_record(
                    action=audit.UPDATE,
                    resource_type="care_team",
                    resource_id=link.link_id,
                    subject=link.client_id,
                    purpose=audit.OPERATIONS,
                    actor=token,
                    now=now,
                ),
            )
            await uow.commit()

    async def list_team(self, token: CallerToken, client_id: UUID) -> tuple[CareTeamEntry, ...]:
        ctx = self.ctx
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            client = await require_user(uow, caller.practice_id, client_id)
            links = await uow.care_teams.for_client(caller.practice_id, client.user_id)
            await authorize_or_audit(
                ctx,
                caller,
                Action.CARE_TEAM_READ,
                Resource.person(caller.practice_id, client.user_id, active_care_team(links, client.user_id)),
                audit_action=audit.READ,
                resource_type="care_team",
                resource_id=client.user_id,
            )
            clinicians = await uow.users.get_many(caller.practice_id, [link.clinician_id for link in links])
            uow.publish(
                caller_audit(
                    caller,
                    audit.READ,
                    "care_team",
                    client.user_id,
                    subject=client.user_id,
                    now=ctx.now(),
                )
            )
            await uow.commit()
        return tuple(
            CareTeamEntry(
                link=link,
                clinician_display_name=(
                    clinicians[link.clinician_id].display_name or ""
                    if link.clinician_id in clinicians
                    else ""
                ),
            )
            for link in links
        )

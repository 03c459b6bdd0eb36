"""Editing, reviewing and reading profiles."""

from __future__ import annotations

from dataclasses import replace

from confide_chassis.auth import Principal
from confide_chassis.errors import FailedPrecondition, NotFound, RuleViolation
from confide_directory.app.commands import ApproveProfile, UpdateProfile
from confide_directory.app.context import AppContext
from confide_directory.app.ports import ListedProfile
from confide_directory.domain.profiles import Profile, new_profile, validate_content


class ProfileUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def mine(self, actor: Principal) -> tuple[Profile, ListedProfile | None]:
        async with self._ctx.uow() as uow:
            profile = await uow.profiles.get_draft(actor.subject)
            if profile is None or profile.practice_id != actor.practice_id:
                raise NotFound("no profile yet: UpdateMyProfile creates it")
            listed = await uow.profiles.listed(profile.practice_id, [profile.clinician_id])
        return profile, listed.get(profile.clinician_id)

    async def update(self, actor: Principal, command: UpdateProfile) -> tuple[Profile, ListedProfile | None]:
        # The clinician is the caller: a clinician edits only their own profile (no id to name another).
        content = validate_content(command.content, self._ctx.vocabulary)
        async with self._ctx.uow() as uow:
            if await uow.projections.is_deactivated(actor.subject):
                raise FailedPrecondition(RuleViolation("DIR-02", "the account is deactivated"))
            current = await uow.profiles.get_draft(actor.subject)
            if current is not None and current.practice_id != actor.practice_id:
                raise NotFound("no such profile in this practice")
            profile = (
                new_profile(actor.subject, actor.practice_id, content)
                if current is None
                else current.revise(content)
            )
            await uow.profiles.save(profile, now=self._ctx.now())
            listed = await uow.profiles.listed(profile.practice_id, [profile.clinician_id])
            await uow.commit()
        return profile, listed.get(profile.clinician_id)

    async def pending(self, actor: Principal) -> list[Profile]:
        async with self._ctx.uow() as uow:
            return await uow.profiles.pending(actor.practice_id)

    async def approve(
        self, actor: Principal, command: ApproveProfile
    ) -> tuple[Profile, ListedProfile | None]:
        async with self._ctx.uow() as uow:
            current = await uow.profiles.get_draft(command.clinician_id)
            if current is None or current.practice_id != actor.practice_id:
                raise NotFound("no such profile in this practice")
            if await uow.projections.is_deactivated(current.clinician_id):
                current = replace(current, deactivated=True)
            approved = current.approve(
                reviewed_version=command.draft_version, by=actor.subject, now=self._ctx.now()
            )
            await uow.profiles.save(approved, now=self._ctx.now())
            listed = await uow.profiles.listed(approved.practice_id, [approved.clinician_id])
            await uow.commit()
        return approved, listed.get(approved.clinician_id)

    async def listed(self, actor: Principal, clinician_id: str) -> ListedProfile:
        async with self._ctx.uow() as uow:
            found = await uow.profiles.listed(actor.practice_id, [clinician_id])
        if clinician_id not in found:
            raise NotFound("no listed profile with this id in this practice")
        return found[clinician_id]

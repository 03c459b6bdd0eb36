"""Client profiles: read and create/update, with minor detection by the home state (docs/rules.md §2.5)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from confide_chassis import audit
from confide_chassis.auth import Principal as CallerToken
from confide_chassis.errors import NotFound
from confide_identity.app import commands, events
from confide_identity.app.context import AppContext
from confide_identity.app.models import StoredProfile
from confide_identity.app.support import (
    authorize_or_audit,
    caller_audit,
    client_resource,
    load_caller,
)
from confide_identity.domain.age_of_consent import MinorConsentAssessment
from confide_identity.domain.authorization import Action
from confide_identity.domain.profile import (
    ClientProfile,
    ClientProfileInput,
    changed_fields,
    client_profile_facts,
    parse_client_profile,
    profile_input,
)
from confide_identity.domain.roles import Role

PROFILE_FIELDS = (
    "legal_name",
    "preferred_name",
    "date_of_birth",
    "home_state",
    "time_zone",
    "emergency_contact",
    "payer_type",
)


@dataclass(frozen=True, slots=True)
class ProfileView:
    stored: StoredProfile
    minor: MinorConsentAssessment


def local_date(moment: datetime, time_zone: str) -> date:
    """The calendar date at `moment` in the client's own zone (age counts by the client's calendar)."""
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def assess_minor(ctx: AppContext, profile: ClientProfile, now: datetime) -> MinorConsentAssessment:
    """Is the client a minor today, by their own calendar, and is a guardian's consent needed?
    (docs/rules.md §2.5)"""
    return ctx.consent_ages.assess(
        profile.date_of_birth,
        profile.home_state,
        local_date(now, profile.time_zone),
        accept_unverified=ctx.config.accept_unverified_consent_ages,
    )


def merge(base: ClientProfileInput, update: ClientProfileInput, paths: frozenset[str]) -> ClientProfileInput:
    """`base` with the fields named in `paths` taken from `update` (emergency_contact covers both parts)."""
    values: dict[str, Any] = {
        "legal_name": base.legal_name,
        "preferred_name": base.preferred_name,
        "date_of_birth": base.date_of_birth,
        "home_state": base.home_state,
        "time_zone": base.time_zone,
        "emergency_contact_name": base.emergency_contact_name,
        "emergency_contact_phone": base.emergency_contact_phone,
        "payer_type": base.payer_type,
    }
    for path in paths:
        if path == "emergency_contact":
            values["emergency_contact_name"] = update.emergency_contact_name
            values["emergency_contact_phone"] = update.emergency_contact_phone
        elif path == "emergency_contact.name":
            values["emergency_contact_name"] = update.emergency_contact_name
        elif path == "emergency_contact.phone":
            values["emergency_contact_phone"] = update.emergency_contact_phone
        else:
            values[path] = getattr(update, path)
    return ClientProfileInput(**values)


class ProfileUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def get(self, token: CallerToken, client_id: UUID) -> ProfileView:
        ctx = self.ctx
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            _, resource = await client_resource(uow, caller.practice_id, client_id)
            await authorize_or_audit(
                ctx,
                caller,
                Action.CLIENT_PROFILE_READ,
                resource,
                audit_action=audit.READ,
                resource_type="client_profile",
                resource_id=client_id,
            )
            stored = await uow.profiles.get(caller.practice_id, client_id)
            if stored is None:
                raise NotFound("the client has no profile yet")
            now = ctx.now()
            uow.publish(
                caller_audit(
                    caller,
                    audit.READ,
                    "client_profile",
                    client_id,
                    subject=client_id,
                    now=now,
                )
            )
            await uow.commit()
        return ProfileView(stored=stored, minor=assess_minor(ctx, stored.profile, now))

    async def update(self, token: CallerToken, command: commands.UpdateClientProfile) -> ProfileView:
        """Create (every field from `values`) or update (the fields in `paths`; all when empty)."""
        ctx = self.ctx
        client_id, values, paths = command.client_id, command.values, command.paths
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            client, resource = await client_resource(uow, caller.practice_id, client_id)
            await authorize_or_audit(
                ctx,
                caller,
                Action.CLIENT_PROFILE_UPDATE,
                resource,
                audit_action=audit.UPDATE,
                resource_type="client_profile",
                resource_id=client_id,
            )
            if Role.CLIENT not in client.roles:
                raise NotFound("client not found")
            existing = await uow.profiles.get(caller.practice_id, client_id, for_update=True)
            merged = (
                values
                if existing is None or not paths
                else merge(profile_input(existing.profile), values, paths)
            )
            profile = parse_client_profile(
                merged,
                client_id=client_id,
                practice_id=caller.practice_id,
                today=now.date(),
                field_prefix="profile",
            )
            if existing is not None and not changed_fields(existing.profile, profile):
                return ProfileView(stored=existing, minor=assess_minor(ctx, existing.profile, now))
            version = 1 if existing is None else existing.version + 1
            await uow.profiles.save(profile, version=version, now=now)
            minor = assess_minor(ctx, profile, now)
            facts = client_profile_facts(
                profile,
                table=ctx.consent_ages,
                on_date=local_date(now, profile.time_zone),
                accept_unverified=ctx.config.accept_unverified_consent_ages,
            )
            uow.publish(
                events.client_profile_changed(facts, version=version, at=now),
                caller_audit(
                    caller,
                    audit.CREATE if existing is None else audit.UPDATE,
                    "client_profile",
                    client_id,
                    subject=client_id,
                    now=now,
                ),
            )
            await uow.commit()
        stored = StoredProfile(
            profile=profile,
            version=version,
            created_at=existing.created_at if existing is not None else now,
            updated_at=now,
        )
        return ProfileView(stored=stored, minor=minor)

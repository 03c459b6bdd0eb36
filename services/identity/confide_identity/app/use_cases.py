"""All of identity's use cases, wired to one application context."""

from __future__ import annotations

from dataclasses import dataclass

from confide_identity.app.auth import AuthUseCases
from confide_identity.app.care_teams import CareTeamUseCases
from confide_identity.app.consents import ConsentUseCases
from confide_identity.app.context import AppContext
from confide_identity.app.keys import KeyManager
from confide_identity.app.profiles import ProfileUseCases
from confide_identity.app.users import PracticeUseCases, UserUseCases


@dataclass
class UseCases:
    auth: AuthUseCases
    practices: PracticeUseCases
    users: UserUseCases
    profiles: ProfileUseCases
    consents: ConsentUseCases
    care_teams: CareTeamUseCases

    @classmethod
    def of(cls, ctx: AppContext, keys: KeyManager) -> UseCases:
        return cls(
            auth=AuthUseCases(ctx, keys),
            practices=PracticeUseCases(ctx),
            users=UserUseCases(ctx),
            profiles=ProfileUseCases(ctx),
            consents=ConsentUseCases(ctx),
            care_teams=CareTeamUseCases(ctx),
        )

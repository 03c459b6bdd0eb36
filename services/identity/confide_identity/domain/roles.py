"""Roles, principals (who is calling) and practice members (who is being acted upon)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from uuid import UUID


class Role(StrEnum):
    """The platform's roles; each value is the token role name of `confide_chassis.roles` (the domain
    keeps its own enum to stay free of generated code; a unit test keeps the two equal)."""

    CLIENT = "client"
    CLINICIAN = "clinician"
    PRACTICE_ADMIN = "practice_admin"
    COMPLIANCE_OFFICER = "compliance_officer"
    PLATFORM_OPERATOR = "platform_operator"


# SEC-03 (build to the Security Rule NPRM now), MSG-01: MFA for everyone who can see other people's ePHI.
MFA_REQUIRED_ROLES: Final[frozenset[Role]] = frozenset(
    {Role.CLINICIAN, Role.PRACTICE_ADMIN, Role.COMPLIANCE_OFFICER, Role.PLATFORM_OPERATOR}
)


def mfa_required(roles: Iterable[Role]) -> bool:
    """SEC-03: MFA is mandatory for staff roles and optional for clients."""
    return any(role in MFA_REQUIRED_ROLES for role in roles)


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """Roles from their wire names; an unknown name is a `ValueError` (callers map it to a field error)."""
    return frozenset(Role(value) for value in values)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as carried by the access token.

    `mfa` is true when this session was established with a second factor (the JWT `mfa` claim).
    """

    subject_id: UUID
    practice_id: UUID
    roles: frozenset[Role]
    mfa: bool

    def has_role(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True, slots=True)
class PracticeMember:
    """A user as another rule sees them: identity, tenant, roles and whether the account is active."""

    user_id: UUID
    practice_id: UUID
    roles: frozenset[Role]
    active: bool = True

    def has_role(self, role: Role) -> bool:
        return role in self.roles

"""Permission model: an explicit table of actions -> roles -> relationships, deny by default.

Three checks, in order, for every action:
1. Scope. A practice-scoped action needs a resource in the caller's own practice (always, for every role,
   including platform operators); a platform-scoped action needs a resource outside any practice.
2. Grant. One of the caller's roles must be listed for the action with a relationship that holds:
   ``ANY`` (anything in the practice), ``SELF`` (the resource is about the caller), ``CARE_TEAM`` (the
   caller is a clinician on the resource owner's active care team) or ``PLATFORM``.
3. MFA (SEC-03). Grants through staff roles count only in a session that passed MFA, except for the few
   actions a staff member needs to finish MFA enrolment or to sign out.

Anything not in the table is denied. The app layer fills `Resource` (owner and care team) from its
repositories; this module never looks anything up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final
from uuid import UUID

from confide_chassis.errors import PermissionDenied
from confide_identity.domain.roles import MFA_REQUIRED_ROLES, Principal, Role
from confide_identity.domain.rules import SEC_03


class Action(StrEnum):
    # platform scope
    PRACTICE_CREATE = "practice.create"
    SIGNING_KEY_ROTATE = "signing_key.rotate"
    # practice scope
    PRACTICE_READ = "practice.read"
    PRACTICE_UPDATE_SETTINGS = "practice.update_settings"
    USER_CREATE = "user.create"
    USER_READ = "user.read"
    USER_LIST = "user.list"
    USER_DEACTIVATE = "user.deactivate"
    USER_CHANGE_ROLES = "user.change_roles"
    MFA_ENROL = "mfa.enrol"
    MFA_RESET = "mfa.reset"
    SESSION_SIGN_OUT = "session.sign_out"
    SESSION_SIGN_OUT_EVERYWHERE = "session.sign_out_everywhere"
    CLIENT_PROFILE_READ = "client_profile.read"
    CLIENT_PROFILE_UPDATE = "client_profile.update"
    CONSENT_DOCUMENT_PUBLISH = "consent_document.publish"
    CONSENT_DOCUMENT_READ = "consent_document.read"
    CONSENT_SIGN = "consent.sign"
    CONSENT_READ = "consent.read"
    CONSENT_REVOKE = "consent.revoke"
    CARE_TEAM_ASSIGN = "care_team.assign"
    CARE_TEAM_REMOVE = "care_team.remove"
    CARE_TEAM_READ = "care_team.read"


class Scope(StrEnum):
    PLATFORM = "platform"
    PRACTICE = "practice"


class Relation(StrEnum):
    ANY = "any"
    SELF = "self"
    CARE_TEAM = "care_team"
    PLATFORM = "platform"


@dataclass(frozen=True, slots=True)
class Resource:
    """What an action touches.

    practice_id: the tenant it belongs to; None only for platform-level resources.
    owner_id: the person it is about (user account, client profile, consent, care team of a client).
    care_team: clinician ids with an active care-team link to `owner_id` (filled by the app layer).
    """

    practice_id: UUID | None
    owner_id: UUID | None = None
    care_team: frozenset[UUID] = frozenset()

    @classmethod
    def platform(cls) -> Resource:
        return cls(practice_id=None)

    @classmethod
    def practice(cls, practice_id: UUID) -> Resource:
        return cls(practice_id=practice_id)

    @classmethod
    def person(cls, practice_id: UUID, owner_id: UUID, care_team: frozenset[UUID] = frozenset()) -> Resource:
        return cls(practice_id=practice_id, owner_id=owner_id, care_team=care_team)


@dataclass(frozen=True, slots=True)
class Permission:
    scope: Scope
    grants: Mapping[Role, frozenset[Relation]]
    allowed_before_mfa: bool = False
    """True for the actions a staff member needs before MFA is set up/verified (enrol, sign out)."""


def _grants(**by_role: frozenset[Relation]) -> Mapping[Role, frozenset[Relation]]:
    return MappingProxyType({Role(name): relations for name, relations in by_role.items()})


_ANY: Final = frozenset({Relation.ANY})
_SELF: Final = frozenset({Relation.SELF})
_CARE: Final = frozenset({Relation.CARE_TEAM})
_SELF_OR_CARE: Final = frozenset({Relation.SELF, Relation.CARE_TEAM})
_PLATFORM: Final = frozenset({Relation.PLATFORM})
_EVERY_ROLE_SELF: Final = _grants(**{role.value: _SELF for role in Role})
_EVERY_ROLE_ANY: Final = _grants(**{role.value: _ANY for role in Role})


PERMISSIONS: Final[Mapping[Action, Permission]] = MappingProxyType(
    {
        # --- platform ------------------------------------------------------------------------------
        Action.PRACTICE_CREATE: Permission(Scope.PLATFORM, _grants(platform_operator=_PLATFORM)),
        Action.SIGNING_KEY_ROTATE: Permission(Scope.PLATFORM, _grants(platform_operator=_PLATFORM)),
        # --- practice and users ----------------------------------------------------------------------
        Action.PRACTICE_READ: Permission(Scope.PRACTICE, _EVERY_ROLE_ANY),
        Action.PRACTICE_UPDATE_SETTINGS: Permission(Scope.PRACTICE, _grants(practice_admin=_ANY)),
        Action.USER_CREATE: Permission(Scope.PRACTICE, _grants(practice_admin=_ANY)),
        Action.USER_READ: Permission(
            Scope.PRACTICE,
            _grants(
                client=_SELF,
                clinician=_SELF_OR_CARE,
                practice_admin=_ANY,
                compliance_officer=_ANY,
                platform_operator=_SELF,
            ),
        ),
        Action.USER_LIST: Permission(Scope.PRACTICE, _grants(practice_admin=_ANY, compliance_officer=_ANY)),
        Action.USER_DEACTIVATE: Permission(Scope.PRACTICE, _grants(practice_admin=_ANY)),
        Action.USER_CHANGE_ROLES: Permission(Scope.PRACTICE, _grants(practice_admin=_ANY)),
        # --- credentials and sessions -----------------------------------------------------------------
        Action.MFA_ENROL: Permission(Scope.PRACTICE, _EVERY_ROLE_SELF, allowed_before_mfa=True),
        Action.MFA_RESET: Permission(Scope.PRACTICE, _grants(practice_admin=_ANY)),
        Action.SESSION_SIGN_OUT: Permission(Scope.PRACTICE, _EVERY_ROLE_SELF, allowed_before_mfa=True),
        Action.SESSION_SIGN_OUT_EVERYWHERE: Permission(
            Scope.PRACTICE,
            _grants(
                client=_SELF,
                clinician=_SELF,
                practice_admin=frozenset({Relation.SELF, Relation.ANY}),
                compliance_officer=_SELF,
                platform_operator=_SELF,
            ),
            allowed_before_mfa=True,
        ),
        # --- client profile (SEC-12 minimum necessary: no compliance/operator access to PHI here) -----
        Action.CLIENT_PROFILE_READ: Permission(
            Scope.PRACTICE, _grants(client=_SELF, clinician=_CARE, practice_admin=_ANY)
        ),
        Action.CLIENT_PROFILE_UPDATE: Permission(Scope.PRACTICE, _grants(client=_SELF, practice_admin=_ANY)),
        # --- telehealth consent ----------------------------------------------------------------------
        Action.CONSENT_DOCUMENT_PUBLISH: Permission(Scope.PRACTICE, _grants(practice_admin=_ANY)),
        Action.CONSENT_DOCUMENT_READ: Permission(Scope.PRACTICE, _EVERY_ROLE_ANY),
        Action.CONSENT_SIGN: Permission(Scope.PRACTICE, _grants(client=_SELF, clinician=_CARE)),
        Action.CONSENT_READ: Permission(
            Scope.PRACTICE,
            _grants(client=_SELF, clinician=_CARE, practice_admin=_ANY, compliance_officer=_ANY),
        ),
        Action.CONSENT_REVOKE: Permission(Scope.PRACTICE, _grants(client=_SELF, practice_admin=_ANY)),
        # --- care team ---------------------------------------------------------------------------------
        Action.CARE_TEAM_ASSIGN: Permission(Scope.PRACTICE, _grants(practice_admin=_ANY)),
        Action.CARE_TEAM_REMOVE: Permission(Scope.PRACTICE, _grants(practice_admin=_ANY)),
        Action.CARE_TEAM_READ: Permission(
            Scope.PRACTICE,
            _grants(client=_SELF, clinician=_CARE, practice_admin=_ANY, compliance_officer=_ANY),
        ),
    }
)


def _relation_holds(relation: Relation, principal: Principal, resource: Resource) -> bool:
    if relation is Relation.PLATFORM:
        return resource.practice_id is None
    if relation is Relation.ANY:
        return True
    if relation is Relation.SELF:
        return resource.owner_id is not None and resource.owner_id == principal.subject_id
    # Relation.CARE_TEAM: the caller must also be a clinician, enforced by where CARE_TEAM is granted.
    return resource.owner_id is not None and principal.subject_id in resource.care_team


def _denied(action: Action) -> PermissionDenied:
    return PermissionDenied("permission denied", metadata={"action": str(action)})


def is_allowed(principal: Principal, action: Action, resource: Resource) -> bool:
    try:
        authorize(principal, action, resource)
    except PermissionDenied:
        return False
    return True


def authorize(principal: Principal, action: Action, resource: Resource) -> None:
    """Return None when `principal` may perform `action` on `resource`; raise `PermissionDenied` otherwise."""
    permission = PERMISSIONS.get(action)
    if permission is None:
        raise _denied(action)

    if permission.scope is Scope.PRACTICE:
        if resource.practice_id is None or resource.practice_id != principal.practice_id:
            raise _denied(action)
    elif resource.practice_id is not None:
        raise _denied(action)

    granted_without_mfa = False
    for role in principal.roles:
        relations = permission.grants.get(role, frozenset())
        if not any(_relation_holds(relation, principal, resource) for relation in relations):
            continue
        if role not in MFA_REQUIRED_ROLES or principal.mfa or permission.allowed_before_mfa:
            return None
        granted_without_mfa = True

    if granted_without_mfa:
        # SEC-03: a staff session that has not passed MFA gets nothing but enrolment and sign-out.
        raise PermissionDenied(
            "multi-factor authentication required",
            metadata={"action": str(action), "reason": "MFA_REQUIRED", "rule_id": SEC_03},
        )
    raise _denied(action)

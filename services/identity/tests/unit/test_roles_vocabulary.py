"""Identity's domain roles are the platform's shared role names (confide_chassis.roles), so the tokens
identity signs carry exactly the names every service checks, and SEC-03's MFA roles are the staff roles."""

from __future__ import annotations

from confide_chassis import roles
from confide_identity.domain.roles import MFA_REQUIRED_ROLES, Role


def test_domain_roles_are_the_token_role_names_every_service_checks() -> None:
    assert {role.value for role in Role} == roles.EVERY_ROLE


def test_sec_03_mfa_roles_are_the_shared_staff_roles() -> None:
    assert {role.value for role in MFA_REQUIRED_ROLES} == roles.STAFF

"""Authorization matrix: role x action x relationship x same/other practice -> allow/deny."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from confide_chassis.errors import PermissionDenied
from confide_identity.domain.authorization import PERMISSIONS, Action, Resource, authorize, is_allowed
from confide_identity.domain.roles import Principal, Role

A = Action
CLIENT, CLINICIAN, ADMIN, COMPLIANCE, OPERATOR = (
    Role.CLIENT,
    Role.CLINICIAN,
    Role.PRACTICE_ADMIN,
    Role.COMPLIANCE_OFFICER,
    Role.PLATFORM_OPERATOR,
)
EVERYONE = tuple(Role)

# The specification, written independently of PERMISSIONS: for each practice-scoped action, which
# relationships let each role act. "any" = anyone/anything in the practice, "self" = the resource is about the
# caller, "care" = a client on the caller's care team. Anything not listed is denied.
PRACTICE_MATRIX: dict[Action, dict[Role, set[str]]] = {
    A.PRACTICE_READ: {role: {"any"} for role in EVERYONE},
    A.PRACTICE_UPDATE_SETTINGS: {ADMIN: {"any"}},
    A.USER_CREATE: {ADMIN: {"any"}},
    A.USER_READ: {
        CLIENT: {"self"},
        CLINICIAN: {"self", "care"},
        ADMIN: {"any"},
        COMPLIANCE: {"any"},
        OPERATOR: {"self"},
    },
    A.USER_LIST: {ADMIN: {"any"}, COMPLIANCE: {"any"}},
    A.USER_DEACTIVATE: {ADMIN: {"any"}},
    A.USER_CHANGE_ROLES: {ADMIN: {"any"}},
    A.MFA_ENROL: {role: {"self"} for role in EVERYONE},
    A.MFA_RESET: {ADMIN: {"any"}},
    A.SESSION_SIGN_OUT: {role: {"self"} for role in EVERYONE},
    A.SESSION_SIGN_OUT_EVERYWHERE: {**{role: {"self"} for role in EVERYONE}, ADMIN: {"any"}},
    A.CLIENT_PROFILE_READ: {CLIENT: {"self"}, CLINICIAN: {"care"}, ADMIN: {"any"}},
    A.CLIENT_PROFILE_UPDATE: {CLIENT: {"self"}, ADMIN: {"any"}},
    A.CONSENT_DOCUMENT_PUBLISH: {ADMIN: {"any"}},
    A.CONSENT_DOCUMENT_READ: {role: {"any"} for role in EVERYONE},
    A.CONSENT_SIGN: {CLIENT: {"self"}, CLINICIAN: {"care"}},
    A.CONSENT_READ: {CLIENT: {"self"}, CLINICIAN: {"care"}, ADMIN: {"any"}, COMPLIANCE: {"any"}},
    A.CONSENT_REVOKE: {CLIENT: {"self"}, ADMIN: {"any"}},
    A.CARE_TEAM_ASSIGN: {ADMIN: {"any"}},
    A.CARE_TEAM_REMOVE: {ADMIN: {"any"}},
    A.CARE_TEAM_READ: {CLIENT: {"self"}, CLINICIAN: {"care"}, ADMIN: {"any"}, COMPLIANCE: {"any"}},
}
PLATFORM_ACTIONS: dict[Action, set[Role]] = {A.PRACTICE_CREATE: {OPERATOR}, A.SIGNING_KEY_ROTATE: {OPERATOR}}

PRACTICE = uuid4()
OTHER_PRACTICE = uuid4()


def principal(role: Role, *, mfa: bool = True, practice: UUID = PRACTICE) -> Principal:
    return Principal(subject_id=uuid4(), practice_id=practice, roles=frozenset({role}), mfa=mfa)


def contexts(caller: Principal) -> dict[str, Resource]:
    """Every relationship the caller can have to a resource of their own practice."""
    return {
        "practice": Resource.practice(PRACTICE),
        "other_person": Resource.person(PRACTICE, uuid4()),
        "self": Resource.person(PRACTICE, caller.subject_id),
        "care": Resource.person(PRACTICE, uuid4(), care_team=frozenset({caller.subject_id})),
    }


def expected(action: Action, role: Role, context: str) -> bool:
    allowed = PRACTICE_MATRIX[action].get(role, set())
    if "any" in allowed:
        return True
    return context in allowed


def test_the_matrix_covers_every_action() -> None:
    assert set(PRACTICE_MATRIX) | set(PLATFORM_ACTIONS) == set(Action) == set(PERMISSIONS)


@pytest.mark.parametrize("action", list(PRACTICE_MATRIX))
@pytest.mark.parametrize("role", EVERYONE)
def test_same_practice_matrix(action: Action, role: Role) -> None:
    caller = principal(role)
    for context, resource in contexts(caller).items():
        assert is_allowed(caller, action, resource) is expected(action, role, context), (
            action,
            role,
            context,
        )


@pytest.mark.parametrize("action", list(PRACTICE_MATRIX))
@pytest.mark.parametrize("role", EVERYONE)
def test_other_practice_is_always_denied(action: Action, role: Role) -> None:
    caller = principal(role)
    for resource in (
        Resource.practice(OTHER_PRACTICE),
        Resource.person(OTHER_PRACTICE, uuid4()),
        Resource.person(OTHER_PRACTICE, caller.subject_id),  # same id, other tenant
        Resource.person(OTHER_PRACTICE, uuid4(), care_team=frozenset({caller.subject_id})),
        Resource.platform(),  # a practice-scoped action never applies outside a practice
    ):
        with pytest.raises(PermissionDenied) as raised:
            authorize(caller, action, resource)
        assert raised.value.message == "permission denied"


@pytest.mark.parametrize("action", list(PLATFORM_ACTIONS))
@pytest.mark.parametrize("role", EVERYONE)
def test_platform_actions(action: Action, role: Role) -> None:
    caller = principal(role)
    assert is_allowed(caller, action, Resource.platform()) is (role in PLATFORM_ACTIONS[action])
    # a platform action aimed at a practice resource is refused even for operators
    assert not is_allowed(caller, action, Resource.practice(PRACTICE))


def test_platform_operator_cannot_read_phi_in_any_practice() -> None:
    operator = principal(OPERATOR)
    for action in (A.CLIENT_PROFILE_READ, A.CONSENT_READ, A.CARE_TEAM_READ, A.USER_LIST):
        assert not is_allowed(operator, action, Resource.person(PRACTICE, uuid4()))


@pytest.mark.parametrize("role", [CLINICIAN, ADMIN, COMPLIANCE, OPERATOR])
def test_sec_03_staff_without_mfa_may_only_enrol_or_sign_out(role: Role) -> None:
    caller = principal(role, mfa=False)
    own = Resource.person(PRACTICE, caller.subject_id)
    authorize(caller, A.MFA_ENROL, own)
    authorize(caller, A.SESSION_SIGN_OUT, own)
    authorize(caller, A.SESSION_SIGN_OUT_EVERYWHERE, own)
    with pytest.raises(PermissionDenied) as raised:
        authorize(caller, A.PRACTICE_READ, Resource.practice(PRACTICE))
    assert raised.value.metadata["reason"] == "MFA_REQUIRED"
    assert raised.value.metadata["rule_id"] == "SEC-03"


def test_sec_03_clients_do_not_need_mfa() -> None:
    caller = principal(CLIENT, mfa=False)
    authorize(caller, A.CLIENT_PROFILE_READ, Resource.person(PRACTICE, caller.subject_id))


def test_sec_03_mfa_hint_is_not_given_across_practices() -> None:
    caller = principal(ADMIN, mfa=False)
    with pytest.raises(PermissionDenied) as raised:
        authorize(caller, A.USER_LIST, Resource.practice(OTHER_PRACTICE))
    assert "reason" not in raised.value.metadata


def test_clinician_sees_only_clients_on_their_care_team() -> None:
    clinician = principal(CLINICIAN)
    client = uuid4()
    on_team = Resource.person(PRACTICE, client, care_team=frozenset({clinician.subject_id}))
    off_team = Resource.person(PRACTICE, client, care_team=frozenset({uuid4()}))
    authorize(clinician, A.CLIENT_PROFILE_READ, on_team)
    with pytest.raises(PermissionDenied):
        authorize(clinician, A.CLIENT_PROFILE_READ, off_team)


def test_client_only_self() -> None:
    client = principal(CLIENT)
    authorize(client, A.CONSENT_SIGN, Resource.person(PRACTICE, client.subject_id))
    with pytest.raises(PermissionDenied):
        authorize(client, A.CONSENT_SIGN, Resource.person(PRACTICE, uuid4()))
    # being listed on someone's care team grants a client nothing
    with pytest.raises(PermissionDenied):
        authorize(
            client,
            A.CLIENT_PROFILE_READ,
            Resource.person(PRACTICE, uuid4(), care_team=frozenset({client.subject_id})),
        )


def test_roles_combine() -> None:
    both = Principal(subject_id=uuid4(), practice_id=PRACTICE, roles=frozenset({CLINICIAN, ADMIN}), mfa=True)
    authorize(both, A.CARE_TEAM_ASSIGN, Resource.person(PRACTICE, uuid4()))


def test_deny_by_default() -> None:
    nobody = Principal(subject_id=uuid4(), practice_id=PRACTICE, roles=frozenset(), mfa=True)
    for action in Action:
        assert not is_allowed(nobody, action, Resource.practice(PRACTICE))
    with pytest.raises(PermissionDenied):
        authorize(principal(ADMIN), "practice.delete", Resource.practice(PRACTICE))  # type: ignore[arg-type]

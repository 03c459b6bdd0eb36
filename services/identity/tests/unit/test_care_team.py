"""Care-team invariants (IDN-CARE-01)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from confide_chassis.errors import AlreadyExists, FailedPrecondition, NotFound
from confide_identity.domain.care_team import (
    CareTeamLink,
    active_care_team,
    assign_clinician,
    links_to_end_on_deactivation,
    remove_clinician,
)
from confide_identity.domain.roles import PracticeMember, Role


def member(practice_id: UUID, *roles: Role, active: bool = True) -> PracticeMember:
    return PracticeMember(user_id=uuid4(), practice_id=practice_id, roles=frozenset(roles), active=active)


def assign(
    practice_id: UUID,
    client: PracticeMember,
    clinician: PracticeMember,
    now: datetime,
    existing: tuple[CareTeamLink, ...] = (),
) -> CareTeamLink:
    return assign_clinician(
        link_id=uuid4(),
        practice_id=practice_id,
        client=client,
        clinician=clinician,
        existing_links=existing,
        assigned_by=uuid4(),
        now=now,
    )


def test_assign_and_list_active_team(practice_id: UUID, now: datetime) -> None:
    client = member(practice_id, Role.CLIENT)
    first, second = member(practice_id, Role.CLINICIAN), member(practice_id, Role.CLINICIAN)
    link_one = assign(practice_id, client, first, now)
    link_two = assign(practice_id, client, second, now, (link_one,))
    assert active_care_team([link_one, link_two], client.user_id) == {first.user_id, second.user_id}
    assert link_one.active
    assert link_one.practice_id == practice_id


def test_idn_care_01_clinician_must_hold_the_clinician_role(practice_id: UUID, now: datetime) -> None:
    client = member(practice_id, Role.CLIENT)
    for not_a_clinician in (member(practice_id, Role.PRACTICE_ADMIN), member(practice_id, Role.CLIENT)):
        with pytest.raises(FailedPrecondition) as raised:
            assign(practice_id, client, not_a_clinician, now)
        assert raised.value.rule_ids == ("IDN-CARE-01",)


def test_idn_care_01_client_must_hold_the_client_role(practice_id: UUID, now: datetime) -> None:
    with pytest.raises(FailedPrecondition) as raised:
        assign(
            practice_id,
            member(practice_id, Role.COMPLIANCE_OFFICER),
            member(practice_id, Role.CLINICIAN),
            now,
        )
    assert raised.value.rule_ids == ("IDN-CARE-01",)


def test_idn_care_01_inactive_users_cannot_be_linked(practice_id: UUID, now: datetime) -> None:
    with pytest.raises(FailedPrecondition):
        assign(
            practice_id,
            member(practice_id, Role.CLIENT),
            member(practice_id, Role.CLINICIAN, active=False),
            now,
        )
    with pytest.raises(FailedPrecondition):
        assign(
            practice_id,
            member(practice_id, Role.CLIENT, active=False),
            member(practice_id, Role.CLINICIAN),
            now,
        )


def test_idn_care_01_no_self_link(practice_id: UUID, now: datetime) -> None:
    both = member(practice_id, Role.CLIENT, Role.CLINICIAN)
    with pytest.raises(FailedPrecondition):
        assign(practice_id, both, both, now)


def test_idn_care_01_same_practice_only_without_revealing_the_other_tenant(
    practice_id: UUID, other_practice_id: UUID, now: datetime
) -> None:
    client = member(practice_id, Role.CLIENT)
    foreign_clinician = member(other_practice_id, Role.CLINICIAN)
    with pytest.raises(NotFound):
        assign(practice_id, client, foreign_clinician, now)
    with pytest.raises(NotFound):
        assign(practice_id, member(other_practice_id, Role.CLIENT), member(practice_id, Role.CLINICIAN), now)


def test_idn_care_01_no_duplicate_active_link(practice_id: UUID, now: datetime) -> None:
    client, clinician = member(practice_id, Role.CLIENT), member(practice_id, Role.CLINICIAN)
    link = assign(practice_id, client, clinician, now)
    with pytest.raises(AlreadyExists):
        assign(practice_id, client, clinician, now, (link,))
    # after removal the pair may be linked again; history is kept
    removed = remove_clinician(link, removed_by=uuid4(), now=now + timedelta(days=1))
    again = assign(practice_id, client, clinician, now + timedelta(days=2), (removed,))
    assert active_care_team([removed, again], client.user_id) == {clinician.user_id}


def test_remove_ends_the_link_once(practice_id: UUID, now: datetime) -> None:
    link = assign(practice_id, member(practice_id, Role.CLIENT), member(practice_id, Role.CLINICIAN), now)
    admin = uuid4()
    removed = remove_clinician(link, removed_by=admin, now=now)
    assert (removed.removed_at, removed.removed_by, removed.active) == (now, admin, False)
    assert active_care_team([removed], link.client_id) == frozenset()
    with pytest.raises(FailedPrecondition):
        remove_clinician(removed, removed_by=admin, now=now)


def test_deactivating_a_user_ends_their_links(practice_id: UUID, now: datetime) -> None:
    client = member(practice_id, Role.CLIENT)
    clinician = member(practice_id, Role.CLINICIAN)
    other_client = member(practice_id, Role.CLIENT)
    a = assign(practice_id, client, clinician, now)
    b = assign(practice_id, other_client, clinician, now)
    assert set(links_to_end_on_deactivation([a, b], clinician.user_id)) == {a, b}
    assert links_to_end_on_deactivation([a, b], client.user_id) == (a,)

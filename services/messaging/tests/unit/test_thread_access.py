"""Who may use a thread: the client and their care team now; MSG-05 amendments by the author only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from confide_chassis.errors import FailedPrecondition, NotFound, PermissionDenied
from confide_messaging.domain.threads import (
    Actor,
    AuthorRole,
    CareTeam,
    Message,
    MessageKind,
    Thread,
    check_amendable,
    may_open_thread,
    participant_role,
)

PRACTICE = "practice-1"
CLIENT, CLINICIAN, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
NOW = datetime(2026, 6, 15, 14, tzinfo=UTC)
THREAD = Thread(uuid.uuid4(), PRACTICE, CLIENT, NOW)
TEAM = CareTeam(CLIENT, frozenset({CLINICIAN}))


def actor(user: uuid.UUID, *roles: str, practice: str = PRACTICE) -> Actor:
    return Actor(user, practice, frozenset(roles))


def test_the_client_and_the_care_team_take_part() -> None:
    assert participant_role(actor(CLIENT, "client"), THREAD, TEAM, deactivated=False) is AuthorRole.CLIENT
    assert (
        participant_role(actor(CLINICIAN, "clinician"), THREAD, TEAM, deactivated=False)
        is AuthorRole.CLINICIAN
    )


def test_a_clinician_not_on_the_care_team_is_denied() -> None:
    with pytest.raises(PermissionDenied):
        participant_role(actor(OTHER, "clinician"), THREAD, TEAM, deactivated=False)


def test_sec_12_a_practice_admin_does_not_read_clinical_messages() -> None:
    with pytest.raises(PermissionDenied):
        participant_role(actor(OTHER, "practice_admin"), THREAD, TEAM, deactivated=False)


def test_another_practice_does_not_learn_the_thread_exists() -> None:
    with pytest.raises(NotFound):
        participant_role(actor(CLINICIAN, "clinician", practice="elsewhere"), THREAD, TEAM, deactivated=False)


def test_a_deactivated_clinician_loses_access_at_once() -> None:
    with pytest.raises(PermissionDenied):
        participant_role(actor(CLINICIAN, "clinician"), THREAD, TEAM, deactivated=True)


def test_a_thread_needs_a_care_team() -> None:
    with pytest.raises(FailedPrecondition) as raised:
        may_open_thread(actor(CLIENT, "client"), CLIENT, CareTeam(CLIENT, frozenset()), deactivated=False)
    assert raised.value.rule_ids == ("MSG-01",)


def message(author: uuid.UUID | None, role: AuthorRole, amends: uuid.UUID | None = None) -> Message:
    return Message(
        uuid.uuid4(), THREAD.id, 1, MessageKind.TEXT_THERAPY, author, role, "x", NOW, amends_message_id=amends
    )


def test_msg_05_only_the_author_amends() -> None:
    check_amendable(message(CLIENT, AuthorRole.CLIENT), CLIENT)
    with pytest.raises(PermissionDenied):
        check_amendable(message(CLIENT, AuthorRole.CLIENT), CLINICIAN)
    with pytest.raises(PermissionDenied):
        check_amendable(message(None, AuthorRole.SYSTEM), CLIENT)


def test_msg_05_an_amendment_is_not_amended_again() -> None:
    with pytest.raises(FailedPrecondition) as raised:
        check_amendable(message(CLIENT, AuthorRole.CLIENT, amends=uuid.uuid4()), CLIENT)
    assert raised.value.rule_ids == ("MSG-05",)

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from confide_chassis.errors import InvalidArgument
from confide_identity.domain.passwords import (
    PasswordContext,
    PasswordPolicy,
    check_password,
    is_common_password,
    is_repetitive_or_sequential,
    password_violations,
)
from confide_identity.reference_data import load_common_passwords

POLICY = PasswordPolicy()
CONTEXT = PasswordContext(email="jane.doe@example.com", names=("Jane", "Doe"))
COMMON = load_common_passwords()


def violations(
    password: str, context: PasswordContext = CONTEXT, policy: PasswordPolicy = POLICY
) -> list[str]:
    return [
        v.description
        for v in password_violations(password, policy=policy, common_passwords=COMMON, context=context)
    ]


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "violet-lantern-87-orbit",
        "Tr0ub4dor&3 is not enough?",
        "mañana sin café ☕ por favor",
        "x" * 3 + "plausible unique phrase",
        "zq8#Lm2!vR5@kW9p",  # random-looking, no composition rule needed
        "a" * 11 + "bcd-river",  # has a run but is not made only of runs
    ],
)
def test_good_passwords_are_accepted(password: str) -> None:
    check_password(password, policy=POLICY, common_passwords=COMMON, context=CONTEXT)


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "Password1234!",
        "P@ssw0rd12345",
        "!!qwertyuiop!!",
        "iloveyou1234",
        "ILOVEYOU2026!",
        "123456789012",
        "letmein!letmein!",
        "   baseball2024   ",
    ],
)
def test_common_and_breached_passwords_are_rejected(password: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_password(password, policy=POLICY, common_passwords=COMMON, context=CONTEXT)
    assert raised.value.violations[0].field == "password"


def test_breached_list_is_a_parameter_so_a_full_corpus_can_be_plugged_in() -> None:
    corpus = {"violet-lantern-87-orbit"}
    assert is_common_password("Violet-Lantern-87-Orbit", corpus)
    assert not is_common_password("violet-lantern-87-orbit", frozenset())


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaa",
        "abcdefghijklmnop",
        "zyxwvutsrqponm",
        "qwertyuiopasdf",
        "aaaa1234bbbb",
        "abcabcabcabc",
        "121212121212",
    ],
)
def test_repeats_and_sequences_are_rejected(password: str) -> None:
    assert is_repetitive_or_sequential(password)
    assert "must not consist of repeated or sequential characters" in violations(password)


def test_short_runs_inside_a_long_passphrase_are_fine() -> None:
    assert not is_repetitive_or_sequential("abc river 123 stone")


@pytest.mark.parametrize(
    "password",
    [
        "jane.doe-is-my-login",
        "MyNameIsJaneDoe!!",
        "j4ne-loves-the-sea-99",
        "doe family farm 1987",
        "janedoe rocks 2026",
    ],
)
def test_passwords_containing_email_local_part_or_names_are_rejected(password: str) -> None:
    assert "must not contain your e-mail address, your name or the service name" in violations(password)


def test_service_name_is_a_context_word() -> None:
    assert violations("my confide account key", PasswordContext())


def test_context_words_shorter_than_three_characters_are_not_searched() -> None:
    context = PasswordContext(email="al@example.com", names=("Al",))
    assert violations("albatross over the bay", context) == []


def test_error_lists_every_problem_and_never_echoes_the_password() -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_password("jane1", policy=POLICY, common_passwords=COMMON, context=CONTEXT)
    descriptions = [v.description for v in raised.value.violations]
    assert "must be at least 12 characters long" in descriptions
    assert any("e-mail" in d for d in descriptions)
    assert "jane1" not in str(raised.value)


def test_length_is_counted_in_code_points_after_nfkc() -> None:
    # "ﬁ" (U+FB01) normalises to "fi": 6 ligatures are 12 characters, 5 + "x" are 11
    assert "must be at least 12 characters long" not in violations("ﬁ" * 6)
    assert "must be at least 12 characters long" in violations("ﬁ" * 5 + "x")


def test_maximum_length_is_enforced() -> None:
    assert violations("river stone " * 11) == ["must be at most 128 characters long"]
    assert violations(("river stone " * 11)[:128]) == []


def test_control_characters_are_rejected() -> None:
    assert "must not contain control characters" in violations("good passphrase\x00here")


def test_configurable_minimum_length() -> None:
    policy = PasswordPolicy(min_length=16)
    assert violations("violet-lantern-8", policy=policy) == []
    assert violations("violet-lantern-", policy=policy) == ["must be at least 16 characters long"]


@pytest.mark.parametrize(("minimum", "maximum"), [(7, 128), (12, 200), (20, 16), (12, 63)])
def test_policy_bounds(minimum: int, maximum: int) -> None:
    with pytest.raises(ValueError, match=r"."):
        PasswordPolicy(min_length=minimum, max_length=maximum)


@given(st.text(min_size=0, max_size=11))
def test_any_password_shorter_than_the_minimum_is_rejected(password: str) -> None:
    found = [
        v.description
        for v in password_violations(
            password, policy=POLICY, common_passwords=COMMON, context=PasswordContext()
        )
    ]
    # NFKC may lengthen a string; everything still short after normalisation is rejected for length
    if len(unicodedata.normalize("NFKC", password)) < 12:
        assert "must be at least 12 characters long" in found


@given(st.integers(min_value=12, max_value=64), st.data())
def test_any_policy_minimum_is_honoured(minimum: int, data: st.DataObject) -> None:
    policy = PasswordPolicy(min_length=minimum)
    password = data.draw(st.text(alphabet="bcdfghjkmnpqrstvwxz", min_size=0, max_size=minimum - 1))
    found = [
        v.description
        for v in password_violations(
            password, policy=policy, common_passwords=COMMON, context=PasswordContext()
        )
    ]
    assert f"must be at least {minimum} characters long" in found


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=200))
def test_policy_never_crashes_and_only_reports_the_password_field(password: str) -> None:
    for violation in password_violations(password, policy=POLICY, common_passwords=COMMON, context=CONTEXT):
        assert violation.field == "password"

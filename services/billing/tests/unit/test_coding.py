"""CPT code, place of service and modifier selection at every boundary (BILL-01, -02, -04, -10..-12, -22)."""

from __future__ import annotations

import pytest

from confide_billing.domain.coding import (
    FEDERAL_PROGRAM,
    SELF_PAY,
    AudioOnlyModifier,
    Modality,
    PayerProfile,
    ServiceLine,
    SessionKind,
    code_session,
)
from confide_chassis.errors import FailedPrecondition


def codes(kind: SessionKind, minutes: int) -> tuple[ServiceLine, ...]:
    return code_session(kind, minutes, Modality.VIDEO, at_home=True, payer=SELF_PAY).lines


@pytest.mark.parametrize(
    ("minutes", "cpt"),
    [
        (16, "90832"),
        (37, "90832"),
        (38, "90834"),
        (52, "90834"),
        (53, "90837"),
        (75, "90837"),
        (120, "90837"),
    ],
)
def test_bill_01_psychotherapy_time_bands(minutes: int, cpt: str) -> None:
    assert codes(SessionKind.PSYCHOTHERAPY, minutes) == (ServiceLine(cpt),)


def test_bill_01_fifteen_minutes_is_not_billable_psychotherapy() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        codes(SessionKind.PSYCHOTHERAPY, 15)
    assert "BILL-01" in str(refused.value.violations[0].rule_id)


@pytest.mark.parametrize(
    ("minutes", "lines"),
    [
        (29, (ServiceLine("90832"),)),  # under 30: psychotherapy by time, not crisis
        (30, (ServiceLine("90839"),)),
        (74, (ServiceLine("90839"),)),
        (75, (ServiceLine("90839"), ServiceLine("90840", 1))),
        (104, (ServiceLine("90839"), ServiceLine("90840", 1))),
        (105, (ServiceLine("90839"), ServiceLine("90840", 2))),
        (134, (ServiceLine("90839"), ServiceLine("90840", 2))),
        (135, (ServiceLine("90839"), ServiceLine("90840", 3))),
    ],
)
def test_bill_02_crisis_codes_and_addon_units(minutes: int, lines: tuple[ServiceLine, ...]) -> None:
    assert codes(SessionKind.CRISIS, minutes) == lines


def test_intake_is_untimed_90791() -> None:
    assert codes(SessionKind.INTAKE, 20) == (ServiceLine("90791"),)
    assert codes(SessionKind.INTAKE, 90) == (ServiceLine("90791"),)


def test_bill_04_family_with_and_without_the_client() -> None:
    assert codes(SessionKind.FAMILY, 50) == (ServiceLine("90847"),)
    assert codes(SessionKind.FAMILY_WITHOUT_CLIENT, 26) == (ServiceLine("90846"),)
    with pytest.raises(FailedPrecondition):
        codes(SessionKind.FAMILY, 25)


def test_bill_11_place_of_service_follows_where_the_client_was() -> None:
    home = code_session(SessionKind.PSYCHOTHERAPY, 45, Modality.VIDEO, at_home=True, payer=SELF_PAY)
    away = code_session(SessionKind.PSYCHOTHERAPY, 45, Modality.VIDEO, at_home=False, payer=SELF_PAY)
    assert (home.place_of_service, away.place_of_service) == ("10", "02")


def test_bill_12_modifiers_by_modality_and_payer() -> None:
    video = code_session(SessionKind.PSYCHOTHERAPY, 45, Modality.VIDEO, at_home=True, payer=SELF_PAY)
    audio = code_session(SessionKind.PSYCHOTHERAPY, 45, Modality.AUDIO_ONLY, at_home=True, payer=SELF_PAY)
    fqhc = PayerProfile(audio_only_modifier=AudioOnlyModifier.FQ)
    audio_fq = code_session(SessionKind.PSYCHOTHERAPY, 45, Modality.AUDIO_ONLY, at_home=True, payer=fqhc)
    chat = code_session(SessionKind.PSYCHOTHERAPY, 45, Modality.LIVE_CHAT, at_home=True, payer=SELF_PAY)
    medicare_video = code_session(
        SessionKind.PSYCHOTHERAPY, 45, Modality.VIDEO, at_home=True, payer=FEDERAL_PROGRAM
    )
    assert video.modifiers == ("95",)
    assert audio.modifiers == ("93",)
    assert audio_fq.modifiers == ("FQ",)
    assert chat.modifiers == ()
    assert medicare_video.modifiers == ()  # POS alone marks telehealth for this payer


def test_no_minutes_is_never_billable() -> None:
    with pytest.raises(FailedPrecondition):
        codes(SessionKind.INTAKE, 0)

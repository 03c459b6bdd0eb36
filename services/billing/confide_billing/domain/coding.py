"""Which CPT code, place of service and modifiers a delivered session is billed with.

Time is the face-to-face minutes of the session (BILL-01): one code whose band contains the total
time, never a sum of codes. Crisis psychotherapy has its own codes (BILL-02), family sessions theirs
(BILL-04); place of service follows where the client was (BILL-10, BILL-11); the telehealth modifier
depends on the modality and on what the payer asks for (BILL-12, BILL-22).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from confide_chassis.errors import FailedPrecondition, RuleViolation


class SessionKind(enum.Enum):
    INTAKE = "intake"
    PSYCHOTHERAPY = "psychotherapy"
    FAMILY = "family"  # conjoint, with the client present (90847)
    FAMILY_WITHOUT_CLIENT = "family_without_client"  # 90846
    CRISIS = "crisis"


class Modality(enum.Enum):
    VIDEO = "video"
    AUDIO_ONLY = "audio_only"
    LIVE_CHAT = "live_chat"


class AudioOnlyModifier(enum.Enum):
    """What a payer wants on audio-only telehealth lines (BILL-12): 93, or FQ for RHC/FQHC billing."""

    M93 = "93"
    FQ = "FQ"


@dataclass(frozen=True, slots=True)
class PayerProfile:
    """How a payer wants telehealth lines marked; self-pay superbills use the common defaults."""

    video_modifier: str | None = "95"  # some payers (Medicare since 2024) want POS only: None
    audio_only_modifier: AudioOnlyModifier = AudioOnlyModifier.M93
    forbids_missed_appointment_fees: bool = False


SELF_PAY = PayerProfile()
FEDERAL_PROGRAM = PayerProfile(video_modifier=None, forbids_missed_appointment_fees=True)


@dataclass(frozen=True, slots=True)
class ServiceLine:
    cpt: str
    units: int = 1


@dataclass(frozen=True, slots=True)
class CodedSession:
    lines: tuple[ServiceLine, ...]
    place_of_service: str
    modifiers: tuple[str, ...]

    @property
    def primary_code(self) -> str:
        return self.lines[0].cpt


# Psychotherapy time bands (BILL-01): 16-37 → 90832, 38-52 → 90834, 53+ → 90837.
PSYCHOTHERAPY_MIN_MINUTES = 16
CRISIS_MIN_MINUTES = 30  # 90839 covers 30-74 minutes
CRISIS_FIRST_BLOCK_END = 74
CRISIS_ADDON_BLOCK = 30  # each further 30 minutes (75-104 = one 90840, 105-134 = two, ...)
FAMILY_MIN_MINUTES = 26


def psychotherapy_code(minutes: int) -> str:
    if minutes < PSYCHOTHERAPY_MIN_MINUTES:
        raise FailedPrecondition(
            RuleViolation("BILL-01", "under 16 face-to-face minutes is not a billable psychotherapy session")
        )
    if minutes <= 37:
        return "90832"
    if minutes <= 52:
        return "90834"
    return "90837"


def crisis_lines(minutes: int) -> tuple[ServiceLine, ...]:
    """90839 for the first 30-74 minutes, +90840 per further 30 minutes (BILL-02). Under 30 minutes a
    crisis session is billed as psychotherapy by time."""
    if minutes < CRISIS_MIN_MINUTES:
        return (ServiceLine(psychotherapy_code(minutes)),)
    if minutes <= CRISIS_FIRST_BLOCK_END:
        return (ServiceLine("90839"),)
    extra_blocks = (minutes - CRISIS_FIRST_BLOCK_END - 1) // CRISIS_ADDON_BLOCK + 1
    return (ServiceLine("90839"), ServiceLine("90840", units=extra_blocks))


def place_of_service(at_home: bool) -> str:
    """POS 10 in the client's home, POS 02 anywhere else (BILL-10, BILL-11)."""
    return "10" if at_home else "02"


def telehealth_modifiers(modality: Modality, payer: PayerProfile) -> tuple[str, ...]:
    if modality is Modality.VIDEO:
        return (payer.video_modifier,) if payer.video_modifier else ()
    if modality is Modality.AUDIO_ONLY:
        return (payer.audio_only_modifier.value,)  # BILL-22: audio-only is always marked
    return ()  # live chat carries no synchronous-telehealth modifier


def code_session(
    kind: SessionKind, minutes: int, modality: Modality, *, at_home: bool, payer: PayerProfile
) -> CodedSession:
    if minutes <= 0:
        raise FailedPrecondition(
            RuleViolation("BILL-01", "a session without face-to-face minutes is not billable")
        )
    lines: tuple[ServiceLine, ...]
    if kind is SessionKind.INTAKE:
        lines = (ServiceLine("90791"),)  # untimed diagnostic evaluation
    elif kind is SessionKind.CRISIS:
        lines = crisis_lines(minutes)
    elif kind in (SessionKind.FAMILY, SessionKind.FAMILY_WITHOUT_CLIENT):
        if minutes < FAMILY_MIN_MINUTES:
            raise FailedPrecondition(
                RuleViolation("BILL-04", "family psychotherapy needs at least 26 face-to-face minutes")
            )
        lines = (ServiceLine("90847" if kind is SessionKind.FAMILY else "90846"),)
    else:
        lines = (ServiceLine(psychotherapy_code(minutes)),)
    return CodedSession(lines, place_of_service(at_home), telehealth_modifiers(modality, payer))

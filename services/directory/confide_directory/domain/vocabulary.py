"""The controlled vocabulary of profiles and searches (reference_data/vocabulary.yaml)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confide_chassis.errors import FieldViolation


@dataclass(frozen=True, slots=True)
class Vocabulary:
    version: str
    specialties: Mapping[str, str]
    approaches: Mapping[str, str]
    populations: Mapping[str, str]

    def unknown_terms(
        self, field: str, codes: Sequence[str], known: Mapping[str, str]
    ) -> list[FieldViolation]:
        """A violation naming `field[i]` for each code not in `known` (and for repeats)."""
        violations: list[FieldViolation] = []
        seen: set[str] = set()
        for index, code in enumerate(codes):
            if code not in known:
                violations.append(
                    FieldViolation(f"{field}[{index}]", f"unknown term (vocabulary {self.version})")
                )
            elif code in seen:
                violations.append(FieldViolation(f"{field}[{index}]", "listed twice"))
            seen.add(code)
        return violations

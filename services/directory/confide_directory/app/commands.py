"""One frozen command per state-changing use case, holding domain values."""

from __future__ import annotations

from dataclasses import dataclass

from confide_directory.domain.profiles import ProfileContent


@dataclass(frozen=True, slots=True)
class UpdateProfile:
    content: ProfileContent


@dataclass(frozen=True, slots=True)
class ApproveProfile:
    clinician_id: str
    draft_version: int

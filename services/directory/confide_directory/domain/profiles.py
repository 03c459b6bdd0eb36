"""Public clinician profiles: what a clinician may write, and the review cycle.

A clinician edits only their own draft; submitting it puts it in review; a practice admin approves the
reviewed version, which then becomes the listed one. A change after approval goes back to review while
the approved version stays listed, so clients never see text nobody approved. Profiles hold no client
data. Credentials are not typed here: coverage comes from compliance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from confide_chassis.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    RuleViolation,
)
from confide_directory.domain.vocabulary import Vocabulary

MAX_BIO = 2000
MAX_TERMS = 12
MAX_LANGUAGES = 8
MAX_FEE_MINOR = 10_000_00  # $10,000 per session: anything above is a typo

# RFC 5646 (BCP 47) well-formed tags: language, optional extlang/script/region/variants. Private-use
# and grandfathered tags are not accepted on profiles.
_BCP47 = re.compile(
    r"^[a-z]{2,3}(-[a-z]{3}){0,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?(-([a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*$"
)


class Profession(StrEnum):
    PSYCHOLOGIST = "psychologist"
    PROFESSIONAL_COUNSELOR = "professional_counselor"
    CLINICAL_SOCIAL_WORKER = "clinical_social_worker"
    MARRIAGE_AND_FAMILY_THERAPIST = "marriage_and_family_therapist"
    PSYCHIATRIC_NURSE_PRACTITIONER = "psychiatric_nurse_practitioner"
    PSYCHIATRIST = "psychiatrist"
    COACH = "coach"

    @property
    def is_coach(self) -> bool:
        return self is Profession.COACH

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Profession.PSYCHOLOGIST: "Psychologist",
    Profession.PROFESSIONAL_COUNSELOR: "Professional counselor",
    Profession.CLINICAL_SOCIAL_WORKER: "Clinical social worker",
    Profession.MARRIAGE_AND_FAMILY_THERAPIST: "Marriage and family therapist",
    Profession.PSYCHIATRIC_NURSE_PRACTITIONER: "Psychiatric nurse practitioner",
    Profession.PSYCHIATRIST: "Psychiatrist",
    # LIC-81: coaching is not therapy, and every place a coach is shown says so.
    Profession.COACH: "Coach — not therapy",
}


class Modality(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    LIVE_CHAT = "live_chat"
    MESSAGING = "messaging"
    IN_PERSON = "in_person"


class ProfileStatus(StrEnum):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"


def canonical_language(tag: str) -> str | None:
    """The tag in canonical case (language lower, script title, region upper), or None if it is not a
    well-formed BCP 47 tag."""
    parts = tag.strip().split("-")
    if not parts or not parts[0]:
        return None
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())
        else:
            out.append(part.lower())
    canonical = "-".join(out)
    return canonical if _BCP47.match(canonical) else None


def is_time_zone(name: str) -> bool:
    if not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class FeeRange:
    min_minor: int
    max_minor: int
    sliding_scale: bool


@dataclass(frozen=True, slots=True)
class ProfileContent:
    display_name: str
    profession: Profession
    specialties: tuple[str, ...]
    approaches: tuple[str, ...]
    populations: tuple[str, ...]
    languages: tuple[str, ...]
    modalities: tuple[Modality, ...]
    fees: FeeRange
    accepts_self_pay: bool
    accepts_plans: bool
    bio: str
    time_zone: str

    @property
    def is_coach(self) -> bool:
        return self.profession.is_coach


def validate_content(
    content: ProfileContent, vocabulary: Vocabulary, prefix: str = "content"
) -> ProfileContent:
    """The content with languages in canonical case; InvalidArgument naming every bad field."""
    v: list[FieldViolation] = []
    name = content.display_name.strip()
    if not 2 <= len(name) <= 80:
        v.append(FieldViolation(f"{prefix}.display_name", "2 to 80 characters"))
    for field, codes, known in (
        ("specialties", content.specialties, vocabulary.specialties),
        ("approaches", content.approaches, vocabulary.approaches),
        ("populations", content.populations, vocabulary.populations),
    ):
        if len(codes) > MAX_TERMS:
            v.append(FieldViolation(f"{prefix}.{field}", f"at most {MAX_TERMS} terms"))
        v.extend(vocabulary.unknown_terms(f"{prefix}.{field}", codes, known))
    languages: list[str] = []
    if not content.languages:
        v.append(FieldViolation(f"{prefix}.languages", "at least one language"))
    if len(content.languages) > MAX_LANGUAGES:
        v.append(FieldViolation(f"{prefix}.languages", f"at most {MAX_LANGUAGES} languages"))
    for index, tag in enumerate(content.languages):
        canonical = canonical_language(tag)
        if canonical is None:
            v.append(FieldViolation(f"{prefix}.languages[{index}]", "not a BCP 47 language tag"))
        elif canonical in languages:
            v.append(FieldViolation(f"{prefix}.languages[{index}]", "listed twice"))
        else:
            languages.append(canonical)
    if not content.modalities:
        v.append(FieldViolation(f"{prefix}.modalities", "at least one modality"))
    if len(set(content.modalities)) != len(content.modalities):
        v.append(FieldViolation(f"{prefix}.modalities", "a modality is listed twice"))
    fees = content.fees
    if fees.min_minor < 0 or fees.max_minor < 0:
        v.append(FieldViolation(f"{prefix}.fees", "fees cannot be negative"))
    elif fees.min_minor > fees.max_minor:
        v.append(FieldViolation(f"{prefix}.fees.min_minor", "above max_minor"))
    elif fees.max_minor > MAX_FEE_MINOR:
        v.append(FieldViolation(f"{prefix}.fees.max_minor", f"at most {MAX_FEE_MINOR}"))
    if not content.accepts_self_pay and not content.accepts_plans:
        v.append(FieldViolation(f"{prefix}.accepts_self_pay", "accept self-pay, plans or both"))
    if len(content.bio) > MAX_BIO:
        v.append(FieldViolation(f"{prefix}.bio", f"at most {MAX_BIO} characters"))
    if not is_time_zone(content.time_zone):
        v.append(FieldViolation(f"{prefix}.time_zone", "not an IANA time zone"))
    if v:
        raise InvalidArgument(v)
    return replace(content, display_name=name, languages=tuple(languages), bio=content.bio.strip())


@dataclass(frozen=True, slots=True)
class Listing:
    """The approved version clients see."""

    content: ProfileContent
    version: int
    approved_at: datetime
    approved_by: str


@dataclass(frozen=True, slots=True)
class Profile:
    clinician_id: str
    practice_id: str
    draft: ProfileContent
    draft_version: int
    status: ProfileStatus
    listing: Listing | None
    deactivated: bool = False

    def revise(self, content: ProfileContent) -> Profile:
        """A new draft in review. An unchanged submission keeps the status (re-saving approved text
        does not unlist or re-queue it)."""
        if content == self.draft:
            return self
        return replace(
            self, draft=content, draft_version=self.draft_version + 1, status=ProfileStatus.PENDING_REVIEW
        )

    def approve(self, *, reviewed_version: int, by: str, now: datetime) -> Profile:
        if self.deactivated:
            raise FailedPrecondition(
                RuleViolation("DIR-02", "the clinician's account is deactivated; nothing is listed")
            )
        if reviewed_version != self.draft_version:
            raise FailedPrecondition(
                RuleViolation(
                    "DIR-01", "the profile changed after the reviewed version; review the current draft"
                )
            )
        if self.status is ProfileStatus.APPROVED:
            return self
        return replace(
            self,
            status=ProfileStatus.APPROVED,
            listing=Listing(self.draft, self.draft_version, now, by),
        )


def new_profile(clinician_id: str, practice_id: str, content: ProfileContent) -> Profile:
    return Profile(clinician_id, practice_id, content, 1, ProfileStatus.PENDING_REVIEW, None)


def require_own_profile(actor_subject: str, clinician_id: str) -> None:
    if actor_subject != clinician_id:
        raise PermissionDenied("a clinician edits only their own profile")

"""Matching a client to clinicians: the ranking, the explanation of each result and the page token.

Ranking is transparent and deterministic for the same inputs (docs/adr/0019-directory.md):

1. continuity — the client's current clinician (care team) first;
2. fit — how many of the client's needs (specialties) the clinician lists;
3. fairness — ties are broken by a stable hash of the clinician id, never by insertion order, sign-up
   date or payment (there is no paid boosting);
4. the clinician id, so the order is total.

Earliest availability is known only for the page being returned (scheduling is asked for those
clinicians only); inside a page, results that tie on continuity and fit are shown earliest slot first
(`order_page`). The page boundary itself is decided by the global key above, so paging stays stable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from confide_chassis.errors import InvalidArgument
from confide_directory.domain.profiles import Modality

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 50
_TOKEN_VERSION = 1


class CareKind(StrEnum):
    THERAPY = "therapy"
    COACHING = "coaching"


class AuthorityKind(StrEnum):
    """How compliance authorizes a clinician for the client's state (its AuthorityKind)."""

    STATE_LICENSE = "state_license"
    PSYPACT_APIT = "psypact_apit"
    PSYPACT_TAP = "psypact_tap"
    COUNSELING_COMPACT_PRIVILEGE = "counseling_compact_privilege"
    SOCIAL_WORK_MULTISTATE_LICENSE = "social_work_multistate_license"
    NLC_MULTISTATE_LICENSE = "nlc_multistate_license"
    STATE_EXCEPTION = "state_exception"


def authority_reason(kind: AuthorityKind, state: str) -> str:
    return {
        AuthorityKind.STATE_LICENSE: f"licensed in {state}",
        AuthorityKind.PSYPACT_APIT: "PSYPACT telepsychology",
        AuthorityKind.PSYPACT_TAP: "PSYPACT temporary in-person practice",
        AuthorityKind.COUNSELING_COMPACT_PRIVILEGE: f"Counseling Compact privilege in {state}",
        AuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE: "Social Work Compact multistate license",
        AuthorityKind.NLC_MULTISTATE_LICENSE: "Nurse Licensure Compact multistate license",
        AuthorityKind.STATE_EXCEPTION: f"{state} telehealth exception",
    }[kind]


@dataclass(frozen=True, slots=True)
class SearchCriteria:
    """A validated search (the api layer maps the request into this)."""

    practice_id: str
    client_id: str | None
    client_state: str
    client_time_zone: str
    care_kind: CareKind
    modality: Modality
    specialties: tuple[str, ...]
    language: str | None
    max_fee_minor: int | None
    earliest_start: datetime
    max_time_zone_difference_hours: int | None
    query: str | None
    page_size: int
    # The earliest start the caller asked for (None = "now", which moves between pages).
    requested_start: datetime | None = None

    def fingerprint(self) -> str:
        """What a page token is bound to: every filter, not the page position."""
        document = [
            self.practice_id,
            self.client_id,
            self.client_state,
            self.client_time_zone,
            self.care_kind.value,
            self.modality.value,
            sorted(self.specialties),
            self.language,
            self.max_fee_minor,
            self.requested_start.isoformat() if self.requested_start else None,
            self.max_time_zone_difference_hours,
            self.query,
        ]
        return hashlib.sha256(json.dumps(document).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A listed clinician that passed every filter (and compliance, for therapy)."""

    clinician_id: str
    specialties: tuple[str, ...]
    time_zone: str
    authority: AuthorityKind | None  # None for coaches (LIC-81: no authority is involved)


SortKey = tuple[int, int, str, str]


def folded(text: str) -> str:
    """Lower case without accents ("Fernández" -> "fernandez"), for trigram name matching; PostgreSQL
    does the matching and scoring (pg_trgm)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def fairness_hash(clinician_id: str) -> str:
    """A stable pseudo-random position: the same for every search, unrelated to when the clinician joined
    or anything they pay."""
    return hashlib.sha256(f"confide-directory/{clinician_id}".encode()).hexdigest()[:16]


def matched_needs(candidate: Candidate, needs: Sequence[str]) -> tuple[str, ...]:
    listed = set(candidate.specialties)
    return tuple(code for code in needs if code in listed)


def sort_key(candidate: Candidate, needs: Sequence[str], current_clinicians: frozenset[str]) -> SortKey:
    """Ascending order = best first."""
    return (
        0 if candidate.clinician_id in current_clinicians else 1,
        -len(matched_needs(candidate, needs)),
        fairness_hash(candidate.clinician_id),
        candidate.clinician_id,
    )


def rank(
    candidates: Iterable[Candidate], needs: Sequence[str], current_clinicians: frozenset[str]
) -> list[tuple[SortKey, Candidate]]:
    keyed = [(sort_key(c, needs, current_clinicians), c) for c in candidates]
    keyed.sort(key=lambda item: item[0])
    return keyed


def page_after(
    ranked: Sequence[tuple[SortKey, Candidate]], after: SortKey | None, size: int
) -> tuple[list[tuple[SortKey, Candidate]], SortKey | None]:
    """The page following `after` (keyset paging: a clinician inserted before the cursor does not shift
    later pages) and the key to continue from, or None on the last page."""
    remaining = [item for item in ranked if after is None or item[0] > after]
    page = remaining[:size]
    next_key = page[-1][0] if len(remaining) > size else None
    return page, next_key


def order_page(
    page: Sequence[tuple[SortKey, Candidate]], next_slots: dict[str, datetime]
) -> list[tuple[SortKey, Candidate]]:
    """Inside one page: continuity, fit, then the earliest next slot (none = last), then fairness."""
    far = datetime.max.replace(tzinfo=UTC)

    def key(item: tuple[SortKey, Candidate]) -> tuple[int, int, datetime, str, str]:
        continuity, fit, fairness, clinician = item[0]
        return (continuity, fit, next_slots.get(item[1].clinician_id, far), fairness, clinician)

    return sorted(page, key=key)


def within_time_zone_window(
    clinician_zone: str, client_zone: str, max_hours: int | None, at: datetime
) -> bool:
    if max_hours is None:
        return True
    clinician = at.astimezone(ZoneInfo(clinician_zone)).utcoffset() or timedelta(0)
    client = at.astimezone(ZoneInfo(client_zone)).utcoffset() or timedelta(0)
    return abs(clinician - client) <= timedelta(hours=max_hours)


def slot_phrase(start: datetime, client_zone: str) -> str:
    """ "next slot Tue 10:00 your time" (the start in the client's zone)."""
    local = start.astimezone(ZoneInfo(client_zone))
    return f"next slot {local.strftime('%a')} {local.strftime('%H:%M')} your time"


def explain(
    candidate: Candidate,
    criteria: SearchCriteria,
    current_clinicians: frozenset[str],
    next_slot: datetime | None,
    *,
    availability_known: bool,
) -> list[str]:
    reasons: list[str] = []
    if candidate.clinician_id in current_clinicians:
        reasons.append("your current clinician")
    if candidate.authority is not None:
        reasons.append(authority_reason(candidate.authority, criteria.client_state))
    else:
        reasons.append("coaching — not therapy")
    matched = matched_needs(candidate, criteria.specialties)
    if matched:
        reasons.append("lists " + ", ".join(m.replace("_", " ") for m in matched))
    if criteria.language:
        reasons.append(f"speaks {criteria.language}")
    if next_slot is not None:
        reasons.append(slot_phrase(next_slot, criteria.client_time_zone))
    elif availability_known:
        reasons.append("no open slot in the next two weeks")
    return reasons


def encode_token(key: SortKey, fingerprint: str) -> str:
    document = {"v": _TOKEN_VERSION, "f": fingerprint, "k": list(key)}
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str, fingerprint: str) -> SortKey | None:
    """The sort key a token continues from; InvalidArgument on `page.page_token` when it is not one of
    ours or was issued for other filters."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw)
        key = document["k"]
        parsed: SortKey = (int(key[0]), int(key[1]), str(key[2]), str(key[3]))
        version, bound = document["v"], document["f"]
    except (ValueError, KeyError, TypeError, IndexError, OverflowError):
        raise InvalidArgument.field("page.page_token", "not a page token of this search") from None
    if version != _TOKEN_VERSION or bound != fingerprint:
        raise InvalidArgument.field("page.page_token", "issued for a search with other filters")
    return parsed

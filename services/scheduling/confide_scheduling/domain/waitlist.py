"""Waitlist: clients waiting for a slot, matched first-in-first-out when a slot frees up.

Entry states: ``waiting`` → ``offered`` → ``fulfilled`` (offer accepted) | back to ``waiting`` (offer
declined or expired); ``withdrawn`` when the client leaves the list. Offer states: ``pending`` →
``accepted`` | ``declined`` | ``expired``. An offer can be accepted until (not at) ``expires_at``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from uuid import UUID

from confide_chassis.errors import FailedPrecondition, InvalidArgument, RuleViolation

from . import rules
from .catalog import Modality, Weekday
from .timekit import TimeRange, require_utc, zone

__all__ = [
    "FreedSlot",
    "OfferStatus",
    "TimeOfDayWindow",
    "WaitlistEntry",
    "WaitlistOffer",
    "WaitlistStatus",
    "accept_offer",
    "decline_offer",
    "entry_matches",
    "expire_offer",
    "make_offer",
    "match_freed_slot",
    "withdraw",
]

_ALL_DAYS = frozenset(Weekday)


@dataclass(frozen=True, slots=True)
class TimeOfDayWindow:
    """A preferred time of day in the *client's* zone, e.g. weekdays 17:00-20:00; the whole session
    must fit (start >= ``start`` and end <= ``end`` on the same local date)."""

    start: time
    end: time
    weekdays: frozenset[Weekday] = _ALL_DAYS

    def __post_init__(self) -> None:
        if not self.start < self.end or not self.weekdays:
            raise InvalidArgument.field("waitlist.time_windows", "needs start < end and at least one weekday")

    def fits(self, local_start: datetime, local_end: datetime) -> bool:
        return (
            Weekday(local_start.weekday()) in self.weekdays
            and local_start.date() == local_end.date()
            and self.start <= local_start.time()
            and local_end.time() <= self.end
        )


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    FULFILLED = "fulfilled"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class WaitlistEntry:
    """A client waiting for a slot. Empty preference sets mean "any"."""

    id: UUID
    practice_id: UUID
    client_id: UUID
    enqueued_at: datetime  # FIFO order
    client_time_zone: str
    session_type_codes: frozenset[str]
    modalities: frozenset[Modality] = frozenset()
    clinician_ids: frozenset[UUID] = frozenset()
    time_windows: tuple[TimeOfDayWindow, ...] = ()
    status: WaitlistStatus = WaitlistStatus.WAITING
    version: int = 0

    def __post_init__(self) -> None:
        zone(self.client_time_zone, "waitlist.client_time_zone")
        object.__setattr__(self, "enqueued_at", require_utc(self.enqueued_at, "waitlist.enqueued_at"))
        if any(not m.is_synchronous for m in self.modalities):
            raise InvalidArgument.field(
                "waitlist.modalities", "only synchronous modalities can be waited for"
            )


@dataclass(frozen=True, slots=True)
class FreedSlot:
    """A slot that became free (cancellation, expired hold) and may go to the waitlist."""

    practice_id: UUID
    clinician_id: UUID
    start: datetime
    end: datetime
    session_type_code: str
    modalities: frozenset[Modality]

    @property
    def range(self) -> TimeRange:
        return TimeRange(self.start, self.end)


def entry_matches(entry: WaitlistEntry, slot: FreedSlot) -> bool:
    """Do the entry's preferences accept ``slot``? (Status is not considered here.)"""
    if entry.practice_id != slot.practice_id:
        return False
    if entry.session_type_codes and slot.session_type_code not in entry.session_type_codes:
        return False
    if entry.clinician_ids and slot.clinician_id not in entry.clinician_ids:
        return False
    if entry.modalities and not entry.modalities & slot.modalities:
        return False
    if entry.time_windows:
        tz = zone(entry.client_time_zone)
        local_start, local_end = slot.start.astimezone(tz), slot.end.astimezone(tz)
        return any(w.fits(local_start, local_end) for w in entry.time_windows)
    return True


def match_freed_slot(
    slot: FreedSlot,
    entries: Iterable[WaitlistEntry],
    now: datetime,
    *,
    exclude_entry_ids: frozenset[UUID] = frozenset(),
) -> WaitlistEntry | None:
    """The next eligible entry for ``slot``: waiting, matching, not excluded (e.g. already offered this
    slot), first enqueued first (ties by id). None if the slot is already in the past or nobody fits."""
    if require_utc(now, "now") >= slot.start:
        return None
    eligible = [
        e
        for e in entries
        if e.status is WaitlistStatus.WAITING and e.id not in exclude_entry_ids and entry_matches(e, slot)
    ]
    return min(eligible, key=lambda e: (e.enqueued_at, e.id), default=None)


class OfferStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class WaitlistOffer:
    id: UUID
    entry_id: UUID
    slot: FreedSlot
    offered_at: datetime
    expires_at: datetime
    status: OfferStatus = OfferStatus.PENDING
    resolved_at: datetime | None = None

    def is_expired(self, now: datetime) -> bool:
        return require_utc(now, "now") >= self.expires_at


def _offer_error(description: str, offer: WaitlistOffer) -> FailedPrecondition:
    return FailedPrecondition(RuleViolation(rules.SCHED_OFFER, description, subject=str(offer.id)))


def make_offer(
    entry: WaitlistEntry, slot: FreedSlot, offer_id: UUID, now: datetime, ttl: timedelta
) -> tuple[WaitlistEntry, WaitlistOffer]:
    """Offer ``slot`` to a waiting entry until ``now + ttl`` (never past the slot's start)."""
    now_utc = require_utc(now, "now")
    if not timedelta(minutes=1) <= ttl <= timedelta(days=2):
        raise InvalidArgument.field("offer_ttl", "must be between 1 minute and 2 days")
    if entry.status is not WaitlistStatus.WAITING:
        raise FailedPrecondition(
            RuleViolation(
                rules.SCHED_OFFER, f"entry is {entry.status.value}, not waiting", subject=str(entry.id)
            )
        )
    if now_utc >= slot.start:
        raise FailedPrecondition(RuleViolation(rules.SCHED_OFFER, "the slot has already started"))
    offer = WaitlistOffer(
        id=offer_id,
        entry_id=entry.id,
        slot=slot,
        offered_at=now_utc,
        expires_at=min(now_utc + ttl, slot.start),
    )
    return dataclasses.replace(entry, status=WaitlistStatus.OFFERED, version=entry.version + 1), offer


def _resolve(entry: WaitlistEntry, offer: WaitlistOffer, now: datetime) -> datetime:
    now_utc = require_utc(now, "now")
    if offer.entry_id != entry.id:
        raise InvalidArgument.field("offer_id", "does not belong to this waitlist entry")
    if offer.status is not OfferStatus.PENDING or entry.status is not WaitlistStatus.OFFERED:
        raise _offer_error(f"offer is {offer.status.value}", offer)
    return now_utc


def accept_offer(
    entry: WaitlistEntry, offer: WaitlistOffer, now: datetime
) -> tuple[WaitlistEntry, WaitlistOffer]:
    """pending → accepted before expiry (the app then books the slot); entry → fulfilled."""
    now_utc = _resolve(entry, offer, now)
    if offer.is_expired(now_utc):
        raise _offer_error("the offer has expired", offer)
    return (
        dataclasses.replace(entry, status=WaitlistStatus.FULFILLED, version=entry.version + 1),
        dataclasses.replace(offer, status=OfferStatus.ACCEPTED, resolved_at=now_utc),
    )


def decline_offer(
    entry: WaitlistEntry, offer: WaitlistOffer, now: datetime
) -> tuple[WaitlistEntry, WaitlistOffer]:
    """pending → declined; the entry goes back to waiting (keeps its place in the queue)."""
    now_utc = _resolve(entry, offer, now)
    return (
        dataclasses.replace(entry, status=WaitlistStatus.WAITING, version=entry.version + 1),
        dataclasses.replace(offer, status=OfferStatus.DECLINED, resolved_at=now_utc),
    )


def expire_offer(
    entry: WaitlistEntry, offer: WaitlistOffer, now: datetime
) -> tuple[WaitlistEntry, WaitlistOffer]:
    """pending → expired at/after ``expires_at``; the entry goes back to waiting."""
    now_utc = _resolve(entry, offer, now)
    if not offer.is_expired(now_utc):
        raise _offer_error("the offer has not expired yet", offer)
    return (
        dataclasses.replace(entry, status=WaitlistStatus.WAITING, version=entry.version + 1),
        dataclasses.replace(offer, status=OfferStatus.EXPIRED, resolved_at=now_utc),
    )


def withdraw(entry: WaitlistEntry) -> WaitlistEntry:
    """The client leaves the waitlist (from waiting or offered; a pending offer should be declined)."""
    if entry.status not in {WaitlistStatus.WAITING, WaitlistStatus.OFFERED}:
        raise FailedPrecondition(
            RuleViolation(rules.SCHED_OFFER, f"entry is {entry.status.value}", subject=str(entry.id))
        )
    return dataclasses.replace(entry, status=WaitlistStatus.WITHDRAWN, version=entry.version + 1)

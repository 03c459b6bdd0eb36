"""Offering freed slots to the waitlist (first in, first out), inside the caller's unit of work."""

from __future__ import annotations

from datetime import datetime, timedelta

from confide_chassis.ids import new_id
from confide_scheduling.app.context import AppContext
from confide_scheduling.app.ports import UnitOfWork
from confide_scheduling.domain.waitlist import FreedSlot, WaitlistOffer, make_offer, match_freed_slot


async def offer_freed_slot(
    uow: UnitOfWork, ctx: AppContext, slot: FreedSlot, practice_id: str, now: datetime
) -> WaitlistOffer | None:
    """Offer ``slot`` to the next waiting entry that matches and was not offered it before.

    Entries are claimed with SKIP LOCKED, so concurrent cancellations never offer one entry twice.
    No event announces the offer yet (topics.yaml has no waitlist stream): clients see it with
    ListWaitlist.
    """
    if slot.start - now < timedelta(minutes=5):
        return None  # too late for anyone to take it
    entries = await uow.waitlist.waiting_entries(practice_id)
    offered_before = await uow.waitlist.entries_offered_slot(slot.clinician_id, slot.start)
    entry = match_freed_slot(slot, entries, now, exclude_entry_ids=offered_before)
    if entry is None:
        return None
    ttl = timedelta(minutes=ctx.settings.waitlist_offer_ttl_minutes)
    updated_entry, offer = make_offer(entry, slot, new_id(), now, ttl)
    await uow.waitlist.save_entry_status(updated_entry)
    await uow.waitlist.add_offer(offer, practice_id)
    return offer

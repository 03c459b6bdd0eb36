"""Waitlist use cases: join, leave, list, accept (books the slot with every booking check), decline."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from confide_chassis import audit
from confide_chassis.errors import FailedPrecondition, InvalidArgument, NotFound, RuleViolation
from confide_chassis.ids import new_id
from confide_chassis.roles import CLIENT, PRACTICE_ADMIN
from confide_scheduling import metrics
from confide_scheduling.app import booking, commands, common
from confide_scheduling.app.context import AppContext, Caller, audit_record
from confide_scheduling.app.event_messages import booked_event
from confide_scheduling.app.offers import offer_freed_slot
from confide_scheduling.app.ports import AppointmentRecord, UnitOfWork, practice_uuid
from confide_scheduling.domain import appointments as appts
from confide_scheduling.domain import rules
from confide_scheduling.domain.waitlist import (
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
    accept_offer,
    decline_offer,
    expire_offer,
    withdraw,
)


async def _require_entry_allowance(uow: UnitOfWork, ctx: AppContext, caller: Caller, client_id: UUID) -> None:
    """SCHED-10: freed slots are offered first in, first out, so one client keeps only a few open
    entries and cannot crowd out everyone else on the practice's waitlist."""
    await uow.waitlist.lock_client(client_id)
    practice = practice_uuid(caller.practice_id)
    open_entries = [e for e in await uow.waitlist.client_entries(client_id) if e.practice_id == practice]
    limit = ctx.settings.max_waitlist_entries_per_client
    if len(open_entries) >= limit:
        raise FailedPrecondition(
            RuleViolation(
                rules.SCHED_OPEN_LIMIT,
                "the client already has the most open waitlist entries allowed; leave one first",
                subject=f"client/{client_id}",
            ),
            metadata={"limit": str(limit)},
        )


async def _entry_for(uow: UnitOfWork, caller: Caller, entry_id: UUID, *, admin: bool = True) -> WaitlistEntry:
    practice = await uow.waitlist.entry_practice(entry_id)
    entry = await uow.waitlist.get_entry(entry_id, for_update=True)
    if entry is None or practice != caller.practice_id:
        raise NotFound("no such waitlist entry")
    own = caller.is_user(entry.client_id) and caller.has(CLIENT)
    if not own and not (admin and caller.has(PRACTICE_ADMIN) and caller.principal.mfa):
        raise NotFound("no such waitlist entry")
    return entry


async def _offer_for(ctx: AppContext, caller: Caller, offer_id: UUID) -> tuple[WaitlistOffer, WaitlistEntry]:
    async with ctx.uow() as uow:
        practice = await uow.waitlist.offer_practice(offer_id)
        offer = await uow.waitlist.get_offer(offer_id)
        entry = await uow.waitlist.get_entry(offer.entry_id) if offer else None
    if offer is None or entry is None or practice != caller.practice_id:
        raise NotFound("no such offer")
    if not (caller.is_user(entry.client_id) and caller.has(CLIENT)):
        raise NotFound("no such offer")
    return offer, entry


async def expire_offers(ctx: AppContext, now: datetime) -> int:
    """Maintenance: pending offers past their expiry go back to waiting and the slot moves on."""
    async with ctx.uow() as uow:
        expired = await uow.waitlist.claim_expired_offers(now)
        for offer in expired:
            entry = await uow.waitlist.get_entry(offer.entry_id, for_update=True)
            if entry is None or entry.status is not WaitlistStatus.OFFERED:
                continue
            practice = await uow.waitlist.offer_practice(offer.id)
            waiting, gone = expire_offer(entry, offer, now)
            await uow.waitlist.save_entry_status(waiting)
            await uow.waitlist.resolve_offer(gone)
            if practice is not None:
                await offer_freed_slot(uow, ctx, gone.slot, practice, now)
        await uow.commit()
    return len(expired)


class WaitlistUseCases:
    """Join, leave, list; accept an offer (books the slot with every booking check) or decline it."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def join(self, caller: Caller, request: commands.JoinWaitlist) -> WaitlistEntry:
        ctx = self._ctx
        known = {t.code for t in ctx.catalogue.session_types}
        unknown = sorted(request.session_type_codes - known)
        if unknown:
            raise InvalidArgument.field("session_type_codes", f"unknown codes: {', '.join(unknown)}")

        now = ctx.now()
        async with ctx.uow() as uow:
            _, profile = await common.acting_for_client(uow, caller, request.client_id)
            practice_clinicians = {
                s.clinician_id for s in await uow.schedules.list_for_practice(caller.practice_id)
            }
        if not request.clinician_ids <= practice_clinicians:
            # An entry names only clinicians of the client's own practice.
            raise InvalidArgument.field(
                "clinician_ids", "names a clinician without a schedule in this practice"
            )
        entry = WaitlistEntry(
            id=new_id(),
            practice_id=practice_uuid(caller.practice_id),
            client_id=request.client_id,
            enqueued_at=now,
            client_time_zone=profile.time_zone or "UTC",
            session_type_codes=request.session_type_codes,
            modalities=request.modalities,
            clinician_ids=request.clinician_ids,
            time_windows=request.time_windows,
        )
        async with ctx.uow() as uow:
            await _require_entry_allowance(uow, ctx, caller, request.client_id)
            await uow.waitlist.add_entry(entry, caller.practice_id)
            audit_record(
                uow,
                action=audit.CREATE,
                resource_type="waitlist_entry",
                resource_id=str(entry.id),
                subject=request.client_id,
                now=now,
            )
            await uow.commit()
        return entry

    async def leave(self, caller: Caller, command: commands.LeaveWaitlist) -> WaitlistEntry:
        ctx = self._ctx
        entry_id = command.entry_id
        now = ctx.now()
        async with ctx.uow() as uow:
            entry = await _entry_for(uow, caller, entry_id)
            for offer in await uow.waitlist.pending_offers_of_entries([entry.id]):
                entry, declined = decline_offer(entry, offer, now)
                await uow.waitlist.resolve_offer(declined)
            withdrawn = withdraw(entry)
            await uow.waitlist.save_entry_status(withdrawn)
            audit_record(
                uow,
                action=audit.UPDATE,
                resource_type="waitlist_entry",
                resource_id=str(entry.id),
                subject=entry.client_id,
                now=now,
            )
            await uow.commit()
        return withdrawn

    async def list_for_client(
        self, caller: Caller, client_id: UUID
    ) -> tuple[tuple[WaitlistEntry, ...], tuple[WaitlistOffer, ...]]:
        ctx = self._ctx
        async with ctx.uow() as uow:
            profile = await uow.clients.profile(client_id)
            await caller.role_for_client(
                uow, client_id, profile.practice_id if profile else None, clinician=False
            )
            entries = [
                e
                for e in await uow.waitlist.client_entries(client_id)
                if str(e.practice_id) == str(practice_uuid(caller.practice_id))
            ]
            offers = await uow.waitlist.pending_offers_of_entries([e.id for e in entries])
            audit_record(
                uow,
                action=audit.READ,
                resource_type="waitlist_entry",
                resource_id=f"client/{client_id}",
                subject=client_id,
                now=ctx.now(),
            )
            await uow.commit()
        return tuple(entries), tuple(offers)

    @common.counts_booking_denials
    async def accept_offer(
        self, caller: Caller, command: commands.AcceptWaitlistOffer
    ) -> tuple[AppointmentRecord, WaitlistOffer]:
        ctx = self._ctx
        offer_id, modality, client_state = command.offer_id, command.modality, command.client_state
        now = ctx.now()
        offer, entry = await _offer_for(ctx, caller, offer_id)
        accept_offer(entry, offer, now)  # validates state and expiry before any remote call
        if modality not in offer.slot.modalities:
            raise InvalidArgument.field("modality", "is not one of the offer's modalities")
        request = commands.BookSlot(
            client_id=entry.client_id,
            clinician_id=offer.slot.clinician_id,
            session_type=common.session_type(ctx, offer.slot.session_type_code),
            modality=modality,
            start=offer.slot.start,
            client_state=client_state,
        )
        prepared = await booking.prepare_booking(ctx, caller, request, now)
        appointment_id = new_id()
        decision = await booking.authorize(
            ctx,
            caller,
            prepared,
            clinician_id=request.clinician_id,
            client_id=request.client_id,
            start=request.start,
            modality=modality,
            appointment_id=appointment_id,
        )
        appointment = appts.book(
            appointment_id=appointment_id,
            practice_id=practice_uuid(caller.practice_id),
            clinician_id=request.clinician_id,
            client_id=request.client_id,
            session_type=request.session_type,
            modality=modality,
            start=request.start,
            now=now,
            authorization=decision,
            min_notice=ctx.settings.min_notice,
            clinician_review_required=prepared.clinician_review_required,
        )
        rec = booking.new_record(appointment, prepared, caller)
        async with ctx.uow() as uow:
            locked_entry = await uow.waitlist.get_entry(entry.id, for_update=True)
            locked_offer = await uow.waitlist.get_offer(offer.id, for_update=True)
            if locked_entry is None or locked_offer is None:
                raise NotFound("no such offer")
            fulfilled, accepted = accept_offer(locked_entry, locked_offer, now)
            await booking.reserve(uow, rec, now)
            await uow.waitlist.save_entry_status(fulfilled)
            await uow.waitlist.resolve_offer(accepted, appointment_id)
            uow.publish(booked_event(rec, now))
            audit_record(
                uow,
                action=audit.CREATE,
                resource_type="appointment",
                resource_id=str(rec.id),
                subject=entry.client_id,
                rule_ids=(rules.LIC_03,),  # authorized like any booking
                now=now,
            )
            await uow.commit()
        metrics.booked("waitlist_offer")
        return rec, accepted

    async def decline_offer(self, caller: Caller, command: commands.DeclineWaitlistOffer) -> WaitlistOffer:
        ctx = self._ctx
        offer_id = command.offer_id
        now = ctx.now()
        offer, entry = await _offer_for(ctx, caller, offer_id)
        async with ctx.uow() as uow:
            locked_entry = await uow.waitlist.get_entry(entry.id, for_update=True)
            locked_offer = await uow.waitlist.get_offer(offer.id, for_update=True)
            if locked_entry is None or locked_offer is None:
                raise NotFound("no such offer")
            waiting, declined = decline_offer(locked_entry, locked_offer, now)
            await uow.waitlist.save_entry_status(waiting)
            await uow.waitlist.resolve_offer(declined)
            await offer_freed_slot(uow, ctx, declined.slot, caller.practice_id, now)
            await uow.commit()
        return declined

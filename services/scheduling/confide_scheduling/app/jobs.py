"""Background jobs, safe to run in every replica at once.

- **Reminders** (MSG-03): each due reminder is recorded under its unique dedupe key with
  ``INSERT ... ON CONFLICT DO NOTHING`` and its ReminderDue event is written to the outbox *in the same
  transaction*; a concurrent replica's insert waits for that transaction and then does nothing, so a
  reminder is emitted exactly once however many replicas run the job.
- **Maintenance**: expired holds are cancelled (and their time offered to the waitlist), expired
  waitlist offers move the slot on, and flagged appointments whose time has passed are cancelled by the
  system. Rows are claimed with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from confide.scheduling.v1 import events_pb2
from confide_chassis.logging import get_logger
from confide_chassis.wire import optional_timestamp
from confide_scheduling.app import booking, waitlist
from confide_scheduling.app.context import AppContext
from confide_scheduling.app.offers import offer_freed_slot
from confide_scheduling.domain.appointments import CancelReason, expire_hold
from confide_scheduling.domain.policy import CancelledBy
from confide_scheduling.domain.reminders import due_reminders
from confide_scheduling.domain.waitlist import FreedSlot

log = get_logger(__name__)


async def emit_due_reminders(ctx: AppContext, now: datetime) -> int:
    """Emit every reminder due at ``now`` that was not emitted yet; returns how many this call emitted."""
    policy = ctx.reminder_policy
    horizon = max(policy.offsets)
    async with ctx.uow() as uow:
        candidates = await uow.reminders.candidates(now, horizon)
        sent = await uow.reminders.sent_keys([c.id for c in candidates])
    by_id = {c.id: c for c in candidates}
    due = due_reminders([c.appointment for c in candidates], now, policy, already_sent=sent)
    emitted = 0
    for reminder in due:
        rec = by_id[reminder.content.appointment_id]
        a = rec.appointment
        offset_minutes = reminder.offset // timedelta(minutes=1)
        async with ctx.uow() as uow:
            inserted = await uow.reminders.record(reminder.dedupe_key, a.id, offset_minutes, a.start, now)
            if not inserted:
                continue  # another replica emitted it (or the appointment changed meanwhile)
            uow.publish(
                events_pb2.ReminderDue(
                    appointment_id=str(a.id),
                    reminder_id=reminder.dedupe_key,
                    start_time=optional_timestamp(reminder.content.starts_at),
                    offset_minutes=offset_minutes,
                    client_id=str(a.client_id),
                    clinician_id=str(a.clinician_id),
                    practice_id=rec.practice_id,
                    occurred_at=optional_timestamp(now),
                )
            )
            await uow.commit()
            emitted += 1
    return emitted


async def expire_holds(ctx: AppContext, now: datetime, batch: int = 100) -> int:
    async with ctx.uow() as uow:
        rows = await uow.holds.claim_expired(now, batch)
        for rec in rows:
            expired = rec.with_appointment(expire_hold(rec.appointment, now), cancelled_by=CancelledBy.SYSTEM)
            await uow.appointments.save(expired, rec.appointment.version)
            x = rec.appointment
            await offer_freed_slot(
                uow,
                ctx,
                FreedSlot(
                    x.practice_id,
                    x.clinician_id,
                    x.start,
                    x.end,
                    x.session_type.code,
                    frozenset({x.modality}),
                ),
                rec.practice_id,
                now,
            )
        await uow.commit()
    return len(rows)


async def cancel_past_flagged(ctx: AppContext, now: datetime, batch: int = 100) -> int:
    """A flagged appointment whose time has passed can no longer be restored: the system cancels it."""
    async with ctx.uow() as uow:
        rows = await uow.appointments.claim_past_flagged(now, batch)
        for rec in rows:
            await booking.cancel_in(
                uow,
                ctx,
                rec,
                CancelledBy.SYSTEM,
                now,
                reason=CancelReason.AUTHORIZATION_DENIED,
                offer_to_waitlist=False,
            )
        await uow.commit()
    return len(rows)


async def maintain(ctx: AppContext, now: datetime) -> None:
    await expire_holds(ctx, now)
    await waitlist.expire_offers(ctx, now)
    await cancel_past_flagged(ctx, now)


def periodic(
    name: str, interval: float, step: Callable[[], Awaitable[object]]
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """A background task for ``ServiceContext.add_background``: run ``step`` every ``interval`` seconds
    until stopped; an error is logged and retried next time (never fatal)."""

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("background job failed; retrying", job=name, error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    return run

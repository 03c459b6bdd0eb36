"""Booking use cases: hold, confirm, release, book, reschedule, cancel, no-show, re-check, read.

A booking is decided in this order, each step failing with its own rule ids:

1. the request is well formed (INVALID_ARGUMENT with field paths);
2. the caller may act for the client (client themself, care-team clinician, practice admin);
3. the client's profile facts are known (SCHED-08), the time respects the minimum notice (SCHED-03)
   and is a slot of the clinician's availability (SCHED-07);
4. a current telehealth consent covers the modality and the client's state (SAFE-10, SAFE-12);
5. the latest screening does not block online self-booking (SAFE-23, SAFE-24);
6. compliance allows it for the client's state at session time (LIC-01, LIC-03), fail closed;
7. under a per-clinician lock the time (with buffers) is still free, and the insert passes the
   exclusion constraint — otherwise ABORTED. State and events commit together.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from google.protobuf.message import Message

from confide_chassis import audit
from confide_chassis.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from confide_chassis.ids import new_id
from confide_chassis.roles import CLIENT, CLINICIAN, PRACTICE_ADMIN
from confide_scheduling import metrics
from confide_scheduling.app import commands, common
from confide_scheduling.app.context import AppContext, Caller, audit_record
from confide_scheduling.app.event_messages import (
    booked_event,
    cancelled_event,
    no_show_event,
    rescheduled_event,
)
from confide_scheduling.app.offers import offer_freed_slot
from confide_scheduling.app.ports import (
    AppointmentFilter,
    AppointmentRecord,
    ClientProfile,
    ScheduleRecord,
    UnitOfWork,
    new_room_name,
    practice_uuid,
)
from confide_scheduling.domain import appointments as appts
from confide_scheduling.domain import rules
from confide_scheduling.domain.appointments import AppointmentStatus, AuthorizationDecision
from confide_scheduling.domain.catalog import Modality
from confide_scheduling.domain.policy import (
    CancellationOutcome,
    CancellationPolicy,
    CancelledBy,
    FeeContext,
    FeeDecision,
    PayerType,
    cancel_appointment,
    mark_no_show,
)
from confide_scheduling.domain.waitlist import FreedSlot

CANCELLED_BY_ROLE = {
    CLIENT: CancelledBy.CLIENT,
    CLINICIAN: CancelledBy.CLINICIAN,
    PRACTICE_ADMIN: CancelledBy.PRACTICE,
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything checked before the transaction (no lock held while compliance answers)."""

    role: str
    profile: ClientProfile
    schedule: ScheduleRecord
    client_state: str
    clinician_review_required: bool


async def prepare_booking(
    ctx: AppContext, caller: Caller, request: commands.BookSlot, now: datetime
) -> Prepared:
    async with ctx.uow() as uow:
        role, profile = await common.acting_for_client(uow, caller, request.client_id)
        common.require_own_calendar(caller, role, request.clinician_id)
        schedule = await common.clinician_schedule(uow, caller, request.clinician_id)
        common.require_offered(schedule, request.session_type, request.modality)
        common.require_min_notice(ctx, request.start, now)
        await common.require_available(
            uow, ctx, schedule, request.session_type, request.modality, request.start
        )
        state = request.client_state or profile.home_state
        assert state is not None  # client_profile() guarantees it
        await common.require_consent(uow, profile, request.modality, state, now)
        review = await common.screening_gate(uow, request.client_id, role)
    return Prepared(role, profile, schedule, state, review)


async def authorize(
    ctx: AppContext,
    caller: Caller,
    prepared: Prepared,
    *,
    clinician_id: UUID,
    client_id: UUID,
    start: datetime,
    modality: Modality,
    appointment_id: UUID | None,
    purpose: str = "booking",
    existing_client: bool | None = None,
) -> AuthorizationDecision:
    """Compliance's decision for this booking; ``existing_client`` is read when not given (callers
    asking many times at once read it once: a unit of work is not shared between concurrent tasks)."""
    if existing_client is None:
        async with ctx.uow() as uow:
            existing_client = await uow.appointments.has_completed_session(clinician_id, client_id)
    return await common.ask_compliance(
        ctx,
        caller,
        existing_client=existing_client,
        clinician_id=clinician_id,
        client_state=prepared.client_state,
        clinician_state=prepared.schedule.location_state,
        start=start,
        client_time_zone=prepared.profile.time_zone or "UTC",
        modality=modality,
        purpose=purpose,
        appointment_id=appointment_id,
    )


async def reserve(
    uow: UnitOfWork,
    rec: AppointmentRecord,
    now: datetime,
    *,
    expected_version: int | None = None,
) -> None:
    """Under the clinician lock: drop expired holds, check the time (with buffers) is free, then insert or
    update; the exclusion constraint is the final guard (Conflict either way)."""
    a = rec.appointment
    await uow.appointments.lock_clinician(a.clinician_id)
    buffer = a.session_type.buffer
    span = a.range.padded(buffer, buffer)
    await uow.holds.expire_stale(a.clinician_id, span, now)
    busy = await uow.appointments.busy_ranges(a.clinician_id, span, now, exclude=a.id)
    appts.ensure_free(a.range, busy, buffer)
    if expected_version is None:
        await uow.appointments.add(rec)
    else:
        await uow.appointments.save(rec, expected_version)


def new_record(appointment: appts.Appointment, prepared: Prepared, caller: Caller) -> AppointmentRecord:
    return AppointmentRecord(
        appointment=appointment,
        practice_id=caller.practice_id,
        authorized_state=prepared.client_state,
        clinician_time_zone=prepared.schedule.availability.time_zone,
        video_room=new_room_name(),
        booked_by=prepared.role,
    )


async def _commit_change(
    ctx: AppContext,
    rec: AppointmentRecord,
    now: datetime,
    *,
    action: audit.Action.ValueType,
    expected_version: int | None,
    reserve_time: bool = False,
    event: Message | None = None,
    rule_ids: tuple[str, ...] = (),
) -> None:
    """One appointment change in one transaction: write (``reserve`` re-checks the time under the
    clinician lock; else an optimistic update), publish the event, audit."""
    async with ctx.uow() as uow:
        if reserve_time:
            await reserve(uow, rec, now, expected_version=expected_version)
        else:
            assert expected_version is not None
            await uow.appointments.save(rec, expected_version)
        if event is not None:
            uow.publish(event)
        audit_record(
            uow,
            action=action,
            resource_type="appointment",
            resource_id=str(rec.id),
            subject=rec.appointment.client_id,
            rule_ids=rule_ids,
            now=now,
        )
        await uow.commit()


async def require_hold_allowance(uow: UnitOfWork, ctx: AppContext, client_id: UUID, now: datetime) -> None:
    """SCHED-10: holds reserve a clinician's time without any authorization check, so one client (or
    someone acting for them) keeps only a few open at once and cannot block calendars en masse."""
    await uow.holds.lock_client(client_id)
    if await uow.holds.count_open(client_id, now) >= ctx.settings.max_open_holds_per_client:
        raise FailedPrecondition(
            RuleViolation(
                rules.SCHED_OPEN_LIMIT,
                "the client already holds the most slots allowed at once; confirm or release one first",
                subject=f"client/{client_id}",
            ),
            metadata={"limit": str(ctx.settings.max_open_holds_per_client)},
        )


async def load_appointment(ctx: AppContext, appointment_id: UUID) -> AppointmentRecord:
    async with ctx.uow() as uow:
        rec = await uow.appointments.get(appointment_id)
    if rec is None:
        raise NotFound("no such appointment")
    return rec


def _role(caller: Caller, rec: AppointmentRecord, *, client: bool = True) -> str:
    a = rec.appointment
    return caller.role_for_appointment(rec.practice_id, a.client_id, a.clinician_id, client=client)


async def reschedule_checked(
    ctx: AppContext,
    caller: Caller,
    rec: AppointmentRecord,
    role: str,
    new_start: datetime,
    now: datetime,
) -> tuple[AppointmentRecord, datetime]:
    """Checks and the domain move for one appointment (also used by series "move this one")."""
    a = rec.appointment
    appts.require_status(a, AppointmentStatus.BOOKED, AppointmentStatus.BOOKED)
    common.require_min_notice(ctx, new_start, now)
    async with ctx.uow() as uow:
        profile = await common.client_profile(uow, a.client_id)
        schedule = await common.clinician_schedule(uow, caller, a.clinician_id)
        await common.require_available(uow, ctx, schedule, a.session_type, a.modality, new_start)
    prepared = Prepared(role, profile, schedule, rec.authorized_state, a.clinician_review_required)
    decision = await authorize(
        ctx,
        caller,
        prepared,
        clinician_id=a.clinician_id,
        client_id=a.client_id,
        start=new_start,
        modality=a.modality,
        appointment_id=a.id,
    )
    moved = appts.reschedule(a, new_start, now, decision, min_notice=ctx.settings.min_notice)
    return rec.with_appointment(moved), a.start


async def _fee_context(uow: UnitOfWork, client_id: UUID) -> FeeContext:
    profile = await uow.clients.profile(client_id)
    return FeeContext(
        payer_type=profile.payer_type if profile else PayerType.SELF_PAY,
        # Identity does not publish a written fee-policy agreement yet: no fee is ever charged until it
        # does (BILL-41, conservative).
        fee_policy_agreed=False,
    )


async def cancel_in(
    uow: UnitOfWork,
    ctx: AppContext,
    rec: AppointmentRecord,
    by: CancelledBy,
    now: datetime,
    *,
    reason: appts.CancelReason | None = None,
    offer_to_waitlist: bool = True,
) -> tuple[AppointmentRecord, CancellationOutcome]:
    """Cancel inside the caller's unit of work: policy outcome, event, audit, and the freed slot offered
    to the waitlist. Returns the updated record and the domain CancellationOutcome."""
    a = rec.appointment
    policy = await ctx.policy(uow, rec.practice_id)
    cancelled, outcome = cancel_appointment(
        a, now, by, policy, await _fee_context(uow, a.client_id), reason=reason
    )
    updated = rec.with_appointment(cancelled, cancelled_by=by)
    await uow.appointments.save(updated, a.version)
    metrics.cancelled(by.value, outcome.late)
    uow.publish(cancelled_event(updated, outcome, now))
    audit_record(
        uow,
        action=audit.UPDATE,
        resource_type="appointment",
        resource_id=str(a.id),
        subject=a.client_id,
        system=by is CancelledBy.SYSTEM,
        now=now,
    )
    if offer_to_waitlist and a.start > now:
        await offer_freed_slot(
            uow,
            ctx,
            FreedSlot(
                practice_id=a.practice_id,
                clinician_id=a.clinician_id,
                start=a.start,
                end=a.end,
                session_type_code=a.session_type.code,
                modalities=frozenset({a.modality}),
            ),
            rec.practice_id,
            now,
        )
    return updated, outcome


MAX_PAGE = 200
DEFAULT_PAGE = 50


def _page_token(filters_hash: str, last: AppointmentRecord) -> str:
    raw = f"{filters_hash}|{last.appointment.start.isoformat()}|{last.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _parse_token(token: str, filters_hash: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
        digest, start, ident = raw.split("|")
        if digest != filters_hash:
            raise ValueError("filters changed")
        return datetime.fromisoformat(start), UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument.field("page.page_token", "is not a token of this query") from None


@dataclass(frozen=True, slots=True)
class Cancellation:
    appointment: AppointmentRecord
    outcome: CancellationOutcome | None  # None: a hold was released (no policy applies)


@dataclass(frozen=True, slots=True)
class NoShow:
    appointment: AppointmentRecord
    fee: FeeDecision


@dataclass(frozen=True, slots=True)
class AppointmentPage:
    appointments: tuple[AppointmentRecord, ...]
    next_page_token: str


class AppointmentUseCases:
    """Hold, confirm, release, book, reschedule, cancel, no-show, re-check, read; the practice's
    cancellation policy."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    @common.counts_booking_denials
    async def book(self, caller: Caller, request: commands.BookSlot) -> AppointmentRecord:
        ctx = self._ctx
        now = ctx.now()
        prepared = await prepare_booking(ctx, caller, request, now)
        appointment_id = new_id()
        decision = await authorize(
            ctx,
            caller,
            prepared,
            clinician_id=request.clinician_id,
            client_id=request.client_id,
            start=request.start,
            modality=request.modality,
            appointment_id=appointment_id,
        )
        appointment = appts.book(
            appointment_id=appointment_id,
            practice_id=practice_uuid(caller.practice_id),
            clinician_id=request.clinician_id,
            client_id=request.client_id,
            session_type=request.session_type,
            modality=request.modality,
            start=request.start,
            now=now,
            authorization=decision,
            min_notice=ctx.settings.min_notice,
            clinician_review_required=prepared.clinician_review_required,
        )
        rec = new_record(appointment, prepared, caller)
        await _commit_change(
            ctx,
            rec,
            now,
            action=audit.CREATE,
            expected_version=None,
            reserve_time=True,
            event=booked_event(rec, now),
            rule_ids=(rules.LIC_03,),
        )
        metrics.booked("book")
        return rec

    @common.counts_booking_denials
    async def hold(self, caller: Caller, request: commands.BookSlot) -> AppointmentRecord:
        ctx = self._ctx
        now = ctx.now()
        prepared = await prepare_booking(ctx, caller, request, now)
        appointment = appts.place_hold(
            appointment_id=new_id(),
            practice_id=practice_uuid(caller.practice_id),
            clinician_id=request.clinician_id,
            client_id=request.client_id,
            session_type=request.session_type,
            modality=request.modality,
            start=request.start,
            now=now,
            hold_ttl=ctx.settings.hold_ttl,
            min_notice=ctx.settings.min_notice,
        )
        rec = new_record(appointment, prepared, caller)
        async with ctx.uow() as uow:
            await require_hold_allowance(uow, ctx, request.client_id, now)
            await reserve(uow, rec, now)
            audit_record(
                uow,
                action=audit.CREATE,
                resource_type="appointment",
                resource_id=str(rec.id),
                subject=request.client_id,
                now=now,
            )
            await uow.commit()
        return rec

    @common.counts_booking_denials
    async def confirm_hold(self, caller: Caller, command: commands.ConfirmHold) -> AppointmentRecord:
        ctx = self._ctx
        appointment_id = command.appointment_id
        now = ctx.now()
        rec = await load_appointment(ctx, appointment_id)
        a = rec.appointment
        role = _role(caller, rec)
        appts.require_status(a, AppointmentStatus.BOOKED, AppointmentStatus.HELD)
        if appts.is_hold_expired(a, now):
            raise FailedPrecondition(
                RuleViolation(rules.SCHED_HOLD_EXPIRED, "the hold has expired; search again", str(a.id))
            )
        async with ctx.uow() as uow:
            profile = await common.client_profile(uow, a.client_id)
            schedule = await common.clinician_schedule(uow, caller, a.clinician_id)
            await common.require_consent(uow, profile, a.modality, rec.authorized_state, now)
            review = await common.screening_gate(uow, a.client_id, role)
        prepared = Prepared(role, profile, schedule, rec.authorized_state, review)
        decision = await authorize(
            ctx,
            caller,
            prepared,
            clinician_id=a.clinician_id,
            client_id=a.client_id,
            start=a.start,
            modality=a.modality,
            appointment_id=a.id,
        )
        confirmed = appts.confirm_hold(a, now, decision, clinician_review_required=review)
        updated = rec.with_appointment(confirmed)
        await _commit_change(
            ctx,
            updated,
            now,
            action=audit.UPDATE,
            expected_version=a.version,
            event=booked_event(updated, now),
            rule_ids=(rules.LIC_03,),
        )
        metrics.booked("confirm_hold")
        return updated

    async def release_hold(self, caller: Caller, command: commands.ReleaseHold) -> AppointmentRecord:
        ctx = self._ctx
        appointment_id = command.appointment_id
        now = ctx.now()
        rec = await load_appointment(ctx, appointment_id)
        _role(caller, rec)
        released = appts.release_hold(rec.appointment, now)
        updated = rec.with_appointment(released, cancelled_by=CANCELLED_BY_ROLE.get(rec.booked_by))
        await _commit_change(ctx, updated, now, action=audit.UPDATE, expected_version=rec.appointment.version)
        return updated

    async def reschedule(self, caller: Caller, command: commands.RescheduleAppointment) -> AppointmentRecord:
        ctx = self._ctx
        appointment_id, new_start = command.appointment_id, command.new_start
        now = ctx.now()
        rec = await load_appointment(ctx, appointment_id)
        a = rec.appointment
        role = _role(caller, rec)
        updated, previous = await reschedule_checked(ctx, caller, rec, role, new_start, now)
        await _commit_change(
            ctx,
            updated,
            now,
            action=audit.UPDATE,
            expected_version=a.version,
            reserve_time=True,
            event=rescheduled_event(updated, previous, role, now),
            rule_ids=(rules.LIC_03,),
        )
        return updated

    async def cancel(self, caller: Caller, command: commands.CancelAppointment) -> Cancellation:
        ctx = self._ctx
        appointment_id = command.appointment_id
        now = ctx.now()
        rec = await load_appointment(ctx, appointment_id)
        a = rec.appointment
        role = _role(caller, rec)
        if a.status is AppointmentStatus.HELD:
            released = rec.with_appointment(appts.release_hold(a, now), cancelled_by=CANCELLED_BY_ROLE[role])
            await _commit_change(ctx, released, now, action=audit.UPDATE, expected_version=a.version)
            return Cancellation(released, None)
        async with ctx.uow() as uow:
            updated, outcome = await cancel_in(uow, ctx, rec, CANCELLED_BY_ROLE[role], now)
            await uow.commit()
        return Cancellation(updated, outcome)

    async def mark_no_show(self, caller: Caller, command: commands.MarkNoShow) -> NoShow:
        ctx = self._ctx
        appointment_id = command.appointment_id
        now = ctx.now()
        rec = await load_appointment(ctx, appointment_id)
        a = rec.appointment
        _role(caller, rec, client=False)
        async with ctx.uow() as uow:
            policy = await ctx.policy(uow, rec.practice_id)
            marked, outcome = mark_no_show(a, now, policy, await _fee_context(uow, a.client_id))
            updated = rec.with_appointment(marked)
            await uow.appointments.save(updated, a.version)
            uow.publish(no_show_event(updated, outcome.fee, now))
            audit_record(
                uow,
                action=audit.UPDATE,
                resource_type="appointment",
                resource_id=str(a.id),
                subject=a.client_id,
                rule_ids=(rules.BILL_41,),
                now=now,
            )
            await uow.commit()
        metrics.no_show()
        return NoShow(updated, outcome.fee)

    async def recheck_authorization(
        self, caller: Caller, command: commands.RecheckAuthorization
    ) -> AppointmentRecord:
        ctx = self._ctx
        appointment_id = command.appointment_id
        now = ctx.now()
        rec = await load_appointment(ctx, appointment_id)
        a = rec.appointment
        role = _role(caller, rec, client=False)
        appts.require_status(a, AppointmentStatus.BOOKED, AppointmentStatus.FLAGGED_AUTHORIZATION)
        async with ctx.uow() as uow:
            profile = await common.client_profile(uow, a.client_id)
            schedule = await common.clinician_schedule(uow, caller, a.clinician_id)
        prepared = Prepared(role, profile, schedule, rec.authorized_state, a.clinician_review_required)
        decision = await authorize(
            ctx,
            caller,
            prepared,
            clinician_id=a.clinician_id,
            client_id=a.client_id,
            start=a.start,
            modality=a.modality,
            appointment_id=a.id,
            purpose="recheck",
        )
        restored = appts.restore_authorization(a, now, decision)
        updated = rec.with_appointment(restored)
        await _commit_change(
            ctx,
            updated,
            now,
            action=audit.UPDATE,
            expected_version=a.version,
            event=booked_event(updated, now),
            rule_ids=(rules.LIC_03,),
        )
        return updated

    async def get(self, caller: Caller, appointment_id: UUID) -> AppointmentRecord:
        ctx = self._ctx
        rec = await load_appointment(ctx, appointment_id)
        _role(caller, rec)
        async with ctx.uow() as uow:
            audit_record(
                uow,
                action=audit.READ,
                resource_type="appointment",
                resource_id=str(rec.id),
                subject=rec.appointment.client_id,
                now=ctx.now(),
            )
            await uow.commit()
        return rec

    async def list_appointments(self, caller: Caller, query: commands.ListAppointments) -> AppointmentPage:
        ctx = self._ctx
        client_id, clinician_id = query.client_id, query.clinician_id
        statuses, window = query.statuses, query.window
        page_size, page_token = query.page_size, query.page_token
        if page_size < 0:
            raise InvalidArgument.field("page.page_size", "must not be negative")
        if caller.has(PRACTICE_ADMIN):
            common_role = PRACTICE_ADMIN
        elif caller.has(CLINICIAN):
            common_role = CLINICIAN
        else:
            common_role = CLIENT
        if common_role == CLIENT:
            if client_id is not None and not caller.is_user(client_id):
                raise PermissionDenied("a client sees only their own appointments")
            client_id = caller.user_id
        elif common_role == CLINICIAN:
            if not caller.principal.mfa:
                raise PermissionDenied("clinicians need multi-factor authentication")
            if clinician_id is not None and not caller.is_user(clinician_id):
                raise PermissionDenied("a clinician sees only their own appointments")
            clinician_id = caller.user_id
        elif not caller.principal.mfa:
            raise PermissionDenied("admins need multi-factor authentication")
        filters = AppointmentFilter(
            practice_id=caller.practice_id,
            client_id=client_id,
            clinician_id=clinician_id,
            statuses=statuses,
            window=window,
        )
        digest = hashlib.sha256(repr(filters).encode()).hexdigest()[:16]
        after = _parse_token(page_token, digest) if page_token else None
        limit = min(page_size or DEFAULT_PAGE, MAX_PAGE)
        async with ctx.uow() as uow:
            rows = await uow.appointments.find(filters, limit=limit + 1, after=after)
            page, more = rows[:limit], len(rows) > limit
            for subject in sorted({r.appointment.client_id for r in page}):
                audit_record(
                    uow,
                    action=audit.SEARCH,
                    resource_type="appointment",
                    resource_id=f"client/{subject}",
                    subject=subject,
                    now=ctx.now(),
                )
            await uow.commit()
        return AppointmentPage(tuple(page), _page_token(digest, page[-1]) if more and page else "")

    async def cancellation_policy(
        self,
        caller: Caller,
    ) -> CancellationPolicy:
        ctx = self._ctx
        async with ctx.uow() as uow:
            policy = await ctx.policy(uow, caller.practice_id)
        return policy

    async def set_cancellation_policy(
        self, caller: Caller, command: commands.SetCancellationPolicy
    ) -> CancellationPolicy:
        ctx = self._ctx
        policy = command.policy
        if not caller.has(PRACTICE_ADMIN) or not caller.principal.mfa:
            raise PermissionDenied("only a practice admin with MFA may change the policy")

        now = ctx.now()
        async with ctx.uow() as uow:
            await uow.policies.save(caller.practice_id, policy, now)
            await uow.commit()
        return policy

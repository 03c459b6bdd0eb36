"""The session lifecycle: check-in (location + identity, authorization re-checked for where the client is
now, fail closed), video join link, start, complete."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from confide.scheduling.v1 import events_pb2
from confide_chassis import audit
from confide_chassis.errors import FailedPrecondition, RuleViolation, Unavailable
from confide_chassis.roles import CLINICIAN
from confide_scheduling import metrics
from confide_scheduling.app import commands, common
from confide_scheduling.app.booking import load_appointment
from confide_scheduling.app.context import AppContext, Caller, audit_record
from confide_scheduling.app.event_messages import (
    completed_event,
    flagged_event,
    started_event,
)
from confide_scheduling.app.ports import AppointmentRecord, JoinLink
from confide_scheduling.domain import rules
from confide_scheduling.domain.appointments import AppointmentStatus
from confide_scheduling.domain.billing_facts import CompletedSessionFacts, complete_session
from confide_scheduling.domain.catalog import Modality
from confide_scheduling.domain.checkin import begin_check_in, complete_check_in, start_session

# A join link stays usable this long after the scheduled end (sessions overrun).
LINK_GRACE = timedelta(minutes=30)


def _link_refused(
    description: str, rule_id: str = rules.SCHED_VIDEO_LINK, **metadata: str
) -> FailedPrecondition:
    return FailedPrecondition(RuleViolation(rule_id, description), metadata=metadata)


class SessionUseCases:
    """Check-in (location and identity, authorization re-checked, fail closed), join link, start, complete."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def check_in(self, caller: Caller, command: commands.CheckIn) -> AppointmentRecord:
        ctx = self._ctx
        appointment_id, location = command.appointment_id, command.location
        identity_confirmed = command.identity_confirmed
        now = ctx.now()
        rec = await load_appointment(ctx, appointment_id)
        a = rec.appointment
        caller.role_for_appointment(rec.practice_id, a.client_id, a.clinician_id, admin=False)
        async with ctx.uow() as uow:
            profile = await common.client_profile(uow, a.client_id)
            schedule = await common.clinician_schedule(uow, caller, a.clinician_id)
        attempt = begin_check_in(
            a, location, identity_confirmed, now, ctx.check_in_policy, client_time_zone=profile.time_zone
        )
        async with ctx.uow() as uow:
            existing_client = await uow.appointments.has_completed_session(a.clinician_id, a.client_id)
        # LIC-01: the session happens where the client is now, which may not be the booked state.
        decision = await common.ask_compliance(
            ctx,
            caller,
            existing_client=existing_client,
            clinician_id=a.clinician_id,
            client_state=location.state,
            clinician_state=schedule.location_state,
            start=a.start,
            client_time_zone=profile.time_zone or "UTC",
            modality=a.modality,
            purpose="check_in",
            appointment_id=a.id,
        )
        outcome = complete_check_in(a, attempt, decision, now)
        updated = rec.with_appointment(outcome.appointment)
        async with ctx.uow() as uow:
            await uow.appointments.save(updated, a.version)
            if not outcome.accepted:
                # Refused: the appointment is flagged (never silently kept) and the refusal audited,
                # then the caller gets FAILED_PRECONDITION with the rule ids.
                uow.publish(
                    flagged_event(
                        updated,
                        events_pb2.FLAG_REASON_CHECK_IN_DENIED,
                        [v.rule_id for v in outcome.violations],
                        decision.decision_id,
                        location.state,
                        now,
                    )
                )
                audit_record(
                    uow,
                    action=audit.UPDATE,
                    resource_type="appointment",
                    resource_id=str(a.id),
                    subject=a.client_id,
                    outcome=audit.DENIED,
                    rule_ids=tuple(v.rule_id for v in outcome.violations),
                    now=now,
                )
                await uow.commit()
                metrics.checked_in(accepted=False)
                raise FailedPrecondition(
                    outcome.violations, metadata={"authorization_decision_id": decision.decision_id}
                )
            audit_record(
                uow,
                action=audit.UPDATE,
                resource_type="appointment",
                resource_id=str(a.id),
                subject=a.client_id,
                rule_ids=(rules.LIC_04, rules.SAFE_01, rules.SAFE_02),
                now=now,
            )
            await uow.commit()
        metrics.checked_in(accepted=True)
        return updated

    async def join_link(self, caller: Caller, appointment_id: UUID) -> JoinLink:
        ctx = self._ctx
        now = ctx.now()
        rec = await load_appointment(ctx, appointment_id)
        a = rec.appointment
        role = caller.role_for_appointment(rec.practice_id, a.client_id, a.clinician_id, admin=False)
        if ctx.video is None:
            raise Unavailable("video rooms are not configured", metadata={"dependency": "video"})
        if a.modality is not Modality.VIDEO:
            raise _link_refused("only video appointments have a video room")
        opens = a.start - ctx.check_in_policy.opens_before
        closes = a.end + LINK_GRACE
        if not opens <= now < closes:
            raise _link_refused(
                "the room opens shortly before the start",
                opens_at=opens.isoformat(),
                closes_at=closes.isoformat(),
            )
        live = {AppointmentStatus.CHECKED_IN, AppointmentStatus.IN_SESSION}
        if role == CLINICIAN:
            live.add(AppointmentStatus.BOOKED)
        if a.status not in live:
            if a.status is AppointmentStatus.BOOKED:
                raise _link_refused("check in first: state where you are now", rule_id=rules.LIC_04)
            raise _link_refused(f"the appointment is {a.status.value}")
        link = ctx.video.join_link(
            room=rec.video_room,
            user_id=str(caller.user_id),
            moderator=role == CLINICIAN,
            not_before=opens,
            expires_at=min(closes, now + timedelta(minutes=ctx.settings.jitsi_link_ttl_minutes)),
        )
        async with ctx.uow() as uow:
            audit_record(
                uow,
                action=audit.READ,
                resource_type="appointment",
                resource_id=str(a.id),
                subject=a.client_id,
                now=now,
            )
            await uow.commit()
        return link

    async def start(self, caller: Caller, command: commands.StartSession) -> AppointmentRecord:
        ctx = self._ctx
        appointment_id = command.appointment_id
        now = ctx.now()
        rec = await load_appointment(ctx, appointment_id)
        a = rec.appointment
        caller.role_for_appointment(rec.practice_id, a.client_id, a.clinician_id, client=False, admin=False)
        updated = rec.with_appointment(start_session(a, now))
        async with ctx.uow() as uow:
            await uow.appointments.save(updated, a.version)
            uow.publish(started_event(updated))
            audit_record(
                uow,
                action=audit.UPDATE,
                resource_type="appointment",
                resource_id=str(a.id),
                subject=a.client_id,
                now=now,
            )
            await uow.commit()
        return updated

    async def complete(
        self, caller: Caller, command: commands.CompleteSession
    ) -> tuple[AppointmentRecord, CompletedSessionFacts]:
        ctx = self._ctx
        appointment_id, actual_minutes = command.appointment_id, command.actual_minutes
        delivered = command.delivered_modality
        now = ctx.now()
        rec = await load_appointment(ctx, appointment_id)
        a = rec.appointment
        caller.role_for_appointment(rec.practice_id, a.client_id, a.clinician_id, client=False, admin=False)
        completed, facts = complete_session(
            a, now, actual_minutes=actual_minutes, delivered_modality=delivered
        )
        updated = rec.with_appointment(completed, actual_minutes=actual_minutes)
        async with ctx.uow() as uow:
            await uow.appointments.save(updated, a.version)
            uow.publish(completed_event(updated, facts))
            audit_record(
                uow,
                action=audit.UPDATE,
                resource_type="appointment",
                resource_id=str(a.id),
                subject=a.client_id,
                rule_ids=(rules.BILL_11, rules.BILL_12),
                now=now,
            )
            await uow.commit()
        return updated, facts

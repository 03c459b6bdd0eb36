"""Intake screening: score (PHQ-9, GAD-7, C-SSRS screener), triage (SAFE-20..24), store, and flag the
client to the care team with a RiskFlagged event whenever the result is not routine."""

from __future__ import annotations

import dataclasses
from uuid import UUID

from confide.scheduling.v1 import events_pb2
from confide_chassis import audit
from confide_chassis.errors import InvalidArgument, NotFound
from confide_chassis.ids import new_id
from confide_chassis.wire import optional_timestamp
from confide_scheduling import metrics
from confide_scheduling.app import commands, common
from confide_scheduling.app.context import AppContext, Caller, audit_record
from confide_scheduling.app.event_messages import (
    ACTION_TO_PB,
    ACTOR_ROLE_TO_PB,
    RISK_REASON_TO_PB,
    TRIAGE_TO_PB,
)
from confide_scheduling.app.ports import ScreeningRecord, ScreeningRow
from confide_scheduling.domain.screening import (
    ScreeningResults,
    TriageLevel,
    TriageOutcome,
    score_cssrs,
    score_gad7,
    score_phq9,
    triage,
)


def score(data: commands.SubmitScreening) -> tuple[ScreeningResults, TriageOutcome]:
    if data.phq9 is None and data.gad7 is None and data.cssrs is None:
        raise InvalidArgument.field("phq9", "submit at least one of phq9, gad7 or cssrs")
    results = ScreeningResults(
        phq9=score_phq9(data.phq9) if data.phq9 is not None else None,
        gad7=score_gad7(data.gad7) if data.gad7 is not None else None,
        cssrs=score_cssrs(data.cssrs) if data.cssrs is not None else None,
    )
    return results, triage(results)


class ScreeningUseCases:
    """Submit a screening (a client for themself, a clinician of the care team); read the latest."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def submit(self, caller: Caller, data: commands.SubmitScreening) -> ScreeningRecord:
        now = self._ctx.now()
        results, outcome = score(data)
        async with self._ctx.uow() as uow:
            profile = await uow.clients.profile(data.client_id)
            role = await caller.role_for_client(
                uow, data.client_id, profile.practice_id if profile else None, admin=False
            )
            team = await uow.clients.care_team(data.client_id)
        screening = ScreeningRecord(
            id=new_id(),
            client_id=data.client_id,
            results=results,
            outcome=outcome,
            risk_flag_id=new_id() if outcome.emit_risk_flag else None,
            submitted_at=now,
        )
        async with self._ctx.uow() as uow:
            await uow.screenings.add(
                ScreeningRow(
                    id=screening.id,
                    practice_id=caller.practice_id,
                    client_id=data.client_id,
                    phq9_answers=data.phq9,
                    gad7_answers=data.gad7,
                    cssrs_answers=dataclasses.asdict(data.cssrs) if data.cssrs is not None else None,
                    risk_flag_id=screening.risk_flag_id,
                    created_at=now,
                ),
                submitted_by=caller.principal.subject,
                submitted_role=role,
                triage_level=outcome.level.value,
                self_booking=outcome.self_booking.value,
                clinician_review_required=outcome.clinician_review_required,
                risk_flag_id=screening.risk_flag_id,
            )
            if screening.risk_flag_id is not None:
                # Never a silent queue: the care team (or the on-call clinician when there is none yet)
                # is told through the risk-flags stream in the same transaction.
                uow.publish(
                    events_pb2.RiskFlagged(
                        client_id=str(data.client_id),
                        practice_id=caller.practice_id,
                        risk_flag_id=str(screening.risk_flag_id),
                        screening_id=str(screening.id),
                        level=TRIAGE_TO_PB[outcome.level],
                        reasons=[RISK_REASON_TO_PB[r] for r in outcome.reasons],
                        actions=sorted(ACTION_TO_PB[a] for a in outcome.actions),
                        rule_ids=list(outcome.rule_ids),
                        care_team_clinician_ids=[str(c) for c in team],
                        submitted_by=ACTOR_ROLE_TO_PB[role],
                        occurred_at=optional_timestamp(now),
                    )
                )
            audit_record(
                uow,
                action=audit.CREATE,
                resource_type="screening",
                resource_id=str(screening.id),
                subject=data.client_id,
                rule_ids=outcome.rule_ids,
                now=now,
            )
            await uow.commit()
        if outcome.level is TriageLevel.HIGH_RISK:
            metrics.high_risk_screening()
        return screening

    async def latest(self, caller: Caller, client_id: UUID) -> ScreeningRecord:
        async with self._ctx.uow() as uow:
            profile = await uow.clients.profile(client_id)
            await caller.role_for_client(uow, client_id, profile.practice_id if profile else None)
            row = await uow.screenings.latest(client_id)
            if row is None or row.practice_id != caller.practice_id:
                raise NotFound("the client has no screening")
            audit_record(
                uow,
                action=audit.READ,
                resource_type="screening",
                resource_id=str(row.id),
                subject=client_id,
                now=self._ctx.now(),
            )
            await uow.commit()
        results = common.results_of(row)
        return ScreeningRecord(
            row.id, row.client_id, results, triage(results), row.risk_flag_id, row.created_at
        )

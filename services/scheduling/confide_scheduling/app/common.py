"""Checks shared by the booking use cases: client profile, consent (SAFE-10/12), screening gate
(SAFE-23/24), availability of the requested time (SCHED-07), and the compliance question (LIC-03)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar
from uuid import UUID

from confide_chassis.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from confide_chassis.roles import CLINICIAN
from confide_scheduling import metrics
from confide_scheduling.app.context import AppContext, Caller
from confide_scheduling.app.ports import (
    AuthorizationQuery,
    ClientProfile,
    Repositories,
    ScheduleRecord,
    ScreeningRow,
)
from confide_scheduling.domain import rules
from confide_scheduling.domain.appointments import AuthorizationDecision
from confide_scheduling.domain.availability import generate_slots
from confide_scheduling.domain.catalog import Modality, SessionType
from confide_scheduling.domain.screening import (
    US_CRISIS_RESOURCES,
    Booker,
    CssrsAnswers,
    ScreeningResults,
    TriageOutcome,
    check_booking_allowed,
    score_cssrs,
    score_gad7,
    score_phq9,
    triage,
)
from confide_scheduling.domain.timekit import TimeRange


def session_type(ctx: AppContext, code: str, field_path: str = "session_type_code") -> SessionType:
    if not code:
        raise InvalidArgument.field(field_path, "is required")
    for item in ctx.catalogue.session_types:
        if item.code == code:
            return item
    raise InvalidArgument.field(field_path, "is not a session type of the practice (ListSessionTypes)")


async def client_profile(uow: Repositories, client_id: UUID) -> ClientProfile:
    """The client's profile facts from identity; FAILED_PRECONDITION SCHED-08 until they arrived."""
    return _known_profile(await uow.clients.profile(client_id), client_id)


async def acting_for_client(uow: Repositories, caller: Caller, client_id: UUID) -> tuple[str, ClientProfile]:
    """The caller's role for the client (``Caller.role_for_client``), then the client's profile facts
    (SCHED-08), from one read of the profile."""
    found = await uow.clients.profile(client_id)
    role = await caller.role_for_client(uow, client_id, found.practice_id if found else None)
    return role, _known_profile(found, client_id)


def _known_profile(profile: ClientProfile | None, client_id: UUID) -> ClientProfile:
    if profile is None or profile.home_state is None or profile.time_zone is None:
        raise FailedPrecondition(
            RuleViolation(
                rules.SCHED_PROFILE_UNKNOWN,
                "the client's home state and time zone are not known yet; complete the client profile",
                subject=f"client/{client_id}",
            )
        )
    return profile


P = ParamSpec("P")
T = TypeVar("T")


def counts_booking_denials(use_case: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Count a booking refused by a rule (FAILED_PRECONDITION) by its rule ids."""

    @functools.wraps(use_case)
    async def counted(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await use_case(*args, **kwargs)
        except FailedPrecondition as error:
            metrics.booking_denied(error.rule_ids)
            raise

    return counted


def require_own_calendar(caller: Caller, role: str, clinician_id: UUID) -> None:
    """A clinician acting for a client of their care team books into their own calendar only; a
    colleague's calendar is the colleague's or a practice admin's to fill."""
    if role == CLINICIAN and not caller.is_user(clinician_id):
        raise PermissionDenied("a clinician books only into their own calendar")


async def clinician_schedule(uow: Repositories, caller: Caller, clinician_id: UUID) -> ScheduleRecord:
    schedule = await uow.schedules.get(clinician_id)
    if schedule is None or schedule.practice_id != caller.practice_id:
        raise NotFound("the clinician has no schedule in this practice")
    return schedule


def require_offered(schedule: ScheduleRecord, kind: SessionType, modality: Modality) -> None:
    if not schedule.offers(kind.code):
        raise FailedPrecondition(
            RuleViolation(rules.SCHED_UNAVAILABLE, "the clinician does not offer this session type")
        )
    if modality not in kind.modalities:
        raise InvalidArgument.field("modality", f"is not offered for session type {kind.code}")
    if modality not in schedule.availability.modalities_offered:
        raise FailedPrecondition(
            RuleViolation(rules.SCHED_UNAVAILABLE, "the clinician does not offer this modality")
        )


async def require_consent(
    uow: Repositories, profile: ClientProfile, modality: Modality, state: str, now: datetime
) -> None:
    """SAFE-10/SAFE-12: a signature of the practice's current consent version, covering the modality and
    the client's state (a guardian's signature when identity says the client cannot consent alone)."""
    current = await uow.clients.current_consent_version(profile.practice_id, now)
    consents = await uow.clients.consents(profile.client_id)
    ok = current is not None and any(
        c.document_version == current
        and c.jurisdiction == state
        and modality in c.modalities
        and (not profile.guardian_consent_required or c.signer_role == "guardian")
        for c in consents
    )
    if not ok:
        raise FailedPrecondition(
            [
                RuleViolation(
                    rules.SAFE_10,
                    "a current telehealth informed consent is required before booking",
                    subject=f"client/{profile.client_id}",
                ),
                RuleViolation(
                    rules.SAFE_12,
                    "the consent must cover this modality and the client's state",
                    subject=f"client/{profile.client_id}",
                ),
            ],
            metadata={"modality": modality.value, "client_state": state},
        )


def results_of(row: ScreeningRow) -> ScreeningResults:
    """Re-derive the scores of a stored screening from its answers (scoring is deterministic)."""
    cssrs = CssrsAnswers(**row.cssrs_answers) if row.cssrs_answers is not None else None
    return ScreeningResults(
        phq9=score_phq9(row.phq9_answers) if row.phq9_answers is not None else None,
        gad7=score_gad7(row.gad7_answers) if row.gad7_answers is not None else None,
        cssrs=score_cssrs(cssrs) if cssrs is not None else None,
    )


def triage_of(row: ScreeningRow) -> TriageOutcome:
    return triage(results_of(row))


CRISIS_METADATA = {
    "crisis_resources": ",".join(r.code for r in US_CRISIS_RESOURCES),
    "crisis_contacts": "988,911",
}


async def screening_gate(uow: Repositories, client_id: UUID, role: str) -> bool:
    """SAFE-23/24: a client whose latest screening is high-risk may not self-book online sessions (the
    error carries the crisis resources). Returns whether the booking carries a clinician-review flag."""
    row = await uow.screenings.latest(client_id)
    outcome = triage_of(row) if row is not None else None
    try:
        return check_booking_allowed(Booker(role), outcome)
    except FailedPrecondition as error:
        raise FailedPrecondition(error.violations, metadata=CRISIS_METADATA) from None


async def require_available(
    uow: Repositories,
    ctx: AppContext,
    schedule: ScheduleRecord,
    kind: SessionType,
    modality: Modality,
    start: datetime,
) -> None:
    """SCHED-07: ``start`` is a slot of the clinician's availability (grid, rules, exceptions, time off);
    whether it is free is decided under the clinician lock."""
    tz = schedule.availability.tz
    local_day = start.astimezone(tz).date()
    exceptions = [
        e
        for _, e in await uow.schedules.exceptions(
            schedule.clinician_id, local_day - timedelta(days=1), local_day + timedelta(days=1)
        )
    ]
    off = [
        r for _, r in await uow.schedules.time_off(schedule.clinician_id, TimeRange.of(start, kind.duration))
    ]
    slots = generate_slots(
        schedule.availability,
        exceptions,
        off,
        (),
        kind,
        start,
        start + timedelta(minutes=1),
        ctx.settings.granularity,
        timedelta(0),
        start,
        modality=modality,
    )
    if not slots or slots[0].start != start:
        raise FailedPrecondition(
            RuleViolation(
                rules.SCHED_UNAVAILABLE,
                "the requested time is not in the clinician's availability; search slots again",
            )
        )


def require_min_notice(ctx: AppContext, start: datetime, now: datetime) -> None:
    if start < now + ctx.settings.min_notice:
        raise FailedPrecondition(
            RuleViolation(rules.SCHED_MIN_NOTICE, "the start is in the past or inside the minimum notice")
        )


async def ask_compliance(
    ctx: AppContext,
    caller: Caller,
    *,
    existing_client: bool,
    clinician_id: UUID,
    client_state: str,
    clinician_state: str,
    start: datetime,
    client_time_zone: str,
    modality: Modality,
    purpose: str,
    appointment_id: UUID | None,
) -> AuthorizationDecision:
    """LIC-01/LIC-03, fail closed (the port raises Unavailable when there is no answer)."""
    return await ctx.authorization.check(
        AuthorizationQuery(
            clinician_id=clinician_id,
            client_state=client_state,
            clinician_state=clinician_state,
            session_start=start,
            client_time_zone=client_time_zone,
            modality=modality,
            existing_client=existing_client,
            purpose=purpose,
            appointment_id=appointment_id,
        ),
        bearer_token=caller.token,
    )

"""Authorization use cases: decide one session (and store the decision), find authorized clinicians,
read a stored decision.

- The clinician is looked up in the caller's practice only; a clinician who is unknown there is
  denied with a reason (fail closed), never NOT_FOUND, so a caller learns nothing about other
  practices.
- The session date is the local date at the client's location (`client_time_zone`), LIC-01.
- A decision is a query: whatever its purpose, it changes nothing another decision reads. It is
  stored (the record of what was asked and answered) and that is all.
- Day-limited authorities (PSYPACT TAP, temporary-practice exceptions: LIC-13, LIC-60) count a day
  only when a real session starts: `record_session_day`, driven by scheduling's SessionStarted,
  records the day its check-in decision relied on. Every decision counts the days recorded plus its
  own. The race this leaves (two sessions on different days both checked in before either started)
  is detected and bounded: docs/adr/0014-compliance-authority-days.md.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from confide_chassis import audit
from confide_chassis.auth import Principal
from confide_chassis.errors import InvalidArgument, NotFound, ValidationCollector
from confide_chassis.ids import new_id_str, parse_id
from confide_chassis.logging import get_logger
from confide_compliance import metrics
from confide_compliance.app import events
from confide_compliance.app.commands import FindAuthorized, RecordSessionDay
from confide_compliance.app.common import clinician_credentials, practice_of, require_id
from confide_compliance.app.context import AppContext
from confide_compliance.domain.authorization import (
    AuthorizationRequest,
    AuthorizedClinician,
    Outcome,
    Reason,
    UsageKey,
    day_limit_exceeded,
    decide,
    find_authorized,
)
from confide_compliance.domain.credentials import CompactAuthority, StateException
from confide_compliance.domain.records import AuthorizationQuestion, StoredDecision

log = get_logger(__name__)

CHECK_IN = "check_in"  # the purpose of the decision whose session's start counts a day
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
UNKNOWN_CLINICIAN = Reason(
    "LIC-03",
    Outcome.FAILED,
    "the clinician has no record in this practice's credential registry: fail closed",
)


def local_date_of(moment: datetime, time_zone: str, field: str = "client_time_zone") -> date:
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument.field(field, "must be an IANA time zone, e.g. America/Denver") from None
    return moment.astimezone(zone).date()


def _decisive_rule_ids(stored: StoredDecision) -> tuple[str, ...]:
    if not stored.allowed or stored.authority is None:
        return stored.denied_rule_ids
    authority_id = stored.authority.id
    return tuple(
        dict.fromkeys(
            r.rule_id
            for r in stored.reasons
            if r.outcome is Outcome.SATISFIED and r.credential_id == authority_id
        )
    )


def _counts_for(stored: StoredDecision, command: RecordSessionDay) -> bool:
    asked = stored.question
    return (
        stored.allowed
        and asked.purpose == CHECK_IN
        and asked.clinician_id == command.clinician_id
        and asked.appointment_id == command.appointment_id
        and asked.client_jurisdiction == command.client_jurisdiction
    )


def _validate(cmd: AuthorizationQuestion) -> None:
    v = ValidationCollector()
    if parse_id(cmd.clinician_id) is None:
        v.add("clinician_id", "must be a UUID")
    if cmd.purpose and not _PURPOSE.match(cmd.purpose):
        v.add("purpose", "a lower_snake_case code such as booking, check_in or matching")
    if cmd.appointment_id and parse_id(cmd.appointment_id) is None:
        v.add("appointment_id", "must be a UUID")
    if not cmd.client_time_zone:
        v.add("client_time_zone", "required: the session's local date decides expiry and day counts")
    v.raise_if_any()


class SessionDayOutcome(StrEnum):
    RECORDED = "recorded"  # a new day counted against the authority
    ALREADY_RECORDED = "already_recorded"  # that day was counted before (another session, a redelivery)
    NOT_DAY_LIMITED = "not_day_limited"  # the check-in decision relied on an authority without a day count
    NO_DECISION = "no_decision"  # no allowed check-in decision of this appointment to count it by


@dataclass(frozen=True, slots=True)
class SessionDay:
    outcome: SessionDayOutcome
    usage_key: UsageKey | None = None
    day: date | None = None
    over_limit: bool = False  # the day was counted although the limit was already reached


@dataclass(frozen=True, slots=True)
class FindResult:
    clinicians: tuple[AuthorizedClinician, ...]
    reference_data_version: str


class Authorizations:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def check(self, actor: Principal, cmd: AuthorizationQuestion) -> StoredDecision:
        """Decide, store and return the decision. A deny is a normal result."""
        practice = practice_of(actor)
        _validate(cmd)
        session_date = local_date_of(cmd.session_start, cmd.client_time_zone)
        now = self._ctx.now()
        async with self._ctx.uow() as uow:
            clinician = await uow.clinicians.get(cmd.clinician_id, practice_id=practice)
            items = await uow.credentials.of_clinician(cmd.clinician_id) if clinician else []
            credentials = clinician_credentials(cmd.clinician_id, clinician, items)
            profession = (
                cmd.profession
                or (clinician.primary_profession if clinician else None)
                or next(iter(credentials.professions()), None)
            )
            usage = await uow.authority_days.usage(cmd.clinician_id, session_date.year)
            request = AuthorizationRequest(
                clinician_id=cmd.clinician_id,
                profession=profession or "unspecified",
                client_jurisdiction=cmd.client_jurisdiction,
                clinician_jurisdiction=cmd.clinician_jurisdiction,
                session_start=cmd.session_start,
                session_date=session_date,
                modality=cmd.modality,
                existing_client=cmd.existing_client,
                is_supervisee=clinician.is_supervisee if clinician else False,
            )
            decision = decide(request, credentials, self._ctx.reference, usage)
            if clinician is None:
                decision = dataclasses.replace(decision, reasons=(UNKNOWN_CLINICIAN, *decision.reasons))
            stored = StoredDecision(
                decision_id=new_id_str(),
                practice_id=practice,
                decided_at=now,
                question=cmd,
                profession=profession.value if profession else "",
                session_date=session_date,
                allowed=decision.allowed,
                authority=decision.authority,
                reasons=decision.reasons,
                reference_data_version=decision.reference_data_version,
                explanation=decision.explanation,
                requested_by=actor.subject,
                usage_key=decision.usage_key,
            )
            await uow.decisions.add(stored)
            await uow.commit()
        metrics.decisions_total.labels(
            str(stored.allowed).lower(),
            stored.authority.kind.value if stored.authority else "none",
            metrics.purpose_label(cmd.purpose),
        ).inc()
        outcome = "allowed" if stored.allowed else "denied"
        for rule_id in _decisive_rule_ids(stored):
            metrics.decisions_by_rule_total.labels(metrics.SERVICE, outcome, rule_id).inc()
        return stored

    async def record_session_day(self, command: RecordSessionDay) -> SessionDay:
        """Count the started session's day against the day-limited authority its check-in decision
        relied on (LIC-13, LIC-60); idempotent (one row per authority, state and day).

        Only a decision that matches the event counts: same practice, clinician, appointment and
        client state, allowed, asked for check-in. Anything else counts nothing: a day is never
        taken on the strength of a query that is not this appointment's check-in."""
        if not command.authorization_decision_id:
            return SessionDay(SessionDayOutcome.NO_DECISION)
        async with self._ctx.uow() as uow:
            # Serialize recorders of one clinician so the over-limit check sees every earlier day.
            await uow.lock(f"compliance.usage:{command.clinician_id}")
            stored = await uow.decisions.get(command.practice_id, command.authorization_decision_id)
            if stored is None or not _counts_for(stored, command):
                log.warning(
                    "session started without a matching check-in decision; no day counted",
                    appointment_id=command.appointment_id,
                    decision_id=command.authorization_decision_id,
                )
                return SessionDay(SessionDayOutcome.NO_DECISION)
            key = stored.usage_key
            if key is None:
                return SessionDay(SessionDayOutcome.NOT_DAY_LIMITED)
            day = stored.session_date
            if not await uow.authority_days.record(
                key,
                day,
                practice_id=command.practice_id,
                clinician_id=command.clinician_id,
                decision_id=stored.decision_id,
            ):
                return SessionDay(SessionDayOutcome.ALREADY_RECORDED, key, day)
            used = (await uow.authority_days.usage(command.clinician_id, key.year)).used(key)
            authority = next(
                (
                    r.credential
                    for r in await uow.credentials.of_clinician(command.clinician_id)
                    if r.credential_id == key.authority_id
                ),
                None,
            )
            over = isinstance(authority, CompactAuthority | StateException) and day_limit_exceeded(
                authority, used, self._ctx.reference
            )
            await uow.commit()
        if over:
            # The session happened: the day stays counted, and every later decision is denied.
            log.warning(
                "day-limited authority used beyond its limit",
                authority_id=key.authority_id,
                jurisdiction=key.jurisdiction,
                year=key.year,
                days=len(used),
            )
        return SessionDay(SessionDayOutcome.RECORDED, key, day, over_limit=over)

    async def find(self, actor: Principal, query: FindAuthorized) -> FindResult:
        practice = practice_of(actor)
        ids = tuple(require_id(c, f"clinician_ids[{i}]") for i, c in enumerate(query.clinician_ids))
        local_day = local_date_of(query.session_start, query.client_time_zone)
        async with self._ctx.uow() as uow:
            clinicians = await uow.clinicians.of_practice(practice, ids or None)
            by_clinician = await uow.credentials.of_clinicians([c.clinician_id for c in clinicians])
            usage = await uow.authority_days.usage_of_many(
                [c.clinician_id for c in clinicians], local_day.year
            )
        found = find_authorized(
            [
                clinician_credentials(c.clinician_id, c, by_clinician.get(c.clinician_id, []))
                for c in clinicians
            ],
            query.client_jurisdiction,
            query.session_start,
            local_day,
            query.modality,
            self._ctx.reference,
            usage,
            profession=query.profession,
        )
        return FindResult(found, self._ctx.reference.version)

    async def get(self, actor: Principal, decision_id: str) -> StoredDecision:
        practice = practice_of(actor)
        decision_id = require_id(decision_id, "decision_id")
        async with self._ctx.uow() as uow:
            stored = await uow.decisions.get(practice, decision_id)
            if stored is None:
                raise NotFound("no such decision in this practice")
            # The decision holds where a client was at a time: reading it is audited before it is
            # returned.
            uow.publish(
                events.audit(
                    action=audit.READ,
                    resource_type="compliance.decision",
                    resource_id=decision_id,
                    subject_person_id=stored.question.clinician_id,
                    actor=actor,
                    occurred_at=self._ctx.now(),
                )
            )
            await uow.commit()
        return stored

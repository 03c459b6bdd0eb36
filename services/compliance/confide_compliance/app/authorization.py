"""Authorization use cases: decide one session (and store the decision), find authorized clinicians,
read a stored decision.

- The clinician is looked up in the caller's practice only; a clinician who is unknown there is
  denied with a reason (fail closed), never NOT_FOUND, so a caller learns nothing about other
  practices.
- The session date is the local date at the client's location (`client_time_zone`), LIC-01.
- Day-limited authorities (PSYPACT TAP, temporary-practice exceptions: LIC-13, LIC-60) count a day
  when the session is delivered: an allowed decision with purpose `check_in` records the day. A
  booking decision counts the days already recorded plus its own; the check at check-in is the one
  that enforces the limit. Check-ins of one clinician are serialized, so two concurrent check-ins
  cannot both take the last day.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from confide.audit.v1 import events_pb2 as audit_pb2
from confide_chassis.auth import Principal
from confide_chassis.errors import InvalidArgument, NotFound, ValidationCollector
from confide_chassis.ids import new_id_str, parse_id
from confide_compliance import metrics
from confide_compliance.app import messages
from confide_compliance.app.common import (
    AppContext,
    clinician_credentials,
    practice_of,
    require_id,
)
from confide_compliance.app.ports import CheckCommand, StoredDecision
from confide_compliance.domain.authorization import (
    AuthorizationRequest,
    AuthorizedClinician,
    Outcome,
    Reason,
    decide,
    find_authorized,
)
from confide_compliance.domain.credentials import Profession
from confide_compliance.domain.modality import Modality

CHECK_IN = "check_in"  # the purpose that consumes a day of a day-limited authority
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


def _validate(cmd: CheckCommand) -> None:
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


@dataclass(frozen=True, slots=True)
class FindQuery:
    client_jurisdiction: str
    session_start: datetime
    client_time_zone: str
    modality: Modality
    clinician_ids: tuple[str, ...] = ()
    profession: Profession | None = None


@dataclass(frozen=True, slots=True)
class FindResult:
    clinicians: tuple[AuthorizedClinician, ...]
    reference_data_version: str


class Authorizations:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def check(self, actor: Principal, cmd: CheckCommand) -> StoredDecision:
        """Decide, store and return the decision. A deny is a normal result."""
        practice = practice_of(actor)
        _validate(cmd)
        session_date = local_date_of(cmd.session_start, cmd.client_time_zone)
        now = self._ctx.now()
        async with self._ctx.uow() as uow:
            if cmd.purpose == CHECK_IN:
                await uow.lock(f"compliance.usage:{cmd.clinician_id}")
            clinician = await uow.registry.get_clinician(cmd.clinician_id, practice_id=practice)
            items = await uow.registry.credentials_of(cmd.clinician_id) if clinician else []
            credentials = clinician_credentials(cmd.clinician_id, clinician, items)
            profession = (
                cmd.profession
                or (clinician.primary_profession if clinician else None)
                or next(iter(credentials.professions()), None)
            )
            usage = await uow.decisions.usage(cmd.clinician_id, session_date.year)
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
                command=cmd,
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
            if stored.allowed and stored.usage_key is not None and cmd.purpose == CHECK_IN:
                await uow.decisions.record_usage(
                    stored.usage_key,
                    session_date,
                    practice_id=practice,
                    clinician_id=cmd.clinician_id,
                    decision_id=stored.decision_id,
                )
            await uow.commit()
        metrics.decisions_total.labels(
            str(stored.allowed).lower(),
            stored.authority.kind.value if stored.authority else "none",
            metrics.purpose_label(cmd.purpose),
        ).inc()
        return stored

    async def find(self, actor: Principal, query: FindQuery) -> FindResult:
        practice = practice_of(actor)
        ids = tuple(require_id(c, f"clinician_ids[{i}]") for i, c in enumerate(query.clinician_ids))
        local_day = local_date_of(query.session_start, query.client_time_zone)
        async with self._ctx.uow() as uow:
            clinicians = await uow.registry.clinicians_of_practice(practice, ids or None)
            by_clinician = await uow.registry.credentials_of_many([c.clinician_id for c in clinicians])
            usage = await uow.decisions.usage_of_many([c.clinician_id for c in clinicians], local_day.year)
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
                messages.audit(
                    action=audit_pb2.AUDIT_ACTION_READ,
                    resource_type="compliance.decision",
                    resource_id=decision_id,
                    subject_person_id=stored.command.clinician_id,
                    actor=actor,
                    occurred_at=self._ctx.now(),
                )
            )
            await uow.commit()
        return stored

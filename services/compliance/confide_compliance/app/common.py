"""What the use cases share: practice scoping, id and reason checks, and the coverage announcer."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Sequence
from datetime import date

from confide_chassis import roles
from confide_chassis.auth import Principal
from confide_chassis.errors import InvalidArgument, PermissionDenied
from confide_chassis.events import OutgoingEvent
from confide_chassis.ids import parse_id
from confide_compliance.app import events
from confide_compliance.app.context import AppContext
from confide_compliance.app.ports import UnitOfWork
from confide_compliance.domain.credentials import ClinicianCredentials, Credential
from confide_compliance.domain.records import ClinicianRecord, CredentialRecord
from confide_compliance.domain.reference import ReferenceData
from confide_compliance.domain.watch import Coverage, coverage, coverage_diff

# Who may change the registry (the RPCs' declared roles say the same; this is the use cases' check).
REGISTRY_ADMINS = frozenset({roles.PRACTICE_ADMIN, roles.COMPLIANCE_OFFICER})

MAX_REASON_LENGTH = 500


def practice_of(actor: Principal) -> str:
    """The caller's practice, which scopes every read and write (everyone only their own practice)."""
    if parse_id(actor.practice_id) is None:
        raise PermissionDenied("the access token names no valid practice")
    return actor.practice_id


def require_id(value: str, field: str) -> str:
    """A UUID in canonical form, or INVALID_ARGUMENT on `field`."""
    parsed = parse_id(value.strip()) if value else None
    if parsed is None:
        raise InvalidArgument.field(field, "must be a UUID")
    return str(parsed)


def require_reason(reason: str, field: str = "change_reason") -> str:
    text = reason.strip()
    if not text:
        raise InvalidArgument.field(field, "say why the registry changes (kept in its history)")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidArgument.field(field, f"at most {MAX_REASON_LENGTH} characters")
    return text


def clinician_credentials(
    clinician_id: str, clinician: ClinicianRecord | None, items: Iterable[Credential | CredentialRecord]
) -> ClinicianCredentials:
    credentials = [i.credential if isinstance(i, CredentialRecord) else i for i in items]
    return ClinicianCredentials.of(
        clinician_id,
        credentials,
        npi=clinician.npi if clinician else None,
        is_supervisee=clinician.is_supervisee if clinician else False,
        practice_jurisdiction=clinician.practice_jurisdiction if clinician else None,
    )


async def compute_coverage(
    credentials: ClinicianCredentials, reference: ReferenceData, on: date
) -> frozenset[Coverage]:
    # ~10 ms of pure CPU per clinician: off the event loop, so RPCs keep flowing.
    return await asyncio.to_thread(coverage, credentials, reference, on)


def coverage_digest(value: frozenset[Coverage]) -> str:
    text = ";".join(f"{c.jurisdiction}/{c.modality_class.value}" for c in sorted(value))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def announce_coverage(
    uow: UnitOfWork,
    ctx: AppContext,
    clinician: ClinicianRecord,
    after: ClinicianCredentials,
    *,
    today: date,
    before: ClinicianCredentials | None,
    rule_ids: Sequence[str],
    dedupe: bool = False,
) -> bool:
    """Compare the clinician's coverage today with what consumers were last told; publish
    AuthorizationChanged when it differs (once per change when `dedupe`). Returns whether it did."""
    now_coverage = await compute_coverage(after, ctx.reference, today)
    previous = clinician.coverage
    if previous is None and before is not None:
        previous = await compute_coverage(before, ctx.reference, today)
    announced = False
    if previous is not None:
        diff = coverage_diff(previous, now_coverage)
        if diff.changed:
            event = events.authorization_changed(
                clinician.clinician_id,
                diff,
                rule_ids=rule_ids,
                reference_data_version=ctx.reference.version,
                effective_at=ctx.now(),
            )
            if not dedupe:
                uow.publish(event)
                announced = True
            else:
                key = (
                    f"coverage:{clinician.clinician_id}:{today.isoformat()}:"
                    f"{coverage_digest(previous)}>{coverage_digest(now_coverage)}"
                )
                outgoing = OutgoingEvent.from_message(event)
                if await uow.notices.claim(
                    key,
                    practice_id=clinician.practice_id,
                    clinician_id=clinician.clinician_id,
                    credential_id=None,
                    milestone="coverage_changed",
                    event_id=outgoing.event_id,
                    sent_at=ctx.now(),
                ):
                    uow.publish(outgoing)
                    announced = True
    if previous != now_coverage or clinician.coverage_on != today:
        await uow.clinicians.set_coverage(clinician.clinician_id, now_coverage, today, ctx.reference.version)
    return announced

"""What every use case shares: the application context, roles, scoping and the coverage announcer."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from confide_chassis.auth import Principal
from confide_chassis.errors import InvalidArgument, PermissionDenied
from confide_chassis.events import OutgoingEvent
from confide_chassis.ids import parse_id
from confide_compliance.app import messages
from confide_compliance.app.ports import (
    ClinicianRecord,
    Clock,
    CredentialRecord,
    SingleRunner,
    UnitOfWork,
    UnitOfWorkFactory,
)
from confide_compliance.domain.credentials import ClinicianCredentials, Credential
from confide_compliance.domain.reference import ReferenceData
from confide_compliance.domain.watch import Coverage, coverage, coverage_diff

CLIENT = "client"
CLINICIAN = "clinician"
PRACTICE_ADMIN = "practice_admin"
COMPLIANCE_OFFICER = "compliance_officer"
PLATFORM_OPERATOR = "platform_operator"
REGISTRY_ADMINS = frozenset({PRACTICE_ADMIN, COMPLIANCE_OFFICER})

MAX_REASON_LENGTH = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AppContext:
    """Everything the use cases run on; built once at start (reference data loaded once)."""

    uow: UnitOfWorkFactory
    reference: ReferenceData
    clock: Clock = utc_now
    runner: SingleRunner | None = None

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def today(self) -> date:
        return self.now().date()


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
            event = messages.authorization_changed(
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
        await uow.registry.set_coverage(clinician.clinician_id, now_coverage, today, ctx.reference.version)
    return announced

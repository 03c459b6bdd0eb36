"""Test helpers: pure builders for credentials and requests, and helpers that run the service and
seed its registry through the app layer (for this service's tests and for other services' tests,
e.g. scheduling's, that start compliance in-process).

Builders are pure and deterministic. Defaults: clinician ``clin-1``, verified on 2026-01-05 by
``verifier-1``, licenses issued 2024-01-01 and expiring 2027-12-31, PSYPACT certificates valid
2025-06-01..2026-12-31, session on 2026-03-10 at 17:00 UTC.

Service helpers (async):

    await migrate(database_url)
    running = await start_compliance(database_url, kafka_broker.bootstrap_servers, verifier=verifier)
    ids = await seed_clinician(running, practice_id=PRACTICE, clinician_id=CLINICIAN_ID,
                               credentials=[license_("co", "CO"), e_passport(), apit()],
                               practice_jurisdiction="CO")
    ...
    await running.stop(grace=0)

`seed_clinician` accepts builder credentials with short ids ("co", "ep-1"): it maps each to a
stable UUID (and rewrites references such as `prerequisite_id` and `home_license_id`) and returns
the mapping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from confide_chassis import db, migrations
from confide_chassis.auth import Principal, TokenVerifier
from confide_chassis.clock import utc_now
from confide_chassis.roles import COMPLIANCE_OFFICER
from confide_chassis.service import RunningService, start
from confide_compliance.app.commands import PutCredential, SetNpi, UpsertClinician, VerificationInput
from confide_compliance.app.context import AppContext
from confide_compliance.app.ports import Clock
from confide_compliance.app.registry import Registry
from confide_compliance.domain.authorization import AuthorizationRequest
from confide_compliance.domain.credentials import (
    BcTmhCredential,
    ClinicianCredentials,
    CompactAuthority,
    CompactAuthorityKind,
    Credential,
    CredentialStatus,
    Encumbrance,
    LicenseLevel,
    Npi,
    Profession,
    SocialWorkCategory,
    StateException,
    StateLicense,
    Verification,
    VerificationSource,
)
from confide_compliance.domain.modality import Modality
from confide_compliance.settings import ComplianceSettings

CLINICIAN = "clin-1"
SESSION_DAY = date(2026, 3, 10)
VERIFIED_AT = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)

_LICENSE_TYPES: dict[Profession, str] = {
    Profession.PSYCHOLOGIST: "Psychologist",
    Profession.PROFESSIONAL_COUNSELOR: "LPC",
    Profession.CLINICAL_SOCIAL_WORKER: "LCSW",
    Profession.MARRIAGE_AND_FAMILY_THERAPIST: "LMFT",
    Profession.PSYCHIATRIST: "MD",
    Profession.PSYCHIATRIC_NURSE_PRACTITIONER: "APRN-PMHNP",
    Profession.REGISTERED_NURSE: "RN",
    Profession.LICENSED_PRACTICAL_NURSE: "LPN",
}


def verified(source: VerificationSource = VerificationSource.STATE_BOARD) -> Verification:
    return Verification(
        source=source, verified_at=VERIFIED_AT, verified_by="verifier-1", reference="lookup-1"
    )


def license_(
    id: str,
    jurisdiction: str,
    profession: Profession = Profession.PSYCHOLOGIST,
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2024, 1, 1),
    expires_on: date = date(2027, 12, 31),
    level: LicenseLevel = LicenseLevel.INDEPENDENT,
    restrictions: Iterable[Encumbrance] = (),
    is_verified: bool = True,
    clinician_id: str = CLINICIAN,
    status_since: date | None = None,
) -> StateLicense:
    return StateLicense(
        id=id,
        clinician_id=clinician_id,
        jurisdiction=jurisdiction,
        profession=profession,
        license_type=_LICENSE_TYPES[profession],
        number=f"{jurisdiction}-{id}",
        status=status,
        issued_on=issued_on,
        expires_on=expires_on,
        level=level,
        restrictions=tuple(restrictions),
        verification=verified() if is_verified else None,
        status_since=status_since,
    )


def authority(
    id: str,
    kind: CompactAuthorityKind,
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 6, 1),
    expires_on: date | None = date(2026, 12, 31),
    jurisdiction: str | None = None,
    home_license_id: str | None = None,
    prerequisite_id: str | None = None,
    category: SocialWorkCategory | None = None,
    is_verified: bool = True,
    clinician_id: str = CLINICIAN,
    status_since: date | None = None,
) -> CompactAuthority:
    source = {
        CompactAuthorityKind.PSYPACT_E_PASSPORT: VerificationSource.ASPPB,
        CompactAuthorityKind.PSYPACT_IPC: VerificationSource.ASPPB,
        CompactAuthorityKind.PSYPACT_APIT: VerificationSource.PSYPACT_COMMISSION,
        CompactAuthorityKind.PSYPACT_TAP: VerificationSource.PSYPACT_COMMISSION,
        CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE: VerificationSource.COMPACT_CONNECT,
        CompactAuthorityKind.SOCIAL_WORK_MULTISTATE_LICENSE: VerificationSource.STATE_BOARD,
        CompactAuthorityKind.NLC_MULTISTATE_LICENSE: VerificationSource.NURSYS,
    }[kind]
    return CompactAuthority(
        id=id,
        clinician_id=clinician_id,
        kind=kind,
        status=status,
        issued_on=issued_on,
        expires_on=expires_on,
        jurisdiction=jurisdiction,
        home_license_id=home_license_id,
        prerequisite_id=prerequisite_id,
        category=category,
        number=f"N-{id}",
        verification=verified(source) if is_verified else None,
        status_since=status_since,
    )


def e_passport(
    id: str = "ep-1",
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 6, 1),
    expires_on: date = date(2026, 12, 31),
) -> CompactAuthority:
    return authority(
        id, CompactAuthorityKind.PSYPACT_E_PASSPORT, status=status, issued_on=issued_on, expires_on=expires_on
    )


def apit(
    id: str = "apit-1",
    prerequisite_id: str = "ep-1",
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 6, 1),
    expires_on: date = date(2026, 12, 31),
    is_verified: bool = True,
) -> CompactAuthority:
    return authority(
        id,
        CompactAuthorityKind.PSYPACT_APIT,
        prerequisite_id=prerequisite_id,
        status=status,
        issued_on=issued_on,
        expires_on=expires_on,
        is_verified=is_verified,
    )


def ipc(
    id: str = "ipc-1",
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 6, 1),
    expires_on: date = date(2026, 12, 31),
) -> CompactAuthority:
    return authority(
        id, CompactAuthorityKind.PSYPACT_IPC, status=status, issued_on=issued_on, expires_on=expires_on
    )


def tap(
    id: str = "tap-1",
    prerequisite_id: str = "ipc-1",
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 6, 1),
    expires_on: date = date(2026, 12, 31),
) -> CompactAuthority:
    return authority(
        id,
        CompactAuthorityKind.PSYPACT_TAP,
        prerequisite_id=prerequisite_id,
        status=status,
        issued_on=issued_on,
        expires_on=expires_on,
    )


def privilege(
    id: str,
    jurisdiction: str,
    home_license_id: str,
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    issued_on: date = date(2025, 9, 30),
    expires_on: date | None = None,
    is_verified: bool = True,
) -> CompactAuthority:
    return authority(
        id,
        CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
        jurisdiction=jurisdiction,
        home_license_id=home_license_id,
        status=status,
        issued_on=issued_on,
        expires_on=expires_on,
        is_verified=is_verified,
    )


def exception_(
    id: str,
    jurisdiction: str,
    rule_id: str,
    home_license_id: str,
    *,
    status: CredentialStatus = CredentialStatus.ACTIVE,
    valid_from: date = date(2026, 1, 1),
    valid_until: date | None = None,
    approved_on: date | None = None,
    notice_filed_on: date | None = None,
    is_verified: bool = True,
    clinician_id: str = CLINICIAN,
) -> StateException:
    return StateException(
        id=id,
        clinician_id=clinician_id,
        jurisdiction=jurisdiction,
        rule_id=rule_id,
        status=status,
        valid_from=valid_from,
        valid_until=valid_until,
        home_license_id=home_license_id,
        approval_reference=f"APPROVAL-{id}" if approved_on else None,
        approved_on=approved_on,
        notice_reference=f"NOTICE-{id}" if notice_filed_on else None,
        notice_filed_on=notice_filed_on,
        verification=verified() if is_verified else None,
    )


def bc_tmh(id: str = "bctmh-1", *, clinician_id: str = CLINICIAN) -> BcTmhCredential:
    return BcTmhCredential(
        id=id,
        clinician_id=clinician_id,
        certificate_number="BCTMH-0001",
        status=CredentialStatus.ACTIVE,
        issued_on=date(2023, 5, 1),
        expires_on=date(2028, 4, 30),
        verification=verified(VerificationSource.CCE),
    )


def credentials(
    *items: Credential,
    clinician_id: str = CLINICIAN,
    is_supervisee: bool = False,
    practice_jurisdiction: str | None = None,
) -> ClinicianCredentials:
    return ClinicianCredentials.of(
        clinician_id, items, is_supervisee=is_supervisee, practice_jurisdiction=practice_jurisdiction
    )


def request(
    client: str,
    clinician_at: str | None = None,
    *,
    profession: Profession | str = Profession.PSYCHOLOGIST,
    modality: Modality | str = Modality.VIDEO,
    on: date = SESSION_DAY,
    existing_client: bool = False,
    is_supervisee: bool = False,
    clinician_id: str = CLINICIAN,
) -> AuthorizationRequest:
    """A session request; the clinician is where the client is unless `clinician_at` says otherwise."""
    return AuthorizationRequest(
        clinician_id=clinician_id,
        profession=profession,
        client_jurisdiction=client,
        clinician_jurisdiction=clinician_at if clinician_at is not None else client,
        session_start=datetime.combine(on, time(17, 0), tzinfo=UTC),
        session_date=on,
        modality=modality,
        existing_client=existing_client,
        is_supervisee=is_supervisee,
    )


# --------------------------------------------------------------------------------------------------
# Running the service and seeding its registry (integration tests)
# --------------------------------------------------------------------------------------------------

_ID_NAMESPACE = uuid.UUID("0193a3a4-5c6d-7e8f-9a0b-1c2d3e4f5a6b")


async def migrate(database_url: str) -> None:
    """Apply the compliance migrations to `database_url` (an empty database is fine)."""
    from confide_compliance.wiring import MIGRATIONS

    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, database_url)


def settings_for_tests(database_url: str, bootstrap_servers: str, **overrides: Any) -> ComplianceSettings:
    """Free ports, no metrics server, fast readiness and relay, expiry watch off (call it directly)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap_servers,
        "grpc_port": 0,
        "metrics_port": 0,
        "expiry_watch_enabled": False,
        "readiness_interval_seconds": 0.3,
        "outbox_poll_interval_seconds": 0.2,
    }
    values.update(overrides)
    return ComplianceSettings(**values)


async def start_compliance(
    database_url: str,
    bootstrap_servers: str,
    *,
    verifier: TokenVerifier | None = None,
    migrate_first: bool = True,
    **overrides: Any,
) -> RunningService:
    """Migrate the database and start the service in-process; `running.port` is its gRPC port."""
    from confide_compliance.wiring import SPEC

    if migrate_first:
        await migrate(database_url)
    return await start(
        SPEC, settings_for_tests(database_url, bootstrap_servers, **overrides), verifier=verifier
    )


def app_context(
    target: RunningService | AsyncEngine,
    *,
    clock: Clock = utc_now,
    reference_data_dir: str | None = None,
) -> AppContext:
    """The app layer's context over a running service's database (or an engine)."""
    from confide_compliance.wiring import build_context

    if isinstance(target, RunningService):
        engine = target.context.engine
        if engine is None:
            raise RuntimeError("the running service has no database")
        sessions: async_sessionmaker[AsyncSession] = target.context.require_sessions()
    else:
        engine = target
        sessions = db.session_factory(engine)
    settings = ComplianceSettings(reference_data_dir=reference_data_dir)
    return build_context(settings, sessions, engine, clock=clock)


def seed_actor(practice_id: str, subject: str = "test-seed") -> Principal:
    return Principal(
        subject=subject, practice_id=practice_id, roles=frozenset({COMPLIANCE_OFFICER}), mfa=True
    )


def _stable_id(clinician_id: str, given: str) -> str:
    try:
        return str(uuid.UUID(given))
    except ValueError:
        return str(uuid.uuid5(_ID_NAMESPACE, f"{clinician_id}/{given}"))


def _rehome(credential: Credential, clinician_id: str, ids: Mapping[str, str]) -> Credential:
    changes: dict[str, Any] = {"id": ids[credential.id], "clinician_id": clinician_id}
    if isinstance(credential, CompactAuthority):
        if credential.home_license_id:
            changes["home_license_id"] = ids.get(credential.home_license_id, credential.home_license_id)
        if credential.prerequisite_id:
            changes["prerequisite_id"] = ids.get(credential.prerequisite_id, credential.prerequisite_id)
    if isinstance(credential, StateException):
        changes["home_license_id"] = ids.get(credential.home_license_id, credential.home_license_id)
    return dataclasses.replace(credential, **changes)


_SEED_ORDER = {
    StateLicense: 0,
    BcTmhCredential: 3,
    StateException: 2,
}


def _order(credential: Credential) -> int:
    if isinstance(credential, CompactAuthority):
        prerequisite = credential.kind in (
            CompactAuthorityKind.PSYPACT_APIT,
            CompactAuthorityKind.PSYPACT_TAP,
        )
        return 2 if prerequisite else 1
    return _SEED_ORDER[type(credential)]


async def seed_clinician(
    target: RunningService | AppContext,
    *,
    practice_id: str,
    clinician_id: str,
    credentials: Iterable[Credential] = (),
    practice_jurisdiction: str | None = None,
    is_supervisee: bool = False,
    primary_profession: Profession | None = None,
    npi: str | None = None,
    actor: Principal | None = None,
) -> dict[str, str]:
    """Register a clinician of `practice_id` and put each credential through the registry use cases
    (versions, verification records, audit and AuthorizationChanged events included).

    A credential's `verification` (as the builders set it) is recorded as a verification of that
    credential. Returns {given credential id: stored credential id}.
    """
    ctx = target if isinstance(target, AppContext) else app_context(target)
    registry = Registry(ctx)
    who = actor or seed_actor(practice_id)
    await registry.upsert_clinician(
        who,
        UpsertClinician(
            clinician_id,
            practice_jurisdiction=practice_jurisdiction,
            is_supervisee=is_supervisee,
            primary_profession=primary_profession,
            reason="test seed",
        ),
    )
    items = list(credentials)
    ids = {c.id: _stable_id(clinician_id, c.id) for c in items}
    for credential in sorted(items, key=_order):
        given = credential.verification
        verification = (
            VerificationInput(given.source, min(given.verified_at, ctx.now()), given.reference)
            if given is not None
            else None
        )
        await registry.put_credential(
            who,
            PutCredential(
                dataclasses.replace(_rehome(credential, clinician_id, ids), verification=None),
                "test seed",
                verification=verification,
            ),
        )
    if npi is not None:
        await registry.set_npi(who, SetNpi(clinician_id, Npi(npi), "test seed"))
    return ids

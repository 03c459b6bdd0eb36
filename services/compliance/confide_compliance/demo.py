"""Demo credentials for `make run` (`python -m confide_compliance seed-demo`).

The ids are fixed so that identity's demo seed creates the same practice and clinician users
(docs/runbooks/demo-data.md). Seeding goes through the registry use cases — versions, verification
records, audit events and AuthorizationChanged events included — and is idempotent: a second run
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from confide_chassis.auth import Principal
from confide_chassis.roles import COMPLIANCE_OFFICER
from confide_compliance.app.commands import PutCredential, SetNpi, UpsertClinician, VerificationInput
from confide_compliance.app.context import AppContext
from confide_compliance.app.registry import Registry
from confide_compliance.domain.credentials import (
    CompactAuthority,
    CompactAuthorityKind,
    Credential,
    CredentialStatus,
    Npi,
    Profession,
    StateLicense,
    VerificationSource,
)

DEMO_PRACTICE_ID = "01930000-0000-7000-8000-000000000001"

# Psychologist licensed in Colorado with PSYPACT E.Passport + APIT: telehealth in CO, and from CO
# into other PSYPACT states (e.g. TX). Identity's dr.chen@demo-practice.test (care team of sam, TX).
DEMO_PSYCHOLOGIST_CO = "01930000-0000-7000-8000-0000000000c1"
# Professional counselor licensed in Arizona with a Counseling Compact privilege in Minnesota.
# A third demo clinician for identity (suggested: dr.patel@demo-practice.test).
DEMO_COUNSELOR_AZ = "01930000-0000-7000-8000-0000000000c2"
# Clinical social worker licensed in California. Identity's dr.rivera@demo-practice.test (care team of
# alex, a CA client).
DEMO_SOCIAL_WORKER_CA = "01930000-0000-7000-8000-0000000000c3"

DEMO_CLINICIANS = (DEMO_PSYCHOLOGIST_CO, DEMO_COUNSELOR_AZ, DEMO_SOCIAL_WORKER_CA)

# Credential ids (fixed, so re-seeding updates rather than duplicates).
CO_PSYCHOLOGY_LICENSE = "01930000-0000-7000-8000-0000000001c1"
CO_E_PASSPORT = "01930000-0000-7000-8000-0000000002c1"
CO_APIT = "01930000-0000-7000-8000-0000000003c1"
AZ_LPC_LICENSE = "01930000-0000-7000-8000-0000000001c2"
MN_PRIVILEGE = "01930000-0000-7000-8000-0000000002c2"
CA_LCSW_LICENSE = "01930000-0000-7000-8000-0000000001c3"

SEEDER = Principal(
    subject="compliance-seed-demo",
    practice_id=DEMO_PRACTICE_ID,
    roles=frozenset({COMPLIANCE_OFFICER}),
    mfa=True,
)
VERIFIED_AT = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
REASON = "demo data (seed-demo)"


@dataclass(frozen=True, slots=True)
class DemoClinician:
    clinician_id: str
    practice_jurisdiction: str
    profession: Profession
    credentials: tuple[tuple[Credential, VerificationSource], ...]
    npi: str | None = None


def _license(
    id: str, clinician_id: str, jurisdiction: str, profession: Profession, license_type: str, expires: date
) -> StateLicense:
    return StateLicense(
        id=id,
        clinician_id=clinician_id,
        jurisdiction=jurisdiction,
        profession=profession,
        license_type=license_type,
        number=f"DEMO-{jurisdiction}-{id[-3:]}",
        status=CredentialStatus.ACTIVE,
        issued_on=date(2024, 1, 1),
        expires_on=expires,
    )


DEMO_DATA: tuple[DemoClinician, ...] = (
    DemoClinician(
        DEMO_PSYCHOLOGIST_CO,
        "CO",
        Profession.PSYCHOLOGIST,
        (
            (
                _license(
                    CO_PSYCHOLOGY_LICENSE, DEMO_PSYCHOLOGIST_CO, "CO", Profession.PSYCHOLOGIST,
                    "Psychologist", date(2028, 12, 31),
                ),
                VerificationSource.STATE_BOARD,
            ),
            (
                CompactAuthority(
                    id=CO_E_PASSPORT,
                    clinician_id=DEMO_PSYCHOLOGIST_CO,
                    kind=CompactAuthorityKind.PSYPACT_E_PASSPORT,
                    status=CredentialStatus.ACTIVE,
                    issued_on=date(2026, 6, 1),
                    expires_on=date(2027, 5, 31),
                    number="DEMO-EP-1",
                ),
                VerificationSource.ASPPB,
            ),
            (
                CompactAuthority(
                    id=CO_APIT,
                    clinician_id=DEMO_PSYCHOLOGIST_CO,
                    kind=CompactAuthorityKind.PSYPACT_APIT,
                    status=CredentialStatus.ACTIVE,
                    issued_on=date(2026, 6, 1),
                    expires_on=date(2027, 5, 31),
                    prerequisite_id=CO_E_PASSPORT,
                    number="DEMO-APIT-1",
                ),
                VerificationSource.PSYPACT_COMMISSION,
            ),
        ),
        npi="1234567893",
    ),
    DemoClinician(
        DEMO_COUNSELOR_AZ,
        "AZ",
        Profession.PROFESSIONAL_COUNSELOR,
        (
            (
                _license(
                    AZ_LPC_LICENSE, DEMO_COUNSELOR_AZ, "AZ", Profession.PROFESSIONAL_COUNSELOR, "LPC",
                    date(2028, 12, 31),
                ),
                VerificationSource.STATE_BOARD,
            ),
            (
                CompactAuthority(
                    id=MN_PRIVILEGE,
                    clinician_id=DEMO_COUNSELOR_AZ,
                    kind=CompactAuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
                    status=CredentialStatus.ACTIVE,
                    issued_on=date(2025, 10, 1),
                    jurisdiction="MN",
                    home_license_id=AZ_LPC_LICENSE,
                    number="DEMO-PRIV-MN-1",
                ),
                VerificationSource.COMPACT_CONNECT,
            ),
        ),
    ),
    DemoClinician(
        DEMO_SOCIAL_WORKER_CA,
        "CA",
        Profession.CLINICAL_SOCIAL_WORKER,
        (
            (
                _license(
                    CA_LCSW_LICENSE, DEMO_SOCIAL_WORKER_CA, "CA", Profession.CLINICAL_SOCIAL_WORKER, "LCSW",
                    date(2027, 12, 31),
                ),
                VerificationSource.STATE_BOARD,
            ),
        ),
    ),
)  # fmt: skip


@dataclass(slots=True)
class SeedReport:
    changed: int = 0
    unchanged: int = 0


async def seed_demo(ctx: AppContext) -> SeedReport:
    """Create or refresh the demo clinicians' registry records; idempotent."""
    registry = Registry(ctx)
    report = SeedReport()

    def count(changed: bool) -> None:
        if changed:
            report.changed += 1
        else:
            report.unchanged += 1

    for clinician in DEMO_DATA:
        change = await registry.upsert_clinician(
            SEEDER,
            UpsertClinician(
                clinician.clinician_id,
                practice_jurisdiction=clinician.practice_jurisdiction,
                is_supervisee=False,
                primary_profession=clinician.profession,
                reason=REASON,
            ),
        )
        count(change.changed)
        for credential, source in clinician.credentials:
            result = await registry.put_credential(
                SEEDER,
                PutCredential(
                    credential, REASON, verification=VerificationInput(source, VERIFIED_AT, "demo")
                ),
            )
            count(result.changed)
        if clinician.npi:
            npi_change = await registry.set_npi(
                SEEDER,
                SetNpi(
                    clinician.clinician_id,
                    Npi(clinician.npi),
                    REASON,
                    verification=VerificationInput(VerificationSource.NPPES, VERIFIED_AT, "demo"),
                ),
            )
            count(npi_change.changed)
    return report

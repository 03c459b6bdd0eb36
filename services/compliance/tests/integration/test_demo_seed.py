"""`seed-demo`: idempotent, and the demo clinicians are authorized where docs/runbooks/demo-data.md says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from confide_chassis import db
from confide_compliance import demo
from confide_compliance import testing as t
from confide_compliance.app.authorization import Authorizations
from confide_compliance.domain.authorization import AuthorityKind
from confide_compliance.domain.modality import Modality
from confide_compliance.domain.records import AuthorizationQuestion
from confide_compliance.settings import ComplianceSettings
from confide_compliance.wiring import SPEC
from confide_devstack.postgres import PostgresCluster

from .conftest import module_database

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


async def test_seed_demo_is_idempotent_and_authorizes_the_documented_cases(
    postgres_cluster: PostgresCluster,
) -> None:
    url = await module_database(postgres_cluster, "demo_seed")
    engine = db.create_engine(url, pool_size=2)
    try:
        ctx = t.app_context(engine, clock=lambda: NOW)
        first = await demo.seed_demo(ctx)
        assert first.changed == 10  # 3 clinicians, 6 credentials, 1 NPI
        assert first.unchanged == 0
        again = await demo.seed_demo(ctx)
        assert again.changed == 0

        client = t.seed_actor(demo.DEMO_PRACTICE_ID, subject="demo-client")
        cases = [
            (demo.DEMO_PSYCHOLOGIST_CO, "CO", "CO", "America/Denver", AuthorityKind.STATE_LICENSE),
            (demo.DEMO_PSYCHOLOGIST_CO, "TX", "CO", "America/Chicago", AuthorityKind.PSYPACT_APIT),
            (
                demo.DEMO_COUNSELOR_AZ,
                "MN",
                "AZ",
                "America/Chicago",
                AuthorityKind.COUNSELING_COMPACT_PRIVILEGE,
            ),
            (demo.DEMO_SOCIAL_WORKER_CA, "CA", "CA", "America/Los_Angeles", AuthorityKind.STATE_LICENSE),
            (demo.DEMO_SOCIAL_WORKER_CA, "NV", "CA", "America/Los_Angeles", None),
        ]
        for clinician, client_at, clinician_at, zone, expected in cases:
            decision = await Authorizations(ctx).check(
                client,
                AuthorizationQuestion(
                    clinician_id=clinician,
                    client_jurisdiction=client_at,
                    clinician_jurisdiction=clinician_at,
                    session_start=NOW,
                    client_time_zone=zone,
                    modality=Modality.VIDEO,
                    purpose="booking",
                ),
            )
            assert (decision.authority.kind if decision.authority else None) == expected, (
                clinician,
                client_at,
            )
    finally:
        await engine.dispose()


def test_seed_demo_is_refused_outside_dev_mode() -> None:
    assert SPEC.commands["seed-demo"](ComplianceSettings(dev_mode=False), []) == 2

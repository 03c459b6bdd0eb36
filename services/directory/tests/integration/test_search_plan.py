"""The search query at a realistic volume: thousands of listed profiles inserted with one bulk SQL
statement, and the plan PostgreSQL chooses uses the indexes (no sequential scan of profiles)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from confide_chassis import db
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_directory.db.repositories import SqlProfileRepository, candidates_query
from confide_directory.domain.profiles import Modality
from confide_directory.domain.search import CareKind, SearchCriteria
from confide_directory.testing import migrate

PROFILES = 6000
PRACTICES = 60

NAMES = "'Chen','Rivera','Patel','Nguyen','Okafor','Schmidt','Haddad'"
BULK_INSERT = f"""
INSERT INTO profiles (
    clinician_id, practice_id, version, display_name, search_name, profession, is_coach, specialties,
    approaches, populations, languages, modalities, fee_min_minor, fee_max_minor, sliding_scale,
    accepts_self_pay, accepts_plans, bio, time_zone, approved_at, approved_by, active, search_document)
SELECT
    md5('clinician' || n)::uuid,
    md5('practice' || (n % {PRACTICES}))::uuid,
    1,
    'Clinician ' || n || ' ' || (ARRAY[{NAMES}])[1 + n % 7],
    lower('Clinician ' || n || ' ' || (ARRAY[{NAMES}])[1 + n % 7]),
    CASE WHEN n % 20 = 0 THEN 'coach' ELSE 'psychologist' END,
    n % 20 = 0,
    ARRAY[(ARRAY['anxiety','depression','grief','trauma_ptsd','adhd','ocd'])[1 + n % 6],
          (ARRAY['sleep','career','parenting','relationships'])[1 + n % 4]],
    ARRAY['cbt'],
    ARRAY['adults'],
    CASE WHEN n % 7 = 0 THEN ARRAY['en','es'] ELSE ARRAY['en'] END,
    ARRAY['video','audio'],
    8000 + (n % 10) * 1000,
    20000,
    n % 3 = 0,
    true,
    n % 2 = 0,
    'Therapy for ' || (ARRAY['anxiety and panic','low mood','loss and grief'])[1 + n % 3],
    'America/Denver',
    now(),
    'bulk',
    true,
    to_tsvector('simple', 'anxiety cbt adults') || to_tsvector('english', 'Therapy for adults')
FROM generate_series(1, {PROFILES}) AS n
"""  # noqa: S608 - constants only


@pytest.fixture(scope="module")
async def engine(postgres_cluster: PostgresCluster) -> AsyncIterator[AsyncEngine]:
    url = await postgres_cluster.create_database_async(unique_database_name("dir_plan"))
    await migrate(url)
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sa.text(BULK_INSERT))
        await conn.execute(sa.text("ANALYZE profiles"))
    try:
        yield engine
    finally:
        await engine.dispose()


def criteria(**overrides: object) -> SearchCriteria:
    values: dict[str, object] = {
        "practice_id": str(uuid.UUID(_md5("practice6"))),
        "client_id": None,
        "client_state": "CO",
        "client_time_zone": "America/Denver",
        "care_kind": CareKind.THERAPY,
        "modality": Modality.VIDEO,
        "specialties": ("anxiety",),
        "language": None,
        "max_fee_minor": 15000,
        "earliest_start": datetime.now(UTC),
        "max_time_zone_difference_hours": None,
        "query": None,
        "page_size": 10,
    }
    values.update(overrides)
    return SearchCriteria(**values)  # type: ignore[arg-type]


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the same ids as md5() in SQL


def authorized_ids(practice: int) -> list[str]:
    """Every clinician of one practice, as compliance would authorize them."""
    return [
        str(uuid.UUID(_md5(f"clinician{n}"))) for n in range(1, PROFILES + 1) if n % PRACTICES == practice
    ]


async def plan(engine: AsyncEngine, query: sa.Select[Any]) -> str:
    compiled = query.compile(dialect=engine.dialect)
    parameters = tuple(compiled.params[name] for name in compiled.positiontup or ())
    async with engine.connect() as conn:
        rows = await conn.exec_driver_sql("EXPLAIN " + str(compiled), parameters)
        return "\n".join(str(r[0]) for r in rows)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"language": "es", "specialties": ()},
        {"query": "chen"},
        {"query": "grief"},
        {"care_kind": CareKind.COACHING, "specialties": ()},
    ],
    ids=["needs-and-fee", "language", "name", "full-text", "coaching"],
)
async def test_the_search_query_uses_indexes_not_a_sequential_scan(
    engine: AsyncEngine, overrides: dict[str, object]
) -> None:
    coaching = overrides.get("care_kind") is CareKind.COACHING
    wanted = criteria(**overrides, **({"practice_id": str(uuid.UUID(_md5("practice0")))} if coaching else {}))
    authorized = None if coaching else authorized_ids(6)
    text = await plan(engine, candidates_query(wanted, authorized))
    assert "Seq Scan on profiles" not in text, text
    assert "Index" in text, text


async def test_the_query_finds_the_right_rows_at_volume(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM profiles")) == PROFILES
    sessions = db.session_factory(engine)
    async with sessions() as session:
        repository = SqlProfileRepository(session)
        anxiety = await repository.candidates(criteria(), authorized_ids(6))
        depression = await repository.candidates(criteria(specialties=("depression",)), authorized_ids(6))
        spanish = await repository.candidates(criteria(language="es", specialties=()), authorized_ids(6))
        named = await repository.candidates(criteria(query="Okafr", specialties=()), authorized_ids(6))
        few = await repository.candidates(criteria(specialties=()), authorized_ids(6)[:5])

    # practice 6 holds n = 6, 66, 126, ... (n % 6 == 0: anxiety; fee 14000; no coaches); the SQL
    # arithmetic above, repeated here, says which rows each filter must return
    members = [n for n in range(1, PROFILES + 1) if n % PRACTICES == 6]

    def ids(keep: object) -> set[str]:
        return {str(uuid.UUID(_md5(f"clinician{n}"))) for n in members if keep(n)}  # type: ignore[operator]

    assert {r.clinician_id for r in anxiety} == ids(lambda n: True)
    assert len(anxiety) == PROFILES // PRACTICES
    assert depression == []
    assert {r.clinician_id for r in spanish} == ids(lambda n: n % 7 == 0)
    assert {r.clinician_id for r in named} == ids(lambda n: n % 7 == 4)
    assert {r.clinician_id for r in few} == set(authorized_ids(6)[:5])  # only whom compliance authorized

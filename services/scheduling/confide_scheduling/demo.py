"""Demo availability for ``make run`` (``python -m confide_scheduling seed-demo``).

The ids are the demo practice and clinicians that compliance seeds with credentials
(``confide_compliance.demo``; docs/runbooks/demo-data.md). Scheduling cannot import compliance, so they
are repeated here as documented constants. Each clinician gets Monday-Friday 09:00-17:00 in their own
zone, every synchronous modality and every session type. Idempotent: an existing schedule is left
alone. Refused unless ``SCHEDULING_DEV_MODE=true``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import datetime, time
from uuid import UUID

from confide_chassis import db
from confide_chassis.clock import utc_now
from confide_chassis.settings import ServiceSettings
from confide_scheduling.app.ports import ScheduleRecord
from confide_scheduling.db.uow import SqlRepositories
from confide_scheduling.domain.availability import WeeklyAvailability, WeeklyRule
from confide_scheduling.domain.catalog import SYNCHRONOUS_MODALITIES, Weekday
from confide_scheduling.settings import SchedulingSettings

DEMO_PRACTICE_ID = "01930000-0000-7000-8000-000000000001"


@dataclass(frozen=True, slots=True)
class DemoClinician:
    clinician_id: UUID
    time_zone: str
    location_state: str


DEMO_CLINICIANS: tuple[DemoClinician, ...] = (
    # Psychologist licensed in Colorado with PSYPACT APIT.
    DemoClinician(UUID("01930000-0000-7000-8000-0000000000c1"), "America/Denver", "CO"),
    # Professional counselor licensed in Arizona, Counseling Compact privilege in Minnesota.
    DemoClinician(UUID("01930000-0000-7000-8000-0000000000c2"), "America/Phoenix", "AZ"),
    # Clinical social worker licensed in California.
    DemoClinician(UUID("01930000-0000-7000-8000-0000000000c3"), "America/Los_Angeles", "CA"),
)

WORKDAYS = (Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY)


def demo_schedule(clinician: DemoClinician, now: datetime) -> ScheduleRecord:
    return ScheduleRecord(
        clinician_id=clinician.clinician_id,
        practice_id=DEMO_PRACTICE_ID,
        availability=WeeklyAvailability(
            time_zone=clinician.time_zone,
            rules=tuple(WeeklyRule(day, time(9, 0), time(17, 0)) for day in WORKDAYS),
            modalities_offered=SYNCHRONOUS_MODALITIES,
        ),
        location_state=clinician.location_state,
        session_type_codes=frozenset(),
        version=1,
        updated_at=now,
    )


async def seed_demo(database_url: str, now: datetime | None = None) -> dict[str, object]:
    engine = db.create_engine(database_url, pool_size=2)
    created: list[str] = []
    unchanged: list[str] = []
    try:
        sessions = db.session_factory(engine)
        async with sessions() as session, session.begin():
            repositories = SqlRepositories(session)
            for clinician in DEMO_CLINICIANS:
                if await repositories.schedules.get(clinician.clinician_id, for_update=True) is not None:
                    unchanged.append(str(clinician.clinician_id))
                    continue
                await repositories.schedules.save(demo_schedule(clinician, now or utc_now()))
                created.append(str(clinician.clinician_id))
    finally:
        await engine.dispose()
    return {"practice_id": DEMO_PRACTICE_ID, "created": created, "unchanged": unchanged}


def seed_demo_command(settings: ServiceSettings, args: list[str]) -> int:
    scheduling = (
        settings
        if isinstance(settings, SchedulingSettings)
        else SchedulingSettings.model_validate(settings.model_dump())
    )
    if not scheduling.dev_mode:
        sys.stderr.write(
            "scheduling seed-demo: refused; set SCHEDULING_DEV_MODE=true (never in production)\n"
        )
        return 2
    if not scheduling.database_url:
        sys.stderr.write("scheduling seed-demo: SCHEDULING_DATABASE_URL is required\n")
        return 2
    sys.stdout.write(json.dumps(asyncio.run(seed_demo(scheduling.database_url)), sort_keys=True) + "\n")
    return 0

"""Demo profiles for `make run` (`python -m confide_directory seed-demo`, DIRECTORY_DEV_MODE=true).

The three demo clinicians of docs/runbooks/demo-data.md (same fixed ids as identity, compliance and
scheduling) get approved profiles, plus one demo coach (no identity account; listed for coaching searches
only). Seeding goes through the use cases (the clinician writes, the demo admin approves) and is
idempotent: a second run changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from confide_chassis import db, roles
from confide_chassis.auth import Principal
from confide_chassis.clock import utc_now
from confide_chassis.settings import ServiceSettings
from confide_directory.app.commands import ApproveProfile, UpdateProfile
from confide_directory.app.context import AppContext
from confide_directory.app.ports import Authorized
from confide_directory.app.profiles import ProfileUseCases
from confide_directory.db.uow import SqlDirectoryUnitOfWork
from confide_directory.domain.profiles import FeeRange, Modality, Profession, ProfileContent
from confide_directory.reference_data import load_vocabulary
from confide_directory.settings import DirectorySettings

DEMO_PRACTICE_ID = "01930000-0000-7000-8000-000000000001"
DEMO_ADMIN = "01930000-0000-7000-8000-0000000000a1"
DEMO_PSYCHOLOGIST_CO = "01930000-0000-7000-8000-0000000000c1"
DEMO_COUNSELOR_AZ = "01930000-0000-7000-8000-0000000000c2"
DEMO_SOCIAL_WORKER_CA = "01930000-0000-7000-8000-0000000000c3"
DEMO_COACH = "01930000-0000-7000-8000-0000000000d1"

_VIDEO_AUDIO_CHAT = (Modality.VIDEO, Modality.AUDIO, Modality.LIVE_CHAT)

DEMO_PROFILES: tuple[tuple[str, ProfileContent], ...] = (
    (
        DEMO_PSYCHOLOGIST_CO,
        ProfileContent(
            display_name="Dr. Wei Chen",
            profession=Profession.PSYCHOLOGIST,
            specialties=("anxiety", "depression", "trauma_ptsd", "ocd"),
            approaches=("cbt", "erp", "act"),
            populations=("young_adults", "adults"),
            languages=("en", "zh-Hant"),
            modalities=_VIDEO_AUDIO_CHAT,
            fees=FeeRange(14000, 18000, False),
            accepts_self_pay=True,
            accepts_plans=True,
            bio="Licensed psychologist in Denver. I help adults with anxiety, panic and obsessive thoughts "
            "using structured, evidence-based therapy. Telepsychology across PSYPACT states.",
            time_zone="America/Denver",
        ),
    ),
    (
        DEMO_COUNSELOR_AZ,
        ProfileContent(
            display_name="Priya Patel, LPC",
            profession=Profession.PROFESSIONAL_COUNSELOR,
            specialties=("stress_burnout", "life_transitions", "relationships", "career"),
            approaches=("solution_focused", "person_centered", "mindfulness"),
            populations=("adults", "couples"),
            languages=("en", "hi", "gu"),
            modalities=_VIDEO_AUDIO_CHAT,
            fees=FeeRange(9000, 13000, True),
            accepts_self_pay=True,
            accepts_plans=False,
            bio="Counselor in Phoenix working with professionals facing burnout and big life changes. "
            "Sliding scale available.",
            time_zone="America/Phoenix",
        ),
    ),
    (
        DEMO_SOCIAL_WORKER_CA,
        ProfileContent(
            display_name="Dr. Ana Rivera, LCSW",
            profession=Profession.CLINICAL_SOCIAL_WORKER,
            specialties=("depression", "grief", "trauma_ptsd", "parenting"),
            approaches=("emdr", "cpt", "family_systems"),
            populations=("adolescents", "adults", "families"),
            languages=("en", "es"),
            modalities=_VIDEO_AUDIO_CHAT,
            fees=FeeRange(11000, 15000, True),
            accepts_self_pay=True,
            accepts_plans=True,
            bio="Bilingual clinical social worker in Los Angeles. Trauma-focused care for teens, adults "
            "and families; grief and loss.",
            time_zone="America/Los_Angeles",
        ),
    ),
    (
        DEMO_COACH,
        ProfileContent(
            display_name="Jordan Lee",
            profession=Profession.COACH,
            specialties=("career", "stress_burnout"),
            approaches=("goal_coaching",),
            populations=("adults",),
            languages=("en",),
            modalities=(Modality.VIDEO, Modality.MESSAGING),
            fees=FeeRange(6000, 8000, False),
            accepts_self_pay=True,
            accepts_plans=False,
            bio="Career and productivity coach. Coaching is not therapy: no diagnosis or treatment.",
            time_zone="America/New_York",
        ),
    ),
)


class _NoCompliance:
    """Seeding never searches."""

    async def find_authorized(self, **_: Any) -> Authorized:  # pragma: no cover - never called
        raise RuntimeError("seeding does not search")


async def seed_demo(ctx: AppContext) -> dict[str, Any]:
    profiles = ProfileUseCases(ctx)
    admin = Principal(
        subject=DEMO_ADMIN, practice_id=DEMO_PRACTICE_ID, roles=frozenset({roles.PRACTICE_ADMIN}), mfa=True
    )
    seeded = []
    for clinician_id, content in DEMO_PROFILES:
        clinician = Principal(
            subject=clinician_id, practice_id=DEMO_PRACTICE_ID, roles=frozenset({roles.CLINICIAN}), mfa=True
        )
        draft, _ = await profiles.update(clinician, UpdateProfile(content))
        await profiles.approve(admin, ApproveProfile(clinician_id, draft.draft_version))
        seeded.append(clinician_id)
    return {"practice_id": DEMO_PRACTICE_ID, "profiles": seeded}


async def seed_demo_database(database_url: str) -> dict[str, Any]:
    engine = db.create_engine(database_url, pool_size=2)
    try:
        sessions = db.session_factory(engine)
        ctx = AppContext(
            uow=lambda: SqlDirectoryUnitOfWork(sessions),
            vocabulary=load_vocabulary(),
            authorization=_NoCompliance(),
            availability=None,
            clock=utc_now,
        )
        return await seed_demo(ctx)
    finally:
        await engine.dispose()


def seed_demo_command(settings: ServiceSettings, args: list[str]) -> int:
    directory = (
        settings
        if isinstance(settings, DirectorySettings)
        else DirectorySettings.model_validate(settings.model_dump())
    )
    if not directory.dev_mode:
        sys.stderr.write("directory seed-demo: refused; set DIRECTORY_DEV_MODE=true (never in production)\n")
        return 2
    if not directory.database_url:
        sys.stderr.write("directory seed-demo: DIRECTORY_DATABASE_URL is required\n")
        return 2
    sys.stdout.write(
        json.dumps(asyncio.run(seed_demo_database(directory.database_url)), sort_keys=True) + "\n"
    )
    return 0

"""Repositories on the unit of work's session. The search query is built by `candidates_query` so the
plan test can EXPLAIN exactly what the service runs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from confide_directory.app.ports import CandidateRow, ListedProfile
from confide_directory.db import tables as t
from confide_directory.domain.profiles import (
    FeeRange,
    Listing,
    Modality,
    Profession,
    Profile,
    ProfileContent,
    ProfileStatus,
)
from confide_directory.domain.search import CareKind, SearchCriteria, folded


def content_to_json(content: ProfileContent) -> dict[str, Any]:
    return {
        "display_name": content.display_name,
        "profession": content.profession.value,
        "specialties": list(content.specialties),
        "approaches": list(content.approaches),
        "populations": list(content.populations),
        "languages": list(content.languages),
        "modalities": [m.value for m in content.modalities],
        "fees": [content.fees.min_minor, content.fees.max_minor, content.fees.sliding_scale],
        "accepts_self_pay": content.accepts_self_pay,
        "accepts_plans": content.accepts_plans,
        "bio": content.bio,
        "time_zone": content.time_zone,
    }


def content_from_json(doc: dict[str, Any]) -> ProfileContent:
    fee_min, fee_max, sliding = doc["fees"]
    return ProfileContent(
        display_name=doc["display_name"],
        profession=Profession(doc["profession"]),
        specialties=tuple(doc["specialties"]),
        approaches=tuple(doc["approaches"]),
        populations=tuple(doc["populations"]),
        languages=tuple(doc["languages"]),
        modalities=tuple(Modality(m) for m in doc["modalities"]),
        fees=FeeRange(int(fee_min), int(fee_max), bool(sliding)),
        accepts_self_pay=bool(doc["accepts_self_pay"]),
        accepts_plans=bool(doc["accepts_plans"]),
        bio=doc["bio"],
        time_zone=doc["time_zone"],
    )


def _weight(letter: str) -> sa.ColumnElement[Any]:
    return sa.literal_column(f"'{letter}'::\"char\"")


def search_document(content: ProfileContent) -> sa.ColumnElement[Any]:
    """Weighted text: vocabulary terms (A) over the name (B) over the bio (C). Terms use the 'simple'
    configuration (codes are not English words); the bio is stemmed as English."""
    terms = " ".join(
        code.replace("_", " ") for code in (*content.specialties, *content.approaches, *content.populations)
    )
    english: sa.ColumnElement[Any] = sa.literal_column("'english'::regconfig")
    simple: sa.ColumnElement[Any] = sa.literal_column("'simple'::regconfig")
    return (
        sa.func.setweight(sa.func.to_tsvector(simple, terms), _weight("A"))
        .op("||")(sa.func.setweight(sa.func.to_tsvector(simple, content.display_name), _weight("B")))
        .op("||")(sa.func.setweight(sa.func.to_tsvector(english, content.bio), _weight("C")))
    )


def candidates_query(criteria: SearchCriteria, authorized: Collection[str] | None) -> sa.Select[Any]:
    p = t.profiles
    conditions: list[sa.ColumnElement[bool]] = [
        p.c.practice_id == criteria.practice_id,
        # plain comparisons (not IS TRUE) so the partial index (practice_id, is_coach) WHERE active applies
        p.c.active,
        p.c.is_coach == (criteria.care_kind is CareKind.COACHING),
        p.c.modalities.contains([criteria.modality.value]),
    ]
    if authorized is not None:
        conditions.append(
            p.c.clinician_id
            == sa.any_(sa.bindparam("authorized", sorted(authorized), type_=ARRAY(UUID(as_uuid=False))))
        )
    if criteria.specialties:
        conditions.append(p.c.specialties.overlap(list(criteria.specialties)))
    if criteria.language:
        conditions.append(p.c.languages.contains([criteria.language]))
    if criteria.max_fee_minor is not None:
        conditions.append(p.c.fee_min_minor <= criteria.max_fee_minor)
    if criteria.query:
        text_match = p.c.search_document.op("@@")(
            sa.func.websearch_to_tsquery(sa.literal_column("'english'::regconfig"), criteria.query)
        )
        simple_match = p.c.search_document.op("@@")(
            sa.func.websearch_to_tsquery(sa.literal_column("'simple'::regconfig"), criteria.query)
        )
        # pg_trgm word similarity: "chen" finds "Dr. Wei Chen", "andersn" finds "Andersen".
        name_match = sa.literal(folded(criteria.query)).op("<%")(p.c.search_name)
        conditions.append(sa.or_(text_match, simple_match, name_match))
    return sa.select(p.c.clinician_id, p.c.specialties, p.c.time_zone).where(*conditions)


class SqlProfileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_draft(self, clinician_id: str) -> Profile | None:
        row = (
            (
                await self._session.execute(
                    sa.select(t.profile_drafts)
                    .where(t.profile_drafts.c.clinician_id == clinician_id)
                    .with_for_update()
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        listed = await self.listed(str(row["practice_id"]), [clinician_id])
        return Profile(
            clinician_id=str(row["clinician_id"]),
            practice_id=str(row["practice_id"]),
            draft=content_from_json(row["content"]),
            draft_version=int(row["draft_version"]),
            status=ProfileStatus(row["status"]),
            listing=listed[clinician_id].listing if clinician_id in listed else None,
        )

    async def save(self, profile: Profile, *, now: datetime) -> None:
        values = {
            "practice_id": profile.practice_id,
            "content": content_to_json(profile.draft),
            "draft_version": profile.draft_version,
            "status": profile.status.value,
            "updated_at": now,
        }
        await self._session.execute(
            insert(t.profile_drafts)
            .values(clinician_id=profile.clinician_id, **values)
            .on_conflict_do_update(index_elements=[t.profile_drafts.c.clinician_id], set_=values)
        )
        listing = profile.listing
        if listing is None:
            return
        c = listing.content
        listed = {
            "practice_id": profile.practice_id,
            "version": listing.version,
            "display_name": c.display_name,
            "search_name": folded(c.display_name),
            "profession": c.profession.value,
            "is_coach": c.is_coach,
            "specialties": list(c.specialties),
            "approaches": list(c.approaches),
            "populations": list(c.populations),
            "languages": list(c.languages),
            "modalities": [m.value for m in c.modalities],
            "fee_min_minor": c.fees.min_minor,
            "fee_max_minor": c.fees.max_minor,
            "sliding_scale": c.fees.sliding_scale,
            "accepts_self_pay": c.accepts_self_pay,
            "accepts_plans": c.accepts_plans,
            "bio": c.bio,
            "time_zone": c.time_zone,
            "approved_at": listing.approved_at,
            "approved_by": listing.approved_by,
            "active": not profile.deactivated,
            "search_document": search_document(c),
        }
        await self._session.execute(
            insert(t.profiles)
            .values(clinician_id=profile.clinician_id, **listed)
            .on_conflict_do_update(
                index_elements=[t.profiles.c.clinician_id],
                set_=listed,
                where=t.profiles.c.version < listing.version,
            )
        )

    async def pending(self, practice_id: str) -> list[Profile]:
        rows = (
            (
                await self._session.execute(
                    sa.select(t.profile_drafts.c.clinician_id)
                    .where(
                        t.profile_drafts.c.practice_id == practice_id,
                        t.profile_drafts.c.status == ProfileStatus.PENDING_REVIEW.value,
                    )
                    .order_by(t.profile_drafts.c.updated_at, t.profile_drafts.c.clinician_id)
                )
            )
            .scalars()
            .all()
        )
        found = [await self.get_draft(str(r)) for r in rows]
        return [p for p in found if p is not None]

    async def listed(self, practice_id: str, clinician_ids: Sequence[str]) -> dict[str, ListedProfile]:
        if not clinician_ids:
            return {}
        p = t.profiles
        rows = (
            (
                await self._session.execute(
                    sa.select(p).where(
                        p.c.practice_id == practice_id,
                        p.c.clinician_id.in_(list(clinician_ids)),
                        p.c.active.is_(True),
                    )
                )
            )
            .mappings()
            .all()
        )
        coverage: dict[str, list[str]] = {}
        if rows:
            for clinician_id, jurisdiction in (
                await self._session.execute(
                    sa.select(t.coverage.c.clinician_id, t.coverage.c.jurisdiction)
                    .where(t.coverage.c.clinician_id.in_([r["clinician_id"] for r in rows]))
                    .order_by(t.coverage.c.jurisdiction)
                )
            ).all():
                coverage.setdefault(str(clinician_id), []).append(jurisdiction)
        out: dict[str, ListedProfile] = {}
        for r in rows:
            content = ProfileContent(
                display_name=r["display_name"],
                profession=Profession(r["profession"]),
                specialties=tuple(r["specialties"]),
                approaches=tuple(r["approaches"]),
                populations=tuple(r["populations"]),
                languages=tuple(r["languages"]),
                modalities=tuple(Modality(m) for m in r["modalities"]),
                fees=FeeRange(int(r["fee_min_minor"]), int(r["fee_max_minor"]), bool(r["sliding_scale"])),
                accepts_self_pay=bool(r["accepts_self_pay"]),
                accepts_plans=bool(r["accepts_plans"]),
                bio=r["bio"],
                time_zone=r["time_zone"],
            )
            clinician_id = str(r["clinician_id"])
            out[clinician_id] = ListedProfile(
                clinician_id=clinician_id,
                practice_id=str(r["practice_id"]),
                listing=Listing(content, int(r["version"]), r["approved_at"], r["approved_by"]),
                authorized_jurisdictions=tuple(coverage.get(clinician_id, ())),
            )
        return out

    async def candidates(
        self, criteria: SearchCriteria, authorized: Collection[str] | None
    ) -> list[CandidateRow]:
        if authorized is not None and not authorized:
            return []
        rows = (await self._session.execute(candidates_query(criteria, authorized))).all()
        return [CandidateRow(str(r[0]), tuple(r[1]), str(r[2])) for r in rows]


class SqlProjectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def current_clinicians(self, client_id: str) -> frozenset[str]:
        rows = (
            (
                await self._session.execute(
                    sa.select(t.care_team_links.c.clinician_id).where(
                        t.care_team_links.c.client_id == client_id
                    )
                )
            )
            .scalars()
            .all()
        )
        return frozenset(str(r) for r in rows)

    async def risk_flagged(self, client_id: str) -> bool:
        found = await self._session.scalar(
            sa.select(t.risk_flags.c.client_id).where(t.risk_flags.c.client_id == client_id)
        )
        return found is not None

    async def is_deactivated(self, user_id: str) -> bool:
        found = await self._session.scalar(
            sa.select(t.deactivated_users.c.user_id).where(t.deactivated_users.c.user_id == user_id)
        )
        return found is not None

    async def cover(self, clinician_id: str, gained: Sequence[str], lost: Sequence[str]) -> None:
        if lost:
            await self._session.execute(
                sa.delete(t.coverage).where(
                    t.coverage.c.clinician_id == clinician_id, t.coverage.c.jurisdiction.in_(list(lost))
                )
            )
        if gained:
            await self._session.execute(
                insert(t.coverage)
                .values([{"clinician_id": clinician_id, "jurisdiction": j} for j in gained])
                .on_conflict_do_nothing()
            )

    async def assign_care_team(self, link_id: str, client_id: str, clinician_id: str) -> None:
        await self._session.execute(
            insert(t.care_team_links)
            .values(link_id=link_id, client_id=client_id, clinician_id=clinician_id)
            .on_conflict_do_nothing()
        )

    async def remove_care_team(self, link_id: str) -> None:
        await self._session.execute(
            sa.delete(t.care_team_links).where(t.care_team_links.c.link_id == link_id)
        )

    async def flag_risk(self, client_id: str, at: datetime) -> None:
        await self._session.execute(
            insert(t.risk_flags).values(client_id=client_id, flagged_at=at).on_conflict_do_nothing()
        )

    async def deactivate(self, user_id: str, at: datetime) -> None:
        await self._session.execute(
            insert(t.deactivated_users).values(user_id=user_id, deactivated_at=at).on_conflict_do_nothing()
        )
        await self._session.execute(
            sa.update(t.profiles).where(t.profiles.c.clinician_id == user_id).values(active=False)
        )

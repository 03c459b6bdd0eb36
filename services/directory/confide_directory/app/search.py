"""Searching the directory for a client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from confide_chassis import roles
from confide_chassis.auth import Principal
from confide_chassis.errors import FailedPrecondition, InvalidArgument, PermissionDenied, RuleViolation
from confide_directory import metrics
from confide_directory.app.context import AppContext
from confide_directory.app.ports import ListedProfile, NextSlot
from confide_directory.domain.search import (
    Candidate,
    CareKind,
    SearchCriteria,
    decode_token,
    encode_token,
    explain,
    order_page,
    page_after,
    rank,
    within_time_zone_window,
)


@dataclass(frozen=True, slots=True)
class Result:
    profile: ListedProfile
    candidate: Candidate
    reasons: list[str]
    current_clinician: bool
    matched_specialties: tuple[str, ...]
    next_slot: NextSlot | None


@dataclass(frozen=True, slots=True)
class SearchPage:
    results: list[Result]
    next_page_token: str
    reference_data_version: str
    availability_known: bool


def _client_of(actor: Principal, requested: str | None) -> str | None:
    if roles.CLIENT in actor.roles:
        if requested is not None and requested != actor.subject:
            raise PermissionDenied("a client searches for themselves only")
        return actor.subject
    return requested


class SearchUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    async def search(
        self, actor: Principal, criteria: SearchCriteria, *, page_token: str, bearer_token: str
    ) -> SearchPage:
        violations = self._ctx.vocabulary.unknown_terms(
            "specialties", criteria.specialties, self._ctx.vocabulary.specialties
        )
        if violations:
            raise InvalidArgument(violations)
        after = decode_token(page_token, criteria.fingerprint())
        client_id = _client_of(actor, criteria.client_id)

        async with self._ctx.uow() as uow:
            current = await uow.projections.current_clinicians(client_id) if client_id else frozenset[str]()
            flagged = await uow.projections.risk_flagged(client_id) if client_id else False

        if criteria.care_kind is CareKind.COACHING:
            if flagged:
                # Coaching is not therapy: a client whose screening flagged risk needs clinical care,
                # never a coach (SAFE-20, LIC-81).
                raise FailedPrecondition(
                    [
                        RuleViolation(
                            "SAFE-20", "the client's screening flagged risk: therapy, not coaching"
                        ),
                        RuleViolation("LIC-81", "coaching is not therapy"),
                    ]
                )
            authorities = None
            reference_version = ""
        else:
            # One rule source: compliance decides who may treat a client in that state, by that
            # modality, on that date (LIC-01, LIC-03). No answer = no results (fail closed).
            authorized = await self._ctx.authorization.find_authorized(
                client_state=criteria.client_state,
                session_start=criteria.earliest_start,
                client_time_zone=criteria.client_time_zone,
                modality=criteria.modality,
                bearer_token=bearer_token,
            )
            authorities = dict(authorized.clinicians)
            reference_version = authorized.reference_data_version

        async with self._ctx.uow() as uow:
            rows = await uow.profiles.candidates(criteria, None if authorities is None else list(authorities))
        candidates = [
            Candidate(
                clinician_id=row.clinician_id,
                specialties=row.specialties,
                time_zone=row.time_zone,
                authority=None if authorities is None else authorities[row.clinician_id],
            )
            for row in rows
            if within_time_zone_window(
                row.time_zone,
                criteria.client_time_zone,
                criteria.max_time_zone_difference_hours,
                criteria.earliest_start,
            )
        ]
        ranked = rank(candidates, criteria.specialties, current)
        page, next_key = page_after(ranked, after, criteria.page_size)

        slots: dict[str, NextSlot] | None = None
        if page and client_id is not None and self._ctx.availability is not None:
            slots = await self._ctx.availability.next_slots(
                client_id=client_id,
                client_state=criteria.client_state,
                modality=criteria.modality,
                clinician_ids=[c.clinician_id for _, c in page],
                window_start=criteria.earliest_start,
                window_end=criteria.earliest_start + self._ctx.availability_horizon,
                bearer_token=bearer_token,
            )
        known = slots is not None
        starts: dict[str, datetime] = {k: v.start for k, v in (slots or {}).items()}
        ordered = order_page(page, starts)

        async with self._ctx.uow() as uow:
            listed = await uow.profiles.listed(criteria.practice_id, [c.clinician_id for _, c in ordered])
        results = []
        for _, candidate in ordered:
            profile = listed.get(candidate.clinician_id)
            if profile is None:  # unlisted between the two reads
                continue
            slot = (slots or {}).get(candidate.clinician_id)
            results.append(
                Result(
                    profile=profile,
                    candidate=candidate,
                    reasons=explain(
                        candidate,
                        criteria,
                        current,
                        slot.start if slot else None,
                        availability_known=known,
                    ),
                    current_clinician=candidate.clinician_id in current,
                    matched_specialties=tuple(s for s in criteria.specialties if s in candidate.specialties),
                    next_slot=slot,
                )
            )
        metrics.SEARCHES.labels(criteria.care_kind.value, "results" if results else "empty").inc()
        token = encode_token(next_key, criteria.fingerprint()) if next_key is not None else ""
        return SearchPage(results, token, reference_version, known)

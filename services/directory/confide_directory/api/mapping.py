"""Wire <-> domain for the directory API. InvalidArgument names the request field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from uuid import UUID

from confide.common.v1 import paging_pb2
from confide.directory.v1 import directory_pb2 as pb
from confide_chassis.errors import FieldViolation, InvalidArgument
from confide_chassis.wire import datetime_of, jurisdiction_code, jurisdiction_value, timestamp
from confide_directory.app.commands import ApproveProfile, UpdateProfile
from confide_directory.app.ports import ListedProfile
from confide_directory.app.search import Result, SearchPage
from confide_directory.domain.profiles import (
    FeeRange,
    Modality,
    Profession,
    Profile,
    ProfileContent,
    ProfileStatus,
    canonical_language,
    is_time_zone,
)
from confide_directory.domain.search import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, CareKind, SearchCriteria
from confide_directory.domain.vocabulary import Vocabulary

_PROFESSION = {
    pb.PROFESSION_PSYCHOLOGIST: Profession.PSYCHOLOGIST,
    pb.PROFESSION_PROFESSIONAL_COUNSELOR: Profession.PROFESSIONAL_COUNSELOR,
    pb.PROFESSION_CLINICAL_SOCIAL_WORKER: Profession.CLINICAL_SOCIAL_WORKER,
    pb.PROFESSION_MARRIAGE_AND_FAMILY_THERAPIST: Profession.MARRIAGE_AND_FAMILY_THERAPIST,
    pb.PROFESSION_PSYCHIATRIC_NURSE_PRACTITIONER: Profession.PSYCHIATRIC_NURSE_PRACTITIONER,
    pb.PROFESSION_PSYCHIATRIST: Profession.PSYCHIATRIST,
    pb.PROFESSION_COACH: Profession.COACH,
}
_PROFESSION_PB = {v: k for k, v in _PROFESSION.items()}
_MODALITY = {
    pb.MODALITY_VIDEO: Modality.VIDEO,
    pb.MODALITY_AUDIO: Modality.AUDIO,
    pb.MODALITY_LIVE_CHAT: Modality.LIVE_CHAT,
    pb.MODALITY_MESSAGING: Modality.MESSAGING,
    pb.MODALITY_IN_PERSON: Modality.IN_PERSON,
}
_MODALITY_PB = {v: k for k, v in _MODALITY.items()}
_STATUS_PB = {
    ProfileStatus.PENDING_REVIEW: pb.PROFILE_STATUS_PENDING_REVIEW,
    ProfileStatus.APPROVED: pb.PROFILE_STATUS_APPROVED,
}
MAX_QUERY = 100
_MAX_LOOKAHEAD = timedelta(days=93)


def _uuid(value: str, field: str, violations: list[FieldViolation]) -> str | None:
    try:
        return str(UUID(value))
    except ValueError:
        violations.append(FieldViolation(field, "must be a UUID"))
        return None


def profile_content(message: pb.ProfileContent, field: str = "content") -> ProfileContent:
    """Format checks only; the domain validates the rest (vocabulary, bounds, languages)."""
    v: list[FieldViolation] = []
    profession = _PROFESSION.get(message.profession)
    if profession is None:
        v.append(FieldViolation(f"{field}.profession", "required"))
    modalities: list[Modality] = []
    for index, value in enumerate(message.modalities):
        modality = _MODALITY.get(value)
        if modality is None:
            v.append(FieldViolation(f"{field}.modalities[{index}]", "unknown modality"))
        else:
            modalities.append(modality)
    if v:
        raise InvalidArgument(v)
    assert profession is not None
    return ProfileContent(
        display_name=message.display_name,
        profession=profession,
        specialties=tuple(message.specialties),
        approaches=tuple(message.approaches),
        populations=tuple(message.populations),
        languages=tuple(message.languages),
        modalities=tuple(modalities),
        fees=FeeRange(message.fees.min_minor, message.fees.max_minor, message.fees.sliding_scale),
        accepts_self_pay=message.accepts_self_pay,
        accepts_plans=message.accepts_plans,
        bio=message.bio,
        time_zone=message.time_zone,
    )


def update_profile(request: pb.UpdateMyProfileRequest) -> UpdateProfile:
    if not request.HasField("content"):
        raise InvalidArgument.field("content", "required")
    return UpdateProfile(profile_content(request.content))


def approve_profile(request: pb.ApproveProfileRequest) -> ApproveProfile:
    v: list[FieldViolation] = []
    clinician_id = _uuid(request.clinician_id, "clinician_id", v)
    if request.draft_version <= 0:
        v.append(FieldViolation("draft_version", "the reviewed draft version is required"))
    if v:
        raise InvalidArgument(v)
    assert clinician_id is not None
    return ApproveProfile(clinician_id, request.draft_version)


def clinician_id(request: pb.GetClinicianProfileRequest) -> str:
    v: list[FieldViolation] = []
    parsed = _uuid(request.clinician_id, "clinician_id", v)
    if v:
        raise InvalidArgument(v)
    assert parsed is not None
    return parsed


def search_criteria(
    request: pb.SearchCliniciansRequest, *, practice_id: str, now: datetime
) -> SearchCriteria:
    v: list[FieldViolation] = []
    client_id = _uuid(request.client_id, "client_id", v) if request.client_id else None
    state = jurisdiction_code(request.client_state) if request.client_state else None
    if state is None:
        v.append(
            FieldViolation("client_state", "required: where the client will be at session time (LIC-01)")
        )
    if not is_time_zone(request.client_time_zone):
        v.append(FieldViolation("client_time_zone", "required IANA time zone"))
    care_kind = CareKind.COACHING if request.care_kind == pb.CARE_KIND_COACHING else CareKind.THERAPY
    if request.care_kind not in (pb.CARE_KIND_UNSPECIFIED, pb.CARE_KIND_THERAPY, pb.CARE_KIND_COACHING):
        v.append(FieldViolation("care_kind", "unknown care kind"))
    modality = (
        Modality.VIDEO if request.modality == pb.MODALITY_UNSPECIFIED else _MODALITY.get(request.modality)
    )
    if modality is None:
        v.append(FieldViolation("modality", "unknown modality"))
    if len(request.specialties) > 12:
        v.append(FieldViolation("specialties", "at most 12 needs"))
    language = None
    if request.language:
        language = canonical_language(request.language)
        if language is None:
            v.append(FieldViolation("language", "not a BCP 47 language tag"))
    if request.max_fee_minor < 0:
        v.append(FieldViolation("max_fee_minor", "cannot be negative"))
    earliest = now
    if request.HasField("earliest_start"):
        earliest = max(now, datetime_of(request.earliest_start))
        if earliest - now > _MAX_LOOKAHEAD:
            v.append(FieldViolation("earliest_start", "at most 93 days ahead"))
    if not 0 <= request.max_time_zone_difference_hours <= 26:
        v.append(FieldViolation("max_time_zone_difference_hours", "0 (any) to 26 hours"))
    query = request.query.strip()
    if len(query) > MAX_QUERY:
        v.append(FieldViolation("query", f"at most {MAX_QUERY} characters"))
    if request.page.page_size < 0:
        v.append(FieldViolation("page.page_size", "cannot be negative"))
    if v:
        raise InvalidArgument(v)
    assert state is not None
    assert modality is not None
    return SearchCriteria(
        practice_id=practice_id,
        client_id=client_id,
        client_state=state,
        client_time_zone=request.client_time_zone,
        care_kind=care_kind,
        modality=modality,
        specialties=tuple(dict.fromkeys(request.specialties)),
        language=language,
        max_fee_minor=request.max_fee_minor or None,
        earliest_start=earliest.replace(microsecond=0),
        max_time_zone_difference_hours=request.max_time_zone_difference_hours or None,
        query=query or None,
        page_size=min(request.page.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        requested_start=(
            datetime_of(request.earliest_start).replace(microsecond=0)
            if request.HasField("earliest_start")
            else None
        ),
    )


def content_pb(content: ProfileContent) -> pb.ProfileContent:
    return pb.ProfileContent(
        display_name=content.display_name,
        profession=_PROFESSION_PB[content.profession],
        specialties=content.specialties,
        approaches=content.approaches,
        populations=content.populations,
        languages=content.languages,
        modalities=[_MODALITY_PB[m] for m in content.modalities],
        fees=pb.FeeRange(
            min_minor=content.fees.min_minor,
            max_minor=content.fees.max_minor,
            sliding_scale=content.fees.sliding_scale,
        ),
        accepts_self_pay=content.accepts_self_pay,
        accepts_plans=content.accepts_plans,
        bio=content.bio,
        time_zone=content.time_zone,
    )


def listed_pb(listed: ListedProfile) -> pb.ClinicianProfile:
    content = listed.listing.content
    return pb.ClinicianProfile(
        clinician_id=listed.clinician_id,
        content=content_pb(content),
        profession_label=content.profession.label,
        authorized_jurisdictions=[jurisdiction_value(j) for j in listed.authorized_jurisdictions]
        if not content.is_coach
        else [],
        approved_at=timestamp(listed.listing.approved_at),
        version=listed.listing.version,
    )


def my_profile_pb(profile: Profile, listed: ListedProfile | None) -> pb.MyProfile:
    message = pb.MyProfile(
        clinician_id=profile.clinician_id,
        draft=content_pb(profile.draft),
        draft_version=profile.draft_version,
        status=_STATUS_PB[profile.status],
    )
    if listed is not None:
        message.listed.CopyFrom(listed_pb(listed))
    return message


def result_pb(result: Result) -> pb.SearchResult:
    message = pb.SearchResult(
        profile=listed_pb(result.profile),
        explanation=pb.Explanation(
            reasons=result.reasons,
            authority=result.candidate.authority.value if result.candidate.authority else "",
            current_clinician=result.current_clinician,
            matched_specialties=result.matched_specialties,
        ),
    )
    if result.next_slot is not None:
        message.next_slot_start.CopyFrom(timestamp(result.next_slot.start))
        message.next_slot_client_local = result.next_slot.client_local_start
    return message


def search_response(page: SearchPage) -> pb.SearchCliniciansResponse:
    return pb.SearchCliniciansResponse(
        results=[result_pb(r) for r in page.results],
        page=paging_pb2.PageResponse(next_page_token=page.next_page_token),
        reference_data_version=page.reference_data_version,
        availability_known=page.availability_known,
    )


def vocabulary_pb(vocabulary: Vocabulary) -> pb.ListVocabularyResponse:
    def terms(items: Mapping[str, str]) -> list[pb.VocabularyTerm]:
        return [pb.VocabularyTerm(code=code, label=label) for code, label in items.items()]

    return pb.ListVocabularyResponse(
        version=vocabulary.version,
        specialties=terms(vocabulary.specialties),
        approaches=terms(vocabulary.approaches),
        populations=terms(vocabulary.populations),
    )

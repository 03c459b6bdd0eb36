"""Search over real gRPC, Kafka and PostgreSQL with the real compliance service deciding who may treat."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date

import grpc
import pytest

from confide.directory.v1 import directory_pb2 as pb
from confide.scheduling.v1 import events_pb2 as scheduling_events
from confide_compliance.domain.credentials import CredentialStatus, Profession
from confide_compliance.testing import apit, e_passport, license_
from confide_scheduling.testing import care_team_assigned, eventually, produce

from .conftest import World, bad_fields, content, new_id, page_request, rule_ids, state

LATER = date(2029, 12, 31)


async def test_lic_03_a_clinician_licensed_only_in_ca_never_appears_for_a_client_in_nv(world: World) -> None:
    ca_only = new_id()
    await world.credentials(ca_only, [license_("ca", "CA", expires_on=LATER)], practice_jurisdiction="CA")
    await world.listed(content("Dr. California", time_zone="America/Los_Angeles"), ca_only)

    assert await world.found("NV") == []
    in_ca = await world.search("CA", client_time_zone="America/Los_Angeles")
    assert [r.profile.clinician_id for r in in_ca.results] == [ca_only]
    assert in_ca.results[0].explanation.reasons[0] == "licensed in CA"
    assert in_ca.results[0].explanation.authority == "state_license"


async def test_lic_11_apit_psychologists_appear_for_psypact_states_only(world: World) -> None:
    psypact = new_id()
    await world.credentials(
        psypact,
        [
            license_("co", "CO", expires_on=LATER),
            e_passport(issued_on=date(2025, 6, 1), expires_on=LATER),
            apit(issued_on=date(2025, 6, 1), expires_on=LATER),
        ],
        practice_jurisdiction="CO",
    )
    await world.listed(content("Dr. Compact"), psypact)

    in_tx = await world.search("TX", client_time_zone="America/Chicago")
    assert [r.profile.clinician_id for r in in_tx.results] == [psypact]
    assert "PSYPACT telepsychology" in in_tx.results[0].explanation.reasons
    assert in_tx.results[0].explanation.authority == "psypact_apit"
    assert await world.found("CA", client_time_zone="America/Los_Angeles") == []  # not a PSYPACT member
    in_co = await world.search("CO")
    assert in_co.results[0].explanation.reasons[0] == "licensed in CO"


async def test_a_suspended_license_removes_the_clinician_after_the_event(world: World) -> None:
    clinician = new_id()
    await world.credentials(clinician, [license_("az", "AZ", expires_on=LATER)], practice_jurisdiction="AZ")
    await world.listed(content("Dr. Arizona", time_zone="America/Phoenix"), clinician)
    assert await world.found("AZ", client_time_zone="America/Phoenix") == [clinician]

    async def coverage() -> list[int]:
        reply = await world.stack.search.GetClinicianProfile(
            pb.GetClinicianProfileRequest(clinician_id=clinician), metadata=world.client
        )
        return list(reply.profile.authorized_jurisdictions)

    # compliance's AuthorizationChanged reached the directory's projection
    await eventually(lambda: _contains(coverage(), state("AZ")), wait_seconds=30)

    await world.credentials(
        clinician,
        [
            license_(
                "az", "AZ", expires_on=LATER, status=CredentialStatus.SUSPENDED, status_since=date(2026, 1, 1)
            )
        ],
        practice_jurisdiction="AZ",
    )
    await eventually(lambda: _lacks(coverage(), state("AZ")), wait_seconds=30)
    assert await world.found("AZ", client_time_zone="America/Phoenix") == []


async def _contains(values: Awaitable[list[int]], wanted: int) -> bool:
    return wanted in await values


async def _lacks(values: Awaitable[list[int]], unwanted: int) -> bool:
    return unwanted not in await values


async def test_lic_81_coaches_never_in_therapy_results_and_only_when_coaching_is_asked(world: World) -> None:
    therapist = new_id()
    await world.credentials(therapist, [license_("co", "CO", expires_on=LATER)], practice_jurisdiction="CO")
    await world.listed(content("Dr. Therapist", specialties=["career"]), therapist)
    coach = await world.listed(
        content(
            "Casey Coach",
            profession=pb.PROFESSION_COACH,
            specialties=["career"],
            approaches=["goal_coaching"],
        )
    )

    assert await world.found("CO", specialties=["career"]) == [therapist]
    coaching = await world.search("CO", care_kind=pb.CARE_KIND_COACHING, specialties=["career"])
    assert [r.profile.clinician_id for r in coaching.results] == [coach]
    assert coaching.results[0].profile.profession_label == "Coach — not therapy"
    assert "coaching — not therapy" in coaching.results[0].explanation.reasons


async def test_safe_20_a_client_whose_screening_flagged_risk_is_never_offered_coaching(world: World) -> None:
    await world.listed(content("Riley Coach", profession=pb.PROFESSION_COACH, approaches=["goal_coaching"]))
    assert len((await world.search("CO", care_kind=pb.CARE_KIND_COACHING)).results) == 1
    flag = scheduling_events.RiskFlagged(
        client_id=world.client_id, practice_id=world.practice_id, risk_flag_id=new_id(), screening_id=new_id()
    )
    await produce(world.stack.producer, flag, source="//confide/scheduling")

    async def refused() -> bool:
        try:
            await world.search("CO", care_kind=pb.CARE_KIND_COACHING)
        except grpc.aio.AioRpcError as error:
            return error.code() is grpc.StatusCode.FAILED_PRECONDITION and "SAFE-20" in rule_ids(error)
        return False

    await eventually(refused, wait_seconds=30)


async def test_the_current_clinician_comes_first(world: World) -> None:
    ids = []
    for n in range(4):
        clinician = new_id()
        await world.credentials(
            clinician, [license_("co", "CO", expires_on=LATER)], practice_jurisdiction="CO"
        )
        ids.append(await world.listed(content(f"Dr. Number {n}"), clinician))
    before = await world.found("CO")
    current = before[-1]
    await produce(world.stack.producer, care_team_assigned(world.client_id, world.practice_id, current))

    async def first() -> bool:
        reply = await world.search("CO")
        return (
            reply.results[0].profile.clinician_id == current
            and reply.results[0].explanation.current_clinician
        )

    await eventually(first, wait_seconds=30)
    assert sorted(before) == sorted(ids)


async def test_paging_is_stable_under_inserts(world: World) -> None:
    original = []
    for n in range(11):
        clinician = new_id()
        await world.credentials(
            clinician, [license_("co", "CO", expires_on=LATER)], practice_jurisdiction="CO"
        )
        original.append(await world.listed(content(f"Dr. Page {n}"), clinician))
    first = await world.search("CO", page=page_request(size=4))
    assert len(first.results) == 4
    assert first.page.next_page_token

    newcomers = []
    for n in range(5):
        clinician = new_id()
        await world.credentials(
            clinician, [license_("co", "CO", expires_on=LATER)], practice_jurisdiction="CO"
        )
        newcomers.append(await world.listed(content(f"Dr. New {n}"), clinician))

    seen = [r.profile.clinician_id for r in first.results]
    token = first.page.next_page_token
    while token:
        page = await world.search("CO", page=page_request(token, 4))
        seen.extend(r.profile.clinician_id for r in page.results)
        token = page.page.next_page_token
    assert len(seen) == len(set(seen)), "a clinician was shown twice"
    assert set(original) <= set(seen), "a clinician was skipped"
    assert set(seen) <= set(original) | set(newcomers)


async def test_filters_language_fee_query_and_time_zone(world: World) -> None:
    spanish, pricey, far = new_id(), new_id(), new_id()
    for clinician in (spanish, pricey, far):
        await world.credentials(
            clinician, [license_("co", "CO", expires_on=LATER)], practice_jurisdiction="CO"
        )
    await world.listed(
        content(
            "Dra. Lucía Fernández", languages=["es", "en"], bio="Terapia para la ansiedad. Grief work too."
        ),
        spanish,
    )
    await world.listed(content("Dr. Expensive", fees=pb.FeeRange(min_minor=30000, max_minor=40000)), pricey)
    await world.listed(content("Dr. Faraway", time_zone="Pacific/Honolulu"), far)

    assert await world.found("CO", language="es") == [spanish]
    assert pricey not in await world.found("CO", max_fee_minor=20000)
    assert far not in await world.found("CO", max_time_zone_difference_hours=2)
    assert await world.found("CO", query="Fernandez") == [spanish]  # trigram: accents and typos
    assert await world.found("CO", query="grief") == [spanish]  # full text over the bio


async def test_bad_filters_are_invalid_argument_naming_the_field(world: World) -> None:
    cases = [
        (pb.SearchCliniciansRequest(client_time_zone="America/Denver"), "client_state"),
        (
            pb.SearchCliniciansRequest(client_state=state("CO"), client_time_zone="Mars/Base"),
            "client_time_zone",
        ),
        (
            pb.SearchCliniciansRequest(
                client_state=state("CO"), client_time_zone="UTC", specialties=["astrology"]
            ),
            "specialties[0]",
        ),
        (
            pb.SearchCliniciansRequest(client_state=state("CO"), client_time_zone="UTC", language="klingon!"),
            "language",
        ),
        (
            pb.SearchCliniciansRequest(client_state=state("CO"), client_time_zone="UTC", max_fee_minor=-1),
            "max_fee_minor",
        ),
        (
            pb.SearchCliniciansRequest(
                client_state=state("CO"), client_time_zone="UTC", page=page_request("garbage")
            ),
            "page.page_token",
        ),
    ]
    for request, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await world.stack.search.SearchClinicians(request, metadata=world.client)
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in bad_fields(error.value)


async def test_a_page_token_is_refused_with_other_filters(world: World) -> None:
    for n in range(3):
        clinician = new_id()
        await world.credentials(
            clinician, [license_("co", "CO", expires_on=LATER)], practice_jurisdiction="CO"
        )
        await world.listed(content(f"Dr. Token {n}"), clinician)
    first = await world.search("CO", page=page_request(size=1))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await world.search("CO", language="es", page=page_request(first.page.next_page_token, 1))
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert bad_fields(error.value) == ["page.page_token"]


async def test_a_client_searches_for_themselves_only(world: World) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await world.search("CO", client_id=new_id())
    assert error.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_profession_filter_by_compliance_is_not_typed_by_the_clinician(world: World) -> None:
    counselor = new_id()
    await world.credentials(
        counselor,
        [license_("az", "AZ", Profession.PROFESSIONAL_COUNSELOR, expires_on=LATER)],
        practice_jurisdiction="AZ",
        profession=Profession.PROFESSIONAL_COUNSELOR,
    )
    # the clinician claims coverage nowhere; compliance decides where they appear
    await world.listed(content("Pat Counselor", profession=pb.PROFESSION_PROFESSIONAL_COUNSELOR), counselor)
    assert await world.found("AZ", client_time_zone="America/Phoenix") == [counselor]
    assert await world.found("CO") == []

"""The demo seed works end to end with compliance's demo credentials; the directory fails closed."""

from __future__ import annotations

import grpc
import pytest

from confide.directory.v1 import directory_pb2 as pb
from confide.directory.v1 import directory_pb2_grpc as pb_grpc
from confide_compliance import demo as compliance_demo
from confide_compliance.testing import app_context
from confide_directory import demo
from confide_directory.testing import start_directory

from .conftest import TOKENS, Stack, state

SAM_TX = "01930000-0000-7000-8000-0000000000e2"
ALEX_CA = "01930000-0000-7000-8000-0000000000e1"


async def search_as(stack: Stack, client_id: str, where: str, zone: str, **fields: object) -> list[str]:
    reply = await stack.search.SearchClinicians(
        pb.SearchCliniciansRequest(client_state=state(where), client_time_zone=zone, **fields),  # type: ignore[arg-type]
        metadata=TOKENS.metadata(client_id, demo.DEMO_PRACTICE_ID, "client", mfa=False),
    )
    return [r.profile.content.display_name for r in reply.results]


async def test_demo_seed_makes_search_work_end_to_end(stack: Stack) -> None:
    await compliance_demo.seed_demo(app_context(stack.compliance))
    first = await demo.seed_demo_database(stack.directory_url)
    again = await demo.seed_demo_database(stack.directory_url)  # idempotent
    assert first == again
    assert await search_as(stack, SAM_TX, "TX", "America/Chicago") == ["Dr. Wei Chen"]  # PSYPACT APIT
    assert await search_as(stack, ALEX_CA, "CA", "America/Los_Angeles") == ["Dr. Ana Rivera, LCSW"]
    # MN: the counselor's Counseling Compact privilege, and the psychologist's PSYPACT APIT (MN is a member)
    assert sorted(await search_as(stack, ALEX_CA, "MN", "America/Chicago")) == [
        "Dr. Wei Chen",
        "Priya Patel, LPC",
    ]
    assert await search_as(stack, SAM_TX, "NY", "America/New_York") == []  # no license, not PSYPACT
    coaching = await search_as(stack, SAM_TX, "NY", "America/New_York", care_kind=pb.CARE_KIND_COACHING)
    assert coaching == ["Jordan Lee"]


async def test_search_fails_closed_when_compliance_does_not_answer(stack: Stack) -> None:
    blind = await start_directory(
        stack.directory_url,
        stack.bootstrap,
        verifier=TOKENS.verifier,
        migrate_first=False,
        compliance_target="127.0.0.1:9",  # nothing listens
        compliance_deadline_seconds=0.5,
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{blind.port}")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await pb_grpc.DirectoryServiceStub(channel).SearchClinicians(
                pb.SearchCliniciansRequest(client_state=state("CO"), client_time_zone="America/Denver"),
                metadata=TOKENS.metadata(ALEX_CA, demo.DEMO_PRACTICE_ID, "client", mfa=False),
            )
        assert error.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        await channel.close()
        await blind.stop(grace=0)


async def test_the_vocabulary_is_public(stack: Stack) -> None:
    reply = await stack.search.ListVocabulary(pb.ListVocabularyRequest())
    assert reply.version
    assert "anxiety" in {t.code for t in reply.specialties}


async def test_search_needs_a_signed_in_caller(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stack.search.SearchClinicians(
            pb.SearchCliniciansRequest(client_state=state("CO"), client_time_zone="America/Denver")
        )
    assert error.value.code() is grpc.StatusCode.UNAUTHENTICATED

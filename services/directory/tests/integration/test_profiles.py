"""Profiles: a clinician edits only their own, a practice admin (MFA) approves before anything is listed,
and a change after approval is listed only once approved again."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from confide.directory.v1 import directory_pb2 as pb
from confide.identity.v1 import events_pb2 as identity_events
from confide_scheduling.testing import eventually, produce, ts

from .conftest import TOKENS, World, bad_fields, content, new_id, rule_ids


async def update(world: World, clinician_id: str, profile: pb.ProfileContent) -> pb.MyProfile:
    reply = await world.stack.profiles.UpdateMyProfile(
        pb.UpdateMyProfileRequest(content=profile, idempotency_key=new_id()),
        metadata=world.clinician(clinician_id),
    )
    return reply.profile


async def approve(world: World, clinician_id: str, version: int) -> pb.MyProfile:
    reply = await world.stack.profiles.ApproveProfile(
        pb.ApproveProfileRequest(clinician_id=clinician_id, draft_version=version, idempotency_key=new_id()),
        metadata=world.admin,
    )
    return reply.profile


async def public(world: World, clinician_id: str) -> pb.ClinicianProfile:
    reply = await world.stack.search.GetClinicianProfile(
        pb.GetClinicianProfileRequest(clinician_id=clinician_id), metadata=world.client
    )
    return reply.profile


async def test_nothing_is_listed_before_a_practice_admin_approves(world: World) -> None:
    clinician = new_id()
    draft = await update(world, clinician, content("Dr. Draft"))
    assert draft.status == pb.PROFILE_STATUS_PENDING_REVIEW
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await public(world, clinician)
    assert hidden.value.code() is grpc.StatusCode.NOT_FOUND
    pending = await world.stack.profiles.ListPendingProfiles(
        pb.ListPendingProfilesRequest(), metadata=world.admin
    )
    assert [p.clinician_id for p in pending.profiles] == [clinician]

    approved = await approve(world, clinician, draft.draft_version)
    assert approved.status == pb.PROFILE_STATUS_APPROVED
    shown = await public(world, clinician)
    assert shown.content.display_name == "Dr. Draft"
    assert shown.profession_label == "Psychologist"


async def test_dir_01_a_change_after_approval_needs_approval_again(world: World) -> None:
    clinician = new_id()
    first = await update(world, clinician, content("Dr. Before", bio="Original text."))
    await approve(world, clinician, first.draft_version)
    changed = await update(world, clinician, content("Dr. Before", bio="Changed text."))
    assert changed.status == pb.PROFILE_STATUS_PENDING_REVIEW
    assert (await public(world, clinician)).content.bio == "Original text."  # the approved text stays

    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await approve(world, clinician, first.draft_version)
    assert stale.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert rule_ids(stale.value) == ["DIR-01"]
    await approve(world, clinician, changed.draft_version)
    assert (await public(world, clinician)).content.bio == "Changed text."


async def test_approval_needs_a_practice_admin_with_mfa(world: World) -> None:
    clinician = new_id()
    draft = await update(world, clinician, content("Dr. Self"))
    request = pb.ApproveProfileRequest(
        clinician_id=clinician, draft_version=draft.draft_version, idempotency_key=new_id()
    )
    for metadata in (
        world.clinician(clinician),  # not their own approval
        TOKENS.metadata(world.admin_id, world.practice_id, "practice_admin", mfa=False),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await world.stack.profiles.ApproveProfile(request, metadata=metadata)
        assert error.value.code() is grpc.StatusCode.PERMISSION_DENIED
    other_practice_admin = TOKENS.metadata(new_id(), new_id(), "practice_admin")
    with pytest.raises(grpc.aio.AioRpcError) as elsewhere:
        await world.stack.profiles.ApproveProfile(request, metadata=other_practice_admin)
    assert elsewhere.value.code() is grpc.StatusCode.NOT_FOUND


async def test_only_clinicians_edit_and_only_their_own_profile(world: World) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as client:
        await world.stack.profiles.UpdateMyProfile(
            pb.UpdateMyProfileRequest(content=content("Not Me"), idempotency_key=new_id()),
            metadata=world.client,
        )
    assert client.value.code() is grpc.StatusCode.PERMISSION_DENIED
    # there is no clinician id in the request: the caller's own profile is the only one they can write
    mine = await update(world, clinician := new_id(), content("Dr. Mine"))
    assert mine.clinician_id == clinician


async def test_unknown_vocabulary_and_bad_languages_are_invalid_argument(world: World) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await update(
            world, new_id(), content("Dr. Odd", specialties=["anxiety", "astrology"], languages=["english"])
        )
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_fields(error.value)) == {"content.specialties[1]", "content.languages[0]"}


async def test_a_retry_with_the_same_key_replays_the_answer(world: World) -> None:
    clinician = new_id()
    request = pb.UpdateMyProfileRequest(content=content("Dr. Retry"), idempotency_key=new_id())
    first = await world.stack.profiles.UpdateMyProfile(request, metadata=world.clinician(clinician))
    again = await world.stack.profiles.UpdateMyProfile(request, metadata=world.clinician(clinician))
    assert again == first
    assert first.profile.draft_version == 1


async def test_a_deactivated_clinician_is_unlisted(world: World) -> None:
    clinician = new_id()
    draft = await update(world, clinician, content("Dr. Leaving"))
    await approve(world, clinician, draft.draft_version)
    await produce(
        world.stack.producer,
        identity_events.UserDeactivated(
            user_id=clinician,
            practice_id=world.practice_id,
            deactivated_by=world.admin_id,
            occurred_at=ts(datetime.now(UTC)),
        ),
    )

    async def gone() -> bool:
        try:
            await public(world, clinician)
        except grpc.aio.AioRpcError as error:
            return error.code() is grpc.StatusCode.NOT_FOUND
        return False

    await eventually(gone, wait_seconds=30)

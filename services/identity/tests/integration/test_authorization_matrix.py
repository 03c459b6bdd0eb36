"""Authorization matrix: role x RPC x (same practice | other practice) -> allow / deny, table-driven.

Every caller holds one role and a session that passed MFA. The target of each call is another person: a
client whose care team includes the calling clinician (so CARE_TEAM grants show), or fresh users created for
calls that change state. Across practices every call with a target is denied (NOT_FOUND or
PERMISSION_DENIED): cross-practice access is impossible through any RPC. Self-service (own profile, own
consent) and SEC-03 (staff without MFA) have their own tests below.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from confide.common.v1 import jurisdiction_pb2, time_pb2
from confide.identity.v1 import identity_pb2
from confide_identity.app import commands
from confide_identity.app.models import Practice, User
from confide_identity.domain.consent import Modality, current_consent_document
from confide_identity.domain.profile import ClientProfileInput
from confide_identity.domain.roles import Role

from .conftest import Harness

pytestmark = pytest.mark.integration

DENIED = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED}
ROLES = (Role.CLIENT, Role.CLINICIAN, Role.PRACTICE_ADMIN, Role.COMPLIANCE_OFFICER, Role.PLATFORM_OPERATOR)
C, N, A, CO, P = ROLES
_versions = itertools.count(10)


@dataclass
class Tenant:
    practice: Practice
    admin: User
    callers: dict[Role, User]
    client: User
    """A client with a profile, the tenant's clinician caller on its care team, and a signed consent."""


@dataclass
class World:
    h: Harness
    home: Tenant
    other: Tenant


async def tenant(h: Harness) -> Tenant:
    practice, admin = await h.new_practice()
    callers = {
        role: await h.add_user(
            practice.practice_id, [role], totp=role is not Role.CLIENT, display_name="Caller"
        )
        for role in ROLES
    }
    client = await h.add_user(practice.practice_id, [Role.CLIENT], display_name=None)
    admin_caller = h.caller(admin)
    await h.uc.profiles.update(
        admin_caller,
        commands.UpdateClientProfile(
            client.user_id,
            ClientProfileInput(
                legal_name="Robin Example",
                preferred_name=None,
                date_of_birth="1990-01-02",
                home_state="CA",
                time_zone="America/Los_Angeles",
                emergency_contact_name="Kim Example",
                emergency_contact_phone="+14155550100",
                payer_type="self_pay",
            ),
            frozenset(),
        ),
    )
    await h.uc.care_teams.assign(
        admin_caller, commands.AssignClinician(client.user_id, callers[Role.CLINICIAN].user_id)
    )
    await h.uc.consents.publish(
        admin_caller,
        commands.PublishConsentDocument(
            version=1,
            effective_at=None,
            modalities=tuple(m.value for m in Modality),
            jurisdictions=("CA", "TX"),
            title="Consent",
            content="Telehealth consent text.",
        ),
    )
    return Tenant(practice=practice, admin=admin, callers=callers, client=client)


@pytest.fixture(scope="module")
async def world(identity: Harness) -> World:
    return World(identity, await tenant(identity), await tenant(identity))


# A case builds its request against a target tenant (the caller's own, or the other one) and sends it.
Send = Callable[[World, Tenant, Any], Awaitable[Message]]


@dataclass(frozen=True)
class Case:
    rpc: str
    send: Send
    allowed: frozenset[Role]
    cross_practice: bool = True
    """False for RPCs that only ever act in the caller's own practice (nothing to point elsewhere)."""

    def __str__(self) -> str:
        return self.rpc


def ts_now() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return stamp


async def _fresh(w: World, t: Tenant, roles: list[Role], **kwargs: Any) -> User:
    return await w.h.add_user(t.practice.practice_id, roles, **kwargs)


async def get_user(w: World, t: Tenant, md: Any) -> Message:
    return await w.h.users.GetUser(identity_pb2.GetUserRequest(user_id=str(t.client.user_id)), metadata=md)


async def list_users(w: World, t: Tenant, md: Any) -> Message:
    return await w.h.users.ListUsers(identity_pb2.ListUsersRequest(), metadata=md)


async def create_user(w: World, t: Tenant, md: Any) -> Message:
    request = identity_pb2.CreateUserRequest(
        email=f"c-{uuid.uuid4().hex[:10]}@example.test", roles=[identity_pb2.ROLE_CLIENT]
    )
    return await w.h.users.CreateUser(request, metadata=md)


async def deactivate_user(w: World, t: Tenant, md: Any) -> Message:
    target = await _fresh(w, t, [Role.CLIENT])
    return await w.h.users.DeactivateUser(
        identity_pb2.DeactivateUserRequest(user_id=str(target.user_id)), metadata=md
    )


async def change_roles(w: World, t: Tenant, md: Any) -> Message:
    target = await _fresh(w, t, [Role.CLINICIAN])
    request = identity_pb2.ChangeUserRolesRequest(
        user_id=str(target.user_id), roles=[identity_pb2.ROLE_CLINICIAN, identity_pb2.ROLE_COMPLIANCE_OFFICER]
    )
    return await w.h.users.ChangeUserRoles(request, metadata=md)


async def reset_mfa(w: World, t: Tenant, md: Any) -> Message:
    target = await _fresh(w, t, [Role.CLINICIAN], totp=True)
    return await w.h.users.ResetUserMfa(
        identity_pb2.ResetUserMfaRequest(user_id=str(target.user_id)), metadata=md
    )


async def sign_out_everywhere(w: World, t: Tenant, md: Any) -> Message:
    request = identity_pb2.SignOutEverywhereRequest(user_id=str(t.client.user_id))
    return await w.h.auth.SignOutEverywhere(request, metadata=md)


async def get_practice(w: World, t: Tenant, md: Any) -> Message:
    return await w.h.practices.GetPractice(identity_pb2.GetPracticeRequest(), metadata=md)


async def update_settings(w: World, t: Tenant, md: Any) -> Message:
    settings = identity_pb2.PracticeSettings(
        idle_timeout_seconds=1800, absolute_session_lifetime_seconds=43200, client_sign_up_enabled=True
    )
    return await w.h.practices.UpdatePracticeSettings(
        identity_pb2.UpdatePracticeSettingsRequest(settings=settings), metadata=md
    )


async def create_practice(w: World, t: Tenant, md: Any) -> Message:
    slug = f"m-{uuid.uuid4().hex[:12]}"
    request = identity_pb2.CreatePracticeRequest(
        display_name="Matrix Practice",
        slug=slug,
        admin_email=f"a@{slug}.test",
        admin_display_name="Matrix Admin",
    )
    return await w.h.practices.CreatePractice(request, metadata=md)


async def rotate_key(w: World, t: Tenant, md: Any) -> Message:
    return await w.h.auth.RotateSigningKey(identity_pb2.RotateSigningKeyRequest(), metadata=md)


async def begin_mfa(w: World, t: Tenant, md: Any) -> Message:
    return await w.h.auth.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(), metadata=md)


async def get_profile(w: World, t: Tenant, md: Any) -> Message:
    request = identity_pb2.GetClientProfileRequest(client_id=str(t.client.user_id))
    return await w.h.profiles.GetClientProfile(request, metadata=md)


async def update_profile(w: World, t: Tenant, md: Any) -> Message:
    request = identity_pb2.UpdateClientProfileRequest(
        client_id=str(t.client.user_id),
        profile=identity_pb2.ClientProfile(time_zone="America/Denver"),
        update_mask=FieldMask(paths=["time_zone"]),
    )
    return await w.h.profiles.UpdateClientProfile(request, metadata=md)


async def publish_consent(w: World, t: Tenant, md: Any) -> Message:
    document = identity_pb2.ConsentDocument(
        version=next(_versions),
        effective_time=ts_now(),
        modalities=[identity_pb2.MODALITY_VIDEO],
        jurisdictions=[jurisdiction_pb2.JURISDICTION_CA, jurisdiction_pb2.JURISDICTION_TX],
        title="Consent",
        content="Text",
    )
    # effective_time must not be in the past: give it a second of slack
    document.effective_time.seconds += 1
    return await w.h.consents.PublishConsentDocument(
        identity_pb2.PublishConsentDocumentRequest(document=document), metadata=md
    )


async def current_consent(w: World, t: Tenant, md: Any) -> Message:
    return await w.h.consents.GetCurrentConsentDocument(
        identity_pb2.GetCurrentConsentDocumentRequest(), metadata=md
    )


async def sign_consent(w: World, t: Tenant, md: Any) -> Message:
    async with w.h.app.uow() as uow:
        documents = await uow.consent_documents.for_practice(t.practice.practice_id)
    current = current_consent_document(
        [d.document for d in documents], practice_id=t.practice.practice_id, now=w.h.clock()
    )
    assert current is not None
    request = identity_pb2.SignConsentRequest(
        client_id=str(t.client.user_id),
        document_id=str(current.document_id),
        document_version=current.version,
        jurisdiction=jurisdiction_pb2.JURISDICTION_CA,
        signer_role=identity_pb2.SIGNER_ROLE_CLIENT,
        method=identity_pb2.SIGNATURE_METHOD_VERBAL_DOCUMENTED_BY_CLINICIAN,
    )
    return await w.h.consents.SignConsent(request, metadata=md)


async def consent_status(w: World, t: Tenant, md: Any) -> Message:
    request = identity_pb2.GetConsentStatusRequest(client_id=str(t.client.user_id))
    return await w.h.consents.GetConsentStatus(request, metadata=md)


async def assign(w: World, t: Tenant, md: Any) -> Message:
    client = await _fresh(w, t, [Role.CLIENT])
    clinician = await _fresh(w, t, [Role.CLINICIAN])
    request = identity_pb2.AssignClinicianRequest(
        client_id=str(client.user_id), clinician_id=str(clinician.user_id)
    )
    return await w.h.care_teams.AssignClinician(request, metadata=md)


async def remove(w: World, t: Tenant, md: Any) -> Message:
    client = await _fresh(w, t, [Role.CLIENT])
    clinician = await _fresh(w, t, [Role.CLINICIAN])
    entry = await w.h.uc.care_teams.assign(
        w.h.caller(t.admin), commands.AssignClinician(client.user_id, clinician.user_id)
    )
    request = identity_pb2.RemoveClinicianRequest(link_id=str(entry.link.link_id))
    return await w.h.care_teams.RemoveClinician(request, metadata=md)


async def list_team(w: World, t: Tenant, md: Any) -> Message:
    request = identity_pb2.ListCareTeamRequest(client_id=str(t.client.user_id))
    return await w.h.care_teams.ListCareTeam(request, metadata=md)


def roles(*items: Role) -> frozenset[Role]:
    return frozenset(items)


EVERYONE = frozenset(ROLES)
CASES = [
    Case("UserService.GetUser", get_user, roles(N, A, CO)),
    Case("UserService.ListUsers", list_users, roles(A, CO), cross_practice=False),
    Case("UserService.CreateUser", create_user, roles(A), cross_practice=False),
    Case("UserService.DeactivateUser", deactivate_user, roles(A)),
    Case("UserService.ChangeUserRoles", change_roles, roles(A)),
    Case("UserService.ResetUserMfa", reset_mfa, roles(A)),
    Case("AuthService.SignOutEverywhere(other user)", sign_out_everywhere, roles(A)),
    Case("AuthService.BeginMfaEnrolment(self)", begin_mfa, EVERYONE, cross_practice=False),
    Case("AuthService.RotateSigningKey", rotate_key, roles(P), cross_practice=False),
    Case("PracticeService.CreatePractice", create_practice, roles(P), cross_practice=False),
    Case("PracticeService.GetPractice", get_practice, EVERYONE, cross_practice=False),
    Case("PracticeService.UpdatePracticeSettings", update_settings, roles(A), cross_practice=False),
    Case("ClientProfileService.GetClientProfile", get_profile, roles(N, A)),
    Case("ClientProfileService.UpdateClientProfile", update_profile, roles(A)),
    Case("ConsentService.PublishConsentDocument", publish_consent, roles(A), cross_practice=False),
    Case("ConsentService.GetCurrentConsentDocument", current_consent, EVERYONE, cross_practice=False),
    Case("ConsentService.SignConsent(verbal)", sign_consent, roles(N)),
    Case("ConsentService.GetConsentStatus", consent_status, roles(N, A, CO)),
    Case("CareTeamService.AssignClinician", assign, roles(A)),
    Case("CareTeamService.RemoveClinician", remove, roles(A)),
    Case("CareTeamService.ListCareTeam", list_team, roles(N, A, CO)),
]


async def outcome(w: World, case: Case, role: Role, target: Tenant) -> str:
    caller = w.home.callers[role]
    try:
        await case.send(w, target, w.h.auth_md(caller))
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            return f"BUG ({error.code().name})"
        return "deny" if error.code() in DENIED else f"allow ({error.code().name})"
    return "allow"


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_authorization_matrix(world: World, case: Case) -> None:
    mismatches = []
    for role in ROLES:
        same = await outcome(world, case, role, world.home)
        expected = "allow" if role in case.allowed else "deny"
        if same.split(" ")[0] != expected:
            mismatches.append(f"{role} same practice: {same}, expected {expected}")
        if case.cross_practice:
            other = await outcome(world, case, role, world.other)
            if other != "deny":
                mismatches.append(f"{role} other practice: {other}, expected deny")
    assert not mismatches, f"{case}: " + "; ".join(mismatches)


async def test_self_service_clients_read_and_change_only_their_own_records(world: World) -> None:
    h, home = world.h, world.home
    me = home.client
    md = h.auth_md(me, mfa=False)
    await h.profiles.UpdateClientProfile(
        identity_pb2.UpdateClientProfileRequest(
            client_id=str(me.user_id),
            profile=identity_pb2.ClientProfile(preferred_name="Robbie"),
            update_mask=FieldMask(paths=["preferred_name"]),
        ),
        metadata=md,
    )
    mine = await h.profiles.GetClientProfile(
        identity_pb2.GetClientProfileRequest(client_id=str(me.user_id)), metadata=md
    )
    assert mine.profile.preferred_name == "Robbie"
    assert mine.profile.date_of_birth == time_pb2.LocalDate(year=1990, month=1, day=2)
    await h.users.GetUser(identity_pb2.GetUserRequest(user_id=str(me.user_id)), metadata=md)
    team = await h.care_teams.ListCareTeam(
        identity_pb2.ListCareTeamRequest(client_id=str(me.user_id)), metadata=md
    )
    assert [m.clinician_id for m in team.members] == [str(home.callers[Role.CLINICIAN].user_id)]

    other_client = home.callers[Role.CLIENT]
    for call in (
        h.profiles.GetClientProfile(
            identity_pb2.GetClientProfileRequest(client_id=str(other_client.user_id)), metadata=md
        ),
        h.users.GetUser(identity_pb2.GetUserRequest(user_id=str(other_client.user_id)), metadata=md),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await call
        assert denied.value.code() in DENIED


async def test_clinicians_see_only_clients_on_their_care_team(world: World) -> None:
    h, home = world.h, world.home
    stranger = await h.add_user(home.practice.practice_id, [Role.CLIENT])
    md = h.auth_md(home.callers[Role.CLINICIAN])
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await h.users.GetUser(identity_pb2.GetUserRequest(user_id=str(stranger.user_id)), metadata=md)
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_sec_03_staff_sessions_without_mfa_are_denied(world: World) -> None:
    h, home = world.h, world.home
    for role in (Role.CLINICIAN, Role.PRACTICE_ADMIN, Role.COMPLIANCE_OFFICER):
        md = h.auth_md(home.callers[role], mfa=False)
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await h.care_teams.ListCareTeam(
                identity_pb2.ListCareTeamRequest(client_id=str(home.client.user_id)), metadata=md
            )
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED, role
        # ... but may still sign out (and enrol MFA).
        await h.auth.SignOutEverywhere(identity_pb2.SignOutEverywhereRequest(), metadata=md)


async def test_tokens_of_deactivated_users_stop_working_in_identity_at_once(world: World) -> None:
    h, home = world.h, world.home
    leaver = await h.add_user(home.practice.practice_id, [Role.CLIENT])
    md = h.auth_md(leaver, mfa=False)
    await h.users.GetUser(identity_pb2.GetUserRequest(user_id=str(leaver.user_id)), metadata=md)
    await h.uc.users.deactivate_user(h.caller(home.admin), commands.DeactivateUser(leaver.user_id))
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await h.users.GetUser(identity_pb2.GetUserRequest(user_id=str(leaver.user_id)), metadata=md)
    assert gone.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_idn_user_01_admin_rules(world: World) -> None:
    h = world.h
    practice, admin = await h.new_practice()
    md = h.auth_md(admin)
    with pytest.raises(grpc.aio.AioRpcError) as self_deactivation:
        await h.users.DeactivateUser(
            identity_pb2.DeactivateUserRequest(user_id=str(admin.user_id)), metadata=md
        )
    assert self_deactivation.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as last_admin:
        await h.users.ChangeUserRoles(
            identity_pb2.ChangeUserRolesRequest(
                user_id=str(admin.user_id), roles=[identity_pb2.ROLE_CLINICIAN]
            ),
            metadata=md,
        )
    assert last_admin.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as operator:
        await h.users.CreateUser(
            identity_pb2.CreateUserRequest(
                email="op@example.test", display_name="Op", roles=[identity_pb2.ROLE_PLATFORM_OPERATOR]
            ),
            metadata=md,
        )
    assert operator.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert practice.practice_id

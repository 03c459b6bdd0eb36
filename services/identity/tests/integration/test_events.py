"""Events land on Kafka exactly once, keyed by the aggregate id, with CloudEvents headers, and carry no
secrets or PHI; reads, changes and denied attempts produce audit events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

import grpc
import pytest
from google.protobuf.message import Message

from confide.audit.v1 import events_pb2 as audit_pb2
from confide.common.v1 import jurisdiction_pb2, time_pb2
from confide.identity.v1 import events_pb2, identity_pb2
from confide_identity.app.mail import MailKind
from confide_identity.domain.roles import Role

from .conftest import PASSWORD, TOTP_SECRET, Harness, read_topic

pytestmark = pytest.mark.integration

LEGAL_NAME = "Zelda Quinteros-Abernathy"
PREFERRED = "Zeezee"
CONTACT = "Octavia Quinteros"
PHONE = "+14155550123"
DOB = time_pb2.LocalDate(year=1990, month=5, day=17)

TOPIC_OF = {
    events_pb2.UserRegistered: "confide.identity.users.v1",
    events_pb2.UserDeactivated: "confide.identity.users.v1",
    events_pb2.RoleChanged: "confide.identity.users.v1",
    events_pb2.ClientProfileChanged: "confide.identity.client-profiles.v1",
    events_pb2.ConsentSigned: "confide.identity.consents.v1",
    events_pb2.CareTeamAssigned: "confide.identity.care-teams.v1",
    events_pb2.CareTeamRemoved: "confide.identity.care-teams.v1",
}


@dataclass
class Story:
    client_id: str
    clinician_id: str
    staff_id: str
    secrets: list[bytes]


def header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None


@pytest.fixture(scope="module")
async def story(identity: Harness) -> Story:
    """One practice's life: sign-up, invitation, roles, profile, care team, consent, removal, deactivation."""
    h = identity
    practice, admin = await h.new_practice()
    md = h.auth_md(admin)
    email = f"zelda-{uuid.uuid4().hex[:6]}@example.test"
    await h.auth.SignUp(
        identity_pb2.SignUpRequest(practice_id=str(practice.practice_id), email=email, password=PASSWORD)
    )
    verification = h.mailer.to_address(email, MailKind.VERIFY_EMAIL)[-1]
    assert verification.link is not None
    client_id = str(verification.user_id)
    await h.auth.VerifyEmail(
        identity_pb2.VerifyEmailRequest(token=parse_qs(urlparse(verification.link).query)["token"][0])
    )
    session = (
        await h.auth.SignIn(
            identity_pb2.SignInRequest(practice_id=str(practice.practice_id), email=email, password=PASSWORD)
        )
    ).session

    staff = await h.users.CreateUser(
        identity_pb2.CreateUserRequest(
            email=f"staff-{uuid.uuid4().hex[:6]}@example.test",
            display_name="Dr. Staff Member",
            roles=[identity_pb2.ROLE_CLINICIAN],
        ),
        metadata=md,
    )
    staff_id = staff.user.user_id
    await h.users.ChangeUserRoles(
        identity_pb2.ChangeUserRolesRequest(
            user_id=staff_id, roles=[identity_pb2.ROLE_CLINICIAN, identity_pb2.ROLE_COMPLIANCE_OFFICER]
        ),
        metadata=md,
    )
    clinician = await h.add_user(practice.practice_id, [Role.CLINICIAN], totp=True)
    await h.profiles.UpdateClientProfile(
        identity_pb2.UpdateClientProfileRequest(
            client_id=client_id,
            profile=identity_pb2.ClientProfile(
                legal_name=LEGAL_NAME,
                preferred_name=PREFERRED,
                date_of_birth=DOB,
                home_state=jurisdiction_pb2.JURISDICTION_WA,
                time_zone="America/Los_Angeles",
                emergency_contact=identity_pb2.EmergencyContact(name=CONTACT, phone=PHONE),
                payer_type=identity_pb2.PAYER_TYPE_INSURANCE,
            ),
        ),
        metadata=md,
    )
    link = await h.care_teams.AssignClinician(
        identity_pb2.AssignClinicianRequest(client_id=client_id, clinician_id=str(clinician.user_id)),
        metadata=md,
    )
    document = await h.consents.PublishConsentDocument(
        identity_pb2.PublishConsentDocumentRequest(
            document=identity_pb2.ConsentDocument(
                version=1,
                modalities=[identity_pb2.MODALITY_VIDEO, identity_pb2.MODALITY_ASYNC_MESSAGING],
                jurisdictions=[jurisdiction_pb2.JURISDICTION_WA],
                title="Consent",
                content="Text of the consent.",
            )
        ),
        metadata=md,
    )
    await h.consents.SignConsent(
        identity_pb2.SignConsentRequest(
            client_id=client_id,
            document_id=document.document.document_id,
            document_version=1,
            jurisdiction=jurisdiction_pb2.JURISDICTION_WA,
            signer_role=identity_pb2.SIGNER_ROLE_CLIENT,
            method=identity_pb2.SIGNATURE_METHOD_TYPED,
            signer_name=LEGAL_NAME,
        ),
        metadata=(("authorization", f"Bearer {session.access_token}"),),
    )
    await h.care_teams.RemoveClinician(
        identity_pb2.RemoveClinicianRequest(link_id=link.member.link_id), metadata=md
    )
    await h.care_teams.AssignClinician(
        identity_pb2.AssignClinicianRequest(client_id=client_id, clinician_id=str(clinician.user_id)),
        metadata=md,
    )
    await h.users.DeactivateUser(identity_pb2.DeactivateUserRequest(user_id=client_id), metadata=md)
    secrets = [
        email.encode(),
        LEGAL_NAME.encode(),
        PREFERRED.encode(),
        CONTACT.encode(),
        PHONE.encode(),
        PHONE[2:].encode(),
        b"1990-05-17",
        PASSWORD.encode(),
        TOTP_SECRET.encode(),
        session.refresh_token.encode(),
        session.access_token.encode(),
        parse_qs(urlparse(verification.link).query)["token"][0].encode(),
        b"Dr. Staff Member",
    ]
    return Story(client_id=client_id, clinician_id=str(clinician.user_id), staff_id=staff_id, secrets=secrets)


async def records_for(h: Harness, topic: str, keys: set[str], expected: int) -> list[Any]:
    return await read_topic(h.bootstrap, topic, keys, expected)


def decode(record: Any) -> Message:
    event_type = header(record, "ce_type")
    message_type: Any = next(t for t in TOPIC_OF if cast(Any, t).DESCRIPTOR.full_name == event_type)
    return cast(Message, message_type.FromString(record.value))


async def test_events_land_once_keyed_with_cloudevents_headers_and_no_phi(
    identity: Harness, story: Story
) -> None:
    h = identity
    keys = {story.client_id, story.staff_id}
    users = await records_for(h, "confide.identity.users.v1", keys, 4)
    profiles = await records_for(h, "confide.identity.client-profiles.v1", {story.client_id}, 1)
    consents = await records_for(h, "confide.identity.consents.v1", {story.client_id}, 1)
    teams = await records_for(h, "confide.identity.care-teams.v1", {story.client_id}, 4)

    def types(records: list[Any], key: str) -> list[str]:
        return [str(header(r, "ce_type")).rsplit(".", 1)[-1] for r in records if r.key.decode() == key]

    assert types(users, story.client_id) == ["UserRegistered", "UserDeactivated"]
    assert types(users, story.staff_id) == ["UserRegistered", "RoleChanged"]
    assert types(profiles, story.client_id) == ["ClientProfileChanged"]
    assert types(consents, story.client_id) == ["ConsentSigned"]
    # assigned, removed, assigned again, then removed by the deactivation - in order (one key, one partition)
    assert types(teams, story.client_id) == [
        "CareTeamAssigned",
        "CareTeamRemoved",
        "CareTeamAssigned",
        "CareTeamRemoved",
    ]

    everything = users + profiles + consents + teams
    assert len({header(r, "ce_id") for r in everything}) == len(everything), "an event was published twice"
    for record in everything:
        message = decode(record)
        assert header(record, "ce_specversion") == "1.0"
        assert header(record, "ce_source") == "//confide/identity"
        assert header(record, "content-type") == "application/protobuf"
        assert header(record, "ce_time")
        assert header(record, "ce_type") == message.DESCRIPTOR.full_name
        assert TOPIC_OF[type(message)] == record.topic
        aggregate = "user_id" if record.topic.endswith("users.v1") else "client_id"
        assert record.key.decode() == getattr(message, aggregate)
        blob = record.value + b"".join(bytes(v) for _, v in record.headers or ())
        for secret in story.secrets:
            assert secret not in blob, f"{message.DESCRIPTOR.name} leaks {secret[:12]!r}"

    first_of_client = next(r for r in users if r.key.decode() == story.client_id)
    registered = events_pb2.UserRegistered.FromString(first_of_client.value)
    assert registered.channel == events_pb2.REGISTRATION_CHANNEL_SELF_SIGN_UP
    assert list(registered.roles) == [identity_pb2.ROLE_CLIENT]
    profile = events_pb2.ClientProfileChanged.FromString(profiles[0].value)
    assert profile.home_state == jurisdiction_pb2.JURISDICTION_WA
    assert profile.payer_type == identity_pb2.PAYER_TYPE_INSURANCE
    assert profile.time_zone == "America/Los_Angeles"
    assert profile.profile_version == 1
    assert not profile.is_minor
    assert not profile.guardian_consent_required
    signed = events_pb2.ConsentSigned.FromString(consents[0].value)
    assert signed.document_version == 1
    assert signed.signer_role == identity_pb2.SIGNER_ROLE_CLIENT
    assert list(signed.modalities) == [identity_pb2.MODALITY_VIDEO, identity_pb2.MODALITY_ASYNC_MESSAGING]
    removed = [
        decode(r)
        for r in teams
        if header(
            r,
            "ce_type",
        )
        == "confide.identity.v1.CareTeamRemoved"
    ]
    assert [m.reason for m in removed] == [  # type: ignore[attr-defined]
        events_pb2.CARE_TEAM_REMOVAL_REASON_REMOVED,
        events_pb2.CARE_TEAM_REMOVAL_REASON_USER_DEACTIVATED,
    ]


def audits(records: list[Any]) -> list[audit_pb2.AuditEvent]:
    return [audit_pb2.AuditEvent.FromString(r.value) for r in records]


async def test_reads_changes_and_denials_are_audited(identity: Harness) -> None:
    h = identity
    practice, admin = await h.new_practice()
    client = await h.add_user(practice.practice_id, [Role.CLIENT], display_name=None)
    other_client = await h.add_user(practice.practice_id, [Role.CLIENT], display_name=None)
    clinician = await h.add_user(practice.practice_id, [Role.CLINICIAN], totp=True)
    await h.profiles.UpdateClientProfile(
        identity_pb2.UpdateClientProfileRequest(
            client_id=str(client.user_id),
            profile=identity_pb2.ClientProfile(
                legal_name=LEGAL_NAME,
                date_of_birth=time_pb2.LocalDate(year=2012, month=3, day=4),
                home_state=jurisdiction_pb2.JURISDICTION_TX,
                time_zone="America/Chicago",
                emergency_contact=identity_pb2.EmergencyContact(name=CONTACT, phone=PHONE),
                payer_type=identity_pb2.PAYER_TYPE_SELF_PAY,
            ),
        ),
        metadata=h.auth_md(admin),
    )
    await h.care_teams.AssignClinician(
        identity_pb2.AssignClinicianRequest(
            client_id=str(client.user_id), clinician_id=str(clinician.user_id)
        ),
        metadata=h.auth_md(admin),
    )
    read = await h.profiles.GetClientProfile(
        identity_pb2.GetClientProfileRequest(client_id=str(client.user_id)), metadata=h.auth_md(clinician)
    )
    assert read.profile.minor_status.is_minor
    assert read.profile.minor_status.guardian_consent_required  # TX: 18 (docs/rules.md §2.5)
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await h.profiles.GetClientProfile(
            identity_pb2.GetClientProfileRequest(client_id=str(client.user_id)),
            metadata=h.auth_md(other_client),
        )
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    await h.users.ListUsers(identity_pb2.ListUsersRequest(), metadata=h.auth_md(admin))
    step = await h.auth.SignIn(
        identity_pb2.SignInRequest(
            practice_id=str(practice.practice_id), email=client.email, password=PASSWORD
        )
    )
    assert step.next_step == identity_pb2.SIGN_IN_STEP_COMPLETE

    records = await read_topic(h.bootstrap, "confide.audit.events.v1", {str(client.user_id)}, 6)
    trail = audits(records)
    by = {(e.resource.type, e.action, e.outcome, e.actor.subject_id) for e in trail}
    assert (
        "identity.client_profile",
        audit_pb2.AUDIT_ACTION_CREATE,
        audit_pb2.AUDIT_OUTCOME_SUCCESS,
        str(admin.user_id),
    ) in by
    assert (
        "identity.care_team",
        audit_pb2.AUDIT_ACTION_CREATE,
        audit_pb2.AUDIT_OUTCOME_SUCCESS,
        str(admin.user_id),
    ) in by
    assert (
        "identity.client_profile",
        audit_pb2.AUDIT_ACTION_READ,
        audit_pb2.AUDIT_OUTCOME_SUCCESS,
        str(clinician.user_id),
    ) in by
    assert (
        "identity.client_profile",
        audit_pb2.AUDIT_ACTION_READ,
        audit_pb2.AUDIT_OUTCOME_DENIED,
        str(other_client.user_id),
    ) in by
    assert (
        "identity.user",
        audit_pb2.AUDIT_ACTION_SEARCH,
        audit_pb2.AUDIT_OUTCOME_SUCCESS,
        str(admin.user_id),
    ) in by
    assert (
        "identity.session",
        audit_pb2.AUDIT_ACTION_LOGIN,
        audit_pb2.AUDIT_OUTCOME_SUCCESS,
        str(client.user_id),
    ) in by
    clinician_read = next(
        e
        for e in trail
        if e.action == audit_pb2.AUDIT_ACTION_READ and e.actor.subject_id == str(clinician.user_id)
    )
    assert clinician_read.purpose == audit_pb2.ACCESS_PURPOSE_TREATMENT
    assert clinician_read.subject_person_id == str(client.user_id)
    assert clinician_read.service == "identity"
    assert list(clinician_read.actor.roles) == ["clinician"]
    for record in records:
        for secret in (LEGAL_NAME.encode(), PHONE.encode(), client.email.encode()):
            assert secret not in record.value

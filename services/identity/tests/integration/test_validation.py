"""Bad input on every RPC gives INVALID_ARGUMENT naming the field, never INTERNAL.

1. A table of one malformed request per RPC (that has input) and the field path(s) it must name.
2. Garbage in every field of every RPC's request (NUL bytes, huge strings, unknown enum numbers, negative
   numbers), sent by a caller holding every role: whatever the answer, never INTERNAL or UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import grpc
import pytest
from google.protobuf import descriptor
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from confide.common.v1.paging_pb2 import PageRequest
from confide.common.v1.time_pb2 import LocalDate
from confide.identity.v1 import identity_pb2
from confide_identity.app.models import User
from confide_identity.domain.roles import Role

from .conftest import Harness, violations

pytestmark = pytest.mark.integration

ALL_ROLES = list(Role)
UUID_A = "0190d6f4-0000-7000-8000-000000000001"


@dataclass
class Ctx:
    h: Harness
    admin: User
    operator: User
    client: User
    everyone: User


@pytest.fixture(scope="module")
async def ctx(identity: Harness) -> Ctx:
    h = identity
    practice, admin = await h.new_practice()
    operator = await h.add_user(practice.practice_id, [Role.PLATFORM_OPERATOR], totp=True)
    client = await h.add_user(practice.practice_id, [Role.CLIENT], display_name=None)
    everyone = await h.add_user(practice.practice_id, ALL_ROLES, totp=True)
    return Ctx(h, admin, operator, client, everyone)


@dataclass(frozen=True)
class Bad:
    service: str
    method: str
    request: Callable[[Ctx], Message]
    fields: set[str]
    caller: str = "admin"

    def __str__(self) -> str:
        return f"{self.service}.{self.method}"


I = identity_pb2  # noqa: E741 - short alias for the table
BAD = [
    Bad("auth", "SignUp", lambda c: I.SignUpRequest(), {"practice_id", "email", "password"}),
    Bad(
        "auth",
        "SignUp",
        lambda c: I.SignUpRequest(practice_id=UUID_A, email="a@b.co", password="short"),
        {"password"},
    ),
    Bad("auth", "VerifyEmail", lambda c: I.VerifyEmailRequest(), {"token"}),
    Bad(
        "auth",
        "ResendVerificationEmail",
        lambda c: I.ResendVerificationEmailRequest(practice_id="x", email="a@b.co"),
        {"practice_id"},
    ),
    Bad(
        "auth",
        "SignIn",
        lambda c: I.SignInRequest(practice_id=UUID_A, email="not-an-email", password="x"),
        {"email"},
    ),
    Bad("auth", "VerifyMfa", lambda c: I.VerifyMfaRequest(mfa_challenge_token="t"), {"totp_code"}),
    Bad(
        "auth",
        "VerifyMfa",
        lambda c: I.VerifyMfaRequest(mfa_challenge_token="t", totp_code="1", recovery_code="2"),
        {"recovery_code"},
    ),
    Bad("auth", "Refresh", lambda c: I.RefreshRequest(), {"refresh_token"}),
    Bad("auth", "SignOut", lambda c: I.SignOutRequest(), {"refresh_token"}),
    Bad("auth", "SignOutEverywhere", lambda c: I.SignOutEverywhereRequest(user_id="me"), {"user_id"}),
    Bad(
        "auth", "RequestPasswordReset", lambda c: I.RequestPasswordResetRequest(practice_id=UUID_A), {"email"}
    ),
    Bad("auth", "ResetPassword", lambda c: I.ResetPasswordRequest(), {"token", "new_password"}),
    Bad("auth", "ConfirmMfaEnrolment", lambda c: I.ConfirmMfaEnrolmentRequest(), {"totp_code"}),
    Bad(
        "practices",
        "CreatePractice",
        lambda c: I.CreatePracticeRequest(slug="Bad Slug!"),
        {"display_name", "slug", "admin_email", "admin_display_name"},
        "operator",
    ),
    Bad("practices", "UpdatePracticeSettings", lambda c: I.UpdatePracticeSettingsRequest(), {"settings"}),
    Bad(
        "practices",
        "UpdatePracticeSettings",
        lambda c: I.UpdatePracticeSettingsRequest(
            settings=I.PracticeSettings(idle_timeout_seconds=10, absolute_session_lifetime_seconds=5)
        ),
        {"settings.idle_timeout_seconds", "settings.absolute_session_lifetime_seconds"},
    ),
    Bad("users", "CreateUser", lambda c: I.CreateUserRequest(email="x"), {"email", "roles"}),
    Bad(
        "users",
        "CreateUser",
        lambda c: I.CreateUserRequest(email="a@b.co", roles=[I.ROLE_CLINICIAN]),
        {"display_name"},
    ),
    Bad("users", "GetUser", lambda c: I.GetUserRequest(user_id="x"), {"user_id"}),
    Bad(
        "users",
        "ListUsers",
        lambda c: I.ListUsersRequest(role=cast(Any, 42), page=PageRequest(page_size=-1)),
        {"role", "page.page_size"},
    ),
    Bad(
        "users",
        "ListUsers",
        lambda c: I.ListUsersRequest(page=PageRequest(page_token="bm90LWEtdG9rZW4")),
        {"page.page_token"},
    ),
    Bad("users", "DeactivateUser", lambda c: I.DeactivateUserRequest(), {"user_id"}),
    Bad(
        "users",
        "ChangeUserRoles",
        lambda c: I.ChangeUserRolesRequest(user_id=UUID_A, roles=[cast(Any, 99)]),
        {"roles[0]"},
    ),
    Bad("users", "ResetUserMfa", lambda c: I.ResetUserMfaRequest(user_id="nope"), {"user_id"}),
    Bad("profiles", "GetClientProfile", lambda c: I.GetClientProfileRequest(), {"client_id"}),
    Bad(
        "profiles",
        "UpdateClientProfile",
        lambda c: I.UpdateClientProfileRequest(client_id=str(c.client.user_id)),
        {"profile"},
    ),
    Bad(
        "profiles",
        "UpdateClientProfile",
        lambda c: I.UpdateClientProfileRequest(
            client_id=str(c.client.user_id),
            profile=I.ClientProfile(
                # Well-formed on the wire (the chassis refuses malformed dates and zones before the
                # service sees them), wrong for a profile: a birth date in the future, no zone.
                date_of_birth=LocalDate(year=2190, month=2, day=28),
                time_zone="",
                emergency_contact=I.EmergencyContact(name="X", phone="12"),
            ),
        ),
        {
            "profile.legal_name",
            "profile.date_of_birth",
            "profile.home_state",
            "profile.time_zone",
            "profile.emergency_contact.phone",
            "profile.payer_type",
        },
    ),
    Bad(
        "profiles",
        "UpdateClientProfile",
        lambda c: I.UpdateClientProfileRequest(
            client_id=str(c.client.user_id), profile=I.ClientProfile(), update_mask=FieldMask(paths=["email"])
        ),
        {"update_mask.paths[0]"},
    ),
    Bad(
        "consents",
        "PublishConsentDocument",
        lambda c: I.PublishConsentDocumentRequest(document=I.ConsentDocument(version=0, content="")),
        {"document.version", "document.title", "document.content"},
    ),
    Bad(
        "consents",
        "PublishConsentDocument",
        lambda c: I.PublishConsentDocumentRequest(
            document=I.ConsentDocument(version=1, title="T", content="C")
        ),
        {"document.modalities", "document.jurisdictions"},
    ),
    Bad(
        "consents",
        "SignConsent",
        lambda c: I.SignConsentRequest(),
        {"client_id", "document_id", "document_version", "jurisdiction", "signer_role", "method"},
        "client",
    ),
    Bad("consents", "GetConsentStatus", lambda c: I.GetConsentStatusRequest(client_id="zz"), {"client_id"}),
    Bad("care_teams", "AssignClinician", lambda c: I.AssignClinicianRequest(), {"client_id", "clinician_id"}),
    Bad("care_teams", "RemoveClinician", lambda c: I.RemoveClinicianRequest(link_id="1"), {"link_id"}),
    Bad("care_teams", "ListCareTeam", lambda c: I.ListCareTeamRequest(), {"client_id"}),
]


def stub(h: Harness, service: str) -> Any:
    return getattr(h, service)


@pytest.mark.parametrize("bad", BAD, ids=str)
async def test_bad_input_is_invalid_argument_with_the_field(ctx: Ctx, bad: Bad) -> None:
    caller = {"admin": ctx.admin, "operator": ctx.operator, "client": ctx.client}[bad.caller]
    method = getattr(stub(ctx.h, bad.service), bad.method)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await method(bad.request(ctx), metadata=ctx.h.auth_md(caller))
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    assert set(violations(error.value)) == bad.fields


def test_the_table_covers_every_rpc_that_takes_input() -> None:
    covered = {bad.method for bad in BAD}
    no_input = {
        "BeginMfaEnrolment",
        "RegenerateRecoveryCodes",
        "GetJwks",
        "RotateSigningKey",
        "GetPractice",
        "GetCurrentConsentDocument",
    }
    every = {
        method.name
        for service in identity_pb2.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert every - no_input == covered


# --- garbage everywhere -----------------------------------------------------------------------------------

NASTY_STRINGS = (
    "",
    "\x00",
    "x" * 5000,
    "' OR 1=1 --",
    "\u202e\u0000\ufeff",
    "0190d6f4-0000-7000-8000-00000000000",
)


def fill(message: Message, text: str, number: int, depth: int = 0) -> Message:
    for field in message.DESCRIPTOR.fields:
        repeated = field.is_repeated
        if field.type == descriptor.FieldDescriptor.TYPE_STRING:
            if repeated:
                getattr(message, field.name).extend([text, text])
            else:
                setattr(message, field.name, text)
        elif field.type == descriptor.FieldDescriptor.TYPE_ENUM:
            if repeated:
                getattr(message, field.name).extend([number, 0])
            else:
                setattr(message, field.name, number)
        elif field.type in (descriptor.FieldDescriptor.TYPE_INT32, descriptor.FieldDescriptor.TYPE_INT64):
            if not repeated:
                setattr(
                    message,
                    field.name,
                    number if field.type == descriptor.FieldDescriptor.TYPE_INT32 else number * 10**9,
                )
        elif field.type == descriptor.FieldDescriptor.TYPE_BOOL and not repeated:
            setattr(message, field.name, True)
        elif field.type == descriptor.FieldDescriptor.TYPE_MESSAGE and depth < 3 and not repeated:
            sub = getattr(message, field.name)
            if field.message_type is not None and field.message_type.full_name == "google.protobuf.Timestamp":
                sub.seconds = 253402300799 if number > 0 else -62135596800
            else:
                fill(sub, text, number, depth + 1)
    return message


SERVICES = {
    "AuthService": "auth",
    "PracticeService": "practices",
    "UserService": "users",
    "ClientProfileService": "profiles",
    "ConsentService": "consents",
    "CareTeamService": "care_teams",
}
METHODS = [
    (service.name, method)
    for service in identity_pb2.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]


@pytest.mark.parametrize(("service", "method"), METHODS, ids=lambda value: getattr(value, "name", value))
async def test_garbage_never_gives_internal(
    ctx: Ctx, service: str, method: descriptor.MethodDescriptor
) -> None:
    request_type = getattr(identity_pb2, method.input_type.name)
    call = getattr(stub(ctx.h, SERVICES[service]), method.name)
    bugs = []
    for index, text in enumerate(NASTY_STRINGS):
        number = (-1, 999, 2**31 - 1)[index % 3]
        request = fill(request_type(), text, number)
        try:
            await call(request, metadata=ctx.h.auth_md(ctx.everyone))
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                bugs.append(f"{method.name} with {text[:20]!r}: {error.code()} {error.details()}")
    assert not bugs

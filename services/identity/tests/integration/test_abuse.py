"""Public and staff RPCs that create records or e-mails about someone else (IDN-AUTH-02, IDN-AUTH-03, and
the practice boundary for consent and care-team writes)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import grpc
import pytest

from confide.common.v1 import jurisdiction_pb2
from confide.identity.v1 import identity_pb2
from confide_identity.app.mail import MailKind
from confide_identity.domain.roles import Role

from .conftest import PASSWORD, Harness

pytestmark = pytest.mark.integration

STRANGERS_PASSWORD = "Crimson-Teapot-Harbour-31"
QUOTA = 5  # AppConfig.mail_quota: self-service e-mails per account per hour


def token_of(link: str | None) -> str:
    assert link is not None
    return parse_qs(urlparse(link).query)["token"][0]


async def sign_in(h: Harness, practice_id: str, email: str, password: str) -> grpc.StatusCode:
    try:
        await h.auth.SignIn(
            identity_pb2.SignInRequest(practice_id=practice_id, email=email, password=password)
        )
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_idn_auth_02_a_stranger_signing_up_first_does_not_choose_the_owners_password(
    identity: Harness,
) -> None:
    h = identity
    practice, _ = await h.new_practice()
    practice_id, email = str(practice.practice_id), "owner.of.the.address@example.test"
    # A stranger signs up with the owner's address, then the owner signs up themself.
    await h.auth.SignUp(
        identity_pb2.SignUpRequest(practice_id=practice_id, email=email, password=STRANGERS_PASSWORD)
    )
    await h.auth.SignUp(identity_pb2.SignUpRequest(practice_id=practice_id, email=email, password=PASSWORD))
    strangers_link, owners_link = h.mailer.to_address(email, MailKind.VERIFY_EMAIL)[-2:]

    # The owner verifies with the link of their own sign-up: their password, not the stranger's.
    await h.auth.VerifyEmail(identity_pb2.VerifyEmailRequest(token=token_of(owners_link.link)))
    assert await sign_in(h, practice_id, email, PASSWORD) is grpc.StatusCode.OK
    assert await sign_in(h, practice_id, email, STRANGERS_PASSWORD) is grpc.StatusCode.UNAUTHENTICATED
    # The stranger's link died with the verification.
    with pytest.raises(grpc.aio.AioRpcError) as spent:
        await h.auth.VerifyEmail(identity_pb2.VerifyEmailRequest(token=token_of(strangers_link.link)))
    assert spent.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_idn_auth_02_a_verification_link_after_a_password_reset_changes_no_password(
    identity: Harness,
) -> None:
    h = identity
    practice, _ = await h.new_practice()
    practice_id, email = str(practice.practice_id), "reset.first@example.test"
    await h.auth.SignUp(
        identity_pb2.SignUpRequest(practice_id=practice_id, email=email, password=STRANGERS_PASSWORD)
    )
    strangers_link = h.mailer.to_address(email, MailKind.VERIFY_EMAIL)[-1]
    # The owner never signed up: they use "forgot my password", which also verifies the address.
    await h.auth.RequestPasswordReset(
        identity_pb2.RequestPasswordResetRequest(practice_id=practice_id, email=email)
    )
    reset = h.mailer.to_address(email, MailKind.PASSWORD_RESET)[-1]
    await h.auth.ResetPassword(
        identity_pb2.ResetPasswordRequest(token=token_of(reset.link), new_password=PASSWORD)
    )
    # Clicking the stranger's verification link afterwards leaves the owner's password in place.
    await h.auth.VerifyEmail(identity_pb2.VerifyEmailRequest(token=token_of(strangers_link.link)))
    assert await sign_in(h, practice_id, email, PASSWORD) is grpc.StatusCode.OK
    assert await sign_in(h, practice_id, email, STRANGERS_PASSWORD) is grpc.StatusCode.UNAUTHENTICATED


async def test_consent_and_care_team_writes_stay_inside_the_callers_practice(identity: Harness) -> None:
    h = identity
    home, home_admin = await h.new_practice()
    other, _ = await h.new_practice()
    outsider = await h.add_user(other.practice_id, [Role.CLIENT])
    outside_clinician = await h.add_user(other.practice_id, [Role.CLINICIAN], totp=True)
    own_clinician = await h.add_user(home.practice_id, [Role.CLINICIAN], totp=True)
    admin_md = h.auth_md(home_admin)

    # An admin cannot put another practice's people on a care team ...
    for client_id, clinician_id in (
        (outsider.user_id, own_clinician.user_id),
        (outsider.user_id, outside_clinician.user_id),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as assign:
            await h.care_teams.AssignClinician(
                identity_pb2.AssignClinicianRequest(client_id=str(client_id), clinician_id=str(clinician_id)),
                metadata=admin_md,
            )
        assert assign.value.code() is grpc.StatusCode.NOT_FOUND
    # ... nor write their profile, and a clinician cannot document consent for them.
    with pytest.raises(grpc.aio.AioRpcError) as profile:
        await h.profiles.UpdateClientProfile(
            identity_pb2.UpdateClientProfileRequest(
                client_id=str(outsider.user_id), profile=identity_pb2.ClientProfile(legal_name="Someone Else")
            ),
            metadata=admin_md,
        )
    assert profile.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as consent:
        await h.consents.SignConsent(
            identity_pb2.SignConsentRequest(
                client_id=str(outsider.user_id),
                document_id="01930000-0000-7000-8000-000000000999",
                document_version=1,
                jurisdiction=jurisdiction_pb2.JURISDICTION_CA,
                signer_role=identity_pb2.SIGNER_ROLE_CLIENT,
                method=identity_pb2.SIGNATURE_METHOD_VERBAL_DOCUMENTED_BY_CLINICIAN,
            ),
            metadata=h.auth_md(own_clinician),
        )
    assert consent.value.code() is grpc.StatusCode.NOT_FOUND
    async with h.app.uow() as uow:
        assert not await uow.care_teams.for_client(other.practice_id, outsider.user_id)
        assert await uow.profiles.get(other.practice_id, outsider.user_id) is None
        assert not await uow.consent_signatures.for_client(other.practice_id, outsider.user_id)


async def test_idn_auth_03_public_requests_in_someone_elses_name_do_not_flood_their_inbox(
    identity: Harness,
) -> None:
    h = identity
    practice, _ = await h.new_practice()
    practice_id = str(practice.practice_id)
    unverified = "not.yet.verified@example.test"
    await h.auth.SignUp(
        identity_pb2.SignUpRequest(practice_id=practice_id, email=unverified, password=PASSWORD)
    )
    verified = await h.add_user(practice.practice_id, [Role.CLIENT])

    for _ in range(2 * QUOTA):  # every request is answered as usual ...
        await h.auth.ResendVerificationEmail(
            identity_pb2.ResendVerificationEmailRequest(practice_id=practice_id, email=unverified)
        )
        await h.auth.SignUp(
            identity_pb2.SignUpRequest(practice_id=practice_id, email=unverified, password=STRANGERS_PASSWORD)
        )
        await h.auth.RequestPasswordReset(
            identity_pb2.RequestPasswordResetRequest(practice_id=practice_id, email=verified.email)
        )
        await h.auth.SignUp(
            identity_pb2.SignUpRequest(practice_id=practice_id, email=verified.email, password=PASSWORD)
        )
    # ... but each account received at most the quota of e-mails within the hour.
    assert len(h.mailer.to_address(unverified)) == QUOTA
    assert len(h.mailer.to_address(verified.email)) == QUOTA

    # The quota is per hour: an hour later the owner can ask again.
    h.clock.advance(timedelta(hours=1, seconds=1))
    await h.auth.RequestPasswordReset(
        identity_pb2.RequestPasswordResetRequest(practice_id=practice_id, email=verified.email)
    )
    assert len(h.mailer.to_address(verified.email)) == QUOTA + 1

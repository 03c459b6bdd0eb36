"""Sign-up -> verify -> MFA enrolment -> sign-in with MFA -> refresh -> reuse detection, over real gRPC, and
the rules around it: generic errors, lockout, password reset, sign-out, SEC-03 restricted sessions."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlparse
from uuid import UUID

import grpc
import pyotp
import pytest

from confide.identity.v1 import identity_pb2
from confide_chassis.auth import StaticJwks, TokenVerifier
from confide_identity.app.mail import MailKind
from confide_identity.domain.roles import Role

from .conftest import PASSWORD, Harness, bearer, error_info, precondition_types, totp_now, violations

pytestmark = pytest.mark.integration

NEW_PASSWORD = "Marble-Lighthouse-Quiet-19"


def token_of(link: str | None) -> str:
    assert link is not None
    return parse_qs(urlparse(link).query)["token"][0]


async def sign_up_and_verify(h: Harness, practice_id: UUID, email: str) -> UUID:
    await h.auth.SignUp(
        identity_pb2.SignUpRequest(practice_id=str(practice_id), email=email, password=PASSWORD)
    )
    mail = h.mailer.to_address(email, MailKind.VERIFY_EMAIL)[-1]
    await h.auth.VerifyEmail(identity_pb2.VerifyEmailRequest(token=token_of(mail.link)))
    return mail.user_id


async def test_full_journey_sign_up_verify_mfa_sign_in_refresh_and_reuse_detection(identity: Harness) -> None:
    h = identity
    practice, _ = await h.new_practice()
    email = "Journey.Client@Example.TEST"

    # Sign-up: an empty answer; the verification link arrives by e-mail (lower-cased address).
    await h.auth.SignUp(
        identity_pb2.SignUpRequest(practice_id=str(practice.practice_id), email=email, password=PASSWORD)
    )
    mail = h.mailer.to_address(email.lower(), MailKind.VERIFY_EMAIL)[-1]
    assert mail.link is not None
    assert mail.link.startswith("http://127.0.0.1:8080/verify-email?token=")

    # IDN-AUTH-01: the right password before verification is refused with a rule, not a session.
    with pytest.raises(grpc.aio.AioRpcError) as unverified:
        await h.auth.SignIn(
            identity_pb2.SignInRequest(practice_id=str(practice.practice_id), email=email, password=PASSWORD)
        )
    assert unverified.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_types(unverified.value) == ["IDN-AUTH-01"]

    await h.auth.VerifyEmail(identity_pb2.VerifyEmailRequest(token=token_of(mail.link)))
    with pytest.raises(grpc.aio.AioRpcError) as reused_link:
        await h.auth.VerifyEmail(identity_pb2.VerifyEmailRequest(token=token_of(mail.link)))
    assert reused_link.value.code() is grpc.StatusCode.UNAUTHENTICATED

    # A client without MFA signs in with the password alone.
    first = await h.auth.SignIn(
        identity_pb2.SignInRequest(practice_id=str(practice.practice_id), email=email, password=PASSWORD)
    )
    assert first.next_step == identity_pb2.SIGN_IN_STEP_COMPLETE
    assert not first.session.mfa
    assert first.session.roles == [identity_pb2.ROLE_CLIENT]
    access = bearer(first.session.access_token)

    # MFA enrolment (offered to clients): secret, confirmation, recovery codes, a new full session.
    begin = await h.auth.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(), metadata=access)
    assert begin.provisioning_uri.startswith("otpauth://totp/")
    code = pyotp.TOTP(begin.secret).at(h.clock())
    with pytest.raises(grpc.aio.AioRpcError) as wrong_code:
        await h.auth.ConfirmMfaEnrolment(
            identity_pb2.ConfirmMfaEnrolmentRequest(totp_code="000000"), metadata=access
        )
    assert wrong_code.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    confirmed = await h.auth.ConfirmMfaEnrolment(
        identity_pb2.ConfirmMfaEnrolmentRequest(totp_code=code), metadata=access
    )
    assert len(confirmed.recovery_codes) == 10
    assert confirmed.session.mfa
    # Enrolment ended the earlier session.
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await h.auth.Refresh(identity_pb2.RefreshRequest(refresh_token=first.session.refresh_token))
    assert ended.value.code() is grpc.StatusCode.UNAUTHENTICATED

    # Sign-in now takes two steps: password -> challenge -> code.
    step1 = await h.auth.SignIn(
        identity_pb2.SignInRequest(practice_id=str(practice.practice_id), email=email, password=PASSWORD)
    )
    assert step1.next_step == identity_pb2.SIGN_IN_STEP_MFA_REQUIRED
    assert step1.mfa_challenge_token
    assert not step1.HasField("session")
    with pytest.raises(grpc.aio.AioRpcError) as replayed:
        # the enrolment code's time step was used already (replay protection)
        await h.auth.VerifyMfa(
            identity_pb2.VerifyMfaRequest(mfa_challenge_token=step1.mfa_challenge_token, totp_code=code)
        )
    assert replayed.value.code() is grpc.StatusCode.UNAUTHENTICATED
    next_code = pyotp.TOTP(begin.secret).at(h.clock() + timedelta(seconds=30))
    step2 = await h.auth.VerifyMfa(
        identity_pb2.VerifyMfaRequest(mfa_challenge_token=step1.mfa_challenge_token, totp_code=next_code)
    )
    assert step2.session.mfa
    assert step2.recovery_codes_remaining == 10

    # The access token verifies against the published JWKS, as every other service verifies it.
    jwks = await h.auth.GetJwks(identity_pb2.GetJwksRequest())
    verifier = TokenVerifier(
        StaticJwks(json.loads(jwks.jwks_json)), issuer="confide-identity", audience="confide"
    )
    principal = verifier.verify(step2.session.access_token)
    assert principal.subject == step2.session.user_id
    assert principal.practice_id == str(practice.practice_id)
    assert principal.roles == frozenset({"client"})
    assert principal.mfa is True
    assert principal.expires_at is not None

    # Refresh rotates: a new pair, and the MFA flag carries over.
    refreshed = await h.auth.Refresh(identity_pb2.RefreshRequest(refresh_token=step2.session.refresh_token))
    assert refreshed.session.refresh_token != step2.session.refresh_token
    assert refreshed.session.mfa
    verifier.verify(refreshed.session.access_token)

    # Reuse detection (IDN-SESSION-01): the old token again revokes the whole family, new token included.
    with pytest.raises(grpc.aio.AioRpcError) as reuse:
        await h.auth.Refresh(identity_pb2.RefreshRequest(refresh_token=step2.session.refresh_token))
    assert reuse.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert reuse.value.details() == "the session has ended; sign in again"
    with pytest.raises(grpc.aio.AioRpcError) as family_gone:
        await h.auth.Refresh(identity_pb2.RefreshRequest(refresh_token=refreshed.session.refresh_token))
    assert family_gone.value.code() is grpc.StatusCode.UNAUTHENTICATED

    # A recovery code signs in once.
    step1 = await h.auth.SignIn(
        identity_pb2.SignInRequest(practice_id=str(practice.practice_id), email=email, password=PASSWORD)
    )
    recovery = confirmed.recovery_codes[3].upper().replace("-", " ")
    by_code = await h.auth.VerifyMfa(
        identity_pb2.VerifyMfaRequest(mfa_challenge_token=step1.mfa_challenge_token, recovery_code=recovery)
    )
    assert by_code.recovery_codes_remaining == 9
    step1 = await h.auth.SignIn(
        identity_pb2.SignInRequest(practice_id=str(practice.practice_id), email=email, password=PASSWORD)
    )
    with pytest.raises(grpc.aio.AioRpcError) as spent:
        await h.auth.VerifyMfa(
            identity_pb2.VerifyMfaRequest(
                mfa_challenge_token=step1.mfa_challenge_token, recovery_code=recovery
            )
        )
    assert spent.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_errors_do_not_reveal_whether_an_account_exists(identity: Harness) -> None:
    h = identity
    practice, _ = await h.new_practice()
    known = "known@example.test"
    await sign_up_and_verify(h, practice.practice_id, known)

    errors = []
    for email, password in ((known, "Not-The-Right-Password-1"), ("nobody@example.test", PASSWORD)):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await h.auth.SignIn(
                identity_pb2.SignInRequest(
                    practice_id=str(practice.practice_id), email=email, password=password
                )
            )
        errors.append((failed.value.code(), failed.value.details()))
    assert (
        errors[0]
        == errors[1]
        == (grpc.StatusCode.UNAUTHENTICATED, "the e-mail address or password is incorrect")
    )

    # Sign-up, resend and reset answer the same for known and unknown addresses.
    for email in (known, "someone-else@example.test"):
        await h.auth.SignUp(
            identity_pb2.SignUpRequest(practice_id=str(practice.practice_id), email=email, password=PASSWORD)
        )
        await h.auth.ResendVerificationEmail(
            identity_pb2.ResendVerificationEmailRequest(practice_id=str(practice.practice_id), email=email)
        )
        await h.auth.RequestPasswordReset(
            identity_pb2.RequestPasswordResetRequest(practice_id=str(practice.practice_id), email=email)
        )
    # ... while the owner of the existing account is told by e-mail.
    assert h.mailer.to_address(known, MailKind.ACCOUNT_EXISTS)


async def test_lockout_applies_to_unknown_addresses_too(identity: Harness) -> None:
    h = identity
    practice, _ = await h.new_practice()
    for email in ("ghost@example.test",):
        for _ in range(5):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await h.auth.SignIn(
                    identity_pb2.SignInRequest(
                        practice_id=str(practice.practice_id), email=email, password="wrong-pw-1"
                    )
                )
            assert failed.value.code() is grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as locked:
            await h.auth.SignIn(
                identity_pb2.SignInRequest(
                    practice_id=str(practice.practice_id), email=email, password=PASSWORD
                )
            )
        assert locked.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        info = error_info(locked.value)
        assert info is not None
        assert 0 < int(info.metadata["retry_after_seconds"]) <= 60


async def test_lockout_blocks_a_known_account_and_a_reset_clears_it(identity: Harness) -> None:
    h = identity
    practice, _ = await h.new_practice()
    email = "locked@example.test"
    user_id = await sign_up_and_verify(h, practice.practice_id, email)
    request = identity_pb2.SignInRequest(
        practice_id=str(practice.practice_id), email=email, password="wrong-pw-2"
    )
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError):
            await h.auth.SignIn(request)
    with pytest.raises(grpc.aio.AioRpcError) as locked:
        await h.auth.SignIn(
            identity_pb2.SignInRequest(practice_id=str(practice.practice_id), email=email, password=PASSWORD)
        )
    assert locked.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED

    await h.auth.RequestPasswordReset(
        identity_pb2.RequestPasswordResetRequest(practice_id=str(practice.practice_id), email=email)
    )
    link = h.mailer.last(user_id, MailKind.PASSWORD_RESET).link
    with pytest.raises(grpc.aio.AioRpcError) as weak:
        await h.auth.ResetPassword(
            identity_pb2.ResetPasswordRequest(token=token_of(link), new_password="password123")
        )
    assert weak.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(weak.value)) == {"new_password"}
    await h.auth.ResetPassword(
        identity_pb2.ResetPasswordRequest(token=token_of(link), new_password=NEW_PASSWORD)
    )
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await h.auth.ResetPassword(
            identity_pb2.ResetPasswordRequest(token=token_of(link), new_password=NEW_PASSWORD)
        )
    assert reused.value.code() is grpc.StatusCode.UNAUTHENTICATED

    signed_in = await h.auth.SignIn(
        identity_pb2.SignInRequest(practice_id=str(practice.practice_id), email=email, password=NEW_PASSWORD)
    )
    assert signed_in.next_step == identity_pb2.SIGN_IN_STEP_COMPLETE


async def test_sign_out_and_sign_out_everywhere_end_sessions(identity: Harness) -> None:
    h = identity
    practice, _ = await h.new_practice()
    email = "leaver@example.test"
    await sign_up_and_verify(h, practice.practice_id, email)
    request = identity_pb2.SignInRequest(
        practice_id=str(practice.practice_id), email=email, password=PASSWORD
    )
    one, two, three = [(await h.auth.SignIn(request)).session for _ in range(3)]

    await h.auth.SignOut(
        identity_pb2.SignOutRequest(refresh_token=one.refresh_token), metadata=bearer(one.access_token)
    )
    with pytest.raises(grpc.aio.AioRpcError) as after_sign_out:
        await h.auth.Refresh(identity_pb2.RefreshRequest(refresh_token=one.refresh_token))
    assert after_sign_out.value.code() is grpc.StatusCode.UNAUTHENTICATED
    # Sign-out is idempotent, and touches only the caller's own sessions.
    await h.auth.SignOut(
        identity_pb2.SignOutRequest(refresh_token=one.refresh_token), metadata=bearer(one.access_token)
    )

    ended = await h.auth.SignOutEverywhere(
        identity_pb2.SignOutEverywhereRequest(), metadata=bearer(two.access_token)
    )
    assert ended.sessions_ended == 2
    for session in (two, three):
        with pytest.raises(grpc.aio.AioRpcError):
            await h.auth.Refresh(identity_pb2.RefreshRequest(refresh_token=session.refresh_token))


async def test_sec_03_staff_without_mfa_get_a_restricted_session(identity: Harness) -> None:
    h = identity
    practice, _ = await h.new_practice()
    clinician = await h.add_user(practice.practice_id, [Role.CLINICIAN])
    result = await h.auth.SignIn(
        identity_pb2.SignInRequest(
            practice_id=str(practice.practice_id), email=clinician.email, password=PASSWORD
        )
    )
    assert result.next_step == identity_pb2.SIGN_IN_STEP_MFA_ENROLMENT_REQUIRED
    assert not result.session.mfa
    restricted = bearer(result.session.access_token)

    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await h.users.GetUser(
            identity_pb2.GetUserRequest(user_id=str(clinician.user_id)), metadata=restricted
        )
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    info = error_info(denied.value)
    assert info is not None
    assert info.metadata["reason"] == "MFA_REQUIRED"

    begin = await h.auth.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(), metadata=restricted)
    confirmed = await h.auth.ConfirmMfaEnrolment(
        identity_pb2.ConfirmMfaEnrolmentRequest(totp_code=pyotp.TOTP(begin.secret).at(h.clock())),
        metadata=restricted,
    )
    full = bearer(confirmed.session.access_token)
    reply = await h.users.GetUser(identity_pb2.GetUserRequest(user_id=str(clinician.user_id)), metadata=full)
    assert reply.user.mfa_enrolled
    # A second enrolment needs an admin reset first (IDN-MFA-01).
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await h.auth.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(), metadata=full)
    assert precondition_types(again.value) == ["IDN-MFA-01"]


async def test_wrong_mfa_codes_exhaust_the_challenge(identity: Harness) -> None:
    h = identity
    practice, admin = await h.new_practice()
    step1 = await h.auth.SignIn(
        identity_pb2.SignInRequest(
            practice_id=str(practice.practice_id), email=admin.email, password=PASSWORD
        )
    )
    assert step1.next_step == identity_pb2.SIGN_IN_STEP_MFA_REQUIRED
    for _ in range(4):
        with pytest.raises(grpc.aio.AioRpcError) as wrong:
            await h.auth.VerifyMfa(
                identity_pb2.VerifyMfaRequest(
                    mfa_challenge_token=step1.mfa_challenge_token, totp_code="123456"
                )
            )
        assert wrong.value.code() is grpc.StatusCode.UNAUTHENTICATED
    # The fifth failure locks the address (5 failures / 15 min) ...
    with pytest.raises(grpc.aio.AioRpcError):
        await h.auth.VerifyMfa(
            identity_pb2.VerifyMfaRequest(mfa_challenge_token=step1.mfa_challenge_token, totp_code="123456")
        )
    # ... and spends the challenge: even the right code no longer works with it.
    with pytest.raises(grpc.aio.AioRpcError) as spent:
        await h.auth.VerifyMfa(
            identity_pb2.VerifyMfaRequest(
                mfa_challenge_token=step1.mfa_challenge_token, totp_code=totp_now(h.clock)
            )
        )
    assert spent.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_invited_staff_set_a_password_through_the_invitation_link(identity: Harness) -> None:
    h = identity
    practice, admin = await h.new_practice()
    created = await h.users.CreateUser(
        identity_pb2.CreateUserRequest(
            email="new.clinician@example.test", display_name="Dr. New", roles=[identity_pb2.ROLE_CLINICIAN]
        ),
        metadata=h.auth_md(admin),
    )
    assert created.user.status == identity_pb2.USER_STATUS_INVITED
    invite = h.mailer.last(UUID(created.user.user_id), MailKind.INVITATION)
    assert invite.link is not None
    assert "/set-password?token=" in invite.link
    await h.auth.ResetPassword(
        identity_pb2.ResetPasswordRequest(token=token_of(invite.link), new_password=NEW_PASSWORD)
    )
    result = await h.auth.SignIn(
        identity_pb2.SignInRequest(
            practice_id=str(practice.practice_id), email="new.clinician@example.test", password=NEW_PASSWORD
        )
    )
    assert result.next_step == identity_pb2.SIGN_IN_STEP_MFA_ENROLMENT_REQUIRED

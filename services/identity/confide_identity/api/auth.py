# ruff: noqa: N802 - servicer methods carry the RPC names of the generated base classes
"""AuthService: map the request, call one use case, map the result back."""

from __future__ import annotations

from typing import Any

from confide.identity.v1 import identity_pb2 as pb
from confide.identity.v1 import identity_pb2_grpc
from confide_chassis.auth import current_principal
from confide_identity.api import mapping
from confide_identity.app.auth import AuthUseCases


class AuthServicer(identity_pb2_grpc.AuthServiceServicer):
    def __init__(self, auth: AuthUseCases) -> None:
        self._auth = auth

    async def SignUp(self, request: pb.SignUpRequest, context: Any) -> pb.SignUpResponse:
        await self._auth.sign_up(mapping.sign_up(request))
        return pb.SignUpResponse()

    async def VerifyEmail(self, request: pb.VerifyEmailRequest, context: Any) -> pb.VerifyEmailResponse:
        await self._auth.verify_email(mapping.verify_email(request))
        return pb.VerifyEmailResponse()

    async def ResendVerificationEmail(
        self, request: pb.ResendVerificationEmailRequest, context: Any
    ) -> pb.ResendVerificationEmailResponse:
        await self._auth.resend_verification(mapping.resend_verification_email(request))
        return pb.ResendVerificationEmailResponse()

    async def SignIn(self, request: pb.SignInRequest, context: Any) -> pb.SignInResponse:
        return mapping.sign_in_response(await self._auth.sign_in(mapping.sign_in(request)))

    async def VerifyMfa(self, request: pb.VerifyMfaRequest, context: Any) -> pb.VerifyMfaResponse:
        session, remaining = await self._auth.verify_mfa(mapping.verify_mfa(request))
        return pb.VerifyMfaResponse(session=mapping.session_pb(session), recovery_codes_remaining=remaining)

    async def Refresh(self, request: pb.RefreshRequest, context: Any) -> pb.RefreshResponse:
        session = await self._auth.refresh(mapping.refresh(request))
        return pb.RefreshResponse(session=mapping.session_pb(session))

    async def SignOut(self, request: pb.SignOutRequest, context: Any) -> pb.SignOutResponse:
        await self._auth.sign_out(current_principal(), mapping.sign_out(request))
        return pb.SignOutResponse()

    async def SignOutEverywhere(
        self, request: pb.SignOutEverywhereRequest, context: Any
    ) -> pb.SignOutEverywhereResponse:
        command = mapping.sign_out_everywhere(request)
        ended = await self._auth.sign_out_everywhere(current_principal(), command)
        return pb.SignOutEverywhereResponse(sessions_ended=ended)

    async def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: Any
    ) -> pb.RequestPasswordResetResponse:
        await self._auth.request_password_reset(mapping.request_password_reset(request))
        return pb.RequestPasswordResetResponse()

    async def ResetPassword(self, request: pb.ResetPasswordRequest, context: Any) -> pb.ResetPasswordResponse:
        await self._auth.reset_password(mapping.reset_password(request))
        return pb.ResetPasswordResponse()

    async def BeginMfaEnrolment(
        self, request: pb.BeginMfaEnrolmentRequest, context: Any
    ) -> pb.BeginMfaEnrolmentResponse:
        return mapping.mfa_enrolment_response(await self._auth.begin_mfa_enrolment(current_principal()))

    async def ConfirmMfaEnrolment(
        self, request: pb.ConfirmMfaEnrolmentRequest, context: Any
    ) -> pb.ConfirmMfaEnrolmentResponse:
        command = mapping.confirm_mfa_enrolment(request)
        codes, session = await self._auth.confirm_mfa_enrolment(current_principal(), command)
        return pb.ConfirmMfaEnrolmentResponse(recovery_codes=list(codes), session=mapping.session_pb(session))

    async def RegenerateRecoveryCodes(
        self, request: pb.RegenerateRecoveryCodesRequest, context: Any
    ) -> pb.RegenerateRecoveryCodesResponse:
        codes = await self._auth.regenerate_recovery_codes(current_principal())
        return pb.RegenerateRecoveryCodesResponse(recovery_codes=list(codes))

    async def GetJwks(self, request: pb.GetJwksRequest, context: Any) -> pb.GetJwksResponse:
        return pb.GetJwksResponse(jwks_json=self._auth.jwks_json())

    async def RotateSigningKey(
        self, request: pb.RotateSigningKeyRequest, context: Any
    ) -> pb.RotateSigningKeyResponse:
        keys = await self._auth.rotate_signing_key(current_principal())
        return pb.RotateSigningKeyResponse(keys=[mapping.key_pb(key) for key in keys])

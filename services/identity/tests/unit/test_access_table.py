"""Every RPC of every identity service declares who may call it; exactly the sign-in surface is public,
and staff-only operations require MFA at the gate (SEC-03)."""

from __future__ import annotations

from confide.identity.v1 import identity_pb2
from confide_identity.api.access import ACCESS

PUBLIC = {
    "SignUp",
    "VerifyEmail",
    "ResendVerificationEmail",
    "SignIn",
    "VerifyMfa",
    "Refresh",
    "RequestPasswordReset",
    "ResetPassword",
    "GetJwks",
}
CLIENT_REACHABLE = {
    "SignOut",
    "SignOutEverywhere",
    "BeginMfaEnrolment",
    "ConfirmMfaEnrolment",
    "RegenerateRecoveryCodes",
    "GetPractice",
    "GetUser",
    "GetClientProfile",
    "UpdateClientProfile",
    "GetCurrentConsentDocument",
    "SignConsent",
    "GetConsentStatus",
    "ListCareTeam",
}


def test_every_rpc_is_declared() -> None:
    for service in identity_pb2.DESCRIPTOR.services_by_name.values():
        declared = ACCESS[service.full_name]
        assert set(declared) == {method.name for method in service.methods}, service.name


def test_public_surface_and_mfa_for_staff_only_operations() -> None:
    for table in ACCESS.values():
        for method, access in table.items():
            assert access.public == (method in PUBLIC), method
            if access.public:
                continue
            if method in CLIENT_REACHABLE:
                assert "client" in access.roles, method
            else:
                assert "client" not in access.roles, method
                assert access.require_mfa, method

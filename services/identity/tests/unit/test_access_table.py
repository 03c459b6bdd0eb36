"""Every RPC of every identity service declares who may call it in identity.proto; exactly the sign-in
surface is public, staff-only operations require MFA at the gate (SEC-03), and browsers reach everything
but the platform's internal and operator RPCs."""

from __future__ import annotations

from confide.identity.v1 import identity_pb2
from confide_chassis import roles
from confide_chassis.auth import Access

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
NOT_FOR_BROWSERS = {"GetJwks", "RotateSigningKey", "CreatePractice"}


def declared() -> dict[str, Access]:
    found: dict[str, Access] = {}
    for service in identity_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            access = Access.of_method(method)
            assert access is not None, f"{service.name}.{method.name} declares no access"
            found[method.name] = access
    return found


def test_every_rpc_is_declared() -> None:
    methods = {m.name for s in identity_pb2.DESCRIPTOR.services_by_name.values() for m in s.methods}
    assert set(declared()) == methods


def test_public_surface_and_mfa_for_staff_only_operations() -> None:
    for method, access in declared().items():
        assert access.public == (method in PUBLIC), method
        if access.public:
            continue
        assert access.roles <= roles.EVERY_ROLE, method
        if method in CLIENT_REACHABLE:
            assert roles.CLIENT in access.roles, method
        else:
            assert roles.CLIENT not in access.roles, method
            assert access.require_mfa, method


def test_the_gateway_serves_what_people_use_and_not_the_operator_or_internal_rpcs() -> None:
    for method, access in declared().items():
        assert access.gateway == (method not in NOT_FOR_BROWSERS), method

"""Who may call each RPC (the chassis interceptor checks this before the servicer runs). Deny by default.

The table is the coarse gate: public or not, which roles, MFA for staff-only operations. The domain's
`authorize` then checks the relationship (self, care team, same practice) and SEC-03 for every staff role
on RPCs that clients may also call.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from confide.identity.v1 import identity_pb2
from confide_chassis.auth import PUBLIC, Access, allow

CLIENT = "client"
CLINICIAN = "clinician"
ADMIN = "practice_admin"
COMPLIANCE = "compliance_officer"
OPERATOR = "platform_operator"
EVERY_ROLE = (CLIENT, CLINICIAN, ADMIN, COMPLIANCE, OPERATOR)


def _full_name(service: str) -> str:
    return identity_pb2.DESCRIPTOR.services_by_name[service].full_name


AUTH_SERVICE: Final = _full_name("AuthService")
PRACTICE_SERVICE: Final = _full_name("PracticeService")
USER_SERVICE: Final = _full_name("UserService")
CLIENT_PROFILE_SERVICE: Final = _full_name("ClientProfileService")
CONSENT_SERVICE: Final = _full_name("ConsentService")
CARE_TEAM_SERVICE: Final = _full_name("CareTeamService")

ACCESS: Final[MappingProxyType[str, dict[str, Access]]] = MappingProxyType(
    {
        AUTH_SERVICE: {
            "SignUp": PUBLIC,
            "VerifyEmail": PUBLIC,
            "ResendVerificationEmail": PUBLIC,
            "SignIn": PUBLIC,
            "VerifyMfa": PUBLIC,
            "Refresh": PUBLIC,
            "RequestPasswordReset": PUBLIC,
            "ResetPassword": PUBLIC,
            "GetJwks": PUBLIC,
            # Allowed before MFA (SEC-03 staff must be able to enrol and to sign out).
            "SignOut": allow(*EVERY_ROLE),
            "SignOutEverywhere": allow(*EVERY_ROLE),
            "BeginMfaEnrolment": allow(*EVERY_ROLE),
            "ConfirmMfaEnrolment": allow(*EVERY_ROLE),
            "RegenerateRecoveryCodes": allow(*EVERY_ROLE, mfa=True),
            "RotateSigningKey": allow(OPERATOR, mfa=True),
        },
        PRACTICE_SERVICE: {
            "CreatePractice": allow(OPERATOR, mfa=True),
            "GetPractice": allow(*EVERY_ROLE),
            "UpdatePracticeSettings": allow(ADMIN, mfa=True),
        },
        USER_SERVICE: {
            "CreateUser": allow(ADMIN, mfa=True),
            "GetUser": allow(*EVERY_ROLE),
            "ListUsers": allow(ADMIN, COMPLIANCE, mfa=True),
            "DeactivateUser": allow(ADMIN, mfa=True),
            "ChangeUserRoles": allow(ADMIN, mfa=True),
            "ResetUserMfa": allow(ADMIN, mfa=True),
        },
        CLIENT_PROFILE_SERVICE: {
            "GetClientProfile": allow(CLIENT, CLINICIAN, ADMIN),
            "UpdateClientProfile": allow(CLIENT, ADMIN),
        },
        CONSENT_SERVICE: {
            "PublishConsentDocument": allow(ADMIN, mfa=True),
            "GetCurrentConsentDocument": allow(*EVERY_ROLE),
            "SignConsent": allow(CLIENT, CLINICIAN),
            "GetConsentStatus": allow(CLIENT, CLINICIAN, ADMIN, COMPLIANCE),
        },
        CARE_TEAM_SERVICE: {
            "AssignClinician": allow(ADMIN, mfa=True),
            "RemoveClinician": allow(ADMIN, mfa=True),
            "ListCareTeam": allow(CLIENT, CLINICIAN, ADMIN, COMPLIANCE),
        },
    }
)

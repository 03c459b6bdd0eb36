"""The authorization matrix, generated from the RPC declarations (`option (confide.common.v1.access)`).

Two layers decide who may call what (ADR 4, ADR 9):

- the **access layer** (the chassis interceptor) reads each RPC's declaration: public, or the roles
  admitted (none named = any signed-in user) and whether MFA is required. `expected` says what it must
  answer for every kind of caller; `tests/security/test_authorization_matrix.py` asks every running
  service the same and compares;
- the **relationship layer** (each service's use cases) decides whose data a caller may touch: their
  own, their care team's clients, their practice. Every RPC is classified below, once: checked here by
  a scenario (`RELATIONSHIPS`), checked by a named per-service test (`COVERED_ELSEWHERE`), carrying
  no per-client data (`NO_CLIENT_DATA`, with the reason), or a known gap (`NOT_YET_CHECKED`, shown as
  such on the page). A new RPC in none of them fails the test.

Run `.venv/bin/python -m tests.security.matrix > docs/security/authorization-matrix.md` after changing
a declaration or the tables; the test fails while the committed page differs (`--check`).
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.descriptor import MethodDescriptor

from confide_chassis import roles
from confide_chassis.auth import Access
from confide_gateway.routes import confide_files

# The services behind the gateway, in the order the docs list them.
AREAS = ("identity", "scheduling", "messaging", "billing", "compliance", "directory")
ROLES = (
    roles.CLIENT,
    roles.CLINICIAN,
    roles.PRACTICE_ADMIN,
    roles.COMPLIANCE_OFFICER,
    roles.PLATFORM_OPERATOR,
)
ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "security" / "authorization-matrix.md"


@dataclass(frozen=True, slots=True)
class Rpc:
    path: str  # "/confide.scheduling.v1.AppointmentService/GetAppointment"
    area: str  # "scheduling"
    name: str  # "AppointmentService/GetAppointment"
    method: MethodDescriptor
    access: Access | None  # None: nothing declared (then nobody may call it)


def declared_rpcs() -> list[Rpc]:
    """Every RPC of every Confide service, from the generated descriptors (not from what a service
    happens to register)."""
    found: dict[str, Rpc] = {}
    for file in confide_files():
        for service in file.services_by_name.values():
            area = service.full_name.split(".")[1]
            if area not in AREAS:
                continue  # confide.devtest: the chassis' own test services
            for method in service.methods:
                path = f"/{service.full_name}/{method.name}"
                found[path] = Rpc(
                    path, area, f"{service.name}/{method.name}", method, Access.of_method(method)
                )
    return sorted(found.values(), key=lambda r: (AREAS.index(r.area), r.path))


# --- the access layer ------------------------------------------------------------------------------------


class TokenKind(enum.Enum):
    NONE = "no token"
    VALID = "valid"
    EXPIRED = "expired token"
    UNKNOWN_KEY = "token signed by an unknown key"
    TAMPERED = "token with a forged claim"
    WRONG_AUDIENCE = "token for another audience"
    WRONG_ISSUER = "token from another issuer"
    TOO_LONG_LIVED = "token living longer than 15 minutes"


BAD_TOKENS = tuple(k for k in TokenKind if k not in (TokenKind.NONE, TokenKind.VALID))


class Outcome(enum.Enum):
    """What the access layer answers; ALLOW means the call reached the service's handler."""

    ALLOW = "allow"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    ROLE_DENIED = "PERMISSION_DENIED (role)"
    MFA_DENIED = "PERMISSION_DENIED (MFA)"
    UNDECLARED = "PERMISSION_DENIED (undeclared)"


# The chassis' own messages (confide_chassis.auth, .grpc.interceptor): they tell the access layer's
# answer from a handler's PERMISSION_DENIED or NOT_FOUND.
ACCESS_LAYER_MESSAGES = {
    Outcome.UNAUTHENTICATED: frozenset(
        {"a valid access token is required", "invalid access token", "access token expired"}
    ),
    Outcome.ROLE_DENIED: frozenset({"the caller's role may not use this operation"}),
    Outcome.MFA_DENIED: frozenset({"this operation requires multi-factor authentication"}),
    Outcome.UNDECLARED: frozenset({"operation not permitted"}),
}


@dataclass(frozen=True, slots=True)
class Caller:
    token: TokenKind
    role: str | None = None  # None with a bad token: a role the RPC admits (only the token is at fault)
    mfa: bool = True

    @property
    def label(self) -> str:
        if self.token is not TokenKind.VALID:
            return str(self.token.value)
        return f"{self.role}{' + MFA' if self.mfa else ''}"


CALLERS: tuple[Caller, ...] = (
    Caller(TokenKind.NONE),
    *(Caller(kind) for kind in BAD_TOKENS),
    *(Caller(TokenKind.VALID, role, mfa) for role in ROLES for mfa in (False, True)),
)


def admitted_role(access: Access | None) -> str:
    """A role the declaration admits (a client when any signed-in user may call)."""
    if access is None or access.public or not access.roles:
        return roles.CLIENT
    return next(r for r in ROLES if r in access.roles)


def expected(access: Access | None, caller: Caller) -> Outcome:
    """The access layer's answer, from the declaration alone (ADR 4, ADR 9, access.proto):
    undeclared RPCs are nobody's; a public RPC ignores any token, even a bad one; otherwise a missing
    or invalid token is UNAUTHENTICATED, a role not named is PERMISSION_DENIED, and so is a session
    without MFA where the RPC requires it."""
    if access is None:
        return Outcome.UNDECLARED
    if access.public:
        return Outcome.ALLOW
    if caller.token is not TokenKind.VALID:
        return Outcome.UNAUTHENTICATED
    role = caller.role or admitted_role(access)
    if access.roles and role not in access.roles:
        return Outcome.ROLE_DENIED
    if access.require_mfa and not caller.mfa:
        return Outcome.MFA_DENIED
    return Outcome.ALLOW


# --- the relationship layer ------------------------------------------------------------------------------


class Relation(enum.Enum):
    """Who calls about one client (alex, of the demo practice; docs/runbooks/demo-data.md)."""

    OWN = "the client"
    CARE_TEAM = "clinician on the care team"
    OTHER_CLINICIAN = "clinician of another client"
    OTHER_CLIENT = "another client"
    ADMIN = "practice admin"
    OTHER_PRACTICE = "another practice"


RELATION_ROLE = {
    Relation.OWN: roles.CLIENT,
    Relation.CARE_TEAM: roles.CLINICIAN,
    Relation.OTHER_CLINICIAN: roles.CLINICIAN,
    Relation.OTHER_CLIENT: roles.CLIENT,
    Relation.ADMIN: roles.PRACTICE_ADMIN,
}

OWN, CARE_TEAM, ADMIN = Relation.OWN, Relation.CARE_TEAM, Relation.ADMIN

# RPC -> the relations that may act on the client's data. Every other relation is refused: by the access
# layer when its role is not declared, otherwise by the domain (PERMISSION_DENIED or NOT_FOUND within
# the practice; NOT_FOUND, always, from another practice, whatever the caller's role).
RELATIONSHIPS: dict[str, frozenset[Relation]] = {
    # scheduling: an appointment of alex with dr.rivera, alex's care team
    "AppointmentService/GetAppointment": frozenset({OWN, CARE_TEAM, ADMIN}),
    "AppointmentService/ListAppointments": frozenset({OWN, CARE_TEAM, ADMIN}),
    "AppointmentService/CancelAppointment": frozenset({OWN, CARE_TEAM, ADMIN}),
    "AppointmentService/RescheduleAppointment": frozenset({OWN, CARE_TEAM, ADMIN}),
    "AppointmentService/MarkNoShow": frozenset({CARE_TEAM, ADMIN}),
    "AppointmentService/RecheckAuthorization": frozenset({CARE_TEAM, ADMIN}),
    "AppointmentService/HoldSlot": frozenset({OWN, CARE_TEAM, ADMIN}),
    "AppointmentService/BookAppointment": frozenset({OWN, CARE_TEAM, ADMIN}),
    "AppointmentService/ConfirmHold": frozenset({OWN, CARE_TEAM, ADMIN}),
    "AppointmentService/ReleaseHold": frozenset({OWN, CARE_TEAM, ADMIN}),
    "AvailabilityService/SearchSlots": frozenset({OWN, CARE_TEAM, ADMIN}),
    "ScreeningService/SubmitScreening": frozenset({OWN, CARE_TEAM}),
    "ScreeningService/GetLatestScreening": frozenset({OWN, CARE_TEAM, ADMIN}),
    "WaitlistService/ListWaitlist": frozenset({OWN, ADMIN}),
    "WaitlistService/JoinWaitlist": frozenset({OWN, CARE_TEAM, ADMIN}),
    "SessionService/CheckIn": frozenset({OWN, CARE_TEAM}),
    "SessionService/GetJoinLink": frozenset({OWN, CARE_TEAM}),
    "SessionService/StartSession": frozenset({CARE_TEAM}),
    "SessionService/CompleteSession": frozenset({CARE_TEAM}),
    "SeriesService/CreateSeries": frozenset({OWN, CARE_TEAM, ADMIN}),
    "SeriesService/GetSeries": frozenset({OWN, CARE_TEAM, ADMIN}),
    "SeriesService/SkipOccurrence": frozenset({OWN, CARE_TEAM, ADMIN}),
    "SeriesService/MoveOccurrence": frozenset({OWN, CARE_TEAM, ADMIN}),
    "SeriesService/RescheduleFollowing": frozenset({OWN, CARE_TEAM, ADMIN}),
    "SeriesService/CancelFollowing": frozenset({OWN, CARE_TEAM, ADMIN}),
    "WaitlistService/LeaveWaitlist": frozenset({OWN, ADMIN}),
    # messaging: alex's thread; participants are the client and the care team (an admin is not one)
    "MessagingService/CreateThread": frozenset({OWN, CARE_TEAM}),
    "MessagingService/GetThread": frozenset({OWN, CARE_TEAM}),
    "MessagingService/ListMessages": frozenset({OWN, CARE_TEAM}),
    "MessagingService/SendMessage": frozenset({OWN, CARE_TEAM}),
    "MessagingService/MarkRead": frozenset({OWN, CARE_TEAM}),
    "MessagingService/StreamMessages": frozenset({OWN, CARE_TEAM}),
    # billing: alex's account
    "AccountService/GetAccount": frozenset({OWN, CARE_TEAM, ADMIN}),
    "AccountService/GetSuperbill": frozenset({OWN, ADMIN}),
    "AccountService/IssueInvoice": frozenset({ADMIN}),
    "BillingSetupService/RecordSlidingScale": frozenset({ADMIN}),
    # directory: matching for alex
    "DirectoryService/SearchClinicians": frozenset({OWN, ADMIN}),
}

IDENTITY_MATRIX = "services/identity/tests/integration/test_authorization_matrix.py"
MESSAGING_THREADS = "services/messaging/tests/integration/test_threads.py"
SCHEDULING_SERIES = "services/scheduling/tests/integration/test_search_series_waitlist.py"
SCHEDULING_BOOKING = "services/scheduling/tests/integration/test_booking.py"
COMPLIANCE_USERS = "services/compliance/tests/integration/test_practice_users.py"
COMPLIANCE_REGISTRY = "services/compliance/tests/integration/test_registry_api.py"
COMPLIANCE_AUTHZ = "services/compliance/tests/integration/test_authorization_api.py"
COMPLIANCE_AUDIT = "services/compliance/tests/integration/test_audit_trail.py"
DIRECTORY_PROFILES = "services/directory/tests/integration/test_profiles.py"

# RPC -> (the test that checks its relationship rules, what it checks).
COVERED_ELSEWHERE: dict[str, tuple[str, str]] = {
    **{
        f"{rpc}": (IDENTITY_MATRIX, "role x same/other practice, care team, own records")
        for rpc in (
            "UserService/GetUser",
            "UserService/DeactivateUser",
            "UserService/ChangeUserRoles",
            "UserService/ResetUserMfa",
            "AuthService/SignOutEverywhere",
            "ClientProfileService/GetClientProfile",
            "ClientProfileService/UpdateClientProfile",
            "ConsentService/SignConsent",
            "ConsentService/GetConsentStatus",
            "CareTeamService/AssignClinician",
            "CareTeamService/RemoveClinician",
            "CareTeamService/ListCareTeam",
        )
    },
    "MessagingService/AmendMessage": (
        MESSAGING_THREADS,
        "only the author amends: another participant is refused (test_msg_05_...)",
    ),
    "WaitlistService/AcceptWaitlistOffer": (
        SCHEDULING_SERIES,
        "another client gets NOT_FOUND (test_waitlist_gets_the_freed_slot_...)",
    ),
    "AuthorizationService/GetDecision": (COMPLIANCE_AUTHZ, "another practice's decision is NOT_FOUND"),
    "AuthorizationService/CheckAuthorization": (
        COMPLIANCE_AUTHZ,
        "another practice's clinician: denied LIC-03 'no record in this practice' (ADR 7)",
    ),
    "AuditTrailService/GetAccessReport": (
        COMPLIANCE_AUDIT,
        "another client is refused; another practice's officer sees nothing",
    ),
}

# RPC -> what its code does about relationships, for the RPCs whose rules no test checks yet: they need
# data this module cannot make cheaply (an offer from a freed slot, a charge from a completed session, an
# invoice, a payment). Listed so that the gap is visible in the generated page; shrink it.
NOT_YET_CHECKED: dict[str, str] = {
    "WaitlistService/DeclineWaitlistOffer": "the offer's client only, like AcceptWaitlistOffer (waitlist.py)",
    "AccountService/SetDiagnosisCodes": "NOT_FOUND outside the practice; only the session's clinician",
    "AccountService/PayInvoice": "the invoice's client only",
    "AccountService/RecordManualPayment": "admins, NOT_FOUND for another practice's invoice",
    "AccountService/RefundPayment": "admins, NOT_FOUND for another practice's payment",
    "AuditTrailService/QueryAuditTrail": "officers and operators; entries of the caller's practice only",
}

# RPC -> why it reads or changes no one client's data (practice settings, the caller's own account,
# clinicians' credentials and profiles, public catalogues).
_SIGN_IN = "signing in or up: no caller yet, nobody's data by id"
_OWN_ACCOUNT = "acts on the caller's own account only (no id in the request)"
_OWN_SUBSCRIPTION = "the calling client's own subscription (no id in the request)"
_PRACTICE = "practice-wide settings or catalogue of the caller's practice, no client's data"
_CREDENTIALS = f"a clinician's credentials, scoped to the caller's practice ({COMPLIANCE_REGISTRY})"
_CLINICIAN_CALENDAR = (
    "a clinician's own calendar (a clinician only theirs, an admin any in the practice); "
    f"no client's data ({SCHEDULING_BOOKING})"
)
NO_CLIENT_DATA: dict[str, str] = {
    "AuthService/SignUp": _SIGN_IN,
    "AuthService/VerifyEmail": _SIGN_IN,
    "AuthService/ResendVerificationEmail": _SIGN_IN,
    "AuthService/SignIn": _SIGN_IN,
    "AuthService/VerifyMfa": _SIGN_IN,
    "AuthService/Refresh": _SIGN_IN,
    "AuthService/RequestPasswordReset": _SIGN_IN,
    "AuthService/ResetPassword": _SIGN_IN,
    "AuthService/SignOut": _OWN_ACCOUNT,
    "AccountService/Subscribe": _OWN_SUBSCRIPTION,
    "AccountService/ChangePlan": _OWN_SUBSCRIPTION,
    "AccountService/CancelSubscription": _OWN_SUBSCRIPTION,
    "BillingSetupService/AcceptFeePolicy": "the calling client's own acceptance (no id in the request)",
    "AuthService/BeginMfaEnrolment": _OWN_ACCOUNT,
    "AuthService/ConfirmMfaEnrolment": _OWN_ACCOUNT,
    "AuthService/RegenerateRecoveryCodes": _OWN_ACCOUNT,
    "AuthService/GetJwks": "public signing keys",
    "AuthService/RotateSigningKey": "platform signing keys, no client's data",
    "PracticeService/CreatePractice": "creates a practice and its first admin (platform operators)",
    "PracticeService/GetPractice": _PRACTICE,
    "PracticeService/UpdatePracticeSettings": _PRACTICE,
    "UserService/CreateUser": "creates a user in the caller's practice (admins)",
    "UserService/ListUsers": f"lists the caller's practice only ({IDENTITY_MATRIX})",
    "ConsentService/PublishConsentDocument": _PRACTICE,
    "ConsentService/GetCurrentConsentDocument": _PRACTICE,
    "AvailabilityService/ListSessionTypes": _PRACTICE,
    "AvailabilityService/GetSchedule": _CLINICIAN_CALENDAR,
    "AvailabilityService/SetWeeklySchedule": _CLINICIAN_CALENDAR,
    "AvailabilityService/AddAvailabilityException": _CLINICIAN_CALENDAR,
    "AvailabilityService/RemoveAvailabilityException": _CLINICIAN_CALENDAR,
    "AvailabilityService/AddTimeOff": _CLINICIAN_CALENDAR,
    "AvailabilityService/RemoveTimeOff": _CLINICIAN_CALENDAR,
    "AppointmentService/GetCancellationPolicy": _PRACTICE,
    "AppointmentService/SetCancellationPolicy": _PRACTICE,
    "MessagingService/ListThreads": f"lists the caller's own threads only, no id ({MESSAGING_THREADS})",
    "NotificationService/GetNotificationPreferences": _OWN_ACCOUNT,
    "NotificationService/SetNotificationPreferences": _OWN_ACCOUNT,
    "ReplyPolicyService/GetReplyPolicy": _PRACTICE,
    "ReplyPolicyService/SetReplyPolicy": _PRACTICE,
    "BillingSetupService/SetPriceList": _PRACTICE,
    "BillingSetupService/GetPriceList": _PRACTICE,
    "BillingSetupService/SetBillingProfile": "a clinician's billing profile in the caller's practice",
    "BillingSetupService/CreatePlan": _PRACTICE,
    "BillingSetupService/ListPlans": _PRACTICE,
    "AuthorizationService/FindAuthorizedClinicians": (
        f"service-to-service licensing question about a location ({COMPLIANCE_AUTHZ})"
    ),
    "AuditTrailService/VerifyChain": "integrity of the whole trail, no record returned",
    "CredentialRegistryService/UpsertClinician": _CREDENTIALS,
    "CredentialRegistryService/PutStateLicense": _CREDENTIALS,
    "CredentialRegistryService/PutCompactAuthority": _CREDENTIALS,
    "CredentialRegistryService/PutStateException": _CREDENTIALS,
    "CredentialRegistryService/PutBcTmh": _CREDENTIALS,
    "CredentialRegistryService/SetNpi": _CREDENTIALS,
    "CredentialRegistryService/RecordVerification": _CREDENTIALS,
    "CredentialRegistryService/ListClinicianCredentials": f"{_CREDENTIALS}; {COMPLIANCE_USERS}",
    "CredentialRegistryService/ListCredentialHistory": _CREDENTIALS,
    "CredentialRegistryService/ListVerifications": _CREDENTIALS,
    "CredentialRegistryService/GetCoverage": _CREDENTIALS,
    "DirectoryService/GetClinicianProfile": "a clinician's public profile",
    "DirectoryService/ListVocabulary": "public catalogue",
    "ProfileService/GetMyProfile": f"the calling clinician's own profile ({DIRECTORY_PROFILES})",
    "ProfileService/UpdateMyProfile": f"the calling clinician's own profile ({DIRECTORY_PROFILES})",
    "ProfileService/ListPendingProfiles": f"profiles of the caller's practice ({DIRECTORY_PROFILES})",
    "ProfileService/ApproveProfile": f"a clinician's profile of the caller's practice ({DIRECTORY_PROFILES})",
}

# Request fields that name one client's data (or point at it). An RPC whose request has one may not be
# listed as having no client data.
CLIENT_DATA_FIELDS = frozenset(
    {
        "client_id",
        "appointment_id",
        "thread_id",
        "message_id",
        "invoice_id",
        "payment_id",
        "charge_id",
        "series_id",
        "entry_id",
        "offer_id",
        "subscription_id",
        "subject_id",
        "link_id",
        "determination_id",
    }
)


def client_data_fields(rpc: Rpc) -> set[str]:
    return {f.name for f in rpc.method.input_type.fields if f.name in CLIENT_DATA_FIELDS}


def classification(rpc: Rpc) -> str:
    if rpc.name in RELATIONSHIPS:
        allowed = RELATIONSHIPS[rpc.name]
        return "checked here: " + (", ".join(r.value for r in Relation if r in allowed) or "nobody")
    if rpc.name in COVERED_ELSEWHERE:
        where, what = COVERED_ELSEWHERE[rpc.name]
        return f"{what} ({where})"
    if rpc.name in NO_CLIENT_DATA:
        return f"no client's data: {NO_CLIENT_DATA[rpc.name]}"
    if rpc.name in NOT_YET_CHECKED:
        return f"**not yet checked by a test**: {NOT_YET_CHECKED[rpc.name]}"
    return "UNCLASSIFIED"


# --- the page --------------------------------------------------------------------------------------------


def _declaration(access: Access | None) -> str:
    if access is None:
        return "undeclared"
    if access.public:
        return "public"
    if not access.roles:
        who = "any signed-in user"
    elif access.roles >= set(ROLES):
        who = "every role"
    else:
        who = ", ".join(r for r in ROLES if r in access.roles)
    return who + (" + MFA" if access.require_mfa else "")


_CELL = {
    Outcome.ALLOW: "✓",
    Outcome.UNAUTHENTICATED: "401",
    Outcome.ROLE_DENIED: "✗",
    Outcome.MFA_DENIED: "MFA",
    Outcome.UNDECLARED: "✗",
}


def _role_cell(access: Access | None, role: str) -> str:
    without = expected(access, Caller(TokenKind.VALID, role, mfa=False))
    with_mfa = expected(access, Caller(TokenKind.VALID, role, mfa=True))
    if without is Outcome.ALLOW:
        return "✓"
    if with_mfa is Outcome.ALLOW:
        return "MFA"
    return "✗"


def render(rpcs: Sequence[Rpc]) -> str:
    lines = [
        "# Authorization matrix",
        "",
        "Generated by `.venv/bin/python -m tests.security.matrix > docs/security/authorization-matrix.md`",
        "from the `option (confide.common.v1.access)` declarations and the relationship tables of",
        "`tests/security/matrix.py`; `tests/security/test_authorization_matrix.py` checks every cell",
        "against the running services and fails while this page is stale. Do not edit by hand.",
        "",
        "Cells: ✓ allowed; MFA allowed only with an MFA session (else PERMISSION_DENIED); ✗",
        "PERMISSION_DENIED; 401 UNAUTHENTICATED. *Bad token* is an expired token, one signed by an unknown",
        "key, a forged claim, another audience or issuer, or one living longer than 15 minutes: a public RPC",
        "ignores it, every other RPC answers UNAUTHENTICATED. *Gateway* marks the RPCs browsers reach",
        "through the gateway; the others answer 404 there.",
        "",
    ]
    for area in AREAS:
        lines += [
            f"## {area}",
            "",
            "| RPC | declared | gateway | no token | bad token | "
            + " | ".join(ROLES)
            + " | whose data (relationship layer) |",
            "|---|---|---|---|---|" + "---|" * len(ROLES) + "---|",
        ]
        for rpc in (r for r in rpcs if r.area == area):
            access = rpc.access
            cells = [
                f"`{rpc.name}`",
                _declaration(access),
                "yes" if access is not None and access.gateway else "no",
                _CELL[expected(access, Caller(TokenKind.NONE))],
                _CELL[expected(access, Caller(TokenKind.EXPIRED))],
                *(_role_cell(access, role) for role in ROLES),
                classification(rpc),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def iter_unclassified(rpcs: Sequence[Rpc]) -> Iterator[Rpc]:
    return (r for r in rpcs if classification(r) == "UNCLASSIFIED")


def main(argv: Sequence[str]) -> int:
    page = render(declared_rpcs())
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != page:
            sys.stderr.write(
                f"{PAGE.relative_to(ROOT)} is stale: run .venv/bin/python -m tests.security.matrix > {PAGE}\n"
            )
            return 1
        return 0
    sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""`seed-demo`: a demo practice for `make run`, created idempotently through the normal use cases (so the
usual events and audit records are emitted and published by the outbox relay once identity serves).

DEV ONLY (the command refuses to run unless IDENTITY_DEV_MODE=true): every demo account shares one
documented password and staff share one documented TOTP secret, so a developer can sign in as anyone.

| e-mail | roles | notes |
|---|---|---|
| admin@demo-practice.test | practice_admin | id …0000000000a1; TOTP enrolled |
| ops@demo-practice.test | practice_admin, platform_operator | id …0000000000a2; TOTP enrolled |
| dr.chen@demo-practice.test | clinician | id …0000000000c1 (psychologist, CO); care team of sam |
| dr.patel@demo-practice.test | clinician | id …0000000000c2 (counselor, AZ) |
| dr.rivera@demo-practice.test | clinician | id …0000000000c3 (social worker, CA); care team of alex |
| alex@demo-practice.test | client | id …0000000000e1; CA adult, self-pay; consent signed |
| sam@demo-practice.test | client | id …0000000000e2; TX adult, insurance; consent signed |

Ids are `01930000-0000-7000-8000-<12 hex>`; the practice is `01930000-0000-7000-8000-000000000001`, the
same ids as the compliance and scheduling demo seeds (docs/runbooks/demo-data.md).

Password of every account: ``Tulip-Harbor-Lantern-42``. TOTP secret of every staff account:
``JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP`` (``python -c "import pyotp; print(pyotp.TOTP('JBSW...').now())"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final
from uuid import UUID

from confide_chassis import audit
from confide_chassis.auth import Principal as CallerToken
from confide_identity.app import commands, events
from confide_identity.app.context import AppContext
from confide_identity.app.models import Practice, User
from confide_identity.app.support import audit_record
from confide_identity.app.use_cases import UseCases
from confide_identity.app.users import ADMIN_CLI
from confide_identity.domain.consent import Modality, SignatureMethod, SignerRole
from confide_identity.domain.jurisdictions import US_JURISDICTIONS
from confide_identity.domain.mfa import TotpCredential
from confide_identity.domain.profile import ClientProfileInput
from confide_identity.domain.roles import Role

DEMO_SLUG: Final = "demo-practice"
DEMO_NAME: Final = "Demo Practice"
DEMO_PASSWORD: Final = "Tulip-Harbor-Lantern-42"  # noqa: S105 - documented dev-only demo password
DEMO_TOTP_SECRET: Final = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - documented dev-only secret
DOMAIN: Final = "demo-practice.test"


def _fixed(suffix: str) -> UUID:
    return UUID(f"01930000-0000-7000-8000-{suffix:0>12}")


# Fixed ids shared with the other services' demo seeds (docs/runbooks/demo-data.md).
DEMO_PRACTICE_ID: Final = _fixed("1")


@dataclass(frozen=True, slots=True)
class DemoUser:
    key: str
    user_id: UUID
    email: str
    display_name: str
    roles: frozenset[Role]


ADMIN = DemoUser("admin", _fixed("a1"), f"admin@{DOMAIN}", "Dana Okafor", frozenset({Role.PRACTICE_ADMIN}))
OPERATOR = DemoUser(
    "operator",
    _fixed("a2"),
    f"ops@{DOMAIN}",
    "Priya Natarajan",
    frozenset({Role.PRACTICE_ADMIN, Role.PLATFORM_OPERATOR}),
)
CLINICIANS = (
    # psychologist, Colorado (PSYPACT APIT in compliance's seed)
    DemoUser(
        "clinician_chen", _fixed("c1"), f"dr.chen@{DOMAIN}", "Dr. Wei Chen", frozenset({Role.CLINICIAN})
    ),
    # professional counselor, Arizona (Counseling Compact privilege in MN)
    DemoUser(
        "clinician_patel", _fixed("c2"), f"dr.patel@{DOMAIN}", "Dr. Anika Patel", frozenset({Role.CLINICIAN})
    ),
    # clinical social worker, California
    DemoUser(
        "clinician_rivera",
        _fixed("c3"),
        f"dr.rivera@{DOMAIN}",
        "Dr. Maria Rivera",
        frozenset({Role.CLINICIAN}),
    ),
)
CLIENTS = (
    DemoUser("client_alex", _fixed("e1"), f"alex@{DOMAIN}", "", frozenset({Role.CLIENT})),
    DemoUser("client_sam", _fixed("e2"), f"sam@{DOMAIN}", "", frozenset({Role.CLIENT})),
)
PROFILES = {
    "client_alex": ClientProfileInput(
        legal_name="Alex Morgan",
        preferred_name="Alex",
        date_of_birth=date(1991, 4, 12),
        home_state="CA",
        time_zone="America/Los_Angeles",
        emergency_contact_name="Jordan Morgan",
        emergency_contact_phone="+14155550142",
        payer_type="self_pay",
    ),
    "client_sam": ClientProfileInput(
        legal_name="Samuel Ortiz",
        preferred_name="Sam",
        date_of_birth=date(1985, 9, 30),
        home_state="TX",
        time_zone="America/Chicago",
        emergency_contact_name="Lucia Ortiz",
        emergency_contact_phone="+15125550199",
        payer_type="insurance",
    ),
}
CARE_TEAMS = {"client_alex": "clinician_rivera", "client_sam": "clinician_chen"}
"""alex (CA) with the CA social worker; sam (TX) with the CO psychologist (PSYPACT APIT covers TX)."""
CONSENT_TEXT: Final = """# Telehealth informed consent (demo)

This is demonstration text for the local development stack. It covers video, audio-only, live chat,
asynchronous messaging, e-mail and SMS, the risks of technology failure, confidentiality and data
storage, emergency procedures (call 988 or 911) and fees per modality.
"""


@dataclass(frozen=True, slots=True)
class SeedReport:
    practice: Practice
    users: dict[str, User]
    created: bool


def _token(user: User, *, mfa: bool) -> CallerToken:
    return CallerToken(
        subject=str(user.user_id),
        practice_id=str(user.practice_id),
        roles=frozenset(role.value for role in user.roles),
        mfa=mfa,
    )


async def seed_demo(app: AppContext, use_cases: UseCases) -> SeedReport:
    """Create what is missing of the demo practice; safe to run any number of times. Run it with a frozen
    clock (`app.clock`): the consent version it publishes must be in effect when the clients sign it."""
    now: datetime = app.now()
    password_hash = await app.hash_password(DEMO_PASSWORD)
    created = False

    async with app.uow() as uow:
        practice = await uow.practices.get_by_slug(DEMO_SLUG)
    if practice is None:
        practice, _ = await use_cases.practices.create_practice(
            None,
            commands.CreatePractice(
                display_name=DEMO_NAME,
                slug=DEMO_SLUG,
                admin_email=ADMIN.email,
                admin_display_name=ADMIN.display_name,
                admin_password_hash=password_hash,
                practice_id=DEMO_PRACTICE_ID,
                admin_id=ADMIN.user_id,
            ),
        )
        created = True

    users: dict[str, User] = {}
    async with app.uow() as uow:
        admin = await uow.users.get_by_email(practice.practice_id, ADMIN.email)
    assert admin is not None
    users[ADMIN.key] = admin
    admin_token = _token(admin, mfa=True)

    for demo in (OPERATOR, *CLINICIANS, *CLIENTS):
        async with app.uow() as uow:
            user = await uow.users.get_by_email(practice.practice_id, demo.email)
            if user is None:
                # The API never grants platform_operator (IDN-USER-01); the CLI is the one place that does.
                new = User(
                    user_id=demo.user_id,
                    practice_id=practice.practice_id,
                    email=demo.email,
                    display_name=demo.display_name or None,
                    roles=demo.roles,
                    password_hash=password_hash,
                    email_verified_at=now,
                    created_at=now,
                )
                await uow.users.add(new)
                uow.publish(
                    events.user_registered(
                        user_id=new.user_id,
                        practice_id=new.practice_id,
                        roles=new.roles,
                        channel=ADMIN_CLI,
                        at=now,
                    ),
                    audit_record(
                        action=audit.CREATE,
                        resource_type="user",
                        resource_id=new.user_id,
                        subject=new.user_id,
                        purpose=audit.OPERATIONS,
                        actor=None,
                        now=now,
                    ),
                )
                await uow.commit()
                user = new
        users[demo.key] = user

    # Staff: a confirmed TOTP factor with the documented demo secret.
    for demo in (ADMIN, OPERATOR, *CLINICIANS):
        async with app.uow() as uow:
            user_id = users[demo.key].user_id
            existing = await uow.mfa_factors.get_totp(user_id)
            if existing is None or not existing.confirmed:
                await uow.mfa_factors.save_totp(
                    user_id, TotpCredential(secret=DEMO_TOTP_SECRET, created_at=now, confirmed_at=now)
                )
                await uow.commit()

    # The telehealth consent document (every modality, every jurisdiction), effective now.
    async with app.uow() as uow:
        documents = await uow.consent_documents.for_practice(practice.practice_id)
    if not documents:
        await use_cases.consents.publish(
            admin_token,
            commands.PublishConsentDocument(
                version=1,
                effective_at=now,
                modalities=tuple(m.value for m in Modality),
                jurisdictions=tuple(sorted(US_JURISDICTIONS)),
                title="Telehealth informed consent",
                content=CONSENT_TEXT,
            ),
        )
    current = await use_cases.consents.current(admin_token)

    for demo in CLIENTS:
        client = users[demo.key]
        async with app.uow() as uow:
            profile = await uow.profiles.get(practice.practice_id, client.user_id)
            links = await uow.care_teams.for_client(practice.practice_id, client.user_id)
            signatures = await uow.consent_signatures.for_client(practice.practice_id, client.user_id)
        values = PROFILES[demo.key]
        if profile is None:
            await use_cases.profiles.update(
                admin_token, commands.UpdateClientProfile(client.user_id, values, frozenset())
            )
        clinician = users[CARE_TEAMS[demo.key]]
        if not any(link.clinician_id == clinician.user_id for link in links):
            await use_cases.care_teams.assign(
                admin_token, commands.AssignClinician(client.user_id, clinician.user_id)
            )
        if not any(s.document_id == current.document.document_id and s.active for s in signatures):
            await use_cases.consents.sign(
                _token(client, mfa=False),
                commands.SignConsent(
                    client_id=client.user_id,
                    document_id=current.document.document_id,
                    document_version=current.document.version,
                    jurisdiction=values.home_state,
                    signer_role=SignerRole.CLIENT,
                    method=SignatureMethod.CLICK,
                    signer_name="",
                ),
            )

    return SeedReport(practice=practice, users=users, created=created)

"""Helpers shared by the use cases: callers, authorization with audit, sessions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from confide.audit.v1 import events_pb2 as audit_pb2
from confide_chassis import audit
from confide_chassis import roles as chassis_roles
from confide_chassis.auth import Principal as CallerToken
from confide_chassis.errors import NotFound, PermissionDenied, Unauthenticated
from confide_chassis.ids import new_id
from confide_identity.app.context import SERVICE, AppContext
from confide_identity.app.models import Practice, User
from confide_identity.app.ports import IdentityUnitOfWork
from confide_identity.domain.authorization import Action, Resource, authorize
from confide_identity.domain.care_team import active_care_team
from confide_identity.domain.claims import build_access_claims
from confide_identity.domain.roles import Principal, Role
from confide_identity.domain.sessions import (
    NewSession,
    RefreshTokenFamily,
    RevocationReason,
    revoke_all,
    start_session,
)
from confide_identity.domain.tokens import sign_access_token

# --- callers ----------------------------------------------------------------------------------------


def domain_principal(token: CallerToken) -> Principal:
    """The caller as the domain sees them (ids parsed, unknown role names dropped)."""
    try:
        subject, practice = UUID(token.subject), UUID(token.practice_id)
    except ValueError as exc:
        raise Unauthenticated("invalid access token") from exc
    roles = frozenset(Role(name) for name in token.roles if name in chassis_roles.EVERY_ROLE)
    return Principal(subject_id=subject, practice_id=practice, roles=roles, mfa=token.mfa)


def caller_token(user: User, *, mfa: bool) -> CallerToken:
    """A chassis principal for a user acting without a token yet (sign-in): the audit actor."""
    return CallerToken(
        subject=str(user.user_id),
        practice_id=str(user.practice_id),
        roles=frozenset(role.value for role in user.roles),
        mfa=mfa,
    )


@dataclass(frozen=True, slots=True)
class Caller:
    token: CallerToken
    principal: Principal
    user: User

    @property
    def user_id(self) -> UUID:
        return self.user.user_id

    @property
    def practice_id(self) -> UUID:
        return self.user.practice_id


async def load_caller(uow: IdentityUnitOfWork, token: CallerToken) -> Caller:
    """The caller's account, which must still exist and be active (access tokens outlive a deactivation by
    at most 15 minutes; identity itself does not wait for them to expire)."""
    principal = domain_principal(token)
    user = await uow.users.get(principal.practice_id, principal.subject_id)
    if user is None or not user.active:
        raise Unauthenticated("the account is not active")
    return Caller(token=token, principal=principal, user=user)


def purpose_for(caller: Caller, subject_id: UUID) -> audit_pb2.AccessPurpose.ValueType:
    if caller.user_id == subject_id:
        return audit.INDIVIDUAL_ACCESS
    if caller.principal.has_role(Role.CLINICIAN) and not caller.principal.has_role(Role.PRACTICE_ADMIN):
        return audit.TREATMENT
    return audit.OPERATIONS


def audit_record(
    *,
    action: audit_pb2.AuditAction.ValueType,
    resource_type: str,
    resource_id: UUID | str,
    subject: UUID | str,
    purpose: audit_pb2.AccessPurpose.ValueType,
    actor: CallerToken | None,
    now: datetime,
    outcome: audit_pb2.AuditOutcome.ValueType = audit.SUCCESS,
    rule_ids: Iterable[str] = (),
) -> audit_pb2.AuditEvent:
    return audit.audit_event(
        service=SERVICE,
        action=action,
        resource_type=f"identity.{resource_type}",
        resource_id=str(resource_id),
        subject_person_id=str(subject),
        purpose=purpose,
        outcome=outcome,
        actor=actor,
        rule_ids=rule_ids,
        occurred_at=now,
    )


def caller_audit(
    caller: Caller,
    action: audit_pb2.AuditAction.ValueType,
    resource_type: str,
    resource_id: UUID,
    *,
    subject: UUID,
    now: datetime,
) -> audit_pb2.AuditEvent:
    """A successful access by `caller` to `subject`'s record, with the purpose that relationship implies."""
    return audit_record(
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        subject=subject,
        purpose=purpose_for(caller, subject),
        actor=caller.token,
        now=now,
    )


async def authorize_or_audit(
    ctx: AppContext,
    caller: Caller,
    action: Action,
    resource: Resource,
    *,
    audit_action: audit_pb2.AuditAction.ValueType,
    resource_type: str,
    resource_id: UUID | str,
) -> None:
    """`authorize`, and when it refuses, a DENIED audit record committed on its own (the request's own
    transaction is about to roll back)."""
    try:
        authorize(caller.principal, action, resource)
    except PermissionDenied as denied:
        subject = resource.owner_id or caller.user_id
        rule_ids = [denied.metadata["rule_id"]] if "rule_id" in denied.metadata else []
        async with ctx.uow() as uow:
            uow.publish(
                audit_record(
                    action=audit_action,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    subject=subject,
                    purpose=purpose_for(caller, subject),
                    actor=caller.token,
                    now=ctx.now(),
                    outcome=audit.DENIED,
                    rule_ids=rule_ids,
                )
            )
            await uow.commit()
        raise


async def require_user(
    uow: IdentityUnitOfWork, practice_id: UUID, user_id: UUID, *, for_update: bool = False
) -> User:
    user = await uow.users.get(practice_id, user_id, for_update=for_update)
    if user is None:
        raise NotFound("user not found")
    return user


async def client_resource(
    uow: IdentityUnitOfWork, practice_id: UUID, client_id: UUID
) -> tuple[User, Resource]:
    """The client's account and the resource `authorize` checks for their records (with their care team)."""
    client = await require_user(uow, practice_id, client_id)
    links = await uow.care_teams.for_client(practice_id, client_id)
    return client, Resource.person(practice_id, client_id, active_care_team(links, client_id))


async def require_practice(uow: IdentityUnitOfWork, practice_id: UUID) -> Practice:
    practice = await uow.practices.get(practice_id)
    if practice is None:
        raise NotFound("practice not found")
    return practice


# --- sessions -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedSession:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    session_expires_at: datetime
    user_id: UUID
    practice_id: UUID
    roles: frozenset[Role]
    mfa: bool


def issue_tokens(
    ctx: AppContext,
    user: User,
    practice: Practice,
    family: RefreshTokenFamily,
    refresh_token: str,
    now: datetime,
) -> IssuedSession:
    """A signed access token for the family's user (current roles, the family's MFA flag)."""
    policy = practice.session_policy
    principal = Principal(
        subject_id=user.user_id, practice_id=user.practice_id, roles=user.roles, mfa=family.mfa
    )
    claims = build_access_claims(
        principal,
        now=now,
        token_id=new_id(),
        ttl=policy.access_token_ttl,
        session_id=family.family_id,
        issuer=ctx.config.issuer,
        audience=ctx.config.audience,
    )
    return IssuedSession(
        access_token=sign_access_token(claims, ctx.keys.signing_key()),
        access_token_expires_at=claims.expires_at,
        refresh_token=refresh_token,
        refresh_token_expires_at=family.expires_at(policy),
        session_expires_at=family.absolute_expires_at(policy),
        user_id=user.user_id,
        practice_id=user.practice_id,
        roles=user.roles,
        mfa=family.mfa,
    )


async def open_session(
    ctx: AppContext, uow: IdentityUnitOfWork, user: User, practice: Practice, *, mfa: bool, now: datetime
) -> IssuedSession:
    """Start a refresh-token family for a successful sign-in and issue its first tokens."""
    started: NewSession = start_session(
        family_id=new_id(),
        user_id=user.user_id,
        practice_id=user.practice_id,
        mfa=mfa,
        random_bytes=ctx.random_bytes(32),
        now=now,
    )
    await uow.sessions.add(started.family)
    return issue_tokens(ctx, user, practice, started.family, started.refresh_token, now)


async def end_all_sessions(
    uow: IdentityUnitOfWork, user_id: UUID, reason: RevocationReason, now: datetime
) -> int:
    """Revoke every active refresh-token family of the user; returns how many were ended."""
    revoked = revoke_all(await uow.sessions.active_for_user(user_id), reason=reason, now=now)
    for family in revoked:
        await uow.sessions.save(family)
    return len(revoked)

"""Practices and users: creation (with invitation), reads, listing, deactivation, roles, MFA reset."""

from __future__ import annotations

import binascii
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from confide.audit.v1 import events_pb2 as audit_pb2
from confide.identity.v1 import events_pb2
from confide_chassis import audit
from confide_chassis.auth import Principal as CallerToken
from confide_chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    RuleViolation,
)
from confide_chassis.ids import new_id
from confide_identity.app import commands, events
from confide_identity.app.care_teams import end_links_involving
from confide_identity.app.context import AppContext
from confide_identity.app.mail import MailKind, OutgoingMail
from confide_identity.app.models import Practice, User
from confide_identity.app.ports import IdentityUnitOfWork
from confide_identity.app.support import (
    Caller,
    audit_record,
    authorize_or_audit,
    caller_audit,
    end_all_sessions,
    load_caller,
    require_practice,
    require_user,
)
from confide_identity.domain.authorization import Action, Resource, authorize
from confide_identity.domain.care_team import active_care_team
from confide_identity.domain.common import b64url, b64url_decode
from confide_identity.domain.one_time_tokens import TOKEN_BYTES, TokenPurpose, issue_one_time_token
from confide_identity.domain.roles import MFA_REQUIRED_ROLES, Role
from confide_identity.domain.rules import IDN_USER_01
from confide_identity.domain.sessions import RevocationReason, SessionPolicy

INVITATION = events_pb2.REGISTRATION_CHANNEL_INVITATION
ADMIN_CLI = events_pb2.REGISTRATION_CHANNEL_ADMIN_CLI
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
STAFF_ROLES = MFA_REQUIRED_ROLES  # SEC-03: the staff roles are exactly the ones that need MFA


def user_rule(description: str, subject: str = "user") -> FailedPrecondition:
    return FailedPrecondition(RuleViolation(IDN_USER_01, description, subject=subject))


@dataclass(frozen=True, slots=True)
class UserView:
    user: User
    mfa_enrolled: bool


@dataclass(frozen=True, slots=True)
class UserPage:
    users: tuple[UserView, ...]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class NewUser:
    user: User
    setup_token: str | None
    """The one-time password-setup token (invitation), when no password was given."""


async def add_user(
    ctx: AppContext,
    uow: IdentityUnitOfWork,
    *,
    practice_id: UUID,
    email: str,
    display_name: str | None,
    roles: frozenset[Role],
    channel: events_pb2.RegistrationChannel.ValueType,
    actor: CallerToken | None,
    now: datetime,
    password_hash: str | None = None,
    user_id: UUID | None = None,
) -> NewUser:
    """Create a user. Without a password they get an invitation (a password-setup token, which also proves
    the e-mail address); with one (admin CLI) the address counts as verified by the operator."""
    if await uow.users.get_by_email(practice_id, email) is not None:
        raise AlreadyExists("an account with this e-mail address exists in this practice")
    user = User(
        user_id=user_id or new_id(),
        practice_id=practice_id,
        email=email,
        display_name=display_name or None,
        roles=roles,
        password_hash=password_hash,
        email_verified_at=now if password_hash is not None else None,
        created_at=now,
    )
    await uow.users.add(user)
    token = None
    if password_hash is None:
        issued = issue_one_time_token(
            user_id=user.user_id,
            purpose=TokenPurpose.PASSWORD_RESET,
            random_bytes=ctx.random_bytes(TOKEN_BYTES),
            now=now,
            ttl=ctx.config.invitation_ttl,
        )
        await uow.one_time_tokens.add(issued.record)
        token = issued.token
    uow.publish(
        events.user_registered(
            user_id=user.user_id, practice_id=practice_id, roles=roles, channel=channel, at=now
        ),
        audit_record(
            action=audit.CREATE,
            resource_type="user",
            resource_id=user.user_id,
            subject=user.user_id,
            purpose=audit.OPERATIONS,
            actor=actor,
            now=now,
        ),
    )
    return NewUser(user=user, setup_token=token)


def invitation_mail(ctx: AppContext, created: NewUser) -> OutgoingMail | None:
    if created.setup_token is None:
        return None
    user = created.user
    return OutgoingMail(
        kind=MailKind.INVITATION,
        user_id=user.user_id,
        practice_id=user.practice_id,
        to=user.email,
        link=ctx.config.link("set-password", created.setup_token),
    )


def _check_staff_name(roles: frozenset[Role], display_name: str) -> None:
    if roles & STAFF_ROLES and not display_name:
        raise InvalidArgument.field("display_name", "is required for staff")


def _encode_page(role: Role | None, include_deactivated: bool, last: UUID) -> str:
    return b64url(f"v1|{role.value if role else ''}|{int(include_deactivated)}|{last}".encode())


def _decode_page(token: str, role: Role | None, include_deactivated: bool) -> UUID | None:
    if not token:
        return None
    try:
        raw = b64url_decode(token).decode()
        version, role_name, deactivated, last = raw.split("|")
        if (
            version != "v1"
            or role_name != (role.value if role else "")
            or deactivated != str(int(include_deactivated))
        ):
            raise ValueError("token for other parameters")
        return UUID(last)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidArgument.field(
            "page.page_token", "is not a token of this listing; start again from the first page"
        ) from exc


class PracticeUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def create_practice(
        self, token: CallerToken | None, command: commands.CreatePractice
    ) -> tuple[Practice, NewUser]:
        """`token` None: the admin CLI (trusted operator on the host), which may also set the admin's
        password, grant the platform operator role and fix the ids (the demo seed shares its ids with the
        other services' seeds)."""
        ctx = self.ctx
        slug = command.slug
        now = ctx.now()
        async with ctx.uow() as uow:
            if token is not None:
                caller = await load_caller(uow, token)
                authorize(caller.principal, Action.PRACTICE_CREATE, Resource.platform())
            if await uow.practices.get_by_slug(slug) is not None:
                raise AlreadyExists("a practice with this slug exists")
            policy = SessionPolicy()
            practice = Practice(
                practice_id=command.practice_id if token is None and command.practice_id else new_id(),
                slug=slug,
                display_name=command.display_name,
                session_policy=policy,
                client_sign_up_enabled=True,
                created_at=now,
                updated_at=now,
            )
            await uow.practices.add(practice)
            created = await add_user(
                ctx,
                uow,
                practice_id=practice.practice_id,
                email=command.admin_email,
                display_name=command.admin_display_name,
                roles=frozenset({Role.PRACTICE_ADMIN})
                | (command.admin_extra_roles if token is None else frozenset()),
                channel=INVITATION if token is not None else ADMIN_CLI,
                actor=token,
                now=now,
                password_hash=command.admin_password_hash if token is None else None,
                user_id=command.admin_id if token is None else None,
            )
            await uow.commit()
        mail = invitation_mail(ctx, created)
        if mail is not None:
            await ctx.send_mail(mail)
        return practice, created

    async def get_practice(self, token: CallerToken) -> Practice:
        async with self.ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(caller.principal, Action.PRACTICE_READ, Resource.practice(caller.practice_id))
            return await require_practice(uow, caller.practice_id)

    async def update_settings(self, token: CallerToken, command: commands.UpdatePracticeSettings) -> Practice:
        ctx = self.ctx
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(
                caller.principal, Action.PRACTICE_UPDATE_SETTINGS, Resource.practice(caller.practice_id)
            )
            practice = await require_practice(uow, caller.practice_id)
            updated = replace(
                practice,
                session_policy=command.session_policy,
                client_sign_up_enabled=command.client_sign_up_enabled,
                updated_at=ctx.now(),
            )
            await uow.practices.update(updated)
            await uow.commit()
        return updated


class UserUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def _read_resource(self, uow: IdentityUnitOfWork, user: User) -> Resource:
        care_team: frozenset[UUID] = frozenset()
        if Role.CLIENT in user.roles:
            care_team = active_care_team(
                await uow.care_teams.for_client(user.practice_id, user.user_id), user.user_id
            )
        return Resource.person(user.practice_id, user.user_id, care_team)

    async def _view(self, uow: IdentityUnitOfWork, user: User) -> UserView:
        return UserView(
            user=user, mfa_enrolled=bool(await uow.mfa_factors.confirmed_totp_users([user.user_id]))
        )

    def _audit(
        self, caller: Caller, user_id: UUID, action: audit_pb2.AuditAction.ValueType, now: datetime
    ) -> audit_pb2.AuditEvent:
        return caller_audit(
            caller,
            action,
            "user",
            user_id,
            subject=user_id,
            now=now,
        )

    async def create_user(self, token: CallerToken, command: commands.CreateUser) -> UserView:
        ctx = self.ctx
        roles = command.roles
        if Role.PLATFORM_OPERATOR in roles:
            raise user_rule("the platform operator role is granted only with the admin CLI", "roles")
        _check_staff_name(roles, command.display_name)
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(caller.principal, Action.USER_CREATE, Resource.practice(caller.practice_id))
            created = await add_user(
                ctx,
                uow,
                practice_id=caller.practice_id,
                email=command.email,
                display_name=command.display_name,
                roles=roles,
                channel=INVITATION,
                actor=token,
                now=now,
            )
            await uow.commit()
        mail = invitation_mail(ctx, created)
        if mail is not None:
            await ctx.send_mail(mail)
        return UserView(user=created.user, mfa_enrolled=False)

    async def get_user(self, token: CallerToken, user_id: UUID) -> UserView:
        ctx = self.ctx
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            user = await require_user(uow, caller.practice_id, user_id)
            await authorize_or_audit(
                ctx,
                caller,
                Action.USER_READ,
                await self._read_resource(uow, user),
                audit_action=audit.READ,
                resource_type="user",
                resource_id=user_id,
            )
            view = await self._view(uow, user)
            uow.publish(self._audit(caller, user_id, audit.READ, ctx.now()))
            await uow.commit()
        return view

    async def list_users(self, token: CallerToken, query: commands.ListUsers) -> UserPage:
        ctx = self.ctx
        role, include_deactivated = query.role, query.include_deactivated
        size = DEFAULT_PAGE_SIZE if query.page_size == 0 else min(query.page_size, MAX_PAGE_SIZE)
        after = _decode_page(query.page_token, role, include_deactivated)
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(caller.principal, Action.USER_LIST, Resource.practice(caller.practice_id))
            found = list(
                await uow.users.list(
                    caller.practice_id,
                    role=role,
                    include_deactivated=include_deactivated,
                    after=after,
                    limit=size + 1,
                )
            )
            more = len(found) > size
            found = found[:size]
            enrolled = await uow.mfa_factors.confirmed_totp_users([u.user_id for u in found])
            now = ctx.now()
            for user in found:
                uow.publish(self._audit(caller, user.user_id, audit.SEARCH, now))
            await uow.commit()
        next_token = _encode_page(role, include_deactivated, found[-1].user_id) if more and found else ""
        return UserPage(
            users=tuple(UserView(user=u, mfa_enrolled=u.user_id in enrolled) for u in found),
            next_page_token=next_token,
        )

    async def _guard_last_admin(self, uow: IdentityUnitOfWork, user: User) -> None:
        if (
            Role.PRACTICE_ADMIN in user.roles
            and user.active
            and await uow.users.count_active_with_role(user.practice_id, Role.PRACTICE_ADMIN) <= 1
        ):
            raise user_rule("the practice's last active admin keeps the admin role")

    async def deactivate_user(self, token: CallerToken, command: commands.DeactivateUser) -> UserView:
        ctx = self.ctx
        user_id = command.user_id
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            user = await require_user(uow, caller.practice_id, user_id, for_update=True)
            await authorize_or_audit(
                ctx,
                caller,
                Action.USER_DEACTIVATE,
                Resource.person(caller.practice_id, user_id),
                audit_action=audit.UPDATE,
                resource_type="user",
                resource_id=user_id,
            )
            if user.user_id == caller.user_id:
                raise user_rule("an admin cannot deactivate themself")
            if not user.active:
                return await self._view(uow, user)
            await self._guard_last_admin(uow, user)
            user = replace(user, deactivated_at=now, deactivated_by=caller.user_id)
            await uow.users.update(user)
            await end_all_sessions(uow, user.user_id, RevocationReason.USER_DEACTIVATED, now)
            await end_links_involving(
                uow,
                caller.practice_id,
                user.user_id,
                by=caller.user_id,
                now=now,
                reason=events.USER_DEACTIVATED,
            )
            uow.publish(
                events.user_deactivated(
                    user_id=user.user_id, practice_id=user.practice_id, by=caller.user_id, at=now
                ),
                self._audit(caller, user.user_id, audit.UPDATE, now),
            )
            view = await self._view(uow, user)
            await uow.commit()
        return view

    async def change_roles(self, token: CallerToken, command: commands.ChangeUserRoles) -> UserView:
        ctx = self.ctx
        user_id, roles = command.user_id, command.roles
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            user = await require_user(uow, caller.practice_id, user_id, for_update=True)
            await authorize_or_audit(
                ctx,
                caller,
                Action.USER_CHANGE_ROLES,
                Resource.person(caller.practice_id, user_id),
                audit_action=audit.UPDATE,
                resource_type="user",
                resource_id=user_id,
            )
            if (Role.PLATFORM_OPERATOR in roles) != (Role.PLATFORM_OPERATOR in user.roles):
                raise user_rule(
                    "the platform operator role is granted and removed only with the admin CLI", "roles"
                )
            if roles == user.roles:
                return await self._view(uow, user)
            if Role.PRACTICE_ADMIN in user.roles and Role.PRACTICE_ADMIN not in roles:
                await self._guard_last_admin(uow, user)
            previous = user.roles
            user = replace(user, roles=roles)
            await uow.users.update(user)
            lost = previous - roles
            if Role.CLIENT in lost or Role.CLINICIAN in lost:
                # IDN-CARE-01: links need a client and a clinician; end the ones this change breaks.
                await end_links_involving(
                    uow,
                    caller.practice_id,
                    user.user_id,
                    by=caller.user_id,
                    now=now,
                    reason=events.REMOVED,
                    as_client=Role.CLIENT in lost,
                    as_clinician=Role.CLINICIAN in lost,
                )
            uow.publish(
                events.role_changed(
                    user_id=user.user_id,
                    practice_id=user.practice_id,
                    roles=roles,
                    previous=previous,
                    by=caller.user_id,
                    at=now,
                ),
                self._audit(caller, user.user_id, audit.UPDATE, now),
            )
            view = await self._view(uow, user)
            await uow.commit()
        return view

    async def reset_mfa(self, token: CallerToken, command: commands.ResetUserMfa) -> UserView:
        ctx = self.ctx
        user_id = command.user_id
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            user = await require_user(uow, caller.practice_id, user_id, for_update=True)
            await authorize_or_audit(
                ctx,
                caller,
                Action.MFA_RESET,
                Resource.person(caller.practice_id, user_id),
                audit_action=audit.UPDATE,
                resource_type="mfa",
                resource_id=user_id,
            )
            await uow.mfa_factors.delete_totp(user.user_id)
            await uow.mfa_factors.delete_recovery_codes(user.user_id)
            await end_all_sessions(uow, user.user_id, RevocationReason.MFA_CHANGED, now)
            uow.publish(
                audit_record(
                    action=audit.UPDATE,
                    resource_type="mfa",
                    resource_id=user.user_id,
                    subject=user.user_id,
                    purpose=audit.OPERATIONS,
                    actor=token,
                    now=now,
                )
            )
            await uow.commit()
        return UserView(user=user, mfa_enrolled=False)

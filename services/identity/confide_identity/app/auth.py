"""Registration, e-mail verification, sign-in with MFA, sessions, password reset, MFA enrolment, keys.

Not revealing whether an account exists: SignUp, ResendVerificationEmail and RequestPasswordReset answer
the same way for every address; SignIn gives one error for an unknown address, a wrong password and a
deactivated account, costs the same argon2 work in each case, and throttles by the address as typed
(whether or not it has an account).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from confide.audit.v1 import events_pb2 as audit_pb2
from confide.identity.v1 import events_pb2
from confide_chassis import audit
from confide_chassis.auth import Principal as CallerToken
from confide_chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    RuleViolation,
    Unauthenticated,
)
from confide_chassis.ids import new_id
from confide_chassis.logging import get_logger
from confide_identity import metrics
from confide_identity.app import commands, events
from confide_identity.app.context import AppContext
from confide_identity.app.keys import KeyManager
from confide_identity.app.mail import MailKind, OutgoingMail
from confide_identity.app.models import MfaChallenge, User
from confide_identity.app.ports import IdentityUnitOfWork
from confide_identity.app.support import (
    IssuedSession,
    audit_record,
    authorize_or_audit,
    caller_token,
    end_all_sessions,
    issue_tokens,
    load_caller,
    open_session,
    require_practice,
    require_user,
)
from confide_identity.domain.authorization import Action, Resource, authorize
from confide_identity.domain.common import b64url
from confide_identity.domain.lockout import (
    SignInThrottle,
    ensure_sign_in_allowed,
    invalid_credentials_error,
    record_failed_sign_in,
    record_successful_sign_in,
)
from confide_identity.domain.mail_quota import may_send
from confide_identity.domain.mfa import (
    RECOVERY_CODE_BYTES,
    RECOVERY_CODE_COUNT,
    TOTP_SECRET_BYTES,
    SignInStep,
    begin_totp_enrolment,
    confirm_totp_enrolment,
    generate_recovery_codes,
    invalid_mfa_code_error,
    next_sign_in_step,
    use_recovery_code,
    verify_totp,
)
from confide_identity.domain.one_time_tokens import (
    TOKEN_BYTES,
    TokenPurpose,
    consume_one_time_token,
    hash_token,
    invalid_token_error,
    issue_one_time_token,
)
from confide_identity.domain.passwords import PasswordContext, check_password
from confide_identity.domain.roles import Role
from confide_identity.domain.rules import IDN_AUTH_01, IDN_MFA_01, IDN_SESSION_01, SEC_03
from confide_identity.domain.sessions import (
    REFRESH_TOKEN_BYTES,
    Rejected,
    RejectReason,
    RevocationReason,
    hash_refresh_token,
    invalid_refresh_token_error,
    revoke_family,
    rotate_refresh_token,
)
from confide_identity.domain.tokens import KeyRecord

log = get_logger(__name__)

SELF_SIGN_UP = events_pb2.REGISTRATION_CHANNEL_SELF_SIGN_UP
_THROTTLE_PURPOSE = "sign-in-throttle"


def challenge_expired_error() -> Unauthenticated:
    return Unauthenticated("the sign-in attempt has expired; sign in again")


@dataclass(frozen=True, slots=True)
class SignInResult:
    step: SignInStep
    session: IssuedSession | None = None
    challenge_token: str | None = None
    challenge_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MfaEnrolment:
    provisioning_uri: str
    secret: str


class AuthUseCases:
    def __init__(self, ctx: AppContext, keys: KeyManager) -> None:
        self.ctx = ctx
        self.keys = keys

    # --- helpers -------------------------------------------------------------------------------------

    def throttle_key(self, practice_id: UUID, email: str) -> str:
        return self.ctx.sealer.keyed_hash(_THROTTLE_PURPOSE, f"{practice_id}:{email}")

    def _password_context(self, email: str, display_name: str | None = None) -> PasswordContext:
        return PasswordContext(email=email, names=(display_name,) if display_name else ())

    def check_password(self, password: str, context: PasswordContext, field_path: str) -> None:
        check_password(
            password,
            policy=self.ctx.config.password_policy,
            common_passwords=self.ctx.common_passwords,
            context=context,
            field_path=field_path,
        )

    async def _issue_token(
        self,
        uow: IdentityUnitOfWork,
        user: User,
        purpose: TokenPurpose,
        now: datetime,
        ttl: timedelta | None = None,
        password_hash: str | None = None,
    ) -> str:
        issued = issue_one_time_token(
            user_id=user.user_id,
            purpose=purpose,
            random_bytes=self.ctx.random_bytes(TOKEN_BYTES),
            now=now,
            ttl=ttl,
            password_hash=password_hash,
        )
        await uow.one_time_tokens.add(issued.record)
        return issued.token

    async def _within_mail_quota(
        self, uow: IdentityUnitOfWork, user: User, kind: MailKind, now: datetime
    ) -> bool:
        """IDN-AUTH-03: count one more self-service e-mail to `user`, or False when the account's quota is
        spent (then send nothing; the caller answers as usual). Call with the user's row locked."""
        quota = self.ctx.config.mail_quota
        start = quota.window_start(now)
        if not may_send(await uow.account_mails.sent_since(user.user_id, start), now=now, quota=quota):
            log.info("account e-mail quota spent; nothing sent", kind=kind.value, user_id=str(user.user_id))
            return False
        await uow.account_mails.add(user.user_id, kind.value, now, forget_before=start)
        return True

    def _mail(
        self, kind: MailKind, user: User, path: str | None = None, token: str | None = None
    ) -> OutgoingMail:
        link = self.ctx.config.link(path, token) if path and token else None
        return OutgoingMail(
            kind=kind, user_id=user.user_id, practice_id=user.practice_id, to=user.email, link=link
        )

    def _self_audit(
        self,
        user: User,
        action: audit_pb2.AuditAction.ValueType,
        resource_type: str,
        now: datetime,
        *,
        mfa: bool = False,
        outcome: audit_pb2.AuditOutcome.ValueType = audit.SUCCESS,
    ) -> audit_pb2.AuditEvent:
        """The user acting on their own account before holding a token (sign-up, sign-in, e-mail links)."""
        return audit_record(
            action=action,
            resource_type=resource_type,
            resource_id=user.user_id,
            subject=user.user_id,
            purpose=audit.INDIVIDUAL_ACCESS,
            actor=caller_token(user, mfa=mfa),
            now=now,
            outcome=outcome,
        )

    def _ensure_not_locked(self, state: SignInThrottle, now: datetime) -> None:
        try:
            ensure_sign_in_allowed(state, now=now)
        except ResourceExhausted:
            metrics.sign_in_failed("locked")
            raise

    def _login_audit(
        self, user: User, *, mfa: bool, outcome: audit_pb2.AuditOutcome.ValueType, now: datetime
    ) -> audit_pb2.AuditEvent:
        return self._self_audit(user, audit.LOGIN, "session", now, mfa=mfa, outcome=outcome)

    # --- registration --------------------------------------------------------------------------------

    async def sign_up(self, command: commands.SignUp) -> None:
        ctx = self.ctx
        practice_id, email, password = command.practice_id, command.email, command.password
        self.check_password(password, self._password_context(email), "password")
        password_hash = await ctx.hash_password(password)  # always: the same cost for known addresses
        now = ctx.now()
        mail: OutgoingMail | None = None
        outcome = "ignored"
        try:
            async with ctx.uow() as uow:
                practice = await require_practice(uow, practice_id)
                if not practice.client_sign_up_enabled:
                    raise PermissionDenied("self sign-up is not enabled for this practice")
                existing = await uow.users.get_by_email(practice_id, email, for_update=True)
                if existing is None:
                    user = User(
                        user_id=new_id(),
                        practice_id=practice_id,
                        email=email,
                        display_name=None,
                        roles=frozenset({Role.CLIENT}),
                        password_hash=password_hash,
                        email_verified_at=None,
                        created_at=now,
                    )
                    await uow.users.add(user)
                    await self._within_mail_quota(uow, user, MailKind.VERIFY_EMAIL, now)  # a new account
                    token = await self._issue_token(
                        uow, user, TokenPurpose.EMAIL_VERIFICATION, now, password_hash=password_hash
                    )
                    uow.publish(
                        events.user_registered(
                            user_id=user.user_id,
                            practice_id=practice_id,
                            roles=user.roles,
                            channel=SELF_SIGN_UP,
                            at=now,
                        ),
                        self._self_audit(user, audit.CREATE, "user", now),
                    )
                    mail = self._mail(MailKind.VERIFY_EMAIL, user, "verify-email", token)
                    outcome = "created"
                elif (
                    existing.active
                    and existing.email_verified_at is None
                    and existing.password_hash is not None
                ):
                    if await self._within_mail_quota(uow, existing, MailKind.VERIFY_EMAIL, now):
                        # IDN-AUTH-02: this sign-up's password takes effect through this link only; the
                        # account's stored password stays that of the first sign-up until then.
                        token = await self._issue_token(
                            uow, existing, TokenPurpose.EMAIL_VERIFICATION, now, password_hash=password_hash
                        )
                        mail = self._mail(MailKind.VERIFY_EMAIL, existing, "verify-email", token)
                        outcome = "verification_resent"
                elif existing.active and await self._within_mail_quota(
                    uow, existing, MailKind.ACCOUNT_EXISTS, now
                ):
                    mail = self._mail(MailKind.ACCOUNT_EXISTS, existing)
                    outcome = "account_exists"
                await uow.commit()
        except AlreadyExists:
            # A concurrent sign-up with the same address won; answer as for any existing account.
            metrics.signed_up("ignored")
            return
        metrics.signed_up(outcome)
        if mail is not None:
            await ctx.send_mail(mail)

    async def verify_email(self, command: commands.VerifyEmail) -> None:
        ctx = self.ctx
        token = command.token
        now = ctx.now()
        async with ctx.uow() as uow:
            record = await uow.one_time_tokens.get(hash_token(token))
            used = consume_one_time_token(record, token, purpose=TokenPurpose.EMAIL_VERIFICATION, now=now)
            user = await uow.users.get_any(used.user_id)
            if user is None or not user.active:
                raise invalid_token_error()
            await uow.one_time_tokens.mark_used(used)
            await uow.one_time_tokens.spend_unused(user.user_id, TokenPurpose.EMAIL_VERIFICATION, now)
            if user.email_verified_at is None:
                # IDN-AUTH-02: the password of the sign-up this link was sent for (a later verification
                # link, e.g. after a password reset verified the address, changes nothing).
                password_hash = used.password_hash or user.password_hash
                await uow.users.update(replace(user, email_verified_at=now, password_hash=password_hash))
            uow.publish(self._self_audit(user, audit.UPDATE, "user", now))
            await uow.commit()

    async def resend_verification(self, command: commands.ResendVerificationEmail) -> None:
        ctx = self.ctx
        now = ctx.now()
        mail = None
        async with ctx.uow() as uow:
            user = await uow.users.get_by_email(command.practice_id, command.email, for_update=True)
            if (
                user is not None
                and user.active
                and user.email_verified_at is None
                and user.password_hash
                and await self._within_mail_quota(uow, user, MailKind.VERIFY_EMAIL, now)
            ):
                token = await self._issue_token(uow, user, TokenPurpose.EMAIL_VERIFICATION, now)
                mail = self._mail(MailKind.VERIFY_EMAIL, user, "verify-email", token)
            await uow.commit()
        if mail is not None:
            await ctx.send_mail(mail)

    # --- sign-in -------------------------------------------------------------------------------------

    async def sign_in(self, command: commands.SignIn) -> SignInResult:
        ctx = self.ctx
        practice_id, email, password = command.practice_id, command.email, command.password
        now = ctx.now()
        key = self.throttle_key(practice_id, email)
        failure: Exception | None = None
        async with ctx.uow() as uow:
            # The throttle row stays locked until commit: concurrent guesses at one address queue up.
            state = await uow.throttles.get(key)
            self._ensure_not_locked(state, now)
            user = await uow.users.get_by_email(practice_id, email)
            usable = user if user is not None and user.active and user.password_hash else None
            correct = await ctx.verify_password(usable.password_hash if usable else None, password)
            if usable is None or not correct:
                failed = record_failed_sign_in(state, now=now, policy=ctx.config.lockout_policy)
                await uow.throttles.save(key, failed, now)
                if user is not None:
                    uow.publish(self._login_audit(user, mfa=False, outcome=audit.FAILED, now=now))
                await uow.commit()
                metrics.sign_in_failed("invalid_credentials")
                if failed.is_locked(now):
                    metrics.locked_out()
                failure = invalid_credentials_error()
            elif usable.email_verified_at is None:
                metrics.sign_in_failed("email_not_verified")
                failure = FailedPrecondition(
                    RuleViolation(
                        IDN_AUTH_01, "verify your e-mail address before signing in", subject="email"
                    ),
                    metadata={"reason": "EMAIL_NOT_VERIFIED"},
                )
            else:
                return await self._after_password(uow, usable, password, key, now)
        assert failure is not None
        raise failure

    async def _after_password(
        self, uow: IdentityUnitOfWork, user: User, password: str, key: str, now: datetime
    ) -> SignInResult:
        ctx = self.ctx
        assert user.password_hash is not None
        if ctx.hasher.needs_rehash(user.password_hash):
            # Parameters changed since this hash was made: upgrade it now that we know the password.
            user = replace(user, password_hash=await ctx.hash_password(password))
            await uow.users.update(user)
        totp = await uow.mfa_factors.get_totp(user.user_id)
        step = next_sign_in_step(user.roles, totp_confirmed=totp is not None and totp.confirmed)
        if step is SignInStep.MFA_CHALLENGE:
            token = b64url(ctx.random_bytes(TOKEN_BYTES))
            challenge = MfaChallenge(
                token_hash=hash_token(token),
                user_id=user.user_id,
                throttle_key=key,
                attempts=0,
                issued_at=now,
                expires_at=now + ctx.config.mfa_challenge_ttl,
            )
            await uow.mfa_challenges.add(challenge)
            await uow.commit()
            return SignInResult(step=step, challenge_token=token, challenge_expires_at=challenge.expires_at)
        practice = await require_practice(uow, user.practice_id)
        state = await uow.throttles.get(key)
        await uow.throttles.save(key, record_successful_sign_in(state), now)
        session = await open_session(ctx, uow, user, practice, mfa=False, now=now)
        uow.publish(self._login_audit(user, mfa=False, outcome=audit.SUCCESS, now=now))
        await uow.commit()
        return SignInResult(step=step, session=session)

    async def verify_mfa(self, command: commands.VerifyMfa) -> tuple[IssuedSession, int]:
        ctx = self.ctx
        challenge_token, totp_code = command.challenge_token, command.totp_code
        now = ctx.now()
        failure: Exception | None = None
        async with ctx.uow() as uow:
            challenge = await uow.mfa_challenges.get(hash_token(challenge_token))
            if challenge is None or challenge.used_at is not None or now >= challenge.expires_at:
                metrics.sign_in_failed("mfa_challenge_expired")
                raise challenge_expired_error()
            state = await uow.throttles.get(challenge.throttle_key)
            self._ensure_not_locked(state, now)
            user = await uow.users.get_any(challenge.user_id)
            if user is None or not user.active:
                metrics.sign_in_failed("mfa_challenge_expired")
                raise challenge_expired_error()
            codes = await uow.mfa_factors.get_recovery_codes(user.user_id)
            try:
                if totp_code:
                    credential = await uow.mfa_factors.get_totp(user.user_id)
                    if credential is None:
                        raise invalid_mfa_code_error()
                    await uow.mfa_factors.save_totp(user.user_id, verify_totp(credential, totp_code, now=now))
                else:
                    if codes is None:
                        raise invalid_mfa_code_error()
                    codes = use_recovery_code(codes, command.recovery_code, now=now)
                    await uow.mfa_factors.save_recovery_codes(user.user_id, codes)
            except Unauthenticated as wrong:
                attempts = challenge.attempts + 1
                spent = attempts >= ctx.config.mfa_challenge_max_attempts
                await uow.mfa_challenges.save(
                    replace(challenge, attempts=attempts, used_at=now if spent else None)
                )
                failed = record_failed_sign_in(state, now=now, policy=ctx.config.lockout_policy)
                await uow.throttles.save(challenge.throttle_key, failed, now)
                uow.publish(self._login_audit(user, mfa=False, outcome=audit.FAILED, now=now))
                await uow.commit()
                metrics.mfa_failed("totp" if totp_code else "recovery_code")
                if failed.is_locked(now):
                    metrics.locked_out()
                failure = wrong
            else:
                await uow.mfa_challenges.save(replace(challenge, used_at=now))
                await uow.throttles.save(challenge.throttle_key, record_successful_sign_in(state), now)
                practice = await require_practice(uow, user.practice_id)
                session = await open_session(ctx, uow, user, practice, mfa=True, now=now)
                uow.publish(self._login_audit(user, mfa=True, outcome=audit.SUCCESS, now=now))
                await uow.commit()
                return session, codes.remaining if codes is not None else 0
        assert failure is not None
        raise failure

    # --- sessions --------------------------------------------------------------------------------------

    async def refresh(self, command: commands.Refresh) -> IssuedSession:
        ctx = self.ctx
        refresh_token = command.refresh_token
        now = ctx.now()
        failure: Exception | None = None
        async with ctx.uow() as uow:
            family = await uow.sessions.get_by_token(hash_refresh_token(refresh_token))
            if family is None:
                raise invalid_refresh_token_error()
            practice = await require_practice(uow, family.practice_id)
            user = await uow.users.get(family.practice_id, family.user_id)
            if user is None or not user.active:
                await uow.sessions.save(
                    revoke_family(family, reason=RevocationReason.USER_DEACTIVATED, now=now)
                )
                await uow.commit()
                raise invalid_refresh_token_error()
            outcome = rotate_refresh_token(
                family,
                refresh_token,
                random_bytes=ctx.random_bytes(REFRESH_TOKEN_BYTES),
                now=now,
                policy=practice.session_policy,
            )
            if isinstance(outcome, Rejected):
                if outcome.family_changed and outcome.family is not None:
                    await uow.sessions.save(outcome.family)
                if outcome.reason is RejectReason.REUSE_DETECTED:
                    log.warning("refresh-token reuse: session revoked", user_id=str(user.user_id))
                    metrics.refresh_token_reused()
                    uow.publish(
                        audit_record(
                            action=audit.LOGOUT,
                            resource_type="session",
                            resource_id=family.family_id,
                            subject=user.user_id,
                            purpose=audit.INDIVIDUAL_ACCESS,
                            actor=caller_token(user, mfa=family.mfa),
                            now=now,
                            outcome=audit.DENIED,
                            rule_ids=[IDN_SESSION_01],
                        )
                    )
                await uow.commit()
                failure = outcome.error()
            else:
                await uow.sessions.save(outcome.family)
                session = issue_tokens(ctx, user, practice, outcome.family, outcome.refresh_token, now)
                await uow.commit()
                return session
        assert failure is not None
        raise failure

    async def sign_out(self, token: CallerToken, command: commands.SignOut) -> None:
        ctx = self.ctx
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(
                caller.principal, Action.SESSION_SIGN_OUT, Resource.person(caller.practice_id, caller.user_id)
            )
            family = await uow.sessions.get_by_token(hash_refresh_token(command.refresh_token))
            if family is not None and family.user_id == caller.user_id and not family.revoked:
                await uow.sessions.save(revoke_family(family, reason=RevocationReason.SIGN_OUT, now=now))
                uow.publish(
                    audit_record(
                        action=audit.LOGOUT,
                        resource_type="session",
                        resource_id=family.family_id,
                        subject=caller.user_id,
                        purpose=audit.INDIVIDUAL_ACCESS,
                        actor=token,
                        now=now,
                    )
                )
            await uow.commit()

    async def sign_out_everywhere(self, token: CallerToken, command: commands.SignOutEverywhere) -> int:
        ctx = self.ctx
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            target_id = command.user_id or caller.user_id
            target = await require_user(uow, caller.practice_id, target_id)
            await authorize_or_audit(
                ctx,
                caller,
                Action.SESSION_SIGN_OUT_EVERYWHERE,
                Resource.person(caller.practice_id, target.user_id),
                audit_action=audit.LOGOUT,
                resource_type="session",
                resource_id=target.user_id,
            )
            if target.user_id != caller.user_id and not caller.principal.mfa:
                raise PermissionDenied(
                    "multi-factor authentication required",
                    metadata={"reason": "MFA_REQUIRED", "rule_id": SEC_03},
                )
            ended = await end_all_sessions(uow, target.user_id, RevocationReason.SIGN_OUT_EVERYWHERE, now)
            uow.publish(
                audit_record(
                    action=audit.LOGOUT,
                    resource_type="session",
                    resource_id=target.user_id,
                    subject=target.user_id,
                    purpose=audit.INDIVIDUAL_ACCESS if target.user_id == caller.user_id else audit.OPERATIONS,
                    actor=token,
                    now=now,
                )
            )
            await uow.commit()
            return ended

    # --- password reset --------------------------------------------------------------------------------

    async def request_password_reset(self, command: commands.RequestPasswordReset) -> None:
        ctx = self.ctx
        now = ctx.now()
        mail = None
        async with ctx.uow() as uow:
            user = await uow.users.get_by_email(command.practice_id, command.email, for_update=True)
            if (
                user is not None
                and user.active
                and await self._within_mail_quota(uow, user, MailKind.PASSWORD_RESET, now)
            ):
                token = await self._issue_token(uow, user, TokenPurpose.PASSWORD_RESET, now)
                mail = self._mail(MailKind.PASSWORD_RESET, user, "reset-password", token)
            await uow.commit()
        if mail is not None:
            await ctx.send_mail(mail)

    async def reset_password(self, command: commands.ResetPassword) -> None:
        ctx = self.ctx
        token, new_password = command.token, command.new_password
        now = ctx.now()
        async with ctx.uow() as uow:
            record = await uow.one_time_tokens.get(hash_token(token))
            used = consume_one_time_token(record, token, purpose=TokenPurpose.PASSWORD_RESET, now=now)
            user = await uow.users.get_any(used.user_id)
            if user is None or not user.active:
                raise invalid_token_error()
            self.check_password(
                new_password, self._password_context(user.email, user.display_name), "new_password"
            )
            password_hash = await ctx.hash_password(new_password)
            await uow.one_time_tokens.mark_used(used)
            await uow.one_time_tokens.spend_unused(user.user_id, TokenPurpose.PASSWORD_RESET, now)
            await uow.users.update(
                replace(user, password_hash=password_hash, email_verified_at=user.email_verified_at or now)
            )
            await end_all_sessions(uow, user.user_id, RevocationReason.PASSWORD_CHANGED, now)
            key = self.throttle_key(user.practice_id, user.email)
            await uow.throttles.save(key, record_successful_sign_in(await uow.throttles.get(key)), now)
            uow.publish(self._self_audit(user, audit.UPDATE, "credential", now))
            await uow.commit()

    # --- MFA enrolment ---------------------------------------------------------------------------------

    def _mfa_rule(self, description: str) -> FailedPrecondition:
        return FailedPrecondition(RuleViolation(IDN_MFA_01, description, subject="mfa"))

    def _mfa_audit(self, token: CallerToken, user_id: UUID, now: datetime) -> audit_pb2.AuditEvent:
        return audit_record(
            action=audit.UPDATE,
            resource_type="mfa",
            resource_id=user_id,
            subject=user_id,
            purpose=audit.INDIVIDUAL_ACCESS,
            actor=token,
            now=now,
        )

    async def begin_mfa_enrolment(self, token: CallerToken) -> MfaEnrolment:
        ctx = self.ctx
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(caller.principal, Action.MFA_ENROL, Resource.person(caller.practice_id, caller.user_id))
            existing = await uow.mfa_factors.get_totp(caller.user_id)
            if existing is not None and existing.confirmed:
                raise self._mfa_rule("an authenticator is already enrolled; a practice admin can reset it")
            enrolment = begin_totp_enrolment(
                random_bytes=ctx.random_bytes(TOTP_SECRET_BYTES), account_name=caller.user.email, now=now
            )
            await uow.mfa_factors.save_totp(caller.user_id, enrolment.credential)
            uow.publish(self._mfa_audit(token, caller.user_id, now))
            await uow.commit()
        return MfaEnrolment(provisioning_uri=enrolment.provisioning_uri, secret=enrolment.credential.secret)

    async def confirm_mfa_enrolment(
        self, token: CallerToken, command: commands.ConfirmMfaEnrolment
    ) -> tuple[tuple[str, ...], IssuedSession]:
        ctx = self.ctx
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(caller.principal, Action.MFA_ENROL, Resource.person(caller.practice_id, caller.user_id))
            credential = await uow.mfa_factors.get_totp(caller.user_id)
            if credential is None or credential.confirmed:
                raise self._mfa_rule("there is no pending enrolment; begin enrolment first")
            try:
                confirmed = confirm_totp_enrolment(credential, command.totp_code, now=now)
            except Unauthenticated as exc:
                metrics.mfa_failed("enrolment")
                raise InvalidArgument.field("totp_code", "the verification code is not valid") from exc
            await uow.mfa_factors.save_totp(caller.user_id, confirmed)
            issued = generate_recovery_codes(
                random_bytes=ctx.random_bytes(RECOVERY_CODE_COUNT * RECOVERY_CODE_BYTES), now=now
            )
            await uow.mfa_factors.replace_recovery_codes(caller.user_id, issued.stored)
            await end_all_sessions(uow, caller.user_id, RevocationReason.MFA_CHANGED, now)
            practice = await require_practice(uow, caller.practice_id)
            session = await open_session(ctx, uow, caller.user, practice, mfa=True, now=now)
            uow.publish(self._mfa_audit(token, caller.user_id, now))
            await uow.commit()
        return issued.codes, session

    async def regenerate_recovery_codes(self, token: CallerToken) -> tuple[str, ...]:
        ctx = self.ctx
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(caller.principal, Action.MFA_ENROL, Resource.person(caller.practice_id, caller.user_id))
            credential = await uow.mfa_factors.get_totp(caller.user_id)
            if credential is None or not credential.confirmed:
                raise self._mfa_rule("enrol an authenticator first")
            issued = generate_recovery_codes(
                random_bytes=ctx.random_bytes(RECOVERY_CODE_COUNT * RECOVERY_CODE_BYTES), now=now
            )
            await uow.mfa_factors.replace_recovery_codes(caller.user_id, issued.stored)
            uow.publish(self._mfa_audit(token, caller.user_id, now))
            await uow.commit()
        return issued.codes

    # --- keys ------------------------------------------------------------------------------------------

    def jwks_json(self) -> str:
        return self.ctx.keys.jwks_json()

    async def rotate_signing_key(self, token: CallerToken) -> tuple[KeyRecord, ...]:
        async with self.ctx.uow() as uow:
            caller = await load_caller(uow, token)
        authorize(caller.principal, Action.SIGNING_KEY_ROTATE, Resource.platform())
        return await self.keys.rotate_step(force=True)

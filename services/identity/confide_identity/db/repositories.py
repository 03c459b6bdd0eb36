"""SQL implementations of the app's repository ports (SQLAlchemy Core over asyncpg).

Every practice-scoped query filters on ``practice_id``; rows that must be used once (tokens, challenges,
TOTP steps, refresh tokens, throttles) are read ``FOR UPDATE`` so concurrent requests serialise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide_chassis.errors import AlreadyExists, DomainError
from confide_identity.app.models import (
    MfaChallenge,
    Practice,
    StoredConsentDocument,
    StoredProfile,
    StoredSigningKey,
    User,
)
from confide_identity.crypto import Sealer
from confide_identity.db import tables as t
from confide_identity.domain.care_team import CareTeamLink
from confide_identity.domain.consent import (
    ConsentDocument,
    ConsentSignature,
    Modality,
    SignatureMethod,
    SignerRole,
)
from confide_identity.domain.lockout import SignInThrottle
from confide_identity.domain.mfa import RecoveryCode, RecoveryCodeSet, TotpCredential
from confide_identity.domain.one_time_tokens import OneTimeTokenRecord, TokenPurpose
from confide_identity.domain.profile import ClientProfile, EmergencyContact, PayerType
from confide_identity.domain.roles import Role, parse_roles
from confide_identity.domain.sessions import (
    RefreshToken,
    RefreshTokenFamily,
    RevocationReason,
    SessionPolicy,
)
from confide_identity.domain.tokens import KeyRecord, raw_public_key

UNIQUE_VIOLATION = "23505"
KEY_MANAGEMENT_LOCK = 0x1D3E_7B1C  # pg_advisory_xact_lock id for signing-key management


async def _insert(session: AsyncSession, statement: Any, on_duplicate: DomainError) -> None:
    """Insert inside a savepoint; a unique violation becomes `on_duplicate` (the transaction stays usable)."""
    try:
        async with session.begin_nested():
            await session.execute(statement)
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == UNIQUE_VIOLATION:
            raise on_duplicate from exc
        raise


def _role_list(roles: frozenset[Role]) -> list[str]:
    return sorted(role.value for role in roles)


# --- practices ---------------------------------------------------------------------------------------


def _practice(row: RowMapping) -> Practice:
    return Practice(
        practice_id=row["id"],
        slug=row["slug"],
        display_name=row["display_name"],
        session_policy=SessionPolicy(
            idle_timeout=timedelta(seconds=row["idle_timeout_seconds"]),
            absolute_lifetime=timedelta(seconds=row["absolute_lifetime_seconds"]),
        ),
        client_sign_up_enabled=row["client_sign_up_enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _practice_values(practice: Practice) -> dict[str, Any]:
    return {
        "id": practice.practice_id,
        "slug": practice.slug,
        "display_name": practice.display_name,
        "idle_timeout_seconds": int(practice.session_policy.idle_timeout.total_seconds()),
        "absolute_lifetime_seconds": int(practice.session_policy.absolute_lifetime.total_seconds()),
        "client_sign_up_enabled": practice.client_sign_up_enabled,
        "created_at": practice.created_at,
        "updated_at": practice.updated_at,
    }


class SqlPracticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, practice: Practice) -> None:
        await _insert(
            self.session,
            insert(t.practices).values(_practice_values(practice)),
            AlreadyExists("a practice with this slug exists"),
        )

    async def get(self, practice_id: UUID) -> Practice | None:
        row = (
            (await self.session.execute(select(t.practices).where(t.practices.c.id == practice_id)))
            .mappings()
            .first()
        )
        return _practice(row) if row else None

    async def get_by_slug(self, slug: str) -> Practice | None:
        row = (
            (await self.session.execute(select(t.practices).where(t.practices.c.slug == slug)))
            .mappings()
            .first()
        )
        return _practice(row) if row else None

    async def update(self, practice: Practice) -> None:
        values = _practice_values(practice)
        values.pop("id")
        await self.session.execute(
            update(t.practices).where(t.practices.c.id == practice.practice_id).values(values)
        )


# --- users -------------------------------------------------------------------------------------------


def _user(row: RowMapping) -> User:
    return User(
        user_id=row["id"],
        practice_id=row["practice_id"],
        email=row["email"],
        display_name=row["display_name"],
        roles=parse_roles(row["roles"]),
        password_hash=row["password_hash"],
        email_verified_at=row["email_verified_at"],
        created_at=row["created_at"],
        deactivated_at=row["deactivated_at"],
        deactivated_by=row["deactivated_by"],
    )


def _user_values(user: User) -> dict[str, Any]:
    return {
        "id": user.user_id,
        "practice_id": user.practice_id,
        "email": user.email,
        "display_name": user.display_name,
        "roles": _role_list(user.roles),
        "password_hash": user.password_hash,
        "email_verified_at": user.email_verified_at,
        "created_at": user.created_at,
        "deactivated_at": user.deactivated_at,
        "deactivated_by": user.deactivated_by,
    }


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _one(self, *conditions: Any, for_update: bool = False) -> User | None:
        query = select(t.users).where(*conditions)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        return _user(row) if row else None

    async def add(self, user: User) -> None:
        await _insert(
            self.session,
            insert(t.users).values(_user_values(user)),
            AlreadyExists("an account with this e-mail address exists in this practice"),
        )

    async def get(self, practice_id: UUID, user_id: UUID, *, for_update: bool = False) -> User | None:
        return await self._one(
            t.users.c.practice_id == practice_id, t.users.c.id == user_id, for_update=for_update
        )

    async def get_any(self, user_id: UUID) -> User | None:
        return await self._one(t.users.c.id == user_id)

    async def get_by_email(self, practice_id: UUID, email: str, *, for_update: bool = False) -> User | None:
        return await self._one(
            t.users.c.practice_id == practice_id, t.users.c.email == email, for_update=for_update
        )

    async def update(self, user: User) -> None:
        values = _user_values(user)
        for key in ("id", "practice_id", "created_at"):
            values.pop(key)
        await self.session.execute(
            update(t.users)
            .where(t.users.c.practice_id == user.practice_id, t.users.c.id == user.user_id)
            .values(values)
        )

    async def list(
        self,
        practice_id: UUID,
        *,
        role: Role | None,
        include_deactivated: bool,
        after: UUID | None,
        limit: int,
    ) -> Sequence[User]:
        query = select(t.users).where(t.users.c.practice_id == practice_id)
        if role is not None:
            query = query.where(t.users.c.roles.any(role.value))
        if not include_deactivated:
            query = query.where(t.users.c.deactivated_at.is_(None))
        if after is not None:
            query = query.where(t.users.c.id > after)
        rows = (await self.session.execute(query.order_by(t.users.c.id).limit(limit))).mappings().all()
        return [_user(row) for row in rows]

    async def count_active_with_role(self, practice_id: UUID, role: Role) -> int:
        query = select(func.count()).where(
            t.users.c.practice_id == practice_id,
            t.users.c.deactivated_at.is_(None),
            t.users.c.roles.any(role.value),
        )
        return int((await self.session.execute(query)).scalar_one())

    async def get_many(self, practice_id: UUID, user_ids: Sequence[UUID]) -> dict[UUID, User]:
        if not user_ids:
            return {}
        query = select(t.users).where(t.users.c.practice_id == practice_id, t.users.c.id.in_(list(user_ids)))
        return {
            user.user_id: user for user in map(_user, (await self.session.execute(query)).mappings().all())
        }


# --- credentials -------------------------------------------------------------------------------------


def _token(row: RowMapping) -> OneTimeTokenRecord:
    return OneTimeTokenRecord(
        user_id=row["user_id"],
        purpose=TokenPurpose(row["purpose"]),
        token_hash=row["token_hash"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        password_hash=row["password_hash"],
    )


def _challenge(row: RowMapping) -> MfaChallenge:
    return MfaChallenge(
        token_hash=row["token_hash"],
        user_id=row["user_id"],
        throttle_key=row["throttle_key"],
        attempts=row["attempts"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
    )


class SqlOneTimeTokenRepository:
    """E-mail verification and password-reset tokens (hashed)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, record: OneTimeTokenRecord) -> None:
        await self.session.execute(
            insert(t.one_time_tokens).values(
                token_hash=record.token_hash,
                user_id=record.user_id,
                purpose=record.purpose.value,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
                used_at=record.used_at,
                password_hash=record.password_hash,
            )
        )

    async def get(self, token_hash: str) -> OneTimeTokenRecord | None:
        query = (
            select(t.one_time_tokens).where(t.one_time_tokens.c.token_hash == token_hash).with_for_update()
        )
        row = (await self.session.execute(query)).mappings().first()
        return _token(row) if row else None

    async def mark_used(self, record: OneTimeTokenRecord) -> None:
        await self.session.execute(
            update(t.one_time_tokens)
            .where(t.one_time_tokens.c.token_hash == record.token_hash)
            .values(used_at=record.used_at)
        )

    async def spend_unused(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> None:
        await self.session.execute(
            update(t.one_time_tokens)
            .where(
                t.one_time_tokens.c.user_id == user_id,
                t.one_time_tokens.c.purpose == purpose.value,
                t.one_time_tokens.c.used_at.is_(None),
            )
            .values(used_at=now)
        )


class SqlMfaFactorRepository:
    """A user's second factor: the TOTP credential (sealed secret) and recovery codes (hashed)."""

    def __init__(self, session: AsyncSession, sealer: Sealer) -> None:
        self.session = session
        self.sealer = sealer

    def _context(self, user_id: UUID) -> str:
        return f"totp:{user_id}"

    async def get_totp(self, user_id: UUID) -> TotpCredential | None:
        query = select(t.totp_credentials).where(t.totp_credentials.c.user_id == user_id).with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        secret = self.sealer.open(row["secret_sealed"], context=self._context(user_id)).decode("ascii")
        return TotpCredential(
            secret=secret,
            created_at=row["created_at"],
            confirmed_at=row["confirmed_at"],
            last_used_step=row["last_used_step"],
        )

    async def save_totp(self, user_id: UUID, credential: TotpCredential) -> None:
        values = {
            "secret_sealed": self.sealer.seal(
                credential.secret.encode("ascii"), context=self._context(user_id)
            ),
            "created_at": credential.created_at,
            "confirmed_at": credential.confirmed_at,
            "last_used_step": credential.last_used_step,
        }
        statement = pg_insert(t.totp_credentials).values(user_id=user_id, **values)
        await self.session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=values))

    async def delete_totp(self, user_id: UUID) -> None:
        await self.session.execute(delete(t.totp_credentials).where(t.totp_credentials.c.user_id == user_id))

    async def confirmed_totp_users(self, user_ids: Sequence[UUID]) -> set[UUID]:
        if not user_ids:
            return set()
        query = select(t.totp_credentials.c.user_id).where(
            t.totp_credentials.c.user_id.in_(list(user_ids)), t.totp_credentials.c.confirmed_at.is_not(None)
        )
        return set((await self.session.execute(query)).scalars().all())

    async def get_recovery_codes(self, user_id: UUID) -> RecoveryCodeSet | None:
        query = (
            select(t.recovery_codes)
            .where(t.recovery_codes.c.user_id == user_id)
            .order_by(t.recovery_codes.c.position)
            .with_for_update()
        )
        rows = (await self.session.execute(query)).mappings().all()
        if not rows:
            return None
        return RecoveryCodeSet(
            codes=tuple(RecoveryCode(code_hash=row["code_hash"], used_at=row["used_at"]) for row in rows),
            generated_at=rows[0]["generated_at"],
        )

    async def replace_recovery_codes(self, user_id: UUID, codes: RecoveryCodeSet) -> None:
        await self.delete_recovery_codes(user_id)
        await self.session.execute(
            insert(t.recovery_codes),
            [
                {
                    "user_id": user_id,
                    "code_hash": code.code_hash,
                    "position": position,
                    "generated_at": codes.generated_at,
                    "used_at": code.used_at,
                }
                for position, code in enumerate(codes.codes)
            ],
        )

    async def save_recovery_codes(self, user_id: UUID, codes: RecoveryCodeSet) -> None:
        for code in codes.codes:
            await self.session.execute(
                update(t.recovery_codes)
                .where(t.recovery_codes.c.user_id == user_id, t.recovery_codes.c.code_hash == code.code_hash)
                .values(used_at=code.used_at)
            )

    async def delete_recovery_codes(self, user_id: UUID) -> None:
        await self.session.execute(delete(t.recovery_codes).where(t.recovery_codes.c.user_id == user_id))


class SqlMfaChallengeRepository:
    """Pending second steps of sign-ins (token hashed)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, challenge: MfaChallenge) -> None:
        await self.session.execute(
            insert(t.mfa_challenges).values(
                token_hash=challenge.token_hash,
                user_id=challenge.user_id,
                throttle_key=challenge.throttle_key,
                attempts=challenge.attempts,
                issued_at=challenge.issued_at,
                expires_at=challenge.expires_at,
                used_at=challenge.used_at,
            )
        )

    async def get(self, token_hash: str) -> MfaChallenge | None:
        query = select(t.mfa_challenges).where(t.mfa_challenges.c.token_hash == token_hash).with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        return _challenge(row) if row else None

    async def save(self, challenge: MfaChallenge) -> None:
        await self.session.execute(
            update(t.mfa_challenges)
            .where(t.mfa_challenges.c.token_hash == challenge.token_hash)
            .values(attempts=challenge.attempts, used_at=challenge.used_at)
        )


# --- account e-mails (quota) ---------------------------------------------------------------------------


class SqlAccountMailRepository:
    """When self-service e-mails went to an account (IDN-AUTH-03); rows older than the quota window are
    dropped as new ones arrive, so an account keeps a handful at most."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sent_since(self, user_id: UUID, since: datetime) -> Sequence[datetime]:
        query = select(t.account_mails.c.sent_at).where(
            t.account_mails.c.user_id == user_id, t.account_mails.c.sent_at > since
        )
        return list((await self.session.execute(query)).scalars().all())

    async def add(self, user_id: UUID, kind: str, sent_at: datetime, *, forget_before: datetime) -> None:
        await self.session.execute(
            delete(t.account_mails).where(
                t.account_mails.c.user_id == user_id, t.account_mails.c.sent_at <= forget_before
            )
        )
        await self.session.execute(
            insert(t.account_mails).values(user_id=user_id, kind=kind, sent_at=sent_at)
        )


# --- throttles ---------------------------------------------------------------------------------------


class SqlThrottleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str) -> SignInThrottle:
        await self.session.execute(
            pg_insert(t.sign_in_throttles)
            .values(identifier_hash=key, failures=0, lock_level=0, updated_at=func.now())
            .on_conflict_do_nothing(index_elements=["identifier_hash"])
        )
        query = (
            select(t.sign_in_throttles).where(t.sign_in_throttles.c.identifier_hash == key).with_for_update()
        )
        row = (await self.session.execute(query)).mappings().one()
        return SignInThrottle(
            failures=row["failures"],
            window_started_at=row["window_started_at"],
            last_failure_at=row["last_failure_at"],
            lock_level=row["lock_level"],
            locked_until=row["locked_until"],
        )

    async def save(self, key: str, state: SignInThrottle, now: datetime) -> None:
        await self.session.execute(
            update(t.sign_in_throttles)
            .where(t.sign_in_throttles.c.identifier_hash == key)
            .values(
                failures=state.failures,
                window_started_at=state.window_started_at,
                last_failure_at=state.last_failure_at,
                lock_level=state.lock_level,
                locked_until=state.locked_until,
                updated_at=now,
            )
        )


# --- sessions ----------------------------------------------------------------------------------------


def _family(row: RowMapping, tokens: tuple[RefreshToken, ...]) -> RefreshTokenFamily:
    return RefreshTokenFamily(
        family_id=row["id"],
        user_id=row["user_id"],
        practice_id=row["practice_id"],
        mfa=row["mfa"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        tokens=tokens,
        revoked_at=row["revoked_at"],
        revoked_reason=RevocationReason(row["revoked_reason"]) if row["revoked_reason"] else None,
    )


def _refresh_token(row: RowMapping) -> RefreshToken:
    return RefreshToken(
        token_hash=row["token_hash"],
        generation=row["generation"],
        issued_at=row["issued_at"],
        used_at=row["used_at"],
    )


class SqlSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, family: RefreshTokenFamily) -> None:
        await self.session.execute(
            insert(t.refresh_token_families).values(
                id=family.family_id,
                practice_id=family.practice_id,
                user_id=family.user_id,
                mfa=family.mfa,
                created_at=family.created_at,
                last_used_at=family.last_used_at,
                revoked_at=family.revoked_at,
                revoked_reason=family.revoked_reason.value if family.revoked_reason else None,
            )
        )
        await self._save_tokens(family)

    async def get_by_token(self, token_hash: str) -> RefreshTokenFamily | None:
        presented = (
            (
                await self.session.execute(
                    select(t.refresh_tokens).where(t.refresh_tokens.c.token_hash == token_hash)
                )
            )
            .mappings()
            .first()
        )
        if presented is None:
            return None
        family_id = presented["family_id"]
        family_row = (
            (
                await self.session.execute(
                    select(t.refresh_token_families)
                    .where(t.refresh_token_families.c.id == family_id)
                    .with_for_update()
                )
            )
            .mappings()
            .one()
        )
        # Re-read under the family lock: a concurrent rotation may have marked it used meanwhile.
        newest = (
            (
                await self.session.execute(
                    select(t.refresh_tokens)
                    .where(
                        t.refresh_tokens.c.family_id == family_id,
                        or_(
                            t.refresh_tokens.c.token_hash == token_hash,
                            t.refresh_tokens.c.generation
                            == select(func.max(t.refresh_tokens.c.generation))
                            .where(t.refresh_tokens.c.family_id == family_id)
                            .scalar_subquery(),
                        ),
                    )
                    .order_by(t.refresh_tokens.c.generation)
                )
            )
            .mappings()
            .all()
        )
        return _family(family_row, tuple(_refresh_token(row) for row in newest))

    async def _save_tokens(self, family: RefreshTokenFamily) -> None:
        for token in family.tokens:
            statement = pg_insert(t.refresh_tokens).values(
                token_hash=token.token_hash,
                family_id=family.family_id,
                generation=token.generation,
                issued_at=token.issued_at,
                used_at=token.used_at,
            )
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["token_hash"], set_={"used_at": token.used_at}
                )
            )

    async def save(self, family: RefreshTokenFamily) -> None:
        await self.session.execute(
            update(t.refresh_token_families)
            .where(t.refresh_token_families.c.id == family.family_id)
            .values(
                last_used_at=family.last_used_at,
                revoked_at=family.revoked_at,
                revoked_reason=family.revoked_reason.value if family.revoked_reason else None,
            )
        )
        await self._save_tokens(family)

    async def active_for_user(self, user_id: UUID) -> Sequence[RefreshTokenFamily]:
        query = (
            select(t.refresh_token_families)
            .where(
                t.refresh_token_families.c.user_id == user_id, t.refresh_token_families.c.revoked_at.is_(None)
            )
            .with_for_update()
        )
        return [_family(row, ()) for row in (await self.session.execute(query)).mappings().all()]


# --- signing keys ------------------------------------------------------------------------------------


class SqlSigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self) -> None:
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": KEY_MANAGEMENT_LOCK})

    async def all(self) -> Sequence[StoredSigningKey]:
        rows = (
            await self.session.execute(select(t.signing_keys).order_by(t.signing_keys.c.created_at))
        ).mappings()
        return [
            StoredSigningKey(
                record=KeyRecord(
                    kid=row["kid"],
                    public_key=Ed25519PublicKey.from_public_bytes(row["public_key"]),
                    created_at=row["created_at"],
                    activated_at=row["activated_at"],
                    retired_at=row["retired_at"],
                ),
                private_key_sealed=row["private_key_sealed"],
                source=row["source"],
            )
            for row in rows.all()
        ]

    async def add(self, key: StoredSigningKey) -> None:
        await self.session.execute(
            insert(t.signing_keys).values(
                kid=key.record.kid,
                public_key=raw_public_key(key.record.public_key),
                private_key_sealed=key.private_key_sealed,
                source=key.source,
                created_at=key.record.created_at,
                activated_at=key.record.activated_at,
                retired_at=key.record.retired_at,
            )
        )

    async def save_states(self, keys: Sequence[StoredSigningKey]) -> None:
        # Retire before activating, so the "one active key" index never sees two.
        for key in sorted(keys, key=lambda item: item.record.retired_at is None):
            await self.session.execute(
                update(t.signing_keys)
                .where(t.signing_keys.c.kid == key.record.kid)
                .values(activated_at=key.record.activated_at, retired_at=key.record.retired_at)
            )

    async def delete(self, kids: Sequence[str]) -> None:
        await self.session.execute(delete(t.signing_keys).where(t.signing_keys.c.kid.in_(list(kids))))


# --- client profiles ---------------------------------------------------------------------------------


class SqlProfileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, practice_id: UUID, client_id: UUID, *, for_update: bool = False
    ) -> StoredProfile | None:
        query = select(t.client_profiles).where(
            t.client_profiles.c.practice_id == practice_id, t.client_profiles.c.client_id == client_id
        )
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        dob: date = row["date_of_birth"]
        profile = ClientProfile(
            client_id=row["client_id"],
            practice_id=row["practice_id"],
            legal_name=row["legal_name"],
            preferred_name=row["preferred_name"],
            date_of_birth=dob,
            home_state=row["home_state"],
            time_zone=row["time_zone"],
            emergency_contact=EmergencyContact(
                name=row["emergency_contact_name"], phone=row["emergency_contact_phone"]
            ),
            payer_type=PayerType(row["payer_type"]),
        )
        return StoredProfile(
            profile=profile,
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def save(self, profile: ClientProfile, *, version: int, now: datetime) -> None:
        values = {
            "legal_name": profile.legal_name,
            "preferred_name": profile.preferred_name,
            "date_of_birth": profile.date_of_birth,
            "home_state": profile.home_state,
            "time_zone": profile.time_zone,
            "emergency_contact_name": profile.emergency_contact.name,
            "emergency_contact_phone": profile.emergency_contact.phone,
            "payer_type": profile.payer_type.value,
            "version": version,
            "updated_at": now,
        }
        statement = pg_insert(t.client_profiles).values(
            client_id=profile.client_id, practice_id=profile.practice_id, created_at=now, **values
        )
        await self.session.execute(statement.on_conflict_do_update(index_elements=["client_id"], set_=values))


# --- consent -----------------------------------------------------------------------------------------


def _document(row: RowMapping) -> StoredConsentDocument:
    return StoredConsentDocument(
        document=ConsentDocument(
            document_id=row["id"],
            practice_id=row["practice_id"],
            version=row["version"],
            effective_at=row["effective_at"],
            modalities=frozenset(Modality(m) for m in row["modalities"]),
            jurisdictions=frozenset(row["jurisdictions"]),
            content_sha256=row["content_sha256"],
            published_at=row["published_at"],
        ),
        title=row["title"],
        content=row["content"],
        published_by=row["published_by"],
    )


def _signature(row: RowMapping) -> ConsentSignature:
    return ConsentSignature(
        signature_id=row["id"],
        practice_id=row["practice_id"],
        client_id=row["client_id"],
        document_id=row["document_id"],
        document_version=row["document_version"],
        jurisdiction=row["jurisdiction"],
        signer_role=SignerRole(row["signer_role"]),
        signed_by=row["signed_by"],
        method=SignatureMethod(row["method"]),
        signed_at=row["signed_at"],
        signer_name=row["signer_name"],
        documented_by=row["documented_by"],
        revoked_at=row["revoked_at"],
    )


class SqlConsentDocumentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_practice(self, practice_id: UUID, *, lock: bool = False) -> Sequence[StoredConsentDocument]:
        if lock:
            # Serialise publications per practice (version numbers only go up).
            await self.session.execute(
                select(t.practices.c.id).where(t.practices.c.id == practice_id).with_for_update()
            )
        query = (
            select(t.consent_documents)
            .where(t.consent_documents.c.practice_id == practice_id)
            .order_by(t.consent_documents.c.version)
        )
        return [_document(row) for row in (await self.session.execute(query)).mappings().all()]

    async def add(self, document: StoredConsentDocument) -> None:
        doc = document.document
        await _insert(
            self.session,
            insert(t.consent_documents).values(
                id=doc.document_id,
                practice_id=doc.practice_id,
                version=doc.version,
                effective_at=doc.effective_at,
                modalities=sorted(m.value for m in doc.modalities),
                jurisdictions=sorted(doc.jurisdictions),
                title=document.title,
                content=document.content,
                content_sha256=doc.content_sha256,
                published_at=doc.published_at,
                published_by=document.published_by,
            ),
            AlreadyExists("this consent version exists"),
        )


class SqlConsentSignatureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_client(self, practice_id: UUID, client_id: UUID) -> Sequence[ConsentSignature]:
        query = (
            select(t.consent_signatures)
            .where(
                t.consent_signatures.c.practice_id == practice_id,
                t.consent_signatures.c.client_id == client_id,
            )
            .order_by(t.consent_signatures.c.signed_at)
        )
        return [_signature(row) for row in (await self.session.execute(query)).mappings().all()]

    async def add(self, signature: ConsentSignature) -> None:
        await self.session.execute(
            insert(t.consent_signatures).values(
                id=signature.signature_id,
                practice_id=signature.practice_id,
                client_id=signature.client_id,
                document_id=signature.document_id,
                document_version=signature.document_version,
                jurisdiction=signature.jurisdiction,
                signer_role=signature.signer_role.value,
                signed_by=signature.signed_by,
                method=signature.method.value,
                signed_at=signature.signed_at,
                signer_name=signature.signer_name,
                documented_by=signature.documented_by,
                revoked_at=signature.revoked_at,
            )
        )


# --- care teams --------------------------------------------------------------------------------------


def _link(row: RowMapping) -> CareTeamLink:
    return CareTeamLink(
        link_id=row["id"],
        practice_id=row["practice_id"],
        client_id=row["client_id"],
        clinician_id=row["clinician_id"],
        assigned_at=row["assigned_at"],
        assigned_by=row["assigned_by"],
        removed_at=row["removed_at"],
        removed_by=row["removed_by"],
    )


class SqlCareTeamRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_client(
        self, practice_id: UUID, client_id: UUID, *, lock: bool = False
    ) -> Sequence[CareTeamLink]:
        query = (
            select(t.care_team_links)
            .where(
                t.care_team_links.c.practice_id == practice_id,
                t.care_team_links.c.client_id == client_id,
                t.care_team_links.c.removed_at.is_(None),
            )
            .order_by(t.care_team_links.c.assigned_at, t.care_team_links.c.id)
        )
        if lock:
            query = query.with_for_update()
        return [_link(row) for row in (await self.session.execute(query)).mappings().all()]

    async def involving(self, practice_id: UUID, user_id: UUID) -> Sequence[CareTeamLink]:
        query = (
            select(t.care_team_links)
            .where(
                t.care_team_links.c.practice_id == practice_id,
                t.care_team_links.c.removed_at.is_(None),
                or_(t.care_team_links.c.client_id == user_id, t.care_team_links.c.clinician_id == user_id),
            )
            .order_by(t.care_team_links.c.assigned_at)
            .with_for_update()
        )
        return [_link(row) for row in (await self.session.execute(query)).mappings().all()]

    async def get(self, practice_id: UUID, link_id: UUID) -> CareTeamLink | None:
        query = (
            select(t.care_team_links)
            .where(and_(t.care_team_links.c.practice_id == practice_id, t.care_team_links.c.id == link_id))
            .with_for_update()
        )
        row = (await self.session.execute(query)).mappings().first()
        return _link(row) if row else None

    async def add(self, link: CareTeamLink) -> None:
        await _insert(
            self.session,
            insert(t.care_team_links).values(
                id=link.link_id,
                practice_id=link.practice_id,
                client_id=link.client_id,
                clinician_id=link.clinician_id,
                assigned_at=link.assigned_at,
                assigned_by=link.assigned_by,
            ),
            AlreadyExists("the clinician is already on this client's care team"),
        )

    async def save(self, link: CareTeamLink, *, reason: str | None) -> None:
        await self.session.execute(
            update(t.care_team_links)
            .where(
                t.care_team_links.c.practice_id == link.practice_id, t.care_team_links.c.id == link.link_id
            )
            .values(removed_at=link.removed_at, removed_by=link.removed_by, removal_reason=reason)
        )

"""What every use case needs: the unit-of-work factory, clock, randomness, hasher, sealer, mailer, keys."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from confide_chassis.clock import utc_now
from confide_chassis.logging import get_logger
from confide_identity.app.keys import KeyStore
from confide_identity.app.mail import Mailer, OutgoingMail
from confide_identity.app.ports import UnitOfWorkFactory
from confide_identity.crypto import Sealer
from confide_identity.domain.age_of_consent import AgeOfConsentTable
from confide_identity.domain.claims import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from confide_identity.domain.lockout import LockoutPolicy
from confide_identity.domain.mail_quota import MailQuota
from confide_identity.domain.password_hashing import Argon2PasswordHasher, verify_or_dummy
from confide_identity.domain.passwords import PasswordPolicy

log = get_logger(__name__)

SERVICE = "identity"


@dataclass(frozen=True, slots=True)
class AppConfig:
    public_base_url: str = "http://127.0.0.1:8080"
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    mfa_challenge_ttl: timedelta = timedelta(minutes=5)
    mfa_challenge_max_attempts: int = 5
    invitation_ttl: timedelta = timedelta(hours=72)
    accept_unverified_consent_ages: bool = False
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    lockout_policy: LockoutPolicy = field(default_factory=LockoutPolicy)
    mail_quota: MailQuota = field(default_factory=MailQuota)

    def link(self, path: str, token: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/{path}?token={token}"


@dataclass(slots=True)
class AppContext:
    uow: UnitOfWorkFactory
    hasher: Argon2PasswordHasher
    sealer: Sealer
    mailer: Mailer
    keys: KeyStore
    common_passwords: Container[str]
    consent_ages: AgeOfConsentTable
    config: AppConfig = field(default_factory=AppConfig)
    clock: Callable[[], datetime] = utc_now
    random_bytes: Callable[[int], bytes] = os.urandom

    def now(self) -> datetime:
        return self.clock()

    # argon2id costs ~0.1-0.5 s of CPU: keep it off the event loop.
    async def hash_password(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify_password(self, stored_hash: str | None, password: str) -> bool:
        """argon2id against the stored hash, or against a dummy hash when there is none (same cost)."""
        return await asyncio.to_thread(verify_or_dummy, self.hasher, stored_hash, password)

    async def send_mail(self, mail: OutgoingMail) -> None:
        """After commit: a failed delivery is logged, never surfaced (the user can ask again)."""
        try:
            await self.mailer.send(mail)
        except Exception as exc:
            log.error(
                "e-mail delivery failed",
                kind=mail.kind.value,
                user_id=str(mail.user_id),
                error=type(exc).__name__,
            )

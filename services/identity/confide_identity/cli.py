"""Operator commands beside serve/migrate (`python -m confide_identity <command> --help`).

    create-practice   a practice and its first admin on a fresh stack; prints the admin's one-time
                      password-setup link, or sets the password read from stdin (--password-stdin)
    seed-demo         the demo practice for `make run` (IDENTITY_DEV_MODE=true only; idempotent)

They talk to the database directly (no gRPC, no Kafka): the events they cause wait in the outbox until
identity serves.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from confide_chassis import db
from confide_chassis.errors import DomainError, InvalidArgument, ValidationCollector
from confide_chassis.settings import ConfigurationError, ServiceSettings
from confide_identity import seed
from confide_identity.app.context import AppContext, utc_now
from confide_identity.app.keys import KeyManager, KeyStore
from confide_identity.app.support import check_email
from confide_identity.app.use_cases import UseCases
from confide_identity.crypto import sealer_from_settings
from confide_identity.db.uow import unit_of_work_factory
from confide_identity.domain.passwords import PasswordContext
from confide_identity.domain.roles import Role
from confide_identity.mail.memory import InMemoryMailer
from confide_identity.settings import IdentitySettings

T = TypeVar("T")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _identity(settings: ServiceSettings) -> IdentitySettings:
    if not isinstance(settings, IdentitySettings):
        raise TypeError("identity commands need IdentitySettings")
    return settings


async def _with_app(
    settings: IdentitySettings,
    work: Callable[[AppContext, UseCases, InMemoryMailer], Awaitable[T]],
    clock: Callable[[], datetime] = utc_now,
) -> T:
    if not settings.database_url:
        raise ConfigurationError("IDENTITY_DATABASE_URL is required")
    sealer = sealer_from_settings(settings)
    engine = db.create_engine(settings.database_url)
    try:
        uow = unit_of_work_factory(db.session_factory(engine), sealer)

        # Imported here: the service module lists these commands in its spec.
        from confide_identity.service import app_context, rotation_policy

        store = KeyStore(rotation_policy(settings), clock)
        mailer = InMemoryMailer()
        app = app_context(settings, uow, sealer, store, mailer, clock)
        keys = KeyManager(uow, sealer, store, clock=clock, random_bytes=app.random_bytes)
        return await work(app, UseCases.of(app, keys), mailer)
    finally:
        await engine.dispose()


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        return asyncio.run(coro)
    except ConfigurationError as exc:
        _err(f"identity: configuration error: {exc}")
        return 2
    except InvalidArgument as exc:
        for violation in exc.violations:
            _err(f"identity: {violation.field}: {violation.description}")
        return 2
    except DomainError as exc:
        _err(f"identity: {exc.message}")
        return 1


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug if len(slug) >= 3 else f"practice-{slug}".strip("-")


def create_practice_command(settings: ServiceSettings, args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m confide_identity create-practice",
        description="Create a practice and its first practice admin.",
    )
    parser.add_argument("--name", required=True, help="the practice's display name")
    parser.add_argument("--slug", help="URL-safe short name (default: from --name)")
    parser.add_argument("--admin-email", required=True)
    parser.add_argument("--admin-name", required=True, help="the admin's display name")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the admin's password from stdin instead of printing a one-time setup link",
    )
    parser.add_argument(
        "--platform-operator",
        action="store_true",
        help="also grant the platform operator role (create practices, rotate signing keys)",
    )
    options = parser.parse_args(args)
    identity = _identity(settings)

    async def work(app: AppContext, use_cases: UseCases, mailer: InMemoryMailer) -> int:

        errors = ValidationCollector()
        email = check_email(errors, options.admin_email, "--admin-email")
        errors.raise_if_any()
        password_hash = None
        if options.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            use_cases.auth.check_password(
                password, PasswordContext(email=email, names=(options.admin_name,)), "password"
            )
            password_hash = await app.hash_password(password)
        practice, created = await use_cases.practices.create_practice(
            None,
            display_name=" ".join(options.name.split()),
            slug=options.slug or slugify(options.name),
            admin_email=email,
            admin_display_name=" ".join(options.admin_name.split()),
            admin_password_hash=password_hash,
            admin_extra_roles=frozenset({Role.PLATFORM_OPERATOR})
            if options.platform_operator
            else frozenset(),
        )
        _out(f"practice_id: {practice.practice_id}")
        _out(f"slug:        {practice.slug}")
        _out(f"admin_id:    {created.user.user_id}")
        if created.setup_token is not None:
            link = app.config.link("set-password", created.setup_token)
            hours = int(app.config.invitation_ttl.total_seconds() // 3600)
            _out(f"password-setup link (single use, valid {hours} h): {link}")
        else:
            _out("admin password set from stdin; sign in and enrol MFA")
        return 0

    return _run(_with_app(identity, work))


def seed_demo_command(settings: ServiceSettings, args: list[str]) -> int:
    argparse.ArgumentParser(
        prog="python -m confide_identity seed-demo",
        description="Create the demo practice for the local stack (IDENTITY_DEV_MODE=true only).",
    ).parse_args(args)
    identity = _identity(settings)
    if not identity.dev_mode:
        _err(
            "identity: seed-demo creates accounts with published passwords; "
            "it runs only with IDENTITY_DEV_MODE=true"
        )
        return 2
    frozen = utc_now()

    async def work(app: AppContext, use_cases: UseCases, mailer: InMemoryMailer) -> int:
        report = await seed.seed_demo(app, use_cases)
        outcome = "created" if report.created else "already there (completed what was missing)"
        _out(f"{seed.DEMO_NAME}: {outcome}")
        _out(f"practice_id: {report.practice.practice_id}  (slug {report.practice.slug})")
        _out(f"password of every demo account: {seed.DEMO_PASSWORD}")
        _out(f"TOTP secret of every staff account: {seed.DEMO_TOTP_SECRET}")
        for key, user in report.users.items():
            roles = ",".join(sorted(role.value for role in user.roles))
            _out(f"  {key:<18} {user.email:<32} {roles:<36} {user.user_id}")
        return 0

    return _run(_with_app(identity, work, clock=lambda: frozen))


COMMANDS = {
    "create-practice": create_practice_command,
    "seed-demo": seed_demo_command,
}

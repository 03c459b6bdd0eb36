"""Operator commands beside serve/migrate (`python -m confide_identity <command> --help`).

    create-practice   a practice and its first admin on a fresh stack; prints the admin's one-time
                      password-setup link, or sets the password read from stdin (--password-stdin)
    seed-demo         the demo practice for `make run` (IDENTITY_DEV_MODE=true only; idempotent)

They talk to the database directly (no gRPC, no Kafka): the events they cause wait in the outbox until
identity serves. `wiring` gives them the application (`commands(open_app)`), built like the served one.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from confide_chassis.clock import utc_now
from confide_chassis.errors import DomainError, InvalidArgument, ValidationCollector
from confide_chassis.service import Command
from confide_chassis.settings import ConfigurationError, ServiceSettings
from confide_identity import seed
from confide_identity.api.mapping import check_email
from confide_identity.app import commands as app_commands
from confide_identity.app.context import AppContext
from confide_identity.app.use_cases import UseCases
from confide_identity.domain.passwords import PasswordContext
from confide_identity.domain.roles import Role
from confide_identity.settings import IdentitySettings


@dataclass(frozen=True, slots=True)
class OperatorApp:
    """The wired application a command works with (its mailer keeps the e-mails instead of sending)."""

    app: AppContext
    use_cases: UseCases


OpenApp = Callable[[IdentitySettings, Callable[[], datetime]], AbstractAsyncContextManager[OperatorApp]]
"""Opens the application on the settings' database with this clock; closes the engine on exit."""


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _identity(settings: ServiceSettings) -> IdentitySettings:
    if not isinstance(settings, IdentitySettings):
        raise TypeError("identity commands need IdentitySettings")
    return settings


async def _with_app(
    open_app: OpenApp,
    settings: IdentitySettings,
    work: Callable[[OperatorApp], Awaitable[int]],
    clock: Callable[[], datetime] = utc_now,
) -> int:
    async with open_app(settings, clock) as operator:
        return await work(operator)


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


def create_practice_command(open_app: OpenApp, settings: ServiceSettings, args: list[str]) -> int:
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

    async def work(operator: OperatorApp) -> int:
        app, use_cases = operator.app, operator.use_cases
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
        command = app_commands.CreatePractice(
            display_name=" ".join(options.name.split()),
            slug=options.slug or slugify(options.name),
            admin_email=email,
            admin_display_name=" ".join(options.admin_name.split()),
            admin_password_hash=password_hash,
            admin_extra_roles=frozenset({Role.PLATFORM_OPERATOR})
            if options.platform_operator
            else frozenset(),
        )
        practice, created = await use_cases.practices.create_practice(None, command)
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

    return _run(_with_app(open_app, identity, work))


def seed_demo_command(open_app: OpenApp, settings: ServiceSettings, args: list[str]) -> int:
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

    async def work(operator: OperatorApp) -> int:
        report = await seed.seed_demo(operator.app, operator.use_cases)
        outcome = "created" if report.created else "already there (completed what was missing)"
        _out(f"{seed.DEMO_NAME}: {outcome}")
        _out(f"practice_id: {report.practice.practice_id}  (slug {report.practice.slug})")
        _out(f"password of every demo account: {seed.DEMO_PASSWORD}")
        _out(f"TOTP secret of every staff account: {seed.DEMO_TOTP_SECRET}")
        for key, user in report.users.items():
            roles = ",".join(sorted(role.value for role in user.roles))
            _out(f"  {key:<18} {user.email:<32} {roles:<36} {user.user_id}")
        return 0

    return _run(_with_app(open_app, identity, work, clock=lambda: frozen))


def commands(open_app: OpenApp) -> dict[str, Command]:
    """The commands for the service spec, working on the application `open_app` opens."""
    return {
        "create-practice": partial(create_practice_command, open_app),
        "seed-demo": partial(seed_demo_command, open_app),
    }

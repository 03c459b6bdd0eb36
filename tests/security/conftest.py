"""The six services in-process over real gRPC, PostgreSQL and Kafka, demo-seeded as `make run` seeds
them (the same start as tests/contract/test_wire_boundaries.py), for the authorization matrix.

Tokens are minted here with the dev key every service trusts (identity signs with it too), in every
shape the access layer must tell apart: valid with or without MFA, expired, signed by another key,
forged, for another audience or issuer, too long-lived.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confide_billing import testing as billing_testing
from confide_billing.demo import seed_demo as billing_seed_demo
from confide_chassis import migrations
from confide_chassis.service import RunningService
from confide_compliance import testing as compliance_testing
from confide_compliance.settings import ComplianceSettings
from confide_compliance.wiring import seed_demo_command as compliance_seed_demo
from confide_devstack.devkeys import DevKeys
from confide_devstack.postgres import PostgresCluster
from confide_devstack.pytest_plugin import unique_database_name
from confide_directory import demo as directory_demo
from confide_directory import testing as directory_testing
from confide_identity.settings import IdentitySettings
from confide_identity.wiring import COMMANDS as IDENTITY_COMMANDS
from confide_identity.wiring import MIGRATIONS as IDENTITY_MIGRATIONS
from confide_identity.wiring import build as build_identity
from confide_identity.wiring import start_identity
from confide_messaging import testing as messaging_testing
from confide_scheduling import testing as scheduling_testing
from confide_scheduling.demo import seed_demo_command as scheduling_seed_demo
from confide_scheduling.settings import SchedulingSettings

from .matrix import TokenKind

Metadata = tuple[tuple[str, str], ...]

ISSUER = "confide-identity"
AUDIENCE = "confide"
LIFETIME_SECONDS = 900  # services refuse tokens that live longer (ADR 13)


@dataclass
class Platform:
    services: dict[str, RunningService]  # by area: "identity", "scheduling", ...
    channels: dict[str, grpc.aio.Channel]
    keys: DevKeys
    bootstrap: str

    def channel_of(self, path: str) -> grpc.aio.Channel:
        return self.channels[path.split(".")[1]]

    def token(
        self,
        subject: str,
        practice: str,
        roles: tuple[str, ...],
        *,
        mfa: bool = True,
        kind: TokenKind = TokenKind.VALID,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject,
            "practice": practice,
            "roles": list(roles),
            "mfa": mfa,
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": str(uuid.uuid4()),
        }
        key: Any = self.keys.private_key_pem()
        if kind is TokenKind.EXPIRED:
            claims["iat"], claims["exp"] = now - 1800, now - 1800 + LIFETIME_SECONDS  # past the 30 s leeway
        elif kind is TokenKind.UNKNOWN_KEY:
            key = Ed25519PrivateKey.generate()
        elif kind is TokenKind.WRONG_AUDIENCE:
            claims["aud"] = "another-system"
        elif kind is TokenKind.WRONG_ISSUER:
            claims["iss"] = "someone-else"
        elif kind is TokenKind.TOO_LONG_LIVED:
            claims["exp"] = now + 24 * 3600
        signed = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": self.keys.kid})
        if kind is TokenKind.TAMPERED:
            # The genuine signature over a payload granting more: every role.
            header, _, signature = signed.split(".")
            forged = {**claims, "roles": ["platform_operator", "practice_admin", "compliance_officer"]}
            payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
            signed = f"{header}.{payload}.{signature}"
        return signed

    def metadata(
        self,
        subject: str,
        practice: str,
        *roles: str,
        mfa: bool = True,
        kind: TokenKind = TokenKind.VALID,
    ) -> Metadata:
        if kind is TokenKind.NONE:
            return ()
        return (("authorization", f"Bearer {self.token(subject, practice, roles, mfa=mfa, kind=kind)}"),)


@pytest.fixture(scope="module")
async def platform(
    postgres_cluster: PostgresCluster,
    kafka_broker: Any,
    dev_keys: DevKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Platform]:
    bootstrap = str(kafka_broker.bootstrap_servers)
    identity_url, compliance_url, scheduling_url, billing_url, messaging_url, directory_url = [
        await postgres_cluster.create_database_async(unique_database_name(f"authz_{name}"))
        for name in ("identity", "compliance", "scheduling", "billing", "messaging", "directory")
    ]
    identity_settings = IdentitySettings(
        grpc_port=0,
        metrics_port=0,
        database_url=identity_url,
        kafka_bootstrap_servers=bootstrap,
        dev_mode=True,
        dev_mail_dir=str(tmp_path_factory.mktemp("authz-mail")),
        signing_key_file=str(dev_keys.private_key_path),  # tokens minted here verify everywhere
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        readiness_interval_seconds=0.5,
        outbox_poll_interval_seconds=0.2,
        key_refresh_seconds=3600,
    )
    await asyncio.to_thread(migrations.upgrade, IDENTITY_MIGRATIONS, identity_url)
    assert await asyncio.to_thread(IDENTITY_COMMANDS["seed-demo"], identity_settings, []) == 0
    await compliance_testing.migrate(compliance_url)
    compliance_seed = ComplianceSettings(database_url=compliance_url, dev_mode=True)
    assert await asyncio.to_thread(compliance_seed_demo, compliance_seed, []) == 0
    await scheduling_testing.migrate(scheduling_url)
    scheduling_seed = SchedulingSettings(database_url=scheduling_url, dev_mode=True)
    assert await asyncio.to_thread(scheduling_seed_demo, scheduling_seed, []) == 0
    await billing_testing.migrate(billing_url)
    await billing_seed_demo(billing_url)
    await directory_testing.migrate(directory_url)
    await directory_demo.seed_demo_database(directory_url)

    jwks = str(dev_keys.jwks_path)
    async with contextlib.AsyncExitStack() as stack:
        identity = await start_identity(build_identity(identity_settings))
        stack.push_async_callback(identity.stop, 0)
        compliance = await compliance_testing.start_compliance(
            compliance_url, bootstrap, migrate_first=False, jwks_file=jwks
        )
        stack.push_async_callback(compliance.stop, 0)
        scheduling = await scheduling_testing.start_scheduling(
            scheduling_url,
            bootstrap,
            migrate_first=False,
            jwks_file=jwks,
            compliance_target=f"127.0.0.1:{compliance.port}",
            compliance_deadline_seconds=5.0,
        )
        stack.push_async_callback(scheduling.running.stop, 0)
        billing = await billing_testing.start_billing(billing_url, bootstrap, jwks_file=jwks)
        stack.push_async_callback(billing.stop, 0)
        messaging = await messaging_testing.start_messaging(messaging_url, bootstrap, jwks_file=jwks)
        stack.push_async_callback(messaging.running.stop, 0)
        directory = await directory_testing.start_directory(
            directory_url,
            bootstrap,
            migrate_first=False,
            jwks_file=jwks,
            compliance_target=f"127.0.0.1:{compliance.port}",
            compliance_deadline_seconds=5.0,
            scheduling_target=f"127.0.0.1:{scheduling.port}",
        )
        stack.push_async_callback(directory.stop, 0)
        services = {
            "identity": identity,
            "compliance": compliance,
            "scheduling": scheduling.running,
            "billing": billing,
            "messaging": messaging.running,
            "directory": directory,
        }
        channels = {}
        for area, running in services.items():
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
            stack.push_async_callback(channel.close)
            channels[area] = channel
        yield Platform(services, channels, dev_keys, bootstrap)

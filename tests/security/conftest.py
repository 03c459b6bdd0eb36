"""The six services in-process over real gRPC, PostgreSQL and Kafka, demo-seeded as `make run` seeds
them (the same start as tests/contract/test_wire_boundaries.py), for the authorization matrix.

Tokens are minted here with the dev key every service trusts (identity signs with it too), in every
shape the access layer must tell apart: valid with or without MFA, expired, signed by another key,
forged, for another audience or issuer, too long-lived.
"""

from __future__ import annotations

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

from confide_chassis.service import RunningService
from confide_devstack.devkeys import DevKeys
from confide_devstack.postgres import PostgresCluster

from ..contract.services_in_process import seeded_services
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
    async with (
        seeded_services(postgres_cluster, kafka_broker, dev_keys, tmp_path_factory, "authz") as services,
        contextlib.AsyncExitStack() as stack,
    ):
        channels = {}
        for area, running in services.items():
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
            stack.push_async_callback(channel.close)
            channels[area] = channel
        yield Platform(services, channels, dev_keys, str(kafka_broker.bootstrap_servers))

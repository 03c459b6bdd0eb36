"""Helpers for tests of any service: access tokens signed like identity's, and events published the
way an outbox relay publishes them. Test code only; no service imports this at run time."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import jwt
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.message import Message

from confide_chassis.auth import StaticJwks, TokenVerifier
from confide_chassis.events import OutgoingEvent, build_headers


class TokenFactory:
    """Signs access tokens the way identity does (Ed25519, kid header) with one test key."""

    def __init__(self, kid: str = "test-key", lifetime_seconds: int = 900) -> None:
        self._key = Ed25519PrivateKey.generate()
        self._kid = kid
        self._lifetime = lifetime_seconds
        public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self._key.public_key()))
        self.jwks = {"keys": [{**public, "kid": kid}]}
        self.verifier = TokenVerifier(StaticJwks(self.jwks), issuer="confide-identity", audience="confide")

    def token(self, subject: str, practice: str, roles: Sequence[str], *, mfa: bool = True) -> str:
        now = int(time.time())
        claims = {
            "sub": subject,
            "practice": practice,
            "roles": list(roles),
            "mfa": mfa,
            "iat": now,
            "exp": now + self._lifetime,
            "iss": "confide-identity",
            "aud": "confide",
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self._kid})

    def metadata(
        self, subject: str, practice: str, *roles: str, mfa: bool = True
    ) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token(subject, practice, roles, mfa=mfa)}"),)


async def publish(
    producer: AIOKafkaProducer, message: Message, *, source: str, event_id: str | None = None
) -> str:
    """Publish an event exactly as a Confide outbox relay would (key, CloudEvents headers). Pass the
    `event_id` of an earlier publication to simulate a redelivery."""
    event = OutgoingEvent.from_message(message, event_id=event_id)
    headers = build_headers(
        event_id=event.event_id, event_type=event.event_type, source=source, occurred_at=event.occurred_at
    )
    await producer.send_and_wait(event.topic, value=event.payload, key=event.key.encode(), headers=headers)
    return event.event_id

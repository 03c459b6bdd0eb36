"""In-memory Mailer for tests: keeps every message in order."""

from __future__ import annotations

import asyncio
from uuid import UUID

from confide_identity.app.mail import MailKind, OutgoingMail


class InMemoryMailer:
    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []
        self._changed = asyncio.Condition()

    async def send(self, mail: OutgoingMail) -> None:
        async with self._changed:
            self.sent.append(mail)
            self._changed.notify_all()

    def for_user(self, user_id: UUID, kind: MailKind | None = None) -> list[OutgoingMail]:
        return [m for m in self.sent if m.user_id == user_id and (kind is None or m.kind is kind)]

    def last(self, user_id: UUID, kind: MailKind | None = None) -> OutgoingMail:
        found = self.for_user(user_id, kind)
        if not found:
            raise LookupError(f"no {kind or 'mail'} for user {user_id}")
        return found[-1]

    def to_address(self, address: str, kind: MailKind | None = None) -> list[OutgoingMail]:
        return [m for m in self.sent if m.to == address and (kind is None or m.kind is kind)]

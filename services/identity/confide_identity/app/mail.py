"""The Mailer port: e-mail delivery is a third-party service behind this interface.

A message carries the recipient's address and, for most kinds, a link with a secret one-time token. An
adapter must never log either (log the kind and the user id only).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from uuid import UUID


class MailKind(StrEnum):
    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind of mail, not a secret
    INVITATION = "invitation"
    ACCOUNT_EXISTS = "account_exists"
    """Sign-up with an address that already has an account: tell the owner, reveal nothing to the caller."""


MAIL_LABELS: dict[MailKind, str] = {
    MailKind.VERIFY_EMAIL: "verification",
    MailKind.PASSWORD_RESET: "password-reset",
    MailKind.INVITATION: "invitation",
    MailKind.ACCOUNT_EXISTS: "account-exists notice",
}


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    kind: MailKind
    user_id: UUID
    practice_id: UUID
    to: str
    """The recipient's address: PII, never logged."""
    link: str | None = None
    """A link with a one-time token: a secret, never logged."""

    def __repr__(self) -> str:  # keep the address and the link out of tracebacks and debug output
        return f"OutgoingMail(kind={self.kind.value!r}, user_id={self.user_id!s})"


class Mailer(Protocol):
    async def send(self, mail: OutgoingMail) -> None:
        """Queue one e-mail for delivery. Raises on failure; callers send after commit and log it."""
        ...

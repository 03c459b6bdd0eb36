"""The Mailer outside dev mode until an e-mail provider adapter exists: it refuses to deliver (the use case
logs the failure with the kind and the user id), so links with secret tokens are never written anywhere."""

from __future__ import annotations

from confide_identity.app.mail import OutgoingMail


class MailerNotConfigured(RuntimeError):
    """No e-mail provider is configured for this deployment."""


class UnconfiguredMailer:
    async def send(self, mail: OutgoingMail) -> None:
        raise MailerNotConfigured("no e-mail provider is configured")

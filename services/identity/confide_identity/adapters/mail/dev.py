"""The dev Mailer: no e-mail leaves the machine.

Each message becomes one JSON file (mode 0600) in the configured dev folder (`IDENTITY_DEV_MAIL_DIR`), with
the recipient and the link, so a developer can open the verification or reset link. The log says only
"<kind> e-mail queued for user <id>": never the address or the token.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from confide_chassis.logging import get_logger
from confide_identity.app.mail import MAIL_LABELS, OutgoingMail

log = get_logger(__name__)


class DevFileMailer:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _write(self, mail: OutgoingMail, sent_at: datetime) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{sent_at:%Y%m%dT%H%M%S%fZ}-{mail.kind.value}-{mail.user_id}-{uuid.uuid4().hex[:6]}.json"
        path = self.directory / name
        document = {
            "kind": mail.kind.value,
            "user_id": str(mail.user_id),
            "practice_id": str(mail.practice_id),
            "to": mail.to,
            "link": mail.link,
            "sent_at": sent_at.isoformat(),
        }
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2)
            fh.write("\n")
        tmp.replace(path)
        return path

    async def send(self, mail: OutgoingMail) -> None:
        await asyncio.to_thread(self._write, mail, datetime.now(UTC))
        message = MAIL_LABELS[mail.kind] + " e-mail queued for user " + str(mail.user_id)
        log.info(message, kind=mail.kind.value)

    def read_all(self) -> list[dict[str, str | None]]:
        """Every message written so far, oldest first (tools and tests)."""
        if not self.directory.is_dir():
            return []
        return [
            json.loads(path.read_text(encoding="utf-8")) for path in sorted(self.directory.glob("*.json"))
        ]

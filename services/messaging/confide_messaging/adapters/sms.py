"""SMS notifications behind the `SmsSender` port.

No SMS provider is wired yet; `RecordingSmsProvider` stands in for one in the dev stack and in
tests. It enforces what real providers enforce (E.164 numbers, one 160-character segment), and
`tests/unit/test_sms_contract.py` is the contract a real adapter (e.g. Twilio's Messages API) must
pass before it replaces it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from confide_messaging.app.ports import SmsRejected

E164 = re.compile(r"^\+[1-9]\d{7,14}$")
MAX_SMS_CHARS = 160


@dataclass(frozen=True, slots=True)
class SentSms:
    to: str
    text: str


@dataclass
class RecordingSmsProvider:
    """Accepts what a provider accepts and keeps it, in order, to be read back."""

    sent: list[SentSms] = field(default_factory=list)
    unavailable: bool = False

    async def send(self, to: str, text: str) -> None:
        if not E164.match(to):
            raise SmsRejected("not an E.164 number")
        if not text or len(text) > MAX_SMS_CHARS:
            raise SmsRejected("text must be 1..160 characters")
        if self.unavailable:
            raise ConnectionError("provider unavailable")
        self.sent.append(SentSms(to, text))

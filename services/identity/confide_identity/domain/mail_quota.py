"""How many self-service e-mails an account receives (IDN-AUTH-03).

Sign-up, "resend the verification e-mail" and "forgot my password" are public and answer the same for
every address, so anyone can ask for them in someone else's name. Each asks for an e-mail to the
account's owner; without a limit a stranger could fill that person's inbox. An account gets at most
`max_per_window` of them within any `window`; beyond that the request is answered as usual and nothing
is sent (the caller learns nothing, the owner is not flooded).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from confide_identity.domain.common import require_positive, require_utc


@dataclass(frozen=True, slots=True)
class MailQuota:
    max_per_window: int = 5
    window: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_per_window < 1:
            raise ValueError("max_per_window must be >= 1")
        require_positive(self.window, "window")

    def window_start(self, now: datetime) -> datetime:
        return require_utc(now) - self.window


def may_send(sent_at: Iterable[datetime], *, now: datetime, quota: MailQuota) -> bool:
    """True while fewer than `max_per_window` e-mails went to the account within the window before `now`."""
    start = quota.window_start(now)
    return sum(1 for moment in sent_at if moment > start) < quota.max_per_window

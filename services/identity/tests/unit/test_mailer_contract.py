"""The Mailer contract, passed by the dev file mailer and the in-memory fake alike.

- every kind of message is accepted and can be read back unchanged (recipient, user, link);
- messages keep their order and never overwrite each other;
- nothing an adapter logs contains the address or the token (only the kind and the user id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
import structlog

from confide_identity.adapters.mail.dev import DevFileMailer
from confide_identity.adapters.mail.memory import InMemoryMailer
from confide_identity.app.mail import Mailer, MailKind, OutgoingMail

SECRET_TOKEN = "tok-0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
ADDRESS = "private.person@example.test"


@dataclass
class Adapter:
    mailer: Mailer
    read_back: Callable[[], list[tuple[str, str, str, str | None]]]


def dev_adapter(tmp_path: Path) -> Adapter:
    mailer = DevFileMailer(tmp_path / "mail")
    return Adapter(
        mailer,
        lambda: [(str(m["kind"]), str(m["user_id"]), str(m["to"]), m["link"]) for m in mailer.read_all()],
    )


def memory_adapter(tmp_path: Path) -> Adapter:
    mailer = InMemoryMailer()
    return Adapter(mailer, lambda: [(m.kind.value, str(m.user_id), m.to, m.link) for m in mailer.sent])


@pytest.fixture(params=[dev_adapter, memory_adapter], ids=["dev-file", "in-memory"])
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Adapter:
    factory: Callable[[Path], Adapter] = request.param
    return factory(tmp_path)


def files_in(path: Path) -> list[Path]:
    return list(path.iterdir())


def mail(kind: MailKind, link: str | None = None) -> OutgoingMail:
    return OutgoingMail(kind=kind, user_id=uuid4(), practice_id=uuid4(), to=ADDRESS, link=link)


async def test_every_kind_is_delivered_in_order_and_reads_back_unchanged(adapter: Adapter) -> None:
    sent = [
        mail(MailKind.VERIFY_EMAIL, f"http://127.0.0.1:8080/verify-email?token={SECRET_TOKEN}"),
        mail(MailKind.PASSWORD_RESET, f"http://127.0.0.1:8080/reset-password?token={SECRET_TOKEN}"),
        mail(MailKind.INVITATION, f"http://127.0.0.1:8080/set-password?token={SECRET_TOKEN}"),
        mail(MailKind.ACCOUNT_EXISTS),
        mail(MailKind.VERIFY_EMAIL, "http://127.0.0.1:8080/verify-email?token=second"),
    ]
    for item in sent:
        await adapter.mailer.send(item)
    assert adapter.read_back() == [(m.kind.value, str(m.user_id), m.to, m.link) for m in sent]


async def test_logs_name_the_kind_and_user_never_the_address_or_token(adapter: Adapter) -> None:
    item = mail(MailKind.VERIFY_EMAIL, f"http://127.0.0.1:8080/verify-email?token={SECRET_TOKEN}")
    with structlog.testing.capture_logs() as logs:
        await adapter.mailer.send(item)
    rendered = repr(logs) + repr(item)
    assert ADDRESS not in rendered
    assert SECRET_TOKEN not in rendered
    if isinstance(adapter.mailer, DevFileMailer):
        assert [entry["event"] for entry in logs] == [f"verification e-mail queued for user {item.user_id}"]


async def test_the_dev_mailer_writes_private_files(tmp_path: Path) -> None:
    mailer = DevFileMailer(tmp_path / "mail")
    await mailer.send(mail(MailKind.PASSWORD_RESET, "http://x/reset-password?token=t"))
    (written,) = (tmp_path / "mail").glob("*.json")
    assert written.stat().st_mode & 0o077 == 0


async def test_outside_dev_mode_no_mail_is_written_anywhere(tmp_path: Path) -> None:
    from confide_identity.adapters.mail.unconfigured import MailerNotConfigured
    from confide_identity.settings import IdentitySettings
    from confide_identity.wiring import default_mailer

    assert isinstance(
        default_mailer(IdentitySettings(dev_mode=True, dev_mail_dir=str(tmp_path))), DevFileMailer
    )
    production = default_mailer(IdentitySettings(dev_mail_dir=str(tmp_path)))
    with pytest.raises(MailerNotConfigured):
        await production.send(mail(MailKind.VERIFY_EMAIL, "http://x/verify-email?token=t"))
    assert not files_in(tmp_path)

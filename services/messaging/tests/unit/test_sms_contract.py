"""The SmsSender contract: what every SMS adapter (the recording stand-in today, a real provider
later) must do. Add a real adapter to ADAPTERS (against its sandbox) before wiring it in."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from confide_messaging.adapters.sms import RecordingSmsProvider
from confide_messaging.app.ports import SmsRejected, SmsSender


def recording() -> tuple[SmsSender, Callable[[], list[tuple[str, str]]]]:
    provider = RecordingSmsProvider()
    return provider, lambda: [(m.to, m.text) for m in provider.sent]


ADAPTERS = [recording]


@pytest.fixture(params=ADAPTERS, ids=lambda f: f.__name__)
def adapter(request: pytest.FixtureRequest) -> tuple[SmsSender, Callable[[], list[tuple[str, str]]]]:
    factory: Callable[[], tuple[SmsSender, Callable[[], list[tuple[str, str]]]]] = request.param
    return factory()


async def test_delivers_in_order_unchanged(
    adapter: tuple[SmsSender, Callable[[], list[tuple[str, str]]]],
) -> None:
    sender, read_back = adapter
    await sender.send("+13035550100", "You have a new secure message.")
    await sender.send("+442071838750", "x" * 160)
    assert read_back() == [("+13035550100", "You have a new secure message."), ("+442071838750", "x" * 160)]


@pytest.mark.parametrize(
    ("to", "text"),
    [
        ("3035550100", "hi"),
        ("+0123456789", "hi"),
        ("+1303555010a", "hi"),
        ("+13035550100", ""),
        ("+13035550100", "x" * 161),
    ],
)
async def test_refuses_for_good_what_a_provider_never_accepts(
    adapter: tuple[SmsSender, Callable[[], list[tuple[str, str]]]], to: str, text: str
) -> None:
    sender, read_back = adapter
    with pytest.raises(SmsRejected):
        await sender.send(to, text)
    assert read_back() == []


async def test_a_provider_outage_is_not_a_rejection() -> None:
    provider = RecordingSmsProvider(unavailable=True)
    with pytest.raises(ConnectionError):
        await provider.send("+13035550100", "hi")
    assert not issubclass(ConnectionError, SmsRejected)  # so the notifier retries it later

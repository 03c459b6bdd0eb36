"""Backoff and polling helpers shared by consumers, the producer start and tests."""

from __future__ import annotations

import itertools

import pytest

from confide_chassis.retry import backoff_delays, poll_until


def test_backoff_doubles_up_to_the_cap() -> None:
    assert list(itertools.islice(backoff_delays(0.5, 5.0), 6)) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize(("initial", "maximum", "factor"), [(0, 1, 2), (2, 1, 2), (1, 2, 0.5)])
def test_backoff_refuses_nonsense(initial: float, maximum: float, factor: float) -> None:
    with pytest.raises(ValueError, match="initial"):
        next(backoff_delays(initial, maximum, factor))


async def test_poll_until_returns_the_first_truthy_answer() -> None:
    answers = iter([None, 0, "ready"])
    assert await poll_until(lambda: next(answers), within=2, interval=0.01) == "ready"


async def test_poll_until_awaits_coroutine_probes() -> None:
    calls = 0

    async def probe() -> int:
        nonlocal calls
        calls += 1
        return calls if calls >= 3 else 0

    assert await poll_until(probe, within=2, interval=0.01) == 3


async def test_poll_until_gives_up_in_time() -> None:
    with pytest.raises(TimeoutError, match=r"within 0\.1s"):
        await poll_until(lambda: None, within=0.1, interval=0.02)

"""Backoff and polling, written once: consumers, producers and tests wait the same way."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar, overload

T = TypeVar("T")


def backoff_delays(initial: float, maximum: float, factor: float = 2.0) -> Iterator[float]:
    """initial, initial*factor, ... capped at maximum, forever."""
    if initial <= 0 or maximum < initial or factor < 1:
        raise ValueError("need 0 < initial <= maximum and factor >= 1")
    delay = initial
    while True:
        yield delay
        delay = min(delay * factor, maximum)


@overload
async def poll_until(probe: Callable[[], Awaitable[T]], *, within: float, interval: float = 0.1) -> T: ...


@overload
async def poll_until(probe: Callable[[], T], *, within: float, interval: float = 0.1) -> T: ...


async def poll_until(probe: Callable[[], Any], *, within: float, interval: float = 0.1) -> Any:
    """Call `probe` (plain or async) until it returns something truthy and return it; TimeoutError
    after `within` seconds (the last falsy result is named in the message)."""
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {within:.1f}s (last: {result!r:.80})")
        await asyncio.sleep(interval)

"""Waiting for something that happens in another task, process or node."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    check: Callable[[], Awaitable[T | None]],
    what: str,
    seconds: float = 30,
    every: float = 0.1,
    alive: list[subprocess.Popen[bytes]] | None = None,
) -> T:
    """Poll ``check`` until it gives something (not None/False), with a deadline."""
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found is not None and found is not False:
            return found
        for process in alive or []:
            assert process.poll() is None, f"a process ended while waiting for {what}"
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {seconds} s")
        await asyncio.sleep(every)


async def room_in_one_window(seconds: int, needed: float) -> None:
    """Wait, if need be, for the next fixed window of ``seconds`` (the rate counters cut
    time at multiples of it since the epoch) so that ``needed`` seconds of one are left.

    A test that counts exact hits must not straddle two windows: the hits of the window
    before then weigh by the share of it still inside the sliding window, rounded down as
    the ``limits`` library does, which frees one hit more."""
    left = seconds - time.time() % seconds
    if left < needed:
        await asyncio.sleep(left + 0.05)

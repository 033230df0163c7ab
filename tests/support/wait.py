"""Waits on a state with a deadline, never on a time: ``wait_for`` polls a check from plain code, ``wait_on`` lets a
Textual app run (through its pilot) between looks. Both return the check's first true value and fail with an
AssertionError naming what was awaited (and, given ``describe``, what there was instead).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

INTERVAL_S = 0.05


def _timed_out(what: str, timeout: float, describe: Callable[[], str] | None) -> AssertionError:
    detail = f"; {describe()}" if describe is not None else ""
    return AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")


def wait_for(check: Callable[[], T], *, what: str, timeout: float = 30.0, interval: float = INTERVAL_S,
             describe: Callable[[], str] | None = None) -> T:
    """Call ``check`` until it returns something true and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout, describe)
        time.sleep(interval)


async def wait_on(pilot: Any, check: Callable[[], T], *, what: str, timeout: float = 20.0, interval: float = INTERVAL_S,
                  describe: Callable[[], str] | None = None) -> T:
    """Let the pilot's app run until ``check`` returns something true and return that; fail after ``timeout``.

    Only a mounted screen is asked: one just pushed has no widgets until it has composed, so a wait for a screen
    returns once its widgets can be queried.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check() if pilot.app.screen.is_mounted else None
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout, describe)
        await pilot.pause(interval)


async def wait_async(check: Callable[[], T], *, what: str, timeout: float = 20.0, interval: float = INTERVAL_S,
                     describe: Callable[[], str] | None = None) -> T:
    """``wait_for`` inside an event loop: sleep on the loop between looks. For a wait during which a widget is meant
    to stay busy, where a pilot's pause (which waits for every queue of the screen to empty) would wait on it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout, describe)
        await asyncio.sleep(interval)


async def press_and_settle(pilot: Any, *keys: str, timeout: float = 20.0) -> None:
    """Press ``keys`` and wait until the app has handled them all the way up, and what their handling posted too (the
    console's key order is idle with every one of them routed): after this, a key that did nothing has done nothing."""
    order = pilot.app.key_order
    before = order.routed
    await pilot.press(*keys)
    await wait_on(pilot, lambda: order.routed >= before + len(keys) and not order.busy, timeout=timeout,
                  what=f"the keys {' '.join(keys)} to be handled")

"""Helpers for the dashboard's pilot tests: wait on a condition with a deadline, read the screen as text."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from textual.app import App

T = TypeVar("T")


async def wait_until(pilot: Any, check: Callable[[], T], *, what: str, timeout: float = 20.0, step: float = 0.05) -> T:
    """Let the app run until ``check()`` is truthy; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        # Only a mounted screen is asked: one just pushed has no widgets until it has composed.
        value = check() if pilot.app.screen.is_mounted else None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(step)


def screen_text(app: App[Any]) -> str:
    """What the terminal shows now, as plain text lines (composited exactly as it would be drawn)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


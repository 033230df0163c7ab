"""KeyOrder on a slow machine: a key whose handler is still running holds the keys behind it, however long it takes;
only a key waiting on a node that no longer runs (or a handler stuck for good) is let go.

The app here is the smallest OrderedKeysApp: two focusable boxes that record the keys they get. The first box's
Tab handler waits on a gate the test opens, which is how a handler looks from the key order when the machine is busy.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.widget import Widget

from screens.key_order import OrderedKeysApp
from tests.support.wait import wait_async, wait_on


class Box(Widget, can_focus=True):
    """Records the keys it is given; with a gate, its Tab handler waits for the gate before letting Tab go on."""

    def __init__(self, box_id: str, gate: asyncio.Event | None = None) -> None:
        super().__init__(id=box_id)
        self.gate = gate
        self.typed: list[str] = []

    async def on_key(self, event: events.Key) -> None:
        if event.key == "tab":
            if self.gate is not None:
                await self.gate.wait()
            return  # on up to the app, whose binding moves the focus
        self.typed.append(event.key)
        event.stop()


class TwoBoxes(OrderedKeysApp):
    key_stall_s = 0.2

    def __init__(self, gate: asyncio.Event | None, *, hang_s: float = 30.0) -> None:
        super().__init__()
        self.gate = gate
        self.key_hang_s = hang_s

    def compose(self) -> ComposeResult:
        yield Box("a", self.gate)
        yield Box("b")

    def on_mount(self) -> None:
        self.query_one("#a").focus()


def send(app: Any, *keys: str) -> None:
    """Post keys as the terminal driver does: in one read, without waiting for the app to handle one."""
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)


async def test_keys_behind_a_slow_handler_wait_for_it_past_the_stall_time() -> None:
    gate = asyncio.Event()
    app = TwoBoxes(gate)
    async with app.run_test() as pilot:
        a, b = app.query_one("#a", Box), app.query_one("#b", Box)
        send(app, "tab", "x", "y")
        # The Tab handler outlives the stall time several times over; the keys behind it must not go to the old focus.
        # (The pilot's own pause would wait for the busy box's queue: wait on the loop instead.)
        try:
            await wait_async(lambda: app.key_order.waited_past_stall >= 3 or app.key_order.routed > 1,
                             what="the key order to look at the slow key past its stall time")
            assert app.key_order.routed == 1, "keys typed after Tab were routed (to the old focus) while Tab's handler ran"
        finally:
            gate.set()  # the app cannot close while a handler waits
        await wait_on(pilot, lambda: not app.key_order.busy and (a.typed or b.typed), what="x and y handled")
        assert (a.typed, b.typed) == ([], ["x", "y"])
        assert app.key_order.routed == 3


async def test_a_key_waiting_on_a_node_that_is_not_running_is_let_go() -> None:
    app = TwoBoxes(None)
    async with app.run_test() as pilot:
        b = app.query_one("#b", Box)
        # A key seen into a widget that never runs (never mounted): the look queued there can never come back.
        app.key_order.sent(Box("never-mounted"))
        assert app.key_order.busy
        send(app, "tab", "z")
        await wait_on(pilot, lambda: not app.key_order.busy and b.typed == ["z"], what="the held keys let go in order")


async def test_a_handler_stuck_for_good_does_not_keep_the_keyboard() -> None:
    gate = asyncio.Event()  # never opened
    app = TwoBoxes(gate, hang_s=0.6)
    async with app.run_test() as pilot:
        a = app.query_one("#a", Box)
        send(app, "tab", "x")
        # x goes to the focus Tab left (Tab never finished), to be handled once the box is free again.
        try:
            await wait_async(lambda: app.key_order.routed == 2, what="x let go past the hang time")
            assert app.key_order.waited_past_stall > 0
        finally:
            gate.set()
        await wait_on(pilot, lambda: a.typed == ["x"], what="x in the first box")

"""KeyOrder: the terminal's keys reach the console one at a time, each where the keys before it left the focus.

Textual hands a key to the focused widget's message queue at once, but runs the bindings that widget does not
handle only when the key has bubbled back up to the app: after every key already waiting in the app's queue has
been handed out. So a key that moves the focus (Tab, Enter on a form field, ``n`` opening the note box) moved it
only after the keys typed behind it had gone to the old focus: ``Bob Lind`` Tab ``OPS-77`` arriving in one read
gave the approver ``Bob LindOPS-77``, and a note typed right after ``n`` went to the step's bindings letter by
letter. Here the app holds each key until the one before it has been handled all the way up, and until the
messages that handling posted on its way (``Input.Submitted``, a screen's resume and its first focus) have been
handled too; only then is the next key routed, to whatever has the focus by then.

"Handled all the way up" is observed without touching Textual's internals: a key travels up its path of
widgets, each with its own queue, so a callback queued behind it on each node of the path in turn runs only once
the key has left that node. Two passes cover the messages the key's handling posted on the same path; a pass
over a screen that the key brought up covers its mount and first focus. A node that closes meanwhile is skipped.

A key is let go early only on a state, never on a slow machine's clock alone: the node it waits on has stopped
running (its screen closed under it, so the look queued there will never run), once ``stall_s`` has passed (a
screen just pushed may not have started yet). A node that still runs is waited for, however long its handler takes
on a busy machine, since letting the next key go then would send it to the old focus; only a node that runs but has
not reached the key in ``hang_s`` (a handler stuck for good) is given up on, so the keyboard can never stay stuck.

``OrderedKeysApp`` is the App that routes its keys this way: the console and the reviewer are both built on it.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from textual import events
from textual.app import App
from textual.message_pump import MessagePump

PASSES = 2
# A key waiting on a node that is not running is let go after this long: enough for a screen just pushed to start.
STALL_S = 1.0
# A key waiting on a node that runs is let go only after this long: far beyond any handler on the UI thread, even on
# a busy machine (the slow work runs in workers); a handler that takes this long is stuck, not slow.
HANG_S = 30.0


class KeyOrder:
    """Holds terminal keys (and pastes) while the one before them is still on its way through the app."""

    def __init__(self, app: App, *, stall_s: float = STALL_S, hang_s: float = HANG_S) -> None:
        self.app = app
        self.stall_s = stall_s
        self.hang_s = hang_s
        self._held: deque[events.Event] = deque()
        self._token: object | None = None  # the key in flight, if any
        self._waiting_on: MessagePump | None = None  # the node whose queue holds the next look behind the key
        self._since = 0.0
        self.routed = 0  # keys routed so far (for tests and benchmarks)
        self.waited_past_stall = 0  # checks that found the key past ``stall_s`` on a node still running

    @staticmethod
    def is_typed(event: events.Event) -> bool:
        """A key or paste straight from the terminal (not one Textual is already passing around)."""
        return isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded

    @property
    def busy(self) -> bool:
        return self._token is not None or bool(self._held)

    def hold(self, event: events.Event) -> None:
        self._held.append(event)

    def sent(self, target: MessagePump | None) -> None:
        """The key just routed went to ``target``'s queue (None: the app handled it itself, so it is done)."""
        self.routed += 1
        if target is None:
            return
        token = object()
        self._token = token
        self._since = time.monotonic()
        path = _path(target)
        screen = next((node for node in path if node is getattr(self.app, "screen", None)), None)
        self._walk(token, path, 0, PASSES, screen)

    def _walk(self, token: object, path: list[MessagePump], index: int, passes: int, screen: Any) -> None:
        # Queue the next look behind the key on the first node of the path that is still open; on the app (the
        # path's last node) a finished pass starts the next one, or ends the key's journey.
        while index < len(path):
            if path[index].call_later(self._arrived, token, path, index + 1, passes, screen):
                self._waiting_on = path[index]
                return
            index += 1
        self._waiting_on = self.app
        self.app.call_later(self._arrived, token, path, len(path), passes, screen)

    async def _arrived(self, token: object, path: list[MessagePump], index: int, passes: int, screen: Any) -> None:
        if token is not self._token:
            return  # let go already (stalled)
        if index < len(path):
            self._walk(token, path, index, passes, screen)
            return
        if passes > 1:
            self._walk(token, path, 0, passes - 1, screen)
            return
        current = getattr(self.app, "screen", None)
        if current is not None and current is not screen:
            # The key brought up another screen: wait for it to mount and take its first focus.
            self._walk(token, [current, self.app], 0, 1, current)
            return
        await self._release(token)

    async def _release(self, token: object) -> None:
        if token is not self._token:
            return
        self._token = None
        self._waiting_on = None
        while self._held and self._token is None:
            await self.app.route_typed(self._held.popleft())  # type: ignore[attr-defined]

    async def check_stalled(self) -> None:
        """Called on a timer: a key whose path can no longer answer is let go, and the keys behind it with it."""
        if self._token is None:
            return
        waited = time.monotonic() - self._since
        if waited <= self.stall_s:
            return
        node = self._waiting_on
        if node is not None and node.is_running and waited <= self.hang_s:
            # Slow, not stalled: the look queued behind the key runs once the node's handler returns.
            self.waited_past_stall += 1
            return
        await self._release(self._token)


class OrderedKeysApp(App):
    """An App whose typed keys go through a ``KeyOrder`` (the console and the reviewer both are)."""

    _key_order: KeyOrder | None = None
    key_stall_s = STALL_S
    key_hang_s = HANG_S

    @property
    def key_order(self) -> KeyOrder:
        if self._key_order is None:
            self._key_order = KeyOrder(self, stall_s=self.key_stall_s, hang_s=self.key_hang_s)
            self.set_interval(self.key_stall_s / 4, self._key_order.check_stalled)
        return self._key_order

    async def on_event(self, event: events.Event) -> None:
        if KeyOrder.is_typed(event):
            if self.key_order.busy:
                self.key_order.hold(event)
            else:
                await self.route_typed(event)
            return
        await super().on_event(event)

    async def route_typed(self, event: events.Event) -> None:
        """Route one typed key as Textual does (priority bindings, else the focused widget), then follow it."""
        target = self.focused or self.screen
        await super().on_event(event)
        self.key_order.sent(target if event.is_forwarded else None)


def _path(node: MessagePump) -> list[MessagePump]:
    """The node and its ancestors up to the app, in the order a bubbling key visits them."""
    path = []
    current: Any = node
    while current is not None:
        path.append(current)
        current = getattr(current, "_parent", None)
    return path

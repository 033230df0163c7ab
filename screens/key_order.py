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
over a screen that the key brought up covers its mount and first focus. A node that closes meanwhile is skipped,
and a key whose path stalls anyway (its screen closed under it) is let go after ``stall_s``, so the keyboard can
never stay stuck.

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
STALL_S = 1.0  # longer than any handler on the UI thread takes; the slow work runs in workers


class KeyOrder:
    """Holds terminal keys (and pastes) while the one before them is still on its way through the app."""

    def __init__(self, app: App, *, stall_s: float = STALL_S) -> None:
        self.app = app
        self.stall_s = stall_s
        self._held: deque[events.Event] = deque()
        self._token: object | None = None  # the key in flight, if any
        self._since = 0.0
        self.routed = 0  # keys routed so far (for tests and benchmarks)

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
                return
            index += 1
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
        while self._held and self._token is None:
            await self.app.route_typed(self._held.popleft())  # type: ignore[attr-defined]

    async def check_stalled(self) -> None:
        """Called on a timer: a key whose path stopped answering is let go, and the keys behind it with it."""
        if self._token is not None and time.monotonic() - self._since > self.stall_s:
            await self._release(self._token)


class OrderedKeysApp(App):
    """An App whose typed keys go through a ``KeyOrder`` (the console and the reviewer both are)."""

    _key_order: KeyOrder | None = None

    @property
    def key_order(self) -> KeyOrder:
        if self._key_order is None:
            self._key_order = KeyOrder(self)
            self.set_interval(STALL_S / 4, self._key_order.check_stalled)
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

"""SteadyFooter: Textual's Footer, rebuilt only when the keys it shows change, and at most once per frame.

Textual's Footer schedules a full rebuild (every key widget removed, created and styled again) on each bindings
update, and a screen that opens publishes several of them in a row (focus set, tabs activated): four rebuilds of
the same keys, about a third of the time it takes the record screen to settle. This one folds the updates that
arrive before the next frame into one, and skips it when the keys, their labels and their enabled state are the
ones already shown. It looks and behaves as Footer does (same widgets, same styles).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


def shown_keys(screen: Screen) -> tuple:
    """What the footer would show for ``screen``: each shown binding with its label, state and tooltip."""
    return tuple(
        (binding.key, binding.key_display, binding.description, binding.action, binding.group, enabled, tooltip)
        for (_, binding, enabled, tooltip) in screen.active_bindings.values()
        if binding.show
    )


class SteadyFooter(Footer):
    """A Footer that rebuilds its keys only when they change."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        # Footer shows nothing until the screen first publishes its bindings, a frame or two after it opens; the
        # keys are known when the footer is composed, so the first frame shows them.
        self._bindings_ready = True
        self._rebuild_pending = False
        self._keys_shown: tuple | None = None

    def compose(self) -> ComposeResult:
        self._keys_shown = shown_keys(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        # Read the bindings now, not when the update was published: the last of a burst is the one that counts.
        self._rebuild_pending = False
        if not self.is_attached:
            return
        keys = shown_keys(self.screen)
        if keys == self._keys_shown:
            return
        self._keys_shown = keys
        await self.recompose()

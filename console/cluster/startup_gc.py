"""The cyclic garbage collector held off while ``opsconsole watch`` loads its first lists, then resumed.

Decoding a big list builds hundreds of thousands of dicts and lists (about 280,000 for 10,000 pods), and every
700 allocations CPython's collector walks the young ones, every so often all of them: on a 10,000-pod
list that makes ``json.loads`` about 2.5x slower (benchmarks/panels.py shows it on the first frame). None
of those objects can be garbage yet, and the API's JSON holds no reference cycles, so the walk finds nothing.

``hold_gc()`` disables the collector as the command starts (imports allocate a lot too) and ``GcHeldWatch``
wraps the started watch: the collector stays off until every kind has been
listed (or has failed to be) and everything listed has been drained by the dashboard and one more drain has
come (a tick later, so the frame showing it has been drawn); then it is enabled again, after
``gc.freeze()`` has moved what start-up built out of its sight, so later collections do not walk the
thousands of long-lived objects again. A deadline ends the pause in any case, so a watch that never settles
cannot leave the collector off.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from console.cluster.watch_changes import LIVE, SYNCING, Change

__all__ = ["GcHeldWatch", "hold_gc"]

DEADLINE_S = 30.0


def hold_gc() -> bool:
    """Disable the collector; True when this call did (it was on), so the caller's ``GcHeldWatch`` is to enable it."""
    held = gc.isenabled()
    gc.disable()
    return held


class GcHeldWatch:
    """A watch (``WatchLike``) during whose first load the collector is off; see the module docstring."""

    def __init__(self, watch: Any, *, held: bool, deadline_s: float = DEADLINE_S, clock: Callable[[], float] = time.monotonic) -> None:
        """``held``: what ``hold_gc()`` returned (False: the collector was already off, and is left so)."""
        self.watch = watch
        self._clock = clock
        self._deadline = clock() + deadline_s
        self._held = held
        self._armed = False

    @property
    def holding(self) -> bool:
        """True while the collector is held off by this watch."""
        return self._held

    def release(self) -> None:
        """Enable the collector again (once), freezing what was built so far."""
        if self._held:
            self._held = False
            gc.freeze()
            gc.enable()

    def drain(self, max_changes: int | None = None) -> list[Change]:
        out: list[Change] = self.watch.drain(max_changes)
        if self._held:
            self._settle()
        return out

    def _settle(self) -> None:
        if self._clock() >= self._deadline:
            self.release()
            return
        # A kind that failed its first list (unreachable, forbidden) will not bring a big load soon either.
        loaded = all(s.synced or s.state not in (SYNCING, LIVE) for s in self.watch.statuses().values())
        if not (loaded and self.watch.pending() == 0):
            self._armed = False
            return
        if self._armed:  # the drain before this one handed over the last of it: its frame has been drawn
            self.release()
        else:
            self._armed = True

    def stop(self, timeout: float = 2.0) -> None:
        try:
            self.watch.stop(timeout)
        finally:
            self.release()

    def __getattr__(self, name: str) -> Any:  # start, statuses, pending, snapshot...: the watch's own
        return getattr(self.watch, name)

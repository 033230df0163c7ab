"""``LockBanner``: a change in progress on the cluster, read from its change lock (the Lease), for everyone to see.

"CHG-2026-0042 by alice: step 3 of 7, restart", one line per lock, refreshed every few seconds by a thread
worker that lists the console's Leases (the holder writes the step on its Lease as each step starts). Hidden
while nobody holds a lock; a cluster that cannot be asked hides it too (the panels already say the cluster is
unreachable), and the reason is kept as the widget's tooltip.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.widgets import Static

from console.cluster.kubeconfig import KubeError
from console.cluster.lease_record import LockStatus, banner_text

Fetch = Callable[[], list[LockStatus]]
POLL_S = 2.0


class LockBanner(Static):
    """The locks held on one cluster, as a banner; ``fetch`` lists them (called on a worker thread)."""

    DEFAULT_CSS = """
    LockBanner { height: auto; background: $warning 30%; color: $text; text-style: bold; padding: 0 1; display: none; }
    """

    def __init__(self, fetch: Fetch | None, *, poll_s: float | None = None, clock: Callable[[], float] = time.time,
                 id: str | None = None) -> None:
        super().__init__("", id=id)
        self.fetch = fetch
        self.poll_s = POLL_S if poll_s is None else poll_s
        self.clock = clock
        self.shown: list[str] = []  # the lines on display now (what tests and the palette read)

    def on_mount(self) -> None:
        if self.fetch is None:
            return
        self.refresh_locks()
        self.set_interval(self.poll_s, self.refresh_locks)

    def set_fetch(self, fetch: Fetch | None) -> None:
        """Show another cluster's locks (the dashboard switched context)."""
        self.fetch = fetch
        self._show([])
        self.refresh_locks()

    @work(thread=True, exclusive=True, group="lock-banner", exit_on_error=False)
    def refresh_locks(self) -> None:
        fetch = self.fetch
        if fetch is None:
            return
        try:
            locks = fetch()
        except KubeError as e:  # unreachable, forbidden, no such context: no banner, the reason as its tooltip
            self.app.call_from_thread(self._unknown, str(e))
            return
        now = self.clock()
        self.app.call_from_thread(self._show, [banner_text(s, now) for s in locks])

    def _unknown(self, reason: str) -> None:
        self._show([])
        self.tooltip = f"change locks unknown: {reason}"

    def _show(self, lines: list[str]) -> None:
        if lines == self.shown:
            return
        self.shown = lines
        self.display = bool(lines)
        self.update(Text("\n".join(f"⚑ {line}" for line in lines)))


def kubeconfig_locks(kubeconfig: str | None) -> Fetch:
    """Locks on the kubeconfig's current context (Home: where a new change would start)."""
    held: dict[str, object] = {}

    def fetch() -> list[LockStatus]:
        # Imported here, on the worker thread: the cluster client costs Home's first paint nothing.
        from console.cluster.kube import KubeAccess
        from console.cluster.lease import list_locks

        access = held.get("access")
        if not isinstance(access, KubeAccess):
            access = held["access"] = KubeAccess(kubeconfig)
        return list_locks(access.client_for(access.file_current_context), request_timeout_s=3.0)

    return fetch


def context_locks(kube: object, context: Callable[[], str]) -> Fetch:
    """Locks on the context ``context()`` names, through ``kube`` (the dashboard's ``KubeAccess``)."""

    def fetch() -> list[LockStatus]:
        listed = getattr(kube, "list_locks", None)
        if listed is not None:  # KubeAccess: over plain HTTP where it can (no cluster client to load)
            return list(listed(context(), request_timeout_s=3.0))
        from console.cluster.lease import list_locks

        client_for = getattr(kube, "client_for", None)
        if client_for is None:  # a kube without clients (a recorded source): no cluster to ask
            return []
        return list_locks(client_for(context()), request_timeout_s=3.0)

    return fetch

"""Live view of a cluster: one list-then-watch thread per kind, changes queued for a consumer to drain.

``ClusterWatch`` starts a ``KindLoop`` (console/cluster/watch_loop.py) per kind. Every blocking call of the
official client runs in those threads; they append ``Change``s to one deque (appending never blocks and
is thread-safe), and the consumer (the UI on a ~10 Hz timer, or the engine's observe window) takes them
with ``drain()`` and applies them to a ``ClusterCache``. ``statuses()`` gives each loop's state for the
health line; ``snapshot(kind)`` the loop's own current copy of a kind.

Usage::

    kube = KubeAccess(kubeconfig)
    cw = ClusterWatch(kube.client_for("prod"), namespace=None)
    cw.start()
    cache = ClusterCache()
    ...every 100 ms: deltas = cache.apply(cw.drain())
    cw.stop()

Switching context or namespace is a new ``ClusterWatch`` (stop the old one; ``cache.clear()``): a watch
belongs to one API server and one scope, as its resourceVersions do.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from console.cluster.watch_changes import STOPPED, Change, ClusterCache, KindDelta, WatchStatus, object_key
from console.cluster.watch_loop import KindLoop, backoff_delay
from console.cluster.watch_stream import KINDS, KindSpec

__all__ = ["DEFAULT_KINDS", "KINDS", "Change", "ClusterCache", "ClusterWatch", "KindDelta", "KindSpec", "WatchStatus",
           "backoff_delay", "object_key"]

DEFAULT_KINDS = ("pods", "nodes", "deployments", "statefulsets", "daemonsets", "replicasets", "events")


class ClusterWatch:
    """Watches several kinds of one cluster (one namespace, or all) and queues their changes.

    - ``api_client``: a transport (``HttpTransport`` over a ``RawEndpoint``, or ``ClientTransport``) or the
      official client's ``ApiClient``.
    - ``page_size``: list in pages of this many objects (``limit``/``continue``); the first list of each kind
      is then delivered page by page, so a big kind shows its first rows early.

    - ``server_timeout_s``: the watch's ``timeoutSeconds``; the server ends each watch after it and the loop
      watches again from the last version (no list).
    - ``read_timeout_s``: the client's socket read timeout; must exceed ``server_timeout_s`` because a
      quiet resource sends nothing until the server closes the stream (bookmarks aside).
    - ``backoff``: (first delay, cap) in seconds while the server is unreachable; jittered.
    - ``clock``: what ``WatchStatus.since`` is measured with.
    """

    def __init__(self, api_client: Any, *, kinds: Iterable[str] = DEFAULT_KINDS, namespace: str | None = None,
                 server_timeout_s: int = 240, read_timeout_s: float = 270, backoff: tuple[float, float] = (0.2, 5.0),
                 clock: Callable[[], float] = time.time, connect_timeout_s: float = 5.0, list_timeout_s: float = 60.0,
                 forbidden_retry_s: float = 30.0, page_size: int | None = None) -> None:
        kinds = tuple(kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"cannot watch {', '.join(unknown)}; known kinds: {', '.join(KINDS)}")
        if read_timeout_s <= server_timeout_s:
            raise ValueError(f"read_timeout_s ({read_timeout_s}) must be longer than server_timeout_s ({server_timeout_s}),"
                             " or a quiet watch is cut by the client before the server ends it")
        if backoff[0] <= 0 or backoff[1] < backoff[0]:
            raise ValueError(f"backoff must be (first > 0, cap >= first), not {backoff}")
        self.namespace = namespace
        self.kinds = kinds
        self._queue: deque[Change] = deque()
        self._clock = clock
        self._started = False
        self._loops = {
            k: KindLoop(api_client, KINDS[k], namespace, self._queue.append, server_timeout_s=server_timeout_s,
                        read_timeout_s=read_timeout_s, connect_timeout_s=connect_timeout_s, list_timeout_s=list_timeout_s,
                        backoff=backoff, forbidden_retry_s=forbidden_retry_s, clock=clock, page_size=page_size)
            for k in kinds
        }

    def start(self) -> None:
        """Start every loop (once)."""
        if self._started:
            return
        self._started = True
        for loop in self._loops.values():
            loop.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop every loop and wait for them, at most ``timeout`` seconds in all.

        Each loop's connection is cut, so threads end at once; a thread caught before its server answered a
        request cannot be interrupted and ends on its own (it is a daemon and delivers nothing more).
        """
        for loop in self._loops.values():
            loop.request_stop()
        deadline = time.monotonic() + timeout
        for loop in self._loops.values():
            loop.join(deadline - time.monotonic())

    def __enter__(self) -> ClusterWatch:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def drain(self, max_changes: int | None = None) -> list[Change]:
        """Everything queued since the last drain (at most ``max_changes``), oldest first; never blocks."""
        q = self._queue
        out: list[Change] = []
        n = len(q) if max_changes is None else min(max_changes, len(q))
        pop = q.popleft
        for _ in range(n):
            out.append(pop())
        return out

    def pending(self) -> int:
        """How many changes wait to be drained."""
        return len(self._queue)

    def statuses(self) -> dict[str, WatchStatus]:
        """Each kind's loop state, by kind."""
        out = {k: loop.status() for k, loop in self._loops.items()}
        if not self._started:
            # Not started is not "syncing": say so rather than show a list that is not happening.
            out = {k: WatchStatus(k, STOPPED, s.since, "not started") for k, s in out.items()}
        return out

    def snapshot(self, kind: str) -> list[dict[str, Any]]:
        """The loop's current copy of ``kind`` (a new list of the shared dicts)."""
        if kind not in self._loops:
            raise KeyError(f"{kind} is not watched here (watched: {', '.join(self.kinds)})")
        return self._loops[kind].snapshot()

    @property
    def running(self) -> bool:
        """True while any loop thread is alive."""
        return any(loop.alive for loop in self._loops.values())

"""Fault switches of the rehearsal cluster: what a flaky real API server does to its clients.

Each switch can be set from tests (through ``RunningCluster.faults``) and from ``opsconsole sim`` flags.
The HTTP layer reads them on every request; the host's fault thread applies the timed ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Switches read by the API on every request.

    - ``drop_watches_every``: real seconds between cuts of every open watch connection (None = never).
    - ``expire_next_watches``: this many upcoming watch requests that carry a resourceVersion get 410.
    - ``forbidden``: resource names ("secrets", "pods") answered with 403 for every verb.
    - ``latency_ms``: added before every response.
    """

    drop_watches_every: float | None = None
    expire_next_watches: int = 0
    forbidden: set[str] = field(default_factory=set)
    latency_ms: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take_expire(self) -> bool:
        """Consume one pending 410 answer, if any."""
        with self._lock:
            if self.expire_next_watches > 0:
                self.expire_next_watches -= 1
                return True
            return False

    def expire_watches(self, n: int = 1) -> None:
        with self._lock:
            self.expire_next_watches += n

    def forbid(self, resource: str) -> None:
        self.forbidden.add(resource)

    def allow(self, resource: str) -> None:
        self.forbidden.discard(resource)

    def clear(self) -> None:
        """Back to a healthy server."""
        with self._lock:
            self.drop_watches_every = None
            self.expire_next_watches = 0
            self.forbidden.clear()
            self.latency_ms = 0

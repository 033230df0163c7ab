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
    - ``forbidden_for``: the same for one user only (user name -> resource names), as RBAC that grants a user
      everything but those: the user is the bearer token a request carries (none: ``system:anonymous``).
    - ``latency_ms``: added before every response.
    """

    drop_watches_every: float | None = None
    expire_next_watches: int = 0
    forbidden: set[str] = field(default_factory=set)
    forbidden_for: dict[str, set[str]] = field(default_factory=dict)
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

    def forbid(self, resource: str, user: str | None = None) -> None:
        """403 for ``resource``: for everyone, or for ``user`` alone."""
        with self._lock:
            if user is None:
                self.forbidden.add(resource)
            else:
                self.forbidden_for.setdefault(user, set()).add(resource)

    def allow(self, resource: str, user: str | None = None) -> None:
        with self._lock:
            if user is None:
                self.forbidden.discard(resource)
            else:
                self.forbidden_for.get(user, set()).discard(resource)

    def is_forbidden(self, resource: str, user: str) -> bool:
        with self._lock:
            return resource in self.forbidden or resource in self.forbidden_for.get(user, ())

    def clear(self) -> None:
        """Back to a healthy server."""
        with self._lock:
            self.drop_watches_every = None
            self.expire_next_watches = 0
            self.forbidden.clear()
            self.forbidden_for.clear()
            self.latency_ms = 0

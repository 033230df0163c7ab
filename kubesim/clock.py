"""The rehearsal cluster's clock: simulated time that runs at a chosen speed and can be advanced by hand.

Controllers and timestamps read this clock, never the wall clock, so a test can run a ten-minute rollout in
seconds (speed it up) or step it exactly (speed 0 plus ``advance``).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class SimClock:
    """Simulated seconds since the epoch: ``base_sim + (monotonic - base_real) * speed``."""

    def __init__(self, start: float | None = None, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._base_sim = time.time() if start is None else start
        self._base_real = time.monotonic()
        self._speed = float(speed)

    @property
    def speed(self) -> float:
        """How many simulated seconds pass per real second (0 = frozen)."""
        return self._speed

    def now(self) -> float:
        """Current simulated time as epoch seconds."""
        with self._lock:
            return self._base_sim + (time.monotonic() - self._base_real) * self._speed

    def _rebase(self) -> None:
        real = time.monotonic()
        self._base_sim += (real - self._base_real) * self._speed
        self._base_real = real

    def set_speed(self, speed: float) -> None:
        """Change the rate from now on; time already passed is kept."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        with self._lock:
            self._rebase()
            self._speed = float(speed)

    def advance(self, seconds: float) -> None:
        """Jump forward; timers due in the jumped interval fire on the controllers' next tick."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._rebase()
            self._base_sim += seconds

    def jump_to(self, epoch: float) -> None:
        """Set the simulated time (used once, after a scenario has been settled in the past)."""
        with self._lock:
            self._rebase()
            self._base_sim = max(self._base_sim, epoch)


def rfc3339(epoch: float) -> str:
    """Kubernetes' timestamp form (seconds precision, UTC, trailing Z)."""
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str | None) -> float | None:
    """Epoch seconds of a Kubernetes timestamp, or None when absent."""
    if not text:
        return None
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()

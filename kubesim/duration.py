"""apimachinery's ``duration.HumanDuration`` (k8s.io/apimachinery/pkg/util/duration), the AGE of every ``kubectl get``.

Ported from the Go source for the rehearsal cluster alone: the console keeps its own copy, and the two are
compared against kubectl's expectations in the tests, so neither can drift unnoticed. Pure.
"""

from __future__ import annotations

# time.Duration units, in nanoseconds: Go does this arithmetic on integers, and so does this port.
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


def human_duration(seconds: float) -> str:
    """About two or three significant figures of a duration: 45s, 5m30s, 100m, 3h2m, 2d4h, 90d, 2y70d, 10y.

    A duration a little below zero (down to -1.999s, clock skew between machines) reads "0s"; anything more
    negative is "<invalid>".
    """
    d = int(seconds * SECOND)
    whole_seconds = int(d / SECOND)  # Go's int(d.Seconds()) truncates toward zero
    if whole_seconds < -1:
        return "<invalid>"
    if whole_seconds < 0:
        return "0s"
    if whole_seconds < 60 * 2:
        return f"{whole_seconds}s"
    minutes = d // MINUTE
    if minutes < 10:
        s = (d // SECOND) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = d // HOUR
    if hours < 8:
        m = (d // MINUTE) % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"

"""Plausible container logs, derived from a pod's status and the time (pure: the same inputs give the same lines).

A container logs a few start-up lines when it starts, then a request or housekeeping line every few
simulated seconds; a container whose image says ``crash`` logs its fatal error just before each exit.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

from kubesim.clock import parse_rfc3339

Obj = dict[str, Any]
STEP = 5.0  # simulated seconds between steady-state lines
MAX_LINES = 1000

_PATHS = ["/health", "/api/v1/items", "/api/v1/orders", "/metrics", "/", "/api/v1/users/42", "/static/app.js"]
_CODES = [200, 200, 200, 200, 200, 304, 200, 404, 200, 201]


class NotStarted(Exception):
    """The container has no logs yet (the API answers 400 with this message)."""


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _app(image: str) -> str:
    return image.rsplit("/", 1)[-1].split(":", 1)[0] or "app"


def _startup(app: str, image: str, t: float) -> list[str]:
    version = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else "latest"
    return [
        f"{_ts(t)} INFO  {app} {version} starting",
        f"{_ts(t + 0.05)} INFO  loaded configuration from /etc/{app}/config.yaml",
        f"{_ts(t + 0.2)} INFO  listening on :8080",
    ]


def _steady(app: str, name: str, i: int, t: float) -> str:
    h = zlib.crc32(f"{name}:{i}".encode())
    if app in ("postgres", "redis", "node-exporter"):
        msgs = {
            "postgres": f"LOG:  checkpoint complete: wrote {h % 400} buffers ({(h % 40) / 10:.1f}%)",
            "redis": f"{h % 90 + 10} changes in 60 seconds. Saving...",
            "node-exporter": f"msg=\"scrape ok\" collector=cpu duration_seconds=0.00{h % 9 + 1}",
        }
        return f"{_ts(t)} INFO  {msgs[app]}"
    path, code = _PATHS[h % len(_PATHS)], _CODES[(h >> 8) % len(_CODES)]
    return f"{_ts(t)} INFO  {'GET' if h % 5 else 'POST'} {path} {code} {(h % 900) / 100 + 0.3:.1f}ms"


def _window(app: str, image: str, name: str, start: float, end: float, crashed: bool) -> list[str]:
    lines = _startup(app, image, start)
    first = max(1, int((end - start) / STEP) - MAX_LINES)
    i = first
    while start + i * STEP < end:
        lines.append(_steady(app, name, i, start + i * STEP))
        i += 1
    if crashed:
        lines.append(f"{_ts(end - 0.01)} ERROR cannot reach dependency: dial tcp 10.96.0.42:5432: connect: connection refused")
        lines.append(f"{_ts(end)} FATAL {app} exiting: startup check failed")
    return lines


def pod_log(pod: Obj, container: str, now: float, *, previous: bool = False) -> list[str]:
    """The log lines of one container of ``pod`` as of ``now``."""
    name = pod["metadata"]["name"]
    spec_c: dict[str, Any] = next((c for c in pod["spec"].get("containers") or [] if c["name"] == container), {})
    image = spec_c.get("image", "")
    app = _app(image)
    status = next((c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c["name"] == container), None)
    if previous:
        term = ((status or {}).get("lastState") or {}).get("terminated")
        if not term:
            raise NotStarted(f'previous terminated container "{container}" in pod "{name}" not found')
        s, e = parse_rfc3339(term.get("startedAt")) or now, parse_rfc3339(term.get("finishedAt")) or now
        return _window(app, image, name, s, e, True)
    state = (status or {}).get("state") or {}
    if state.get("running"):
        return _window(app, image, name, parse_rfc3339(state["running"].get("startedAt")) or now, now, False)
    if state.get("terminated"):
        t = state["terminated"]
        return _window(app, image, name, parse_rfc3339(t.get("startedAt")) or now, parse_rfc3339(t.get("finishedAt")) or now, True)
    term = ((status or {}).get("lastState") or {}).get("terminated")
    if term:  # waiting in CrashLoopBackOff: the API shows the last run's log
        return _window(app, image, name, parse_rfc3339(term.get("startedAt")) or now, parse_rfc3339(term.get("finishedAt")) or now, True)
    reason = (state.get("waiting") or {}).get("reason", "ContainerCreating")
    if reason in ("ImagePullBackOff", "ErrImagePull"):
        reason = "trying and failing to pull image"
    raise NotStarted(f'container "{container}" in pod "{name}" is waiting to start: {reason}')

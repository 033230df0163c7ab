"""Whether a saved plan file may still be applied: unchanged since it was reviewed, and not too old.

A saved plan is what the operator approved; applying a different or stale file would apply something nobody
looked at. The step that planned records the file's SHA-256 and when it was made; the apply step calls
:func:`check_plan_usable` first. (Terraform itself also refuses a plan whose state has moved on since.)
:func:`plan_age_reason` is the pure decision; the other two read the file.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

# Plans dated this far in the future still pass: clocks on one machine step a little.
CLOCK_SKEW_S = 5.0


def plan_file_fingerprint(path: Path) -> str:
    """The file's SHA-256, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _seconds(value: datetime | float | int) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one (UTC)")
        return value.timestamp()
    return float(value)


def plan_age_reason(
    *,
    actual_sha256: str,
    expected_sha256: str,
    created_at: datetime | float,
    now: datetime | float,
    max_age_s: float | None,
) -> str | None:
    """Why the plan must not be applied, or None when it may (pure)."""
    if actual_sha256.lower() != expected_sha256.lower():
        return (f"plan file changed since it was reviewed (sha256 {actual_sha256[:12]}…, "
                f"expected {expected_sha256[:12]}…)")
    age = _seconds(now) - _seconds(created_at)
    if age < -CLOCK_SKEW_S:
        return f"plan is dated {-age:.0f}s in the future; the clock moved, plan again"
    if max_age_s is not None and age > max_age_s:
        return f"plan is {_human(age)} old, older than the allowed {_human(max_age_s)}; plan again"
    return None


def check_plan_usable(
    path: Path,
    *,
    expected_sha256: str,
    created_at: datetime | float,
    now: datetime | float,
    max_age_s: float | None,
) -> str | None:
    """None when ``path`` is the reviewed plan and young enough, else the reason to refuse it."""
    try:
        actual = plan_file_fingerprint(path)
    except FileNotFoundError:
        return f"plan file {path} is missing"
    except OSError as exc:
        return f"plan file {path} cannot be read: {exc.strerror or exc}"
    return plan_age_reason(actual_sha256=actual, expected_sha256=expected_sha256, created_at=created_at, now=now,
                           max_age_s=max_age_s)


def _human(seconds: float) -> str:
    """Go-style duration, as Terraform and the runbook's own durations read: 45s, 2m5s, 1h0m1s."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"

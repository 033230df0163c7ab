"""A step retried until it passes: ``retry: {attempts: 5, interval: 10s}`` (SOP-002's health checks and smoke tests).

Each attempt is a run of its own in the record; the step fails only when its last attempt fails. Only a step that
changes nothing may be retried, unless it says it can be run again safely (``idempotent: true``): lint checks that.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from console.runbook.durations import DurationOrParam


class Retry(BaseModel):
    """How often a step is tried and how long the console waits between two tries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(ge=2, le=100, description="Tries in all, the first included (2 to 100).")
    interval: DurationOrParam = Field(
        default=10, description="Wait between two tries: seconds, a duration such as 10s, or a duration parameter."
    )

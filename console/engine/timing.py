"""A step's declared durations (observe window, timeout, retry interval) and the rehearsal clock's factor (pure).

On a rehearsal environment whose cluster runs its clock faster than the wall clock (the demo's 4x), every declared
duration is divided by that speed, so a ten-minute observe window takes 2.5 minutes there as its pods' minutes pass
four times as fast. The factor is 1 everywhere else: production never scales. The journal keeps the declared
seconds, the factor and the seconds actually waited.

A timeout is a bound, not a wait: the processes and watches it bounds start at the wall clock's speed whatever the
cluster's, so a scaled timeout is never shorter than ``TIMEOUT_FLOOR_S`` (or the declared time, when that is
shorter). Observe windows and retry intervals scale without a floor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.runbook.durations import format_duration, seconds
from console.runbook.models import Step
from console.runbook.params import ParamError

TIMEOUT_FLOOR_S = 30.0


@dataclass(frozen=True)
class StepTiming:
    """Declared seconds per kind of wait (``duration``, ``timeout``, ``interval``) and the factor they are divided by."""

    declared: Mapping[str, int] = field(default_factory=dict)
    factor: float = 1.0

    def scaled(self, name: str) -> float | None:
        """Seconds actually waited for ``name``: the declared value divided by the factor; None when not declared."""
        value = self.declared.get(name)
        if value is None:
            return None
        if name == "timeout":
            return max(value / self.factor, min(value, TIMEOUT_FLOOR_S))
        return value / self.factor

    @property
    def duration_s(self) -> float | None:
        return self.scaled("duration")

    @property
    def timeout_s(self) -> float | None:
        return self.scaled("timeout")

    @property
    def interval_s(self) -> float | None:
        return self.scaled("interval")

    def shown(self, name: str) -> str:
        """``10m``, or ``10m (2m30s at the rehearsal clock's 4x)`` when scaled."""
        value = self.declared.get(name)
        if value is None:
            return ""
        text = format_duration(value)
        if self.factor != 1.0:
            text += f" ({format_duration(self.scaled(name) or 0)} at the rehearsal clock's {self.factor:g}x)"
        return text

    def record(self) -> dict[str, Any] | None:
        """What the journal keeps: declared seconds, the factor and the scaled seconds; None when nothing is timed."""
        if not self.declared:
            return None
        return {
            "declared": {f"{k}_s": v for k, v in self.declared.items()},
            "factor": self.factor,
            "scaled": {f"{k}_s": round(self.scaled(k) or 0, 3) for k in self.declared},
        }


def step_timing(step: Step, values: Mapping[str, str], factor: float = 1.0) -> StepTiming:
    """The step's declared durations with duration parameters filled in; raises ParamError for one with no value."""
    specs = {"duration": step.duration, "timeout": step.timeout, "interval": step.retry.interval if step.retry else None}
    declared: dict[str, int] = {}
    for name, spec in specs.items():
        try:
            value = seconds(spec, values)
        except KeyError as exc:
            raise ParamError(f"step {step.id}: {name} names parameter {{{exc.args[0]}}}, which has no value") from None
        except ValueError as exc:
            raise ParamError(f"step {step.id}: {name}: {exc}") from None
        if value is not None:
            declared[name] = value
    return StepTiming(declared, max(1.0, factor))

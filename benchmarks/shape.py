"""The one output shape of every benchmark: a JSON object per line, with a baseline measured in the same run.

``{"name": ..., "value": 1.23, "unit": "s", "baseline": 0.98, "ratio": 1.26, "target": "<= 1.5x baseline", "met": true}``
(baseline, ratio, target and met where they apply). Scripts import it as ``from shape import emit`` because they
run as ``python benchmarks/NAME.py``, which puts this directory first on the path.
"""

from __future__ import annotations

import json
import math


def emit(name: str, value: float | None, unit: str, baseline: float | None = None, target: str | None = None,
         met: bool | None = None, *, ratio: float | None = None, digits: int = 4, **extra: object) -> None:
    """Print one figure; ``ratio`` defaults to value / baseline."""
    def rounded(x: float | None) -> float | None:
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, digits)

    row: dict[str, object] = {"name": name, "value": rounded(value), "unit": unit}
    if baseline is not None:
        row["baseline"] = rounded(baseline)
        if ratio is None and value is not None and baseline:
            ratio = value / baseline
        row["ratio"] = rounded(ratio)
    if target is not None:
        row["target"] = target
        row["met"] = met
    row.update(extra)
    print(json.dumps(row), flush=True)

"""The journal core loads on a laptop with no cluster client and no UI: checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("kubernetes", "textual", "screens", "console.engine", "console.cluster", "kubesim", "console.terraform")


@pytest.mark.parametrize("module", ["console.journal.journal", "console.journal.cast", "console.journal.store"])
def test_module_imports_nothing_forbidden(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert module in loaded
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []

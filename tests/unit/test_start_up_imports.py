"""The imports kept inside functions for start-up cost keep paying for themselves: a fresh interpreter shows what
building the CLI's parser, and loading the change session, bring in.

These are the reasons the remaining function-local imports give; if one of them moves to module level, the
slow library shows up here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def loaded_after(code: str) -> list[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def within(names: list[str], *prefixes: str) -> list[str]:
    return [m for m in names if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_building_the_cli_parser_loads_no_heavy_library() -> None:
    names = loaded_after("import console.cli\nconsole.cli.build_parser()")
    assert "console.cluster.dashboard_cli" in names  # the watch command is registered
    assert within(names, "kubernetes", "pydantic", "textual", "screens", "console.engine") == []


def test_the_change_session_loads_without_the_kubernetes_client() -> None:
    # Rollout waits, observe windows and triggers need the client only once a step watches a cluster.
    names = loaded_after("import console.engine.session")
    assert {"console.engine.steps", "console.engine.clusterwait", "console.engine.tfsteps"} <= set(names)
    assert within(names, "kubernetes", "console.cluster.watch", "console.cluster.kube") == []


def test_a_command_other_than_sim_starts_without_the_rehearsal_cluster_or_asyncio() -> None:
    names = loaded_after("import console.cli\nconsole.cli._parser_for(['records', 'list'])")
    assert within(names, "kubesim.command", "kubesim.server", "kubesim.scenarios", "asyncio") == []
    # sim, even after a global option, still gets its own arguments.
    done = subprocess.run([sys.executable, "-m", "console.cli", "--records-dir", "/nonexistent", "sim", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--scenario" in done.stdout, done.stderr

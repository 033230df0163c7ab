"""Layer rules: the import-linter contracts in pyproject.toml hold, and every headless module loads without the UI.

The fresh-interpreter check walks ``console/`` and ``kubesim/`` on disk at collection time, so a module added
later is covered without touching this file. ``sys.modules`` is the ground truth: it also sees imports that happen at run time
inside a module's top level, which a static import graph can miss.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CONTRACTS = PYPROJECT["tool"]["importlinter"]["contracts"]

# The UI and its toolkit: no headless module may load either.
UI = ("textual", "screens")
# What journal and runbook code must work without (the offline reviewer and the linter run on a bare laptop).
NO_CLUSTER = ("kubernetes", "console.cluster", "kubesim", "console.engine", "console.terraform")
# The journal's write side and the reading side built on it, with the runbook code: none needs a cluster client.
OFFLINE = ("console.journal", "console.review", "console.runbook")


def headless_modules(package: str = "console") -> list[str]:
    """Every module under ``package``'s directory, found on disk."""
    names = []
    for path in sorted((REPO / package).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if "__pycache__" in parts:
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = headless_modules()
# The rehearsal cluster shares no code with the console, so kubectl against it checks the console independently.
SIM_MODULES = headless_modules("kubesim")
CONSOLE = ("console", "screens")


def loads(names: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """The loaded modules that are, or are inside, one of ``prefixes``."""
    return [m for m in names if any(m == p or m.startswith(p + ".") for p in prefixes)]


# -- import-linter ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lint_imports() -> subprocess.CompletedProcess[str]:
    """lint-imports from this interpreter's environment, on the project's own pyproject.toml, without its cache."""
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists():
        pytest.fail(f"{exe} is missing: import-linter is a dev dependency (pip install -e '.[dev]')")
    return subprocess.run(
        [str(exe), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def test_lint_imports_passes(lint_imports: subprocess.CompletedProcess[str]) -> None:
    # Exit 1 is a broken contract, and also a configuration error such as an ignore_imports entry that matches
    # no import (import-linter refuses those, so a stale exception cannot hide a new violation).
    assert lint_imports.returncode == 0, lint_imports.stdout + lint_imports.stderr


def test_the_contracts_say_what_the_design_says() -> None:
    by_name = {c["name"]: c for c in CONTRACTS}
    ui = by_name["The console core never imports the UI"]
    assert (ui["type"], ui["source_modules"], set(ui["forbidden_modules"])) == ("forbidden", ["console"], set(UI))
    cluster = by_name["Journal and runbook code work with no cluster client"]
    assert set(cluster["source_modules"]) == set(OFFLINE)
    assert set(cluster["forbidden_modules"]) == set(NO_CLUSTER)
    assert cluster["allow_indirect_imports"] is False
    sim = by_name["The rehearsal cluster imports nothing from the console"]
    assert (sim["source_modules"], set(sim["forbidden_modules"])) == (["kubesim"], set(CONSOLE))
    assert sim["allow_indirect_imports"] is False
    assert "kubesim" in PYPROJECT["tool"]["importlinter"]["root_packages"]
    pure = by_name["Pure modules do no IO of their own"]
    assert {"console.runbook.lint", "console.review.render", "console.review.summary", "console.review.reports"} <= set(
        pure["source_modules"])
    assert {"subprocess", "socket", "threading", "asyncio"} <= set(pure["forbidden_modules"])
    sides = by_name["The journal's write side never imports its readers"]
    assert (sides["source_modules"], sides["forbidden_modules"]) == (["console.journal"], ["console.review"])
    assert sides["allow_indirect_imports"] is False


@pytest.mark.parametrize("name", [c["name"] for c in CONTRACTS])
def test_import_contract_is_kept(lint_imports: subprocess.CompletedProcess[str], name: str) -> None:
    output = lint_imports.stdout + lint_imports.stderr
    lines = output.splitlines()
    # "NAME KEPT", "NAME KEPT (1 ignored import)" or "NAME BROKEN"
    status = [line for line in lines if re.match(re.escape(name) + r" (KEPT|BROKEN)\b", line)]
    assert status, f"lint-imports did not report {name!r}:\n{output}"
    assert "KEPT" in status[0], f"contract broken: {name}\n{output[output.find('Broken contracts'):]}"


# -- a fresh interpreter per module ----------------------------------------------------------------------------

PROBE = "import importlib, json, sys; importlib.import_module(sys.argv[1]); print(json.dumps(sorted(sys.modules)))"


@pytest.fixture(scope="module")
def loaded_by() -> dict[str, subprocess.CompletedProcess[str]]:
    """``sys.modules`` after importing each module alone in a new interpreter (run a few at a time)."""

    def probe(module: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", PROBE, module], cwd=REPO, capture_output=True, text=True, timeout=120)

    every = MODULES + SIM_MODULES
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(every, pool.map(probe, every), strict=False))


def test_the_walk_finds_the_core() -> None:
    for module in ("console", "console.cli", "console.runbook.loader", "console.journal.journal", "console.review.render"):
        assert module in MODULES
    for module in ("kubesim", "kubesim.tables", "kubesim.pod_printer", "kubesim.testing"):
        assert module in SIM_MODULES


@pytest.mark.parametrize("module", MODULES)
def test_headless_module_loads_without_the_ui(loaded_by: dict[str, subprocess.CompletedProcess[str]], module: str) -> None:
    result = loaded_by[module]
    assert result.returncode == 0, f"import {module} failed:\n{result.stderr}"
    names = json.loads(result.stdout)
    assert module in names
    # console.cli included: it may start the UI, but only lazily, inside the function that does so.
    assert loads(names, UI) == []
    if module.startswith(OFFLINE):
        assert loads(names, NO_CLUSTER) == []
    if module.startswith("console.journal"):
        assert loads(names, ("console.review",)) == []


@pytest.mark.parametrize("module", SIM_MODULES)
def test_rehearsal_cluster_module_loads_without_the_console(loaded_by: dict[str, subprocess.CompletedProcess[str]],
                                                            module: str) -> None:
    result = loaded_by[module]
    assert result.returncode == 0, f"import {module} failed:\n{result.stderr}"
    names = json.loads(result.stdout)
    assert module in names
    assert loads(names, CONSOLE + UI) == []

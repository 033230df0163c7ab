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
from dataclasses import dataclass
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

# One server per group of modules imports the libraries that group may load anyway, then forks a child per module:
# the child imports the module and reports ``sys.modules``, as a new interpreter would, without paying each time
# for the libraries (pydantic, the kubernetes client) that a hundred interpreters would import a hundred times. What
# a server loads first is itself checked below: nothing a test of its group looks for.
PROBE_SERVER = r"""
import importlib, json, os, sys, traceback
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)), flush=True)
for line in sys.stdin:
    module = line.strip()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            importlib.import_module(module)
            report = {"modules": sorted(sys.modules)}
        except BaseException:
            report = {"error": traceback.format_exc()}
        with os.fdopen(w, "w") as out:
            out.write(json.dumps(report))
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as got:
        report = got.read()
    os.waitpid(pid, 0)
    print(report, flush=True)
"""
# The journal, review and runbook code may load neither the cluster client nor the UI: only these come first.
OFFLINE_PRELOAD = ("pydantic", "ruamel.yaml")
# Everything else may load the cluster client (the probe checks it for the UI, and kubesim for the console).
PRELOAD = (*OFFLINE_PRELOAD, "yaml", "kubernetes.client")


@dataclass
class Probe:
    """What importing one module alone loaded (``modules``), or how it failed (``error``)."""

    modules: list[str]
    error: str = ""


def probe_all(modules: list[str], preload: tuple[str, ...]) -> tuple[list[str], dict[str, Probe]]:
    """The server's own modules after ``preload``, and each of ``modules`` probed in a child of it."""
    proc = subprocess.run([sys.executable, "-c", PROBE_SERVER, *preload], input="\n".join(modules) + "\n", cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and len(lines) == len(modules) + 1, f"the probe server failed:\n{proc.stderr}"
    reports = [json.loads(line) for line in lines[1:]]
    return json.loads(lines[0]), {m: Probe(r.get("modules", []), r.get("error", "")) for m, r in zip(modules, reports, strict=True)}


@pytest.fixture(scope="module")
def loaded_by() -> dict[str, Probe]:
    """``sys.modules`` after importing each module alone (two servers a group, run side by side)."""
    offline = [m for m in MODULES if m.startswith(OFFLINE)]
    rest = [m for m in MODULES + SIM_MODULES if m not in offline]
    jobs = [(offline[i::2], OFFLINE_PRELOAD) for i in range(2)] + [(rest[i::2], PRELOAD) for i in range(2)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda job: probe_all(*job), jobs))
    for (_, preload), (base, _) in zip(jobs, results, strict=True):
        # What a server loaded before forking is in every child's report: none of it may be what a check looks for.
        assert loads(base, UI + CONSOLE) == [], (preload, loads(base, UI + CONSOLE))
        if preload == OFFLINE_PRELOAD:
            assert loads(base, NO_CLUSTER) == [], loads(base, NO_CLUSTER)
    return {m: p for _, probes in results for m, p in probes.items()}


def test_the_walk_finds_the_core() -> None:
    for module in ("console", "console.cli", "console.runbook.loader", "console.journal.journal", "console.review.render"):
        assert module in MODULES
    for module in ("kubesim", "kubesim.tables", "kubesim.pod_printer", "kubesim.testing"):
        assert module in SIM_MODULES


@pytest.mark.parametrize("module", MODULES)
def test_headless_module_loads_without_the_ui(loaded_by: dict[str, Probe], module: str) -> None:
    result = loaded_by[module]
    assert not result.error, f"import {module} failed:\n{result.error}"
    names = result.modules
    assert module in names
    # console.cli included: it may start the UI, but only lazily, inside the function that does so.
    assert loads(names, UI) == []
    if module.startswith(OFFLINE):
        assert loads(names, NO_CLUSTER) == []
    if module.startswith("console.journal"):
        assert loads(names, ("console.review",)) == []


@pytest.mark.parametrize("module", SIM_MODULES)
def test_rehearsal_cluster_module_loads_without_the_console(loaded_by: dict[str, Probe], module: str) -> None:
    result = loaded_by[module]
    assert not result.error, f"import {module} failed:\n{result.error}"
    names = result.modules
    assert module in names
    assert loads(names, CONSOLE + UI) == []

"""The runbooks the product ships (and the template new ones start from) load and lint clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.runbook.lint import lint
from console.runbook.loader import load_runbook
from console.runbook.params import render_argv, resolve

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "runbooks").glob("*.yaml"))
BUILTINS = {"context": "rehearsal", "environment": "rehearsal", "change_id": "CHG-2026-0001",
            "change_dir": "/tmp/change", "runbook_dir": str(REPO / "runbooks")}
# Values for the parameters a shipped runbook leaves without a default (the operator must give them).
SAMPLES = {"node": "worker-1"}


def test_the_template_and_several_runbooks_ship() -> None:
    names = [p.name for p in SHIPPED]
    assert "_template.yaml" in names
    assert len(names) >= 3


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_runbook_loads_and_lints_clean(path: Path) -> None:
    loaded = load_runbook(path)
    assert [str(f) for f in lint(loaded)] == []
    rb = loaded.runbook
    # The id is the file's name (the template is the one exception, named so it sorts first).
    if path.name != "_template.yaml":
        assert rb.metadata.id == path.stem
    # With the defaults (and a sample for a parameter that has none), every command renders.
    values = resolve(rb, {n: SAMPLES[n] for n, p in rb.params.items() if p.default is None}, BUILTINS)
    for _section, steps in rb.sections():
        for step in steps:
            argv = render_argv(step, values)
            assert all("{" + name + "}" not in " ".join(argv) for name in values)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_terraform_dirs_exist(path: Path) -> None:
    loaded = load_runbook(path)
    for _section, steps in loaded.runbook.sections():
        for step in steps:
            if step.terraform is not None and "{" not in step.terraform.dir:
                assert (loaded.directory / step.terraform.dir).is_dir(), step.terraform.dir


def test_shipped_ids_are_unique() -> None:
    ids = [load_runbook(p).runbook.metadata.id for p in SHIPPED]
    assert len(ids) == len(set(ids))

"""Every adversarial runbook passes ``opsconsole lint``: the format and every authoring rule.

Two of them (the gated release and the canary) take their ``from`` and ``to`` versions from parameters, as a release
whose version is chosen when it starts must: they lint once metadata may hold ``{param}`` placeholders.
"""

from __future__ import annotations

import subprocess

import pytest

from .crashloop import PY, REPO, RUNBOOKS

FILES = sorted(p.name for p in RUNBOOKS.glob("*.yaml"))


def test_there_are_seven_runbooks_and_none_is_a_shipped_one() -> None:
    shipped = {p.read_text() for p in (REPO / "runbooks").glob("*.yaml")}
    assert len(FILES) == 7
    assert not [name for name in FILES if (RUNBOOKS / name).read_text() in shipped]


@pytest.mark.parametrize("name", FILES)
def test_the_runbook_lints_clean(name: str) -> None:
    lint = subprocess.run([PY, "-m", "console.cli", "lint", str(RUNBOOKS / name)], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout == ""

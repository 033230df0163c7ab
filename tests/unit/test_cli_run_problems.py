"""``opsconsole run`` says every problem of a start at once, as lint does, run as a real process."""

from __future__ import annotations

from pathlib import Path

from tests.engine.conftest import runbook_doc, write_kubeconfig, write_runbook
from tests.unit.test_cli import opsconsole


def test_run_reports_every_problem_of_a_start_at_once(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    doc = runbook_doc([{"id": "noop", "kind": "check", "run": ["echo", "{replicas}"]}], risk="medium",
                      params={"replicas": {"type": "integer", "default": 2}})
    runbook = write_runbook(tmp_path, doc)
    result = opsconsole("run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--context", "rehearsal",
                        "--param", "replicas=many", "--param", "colour=red",
                        records=tmp_path / "records")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("opsconsole: ")
    text = result.stderr
    # the missing approval, the bad value and the unknown parameter, each said, in one run
    assert "a medium-risk change needs approval from: senior-engineer" in text, text
    assert "parameter replicas: expected an integer, got 'many'" in text, text
    assert "unknown parameter colour" in text, text
    assert len(lines) >= 3, text  # one problem a line


def test_run_reports_every_usage_problem_at_once_with_exit_2(tmp_path: Path) -> None:
    result = opsconsole("run", "whatever.yaml", "--plain", "--param", "namespace", "--param", "=x",
                        "--approval", "bob", records=tmp_path / "records")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "opsconsole: --param 'namespace' is not of the form name=value",
        "--param '=x' is not of the form name=value",
        "--approval 'bob' is not of the form NAME:ROLE[:REFERENCE]",
    ]

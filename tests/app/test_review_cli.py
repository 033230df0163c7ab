"""The reviewer's commands (report, export, addendum, review) through argparse as console/cli.py wires them,
and the review path in a fresh interpreter where ``import kubernetes`` fails and KUBECONFIG points nowhere."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.engine.redact import Redactor
from console.journal import events as ev
from console.journal.journal import read_events, verify
from console.journal.store import RecordStore
from console.review.review_cli import ReviewError, add_review_commands
from tests.support.review_records import build_sample_store

REPO = Path(__file__).resolve().parents[2]


def parser(started: list[Path]) -> argparse.ArgumentParser:
    """The same shape as console.cli.build_parser: a records subcommand with its own subcommands."""
    p = argparse.ArgumentParser(prog="opsconsole")
    p.add_argument("--records-dir")
    sub = p.add_subparsers(dest="command")
    records = sub.add_parser("records")
    rsub = records.add_subparsers(dest="records_cmd", required=True)
    add_review_commands(sub, rsub, start_review=lambda root: started.append(root) or 0,
                        redaction=lambda _args: Redactor().redact)
    return p


def run(argv: list[str], started: list[Path] | None = None) -> int:
    args = parser(started if started is not None else []).parse_args(argv)
    return args.func(args)


@pytest.fixture
def store(records_dir: Path) -> RecordStore:
    build_sample_store(records_dir)
    return RecordStore(records_dir)


def test_report_prints_tables(store: RecordStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["records", "report", "--records-dir", str(store.root), "--by", "month"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["PERIOD", "CHANGES", "SUCCESS", "ROLLBACKS", "BREAK-GLASS", "MEAN", "P90"]
    assert out[1].split() == ["2026-11", "4", "67%", "1", "(25%)", "1", "1m50s", "3m00s"]
    assert "Duration of closed changes by component:" in out and "Duration of closed changes by risk:" in out
    assert out[-1] == "4 change(s), 67% of closed ones succeeded"


def test_report_since_and_json(store: RecordStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["records", "report", "--records-dir", str(store.root), "--since", "2026-11-20", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["period"] for r in rows] == ["2026-W47", "2026-W48", "total"]
    assert rows[-1]["changes"] == 2 and rows[-1]["success_rate"] == 1.0
    assert rows[-1]["by_risk"]["low"] == {"n": 1, "mean_s": 30.0, "p90_s": 30.0}
    assert run(["records", "report", "--records-dir", str(store.root), "--since", "2027-01-01"]) == 0
    assert capsys.readouterr().out.startswith("no changes since 2027-01-01 in ")
    with pytest.raises(SystemExit) as exc:  # a usage error (exit 2), not a traceback
        run(["records", "report", "--records-dir", str(store.root), "--since", "last week"])
    assert exc.value.code == 2 and "'last week' is not a date" in capsys.readouterr().err


def test_export_to_a_file_never_overwrites(store: RecordStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "CHG-2026-0002.html"
    assert run(["records", "export", "CHG-2026-0002", "--format", "html", "-o", str(target), "--records-dir", str(store.root)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert target.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(ReviewError, match="already exists"):
        run(["records", "export", "CHG-2026-0002", "--format", "html", "-o", str(target), "--records-dir", str(store.root)])
    assert run(["records", "export", "CHG-2026-0001", "--records-dir", str(store.root)]) == 0
    assert capsys.readouterr().out.startswith("# CHG-2026-0001: ")
    with pytest.raises(ReviewError, match="no change CHG-2026-0099"):
        run(["records", "export", "CHG-2026-0099", "--records-dir", str(store.root)])


def test_addendum_from_the_command_line(store: RecordStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["records", "addendum", "CHG-2026-0004", "--author", "rita", "--kind", "follow-up",
                "--text", "watch error rates tomorrow", "--refers-to", "2", "--records-dir", str(store.root)]) == 0
    assert capsys.readouterr().out.startswith("CHG-2026-0004: addendum recorded as event 5 at ")
    journal = store.journal_path(store.find("CHG-2026-0004"))
    last = read_events(journal).events[-1]
    assert last.type == ev.ADDENDUM_ADDED and last.data["refers_to"] == 2 and verify(journal).ok
    with pytest.raises(SystemExit):  # argparse: kind is a closed choice
        run(["records", "addendum", "CHG-2026-0004", "--author", "r", "--kind", "edit", "--text", "t"])


def test_review_resolves_the_store(store: RecordStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Path] = []
    assert run(["review", str(store.root)], started) == 0
    monkeypatch.setenv("OPSCONSOLE_RECORDS", str(store.root))
    assert run(["review"], started) == 0
    assert started == [store.root, store.root]
    with pytest.raises(ReviewError, match="no record store here"):
        run(["review", str(tmp_path / "nowhere")], started)


BLOCKER = textwrap.dedent('''
    """Make ``import kubernetes`` fail in this interpreter, as on a laptop without the cluster client."""
    import sys

    class _NoKubernetes:
        def find_spec(self, name, path=None, target=None):
            if name == "kubernetes" or name.startswith("kubernetes."):
                raise ImportError(f"{name} is not available on this machine")
            return None

    sys.meta_path.insert(0, _NoKubernetes())
''')

SCRIPT = textwrap.dedent('''
    import asyncio, os, sys
    from pathlib import Path
    try:
        import kubernetes  # noqa: F401
        print("kubernetes imported"); sys.exit(3)
    except ImportError:
        pass
    from tests.support.review_records import build_sample_store
    from tests.support.wait import wait_on
    from console.journal.store import RecordStore
    from console.review.export import export_change
    from screens.record import RecordScreen
    from screens.records import ReviewApp

    root = Path(sys.argv[1])
    build_sample_store(root)
    assert "# CHG-2026-0002" in export_change(RecordStore(root), RecordStore(root).find("CHG-2026-0002"), "md")

    async def main():
        app = ReviewApp(records_dir=root, reviewer="rita")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_on(pilot, lambda: getattr(app.screen, "load", None) is not None, what="the list")
            print("rows", app.screen.query_one("#records-table").row_count)
            await pilot.press("enter")
            await wait_on(pilot, lambda: isinstance(app.screen, RecordScreen), what="the record")
            print("opened", app.screen.ref.change_id, app.screen.view.report.ok)
    asyncio.run(main())
    print("kubernetes loaded:", any(m == "kubernetes" or m.startswith("kubernetes.") for m in sys.modules))
''')


def test_the_review_path_needs_no_cluster_client(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"), "TEXTUAL_ANIMATIONS": "none",
           "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "HOME": str(tmp_path / "home")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "records")], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "rows 4" in lines
    assert "opened CHG-2026-0004 True" in lines
    assert lines[-1] == "kubernetes loaded: False"

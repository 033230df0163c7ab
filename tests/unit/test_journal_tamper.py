"""Property: any single changed byte, in the journal or in an output it references, is caught and placed."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.journal.cast import CastWriter
from console.journal.journal import Journal, verify

STARTED = datetime(2026, 11, 21, 23, 20, 55, tzinfo=timezone.utc)


def _build(change: Path) -> dict[str, int]:
    """A small change: a journal whose events reference three outputs. Returns output path -> event line."""
    (change / "outputs").mkdir(parents=True)
    ticks = iter(range(10_000))
    journal = Journal.create(change / "journal.jsonl", clock=lambda: STARTED + timedelta(seconds=next(ticks)))
    journal.append("change.opened", {"component": "web", "from": "1.4.2", "to": "1.5.0", "operator": "Zoë"})
    refs: dict[str, int] = {}
    for n, step in enumerate(["backup", "restart", "wait"], start=1):
        rel = f"outputs/{n:03d}-{step}.cast"
        fake_time = iter(x * 0.25 for x in range(100))
        cast = CastWriter(change / rel, title=step, command=f"kubectl {step}", started=STARTED, clock=lambda: next(fake_time))
        cast.write(f"running {step}\r\n")
        cast.write("deployment.apps/web restarted ✓\r\n")
        cast.marker("exit 0")
        sha = cast.close()
        journal.append("step.started", {"step": step})
        event = journal.append("command.finished", {"step": step, "exit": 0, "file": {"path": rel, "sha256": sha}})
        refs[rel] = event.seq  # no torn lines here, so seq == line number
    journal.append("change.closed", {"outcome": "done"})
    journal.close()
    assert verify(change / "journal.jsonl").ok
    return refs


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    change = tmp_path_factory.mktemp("tamper") / "change"
    return change, _build(change)


def _flip(path: Path, offset: int, mask: int) -> bytes:
    raw = path.read_bytes()
    offset %= len(raw)
    path.write_bytes(raw[:offset] + bytes([raw[offset] ^ mask]) + raw[offset + 1 :])
    return raw[:offset]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.integers(min_value=0, max_value=1 << 20), mask=st.integers(min_value=1, max_value=255))
def test_flipped_journal_byte_names_its_line(template: tuple[Path, dict[str, int]], offset: int, mask: int) -> None:
    src, _ = template
    with tempfile.TemporaryDirectory() as tmp:
        change = Path(tmp) / "change"
        shutil.copytree(src, change)
        before = _flip(change / "journal.jsonl", offset, mask)
        expected_line = before.count(b"\n") + 1
        report = verify(change / "journal.jsonl")
        assert not report.ok
        assert report.problems[0].line == expected_line, (report.problems, len(before))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.integers(min_value=0, max_value=2),
    offset=st.integers(min_value=0, max_value=1 << 20),
    mask=st.integers(min_value=1, max_value=255),
)
def test_flipped_output_byte_names_the_event_that_references_it(
    template: tuple[Path, dict[str, int]], which: int, offset: int, mask: int
) -> None:
    src, refs = template
    rel = sorted(refs)[which]
    with tempfile.TemporaryDirectory() as tmp:
        change = Path(tmp) / "change"
        shutil.copytree(src, change)
        _flip(change / rel, offset, mask)
        report = verify(change / "journal.jsonl")
        assert not report.ok
        first = report.problems[0]
        assert (first.kind, first.line) == ("file", refs[rel])
        assert first.reason == f"{rel}: SHA-256 differs from the journal"
        assert len(report.problems) == 1

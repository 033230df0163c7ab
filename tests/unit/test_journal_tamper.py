"""Properties: any single changed, removed or added byte, in the journal or in an output it references, is caught
and placed; and no such edit of a closed change's journal can be "recovered" into an open one."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from console.journal.cast import CastWriter
from console.journal.journal import Journal, JournalError, verify

STARTED = datetime(2026, 11, 21, 23, 20, 55, tzinfo=UTC)


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
        cast = CastWriter(change / rel, title=step, command=f"kubectl {step}", started=STARTED, clock=lambda fake_time=fake_time: next(fake_time))
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


def _edit(path: Path, how: str, offset: int, byte: int) -> int:
    """Flip, delete or insert one byte at ``offset`` (modulo the size); returns the 1-based line it lands on."""
    raw = path.read_bytes()
    if how == "insert":
        offset %= len(raw) + 1  # the end included: a byte appended after the final newline
        path.write_bytes(raw[:offset] + bytes([byte]) + raw[offset:])
        # A newline inserted just before a line's own newline leaves that line whole and adds a blank one after it.
        extra = 1 if byte == 0x0A and raw[offset : offset + 1] == b"\n" else 0
        return raw[:offset].count(b"\n") + 1 + extra
    offset %= len(raw)
    if how == "delete":
        path.write_bytes(raw[:offset] + raw[offset + 1 :])
    else:
        path.write_bytes(raw[:offset] + bytes([raw[offset] ^ (byte or 1)]) + raw[offset + 1 :])
    return raw[:offset].count(b"\n") + 1


EDITS = st.sampled_from(["flip", "delete", "insert"])
# Half the offsets count back from the end, so the last line and its newline are edited as often as the rest.
OFFSETS = st.one_of(st.integers(min_value=-400, max_value=-1), st.integers(min_value=0, max_value=1 << 20))
BYTES = st.integers(min_value=0, max_value=255)


def _tail_examples(test):  # the last byte removed, replaced, doubled; a byte after it; \r before it
    for how, offset, byte in [("delete", -1, 0), ("flip", -1, 0x07), ("flip", -1, 0x2A), ("insert", -1, 0x0A),
                              ("insert", -1, ord("x")), ("insert", -1, ord("{")), ("insert", -1, 0), ("insert", -2, 0x0D),
                              ("insert", 0, 0xEF), ("delete", -2, 0)]:
        test = example(how=how, offset=offset, byte=byte)(test)
    return test


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(how=EDITS, offset=OFFSETS, byte=BYTES)
@_tail_examples
def test_any_one_byte_edit_names_its_line(template: tuple[Path, dict[str, int]], how: str, offset: int, byte: int) -> None:
    src, _ = template
    with tempfile.TemporaryDirectory() as tmp:
        change = Path(tmp) / "change"
        shutil.copytree(src, change)
        expected_line = _edit(change / "journal.jsonl", how, offset, byte)
        report = verify(change / "journal.jsonl")
        assert not report.ok
        assert report.problems[0].line == expected_line, report.problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(how=EDITS, offset=OFFSETS, byte=BYTES)
@_tail_examples
def test_no_one_byte_edit_of_a_closed_journal_is_recovered(
    template: tuple[Path, dict[str, int]], how: str, offset: int, byte: int
) -> None:
    """The change.closed event stays in force: recovery refuses, writes nothing, and the journal will not open."""
    src, _ = template
    with tempfile.TemporaryDirectory() as tmp:
        change = Path(tmp) / "change"
        shutil.copytree(src, change)
        path = change / "journal.jsonl"
        _edit(path, how, offset, byte)
        edited = path.read_bytes()
        with pytest.raises(JournalError):
            Journal.recover_torn_tail(path)
        with pytest.raises(JournalError):
            Journal.open(path)
        assert path.read_bytes() == edited


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
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

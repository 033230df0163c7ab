"""``opsconsole follow``: a change read while another console writes it, with real processes and real files.

The writer is ``opsconsole run --plain --answers`` in a child process, on a runbook of shell steps; one step waits
for a file the test creates, so the test knows what the writer cannot have written yet. The follower is
``opsconsole follow --plain`` in another process, or ``ChangeFollower`` polled by hand over files replayed a few
bytes at a time (a line cut anywhere must wait for its newline).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from console.journal import events as ev
from console.journal.cast import read_cast
from console.journal.journal import read_events
from console.journal.store import RecordStore
from console.review.export import output_lines
from console.review.follow import ChangeFollower, ClosedItem, EventItem, OutputItem
from console.review.follow_cli import follow_plain
from console.review.summary import parse_ts

from .conftest import PY, REPO, run_forward, runbook_doc, write_runbook
from .test_crash_resume import LineReader

GATED = 'echo "count 1"; echo "count 2"; echo "count 3"; while [ ! -f go ]; do sleep 0.05; done; echo "after go"; echo oops >&2'

ELSEWHERE = "(another record store: --records-dir or OPSCONSOLE_RECORDS)"


def snapshot(root: Path) -> dict[str, tuple[int, int, bool]]:
    """Every entry under a change directory with its mtime and size (directories too: a file made and removed
    again still changes its directory's mtime)."""
    out = {".": (root.stat().st_mtime_ns, 0, True)}
    for p in sorted(root.rglob("*")):
        st = p.stat()
        out[str(p.relative_to(root))] = (st.st_mtime_ns, st.st_size if p.is_file() else 0, p.is_dir())
    return out


def cast_texts(change: Path) -> list[tuple[str, str]]:
    """(step id, line) of every output line in the change's casts, as the record reads them."""
    out = []
    for e in read_events(change / "journal.jsonl").events:
        if e.type == ev.STEP_FINISHED and e.data.get("file"):
            _, events = read_cast(change / e.data["file"]["path"])
            out += [(e.data["step_id"], line.text) for line in output_lines(events, base=parse_ts(e.ts)) if line.kind == "o"]
    return out


@pytest.fixture
def gated_change(tmp_path: Path, kubeconfig: Path, records_dir: Path):
    doc = runbook_doc(steps=[
        {"id": "count", "title": "Count", "run": ["sh", "-c", GATED], "confirm": "typed", "confirm_word": "count"},
        {"id": "last", "run": ["sh", "-c", "echo last line"]},
    ])
    runbook = write_runbook(tmp_path, doc)
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nconfirm: {count: count, last: 'yes'}\nclose: {outcome: auto}\n")
    env = dict(os.environ, OPSCONSOLE_RECORDS=str(records_dir))
    writer = subprocess.Popen(
        [PY, "-m", "console.cli", "run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--answers", str(answers)],
        cwd=tmp_path, env=dict(env, PYTHONPATH=str(REPO)), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    try:
        yield writer, LineReader(writer), env
    finally:
        (tmp_path / "go").touch()  # a step still waiting ends, so the writer does too
        try:
            writer.wait(timeout=60)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()


def test_plain_follow_shows_every_line_as_it_comes_and_ends_with_the_change(gated_change, tmp_path: Path, records_dir: Path) -> None:
    writer, written, env = gated_change
    change_id = written.wait_for(r"^change (CHG-\d{4}-\d{4}): ").group(1)
    follower = subprocess.Popen([PY, "-m", "console.cli", "follow", change_id, "--plain"], cwd=REPO, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = LineReader(follower)
        seen.wait_for(r"count: confirmed \(typed 'count'\) by alice$")
        seen.wait_for(r"count \| count 3$")
        # The step is waiting for the file: what comes after it cannot be there yet, and the follower goes on.
        assert not any(line.endswith("| after go") or " last " in line for line in seen.lines), seen.lines
        assert follower.poll() is None
        (tmp_path / "go").touch()
        seen.wait_for(r"^== closed: Success$")
        assert follower.wait(timeout=30) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert writer.wait(timeout=60) == 0
    # Who drives the change: the writer, by its pid, from the change's lock file.
    assert any(re.match(rf"^-- driven by alice \(pid {writer.pid} on \S+\) since ", line) for line in seen.lines), seen.lines
    (ref,) = RecordStore(records_dir).list_changes()
    # Every line the casts hold was printed, in their order, each after its step started and before it ended.
    printed = [line.split("  ", 1)[1] for line in seen.lines if "  " in line]
    expected = [f"{step} {'!' if text == 'oops' else '|'} {text}" for step, text in cast_texts(ref.path)]
    assert [p for p in printed if p in expected] == expected
    assert printed.index("count started: sh -c '" + GATED.replace("'", "'\"'\"'") + "'") < printed.index("count | count 1")
    assert printed.index("count | after go") < next(i for i, p in enumerate(printed) if p.startswith("count passed (exit 0"))


def test_following_a_change_leaves_its_directory_untouched(gated_change, tmp_path: Path, records_dir: Path) -> None:
    writer, written, env = gated_change
    written.wait_for(r"^change (CHG-\d{4}-\d{4}): ")
    (tmp_path / "go").touch()
    assert writer.wait(timeout=60) == 0
    (ref,) = RecordStore(records_dir).list_changes()
    before = snapshot(ref.path)
    journal = (ref.path / "journal.jsonl").read_bytes()
    followed = subprocess.run([PY, "-m", "console.cli", "follow", ref.change_id, "--plain"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
    assert followed.returncode == 0, followed.stderr
    assert "count | after go" in followed.stdout
    assert snapshot(ref.path) == before
    assert (ref.path / "journal.jsonl").read_bytes() == journal


def test_a_change_that_does_not_succeed_ends_the_follow_with_1(start, tmp_path: Path) -> None:
    session = start(runbook_doc(steps=[{"id": "breaks", "run": ["sh", "-c", "echo half way; exit 3"]}]))
    run_forward(session, until="failure")
    session.choose("abort")
    session.close("aborted")
    out = io.StringIO()
    assert asyncio.run(follow_plain(session.ref.path, out, poll_s=0.01)) == 1
    text = out.getvalue()
    assert "breaks | half way" in text
    assert "breaks failed (exit 3, " in text
    assert text.rstrip().splitlines()[-1] == "== closed: Aborted"


def replay_order(change: Path) -> list[Path]:
    """The change's files in the order the console wrote them: the journal line by line, each command's cast
    between its step's start and its end."""
    order: list[Path] = []
    events = read_events(change / "journal.jsonl").events
    for i, e in enumerate(events):
        order.append(change / "journal.jsonl")
        if e.type == ev.STEP_STARTED and e.data.get("kind") != "manual":
            end = next(x for x in events[i + 1 :] if x.type in (ev.STEP_FINISHED, ev.STEP_INTERRUPTED)
                       and x.data["step_id"] == e.data["step_id"])
            if end.data.get("file"):
                order.append(change / end.data["file"]["path"])
    return order


async def test_a_line_cut_anywhere_waits_for_its_newline(start, tmp_path: Path) -> None:
    session = start(runbook_doc(steps=[
        {"id": "talk", "run": ["sh", "-c", "echo first line; echo 'second, longer line'; echo to stderr >&2; echo third"]},
        {"id": "more", "run": ["sh", "-c", "printf 'no newline at the end'"]},
    ]))
    run_forward(session)
    session.close("success")
    original = session.ref.path
    complete = {text for _, text in cast_texts(original)}
    copy = tmp_path / "copy"
    (copy / "outputs").mkdir(parents=True)
    follower = ChangeFollower(copy, poll_s=0)
    journal_lines = (original / "journal.jsonl").read_bytes().splitlines(keepends=True)
    written: dict[Path, int] = {}
    lines_by_file = {p: p.read_bytes().splitlines(keepends=True) for p in set(replay_order(original)) if p.suffix == ".cast"}
    lines_by_file[original / "journal.jsonl"] = journal_lines
    items = []
    for source in replay_order(original):
        # One journal line at a time; a cast whole. Each goes down 5 bytes per write, with a poll after each.
        chunk = lines_by_file[source][written.get(source, 0)] if source.suffix == ".jsonl" else b"".join(lines_by_file[source])
        written[source] = written.get(source, 0) + 1
        target = copy / source.relative_to(original)
        with open(target, "ab") as f:
            for k in range(0, len(chunk), 5):
                f.write(chunk[k : k + 5])
                f.flush()
                got = await follower.poll()
                items += got
                events = [i for i in items if isinstance(i, EventItem)]
                assert len(events) == (copy / "journal.jsonl").read_bytes().count(b"\n")
                for item in got:
                    if isinstance(item, OutputItem) and item.line.code == "o":
                        assert item.line.text in complete, f"a part of a line was shown: {item.line.text!r}"
    await follower.close()
    assert isinstance(items[-1], ClosedItem) and items[-1].outcome == "success"
    shown = [(i.step_id, i.line.text) for i in items if isinstance(i, OutputItem) and i.line.code == "o"]
    assert shown == cast_texts(original)
    assert ("more", "no newline at the end") in shown
    assert [i.event for i in items if isinstance(i, EventItem)] == read_events(original / "journal.jsonl").events


def test_following_a_change_that_is_not_there_says_so(records_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import main

    assert main(["follow", "CHG-2026-0042", "--plain", "--records-dir", str(records_dir)]) == 1
    assert capsys.readouterr().err == f"opsconsole: no change CHG-2026-0042 in {records_dir} {ELSEWHERE}\n"
    missing = records_dir / "nowhere"
    assert main(["follow", "CHG-2026-0042", "--plain", "--records-dir", str(missing)]) == 1
    assert capsys.readouterr().err == f"opsconsole: {missing}: no record store here (use --records-dir or OPSCONSOLE_RECORDS)\n"


async def test_a_torn_line_recovered_by_a_resume_is_followed_through(start, store: RecordStore, kubeconfig: Path) -> None:
    from console.config import load_policy
    from console.engine.session import ChangeSession
    from console.review.follow import HolderItem, ProblemItem

    session = start(runbook_doc(steps=[{"id": "one", "run": ["sh", "-c", "echo one"]}, {"id": "two", "run": ["sh", "-c", "echo two"]}]))
    session.confirm("yes")
    session.run()
    follower = ChangeFollower(session.ref.path, poll_s=0)
    items = await follower.poll()
    # A power cut in the middle of the next write: the start of a line, no newline; the console is gone.
    session.release()
    journal = session.ref.path / "journal.jsonl"
    with open(journal, "ab") as f:
        f.write(b'{"data":{"section":"step","step_id":"two"')
    deadline = time.monotonic() + 30
    while not any(isinstance(i, HolderItem) and "stopped before closing" in i.text for i in items):
        assert time.monotonic() < deadline, items
        items += await follower.poll()
        await asyncio.sleep(0.05)
    assert not [i for i in items if isinstance(i, ProblemItem)]
    # The next operator resumes, recovering the torn line; the follower reads on through it to the close.
    resumed = ChangeSession.resume(session.change_id, store=store, policy=load_policy(), operator="bob",
                                   kubeconfig=str(kubeconfig), recover_torn_tail=True)
    try:
        run_forward(resumed)
        resumed.close("success")
    finally:
        resumed.release()
    while not any(isinstance(i, ClosedItem) for i in items):
        got = await follower.poll()
        assert not [i for i in got if isinstance(i, ProblemItem)], got
        items += got
    await follower.close()
    types = [i.event.type for i in items if isinstance(i, EventItem)]
    assert ev.TORN_TAIL in types and ev.SESSION_RESUMED in types and types[-1] == ev.CHANGE_CLOSED
    assert ("two", "two") in [(i.step_id, i.line.text) for i in items if isinstance(i, OutputItem)]


async def test_a_damaged_line_stops_the_follow_and_says_where(start, tmp_path: Path) -> None:
    session = start(runbook_doc(steps=[{"id": "one", "run": ["sh", "-c", "echo one"]}]))
    run_forward(session)
    session.close("success")
    copy = tmp_path / "copy"
    copy.mkdir()
    lines = (session.ref.path / "journal.jsonl").read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"seq":3', b'"seq":9')
    (copy / "journal.jsonl").write_bytes(b"".join(lines))
    out = io.StringIO()
    assert await follow_plain(copy, out, poll_s=0) == 1
    # Line 1 (the change) is shown, line 2 (its parameters) says nothing in line mode, line 3 is where it stops.
    first, last = out.getvalue().splitlines()
    assert "change CHG-2026-0001 started by alice" in first
    assert last.startswith("follow stopped: journal.jsonl line 3: sequence 9, expected 3")

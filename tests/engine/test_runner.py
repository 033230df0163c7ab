"""CommandRunner with real processes: streaming order and timestamps, killing whole process groups, bounded memory.

Every command is a real process (this interpreter or ``sh``). Waits are on events or files with deadlines.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from console.engine.redact import Redactor
from console.engine.runner import CommandRunner, Expectation, Grace, OutputLine
from console.journal.cast import CastWriter, read_cast, sha256_file
from tests.support.wait import wait_for

from .conftest import FIXTURES, PY, REPO, pid_alive

SPAWN_TREE = str(FIXTURES / "spawn_tree.py")
FAST_GRACE = Grace(interrupt_s=0.3, terminate_s=0.3)


def tree_pids(pidfile: Path) -> dict[str, int]:
    roles = {}
    for line in pidfile.read_text(encoding="ascii").splitlines():
        role, pid = line.split()
        roles[role] = int(pid)
    return roles


def new_cast(tmp_path: Path, name: str = "out.cast") -> CastWriter:
    return CastWriter(tmp_path / name, started=datetime.now(UTC))


# -- streaming ---------------------------------------------------------------------------------------------------


def test_lines_stream_in_order_with_timestamps_while_the_process_runs(tmp_path: Path) -> None:
    """Each line reaches listeners (and the cast) as it is printed, in order, with its time since the start.

    After each line the command waits until the listener has seen it (a file the listener creates), then pauses
    0.3 s before the next: if output were only delivered at exit, the command would give up and exit 3. Since a
    line is stamped before its listener runs, the next line cannot be stamped less than 0.3 s later, however
    busy the machine is.
    """
    script = f"""
import os, sys, time
def out(stream, text):
    stream.write(text + "\\n"); stream.flush()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join({str(tmp_path)!r}, "seen-" + text)):
        if time.monotonic() > deadline:
            sys.exit(3)
        time.sleep(0.01)
    time.sleep(0.3)
out(sys.stdout, "one")
out(sys.stderr, "two")
out(sys.stdout, "three")
out(sys.stderr, "four")
"""
    lines: list[OutputLine] = []
    arrivals: list[float] = []

    def listen(line: OutputLine) -> None:
        lines.append(line)
        arrivals.append(time.monotonic())
        (tmp_path / f"seen-{line.text}").touch()

    cast = new_cast(tmp_path)
    started = time.monotonic()
    result = CommandRunner([PY, "-c", script], cast=cast, listeners=[listen]).run()
    ended = time.monotonic()
    cast.close()

    assert result.exit_code == 0, result
    assert [(l.stream, l.text) for l in lines] == [("stdout", "one"), ("stderr", "two"), ("stdout", "three"), ("stderr", "four")]
    times = [l.t for l in lines]
    assert times == sorted(times)
    # The 0.3 s pauses between prints show in the timestamps: each line was stamped when it came, not at exit.
    for earlier, later in itertools.pairwise(times):
        assert later - earlier >= 0.15, times
    assert arrivals[0] < ended - 0.5  # the first line was delivered well before the process ended
    assert 0 <= times[0] < result.duration_s and times[-1] <= result.duration_s
    assert started <= arrivals[0]

    header, events = read_cast(tmp_path / "out.cast")
    assert header["version"] == 2
    outputs = [(t, text) for t, code, text in events if code == "o"]
    assert [text for _t, text in outputs] == ["one\r\n", "\x1b[31mtwo\x1b[0m\r\n", "three\r\n", "\x1b[31mfour\x1b[0m\r\n"]
    assert [t for t, _ in outputs] == pytest.approx(times, abs=1e-5)
    assert result.lines == 4 and result.tail == ["one", "two", "three", "four"]


def test_expectations_are_checked_line_by_line(tmp_path: Path) -> None:
    import re

    script = "print('status: Ready'); print('warning: disk 91% full')"
    expect = Expectation(matches=re.compile(r"^status: Ready$", re.MULTILINE), not_matches=re.compile(r"disk 9\d%"))
    runner = CommandRunner([PY, "-c", script], expect=expect)
    result = runner.run()
    ok, reason = result.verdict(expect)
    assert result.matched and not ok
    assert "disk 9" in reason and "warning: disk 91% full" in reason

    exit_expect = Expectation(exit_codes=(0, 2))
    assert CommandRunner(["sh", "-c", "exit 2"], expect=exit_expect).run().verdict(exit_expect) == (True, "passed")
    failed = CommandRunner(["sh", "-c", "exit 5"]).run()
    assert failed.verdict(Expectation()) == (False, "exit code 5 (expected 0)")


def test_a_forbidden_line_cut_for_the_verdict_never_ends_in_half_a_mask() -> None:
    import re

    from console.engine.redact import MASK

    # The masked token straddles the verdict's 200-character cut: a half marker ("[REDAC") would read as output.
    token = "ghp_" + "Q7xZ" * 9
    script = f"print('FATAL ' + 'x' * 190 + ' {token} and more')"
    expect = Expectation(not_matches=re.compile(r"FATAL"))
    redactor = Redactor([])
    result = CommandRunner([PY, "-c", script], expect=expect, redactor=redactor).run()
    assert result.forbidden_line is not None and MASK in result.forbidden_line and token not in result.forbidden_line
    ok, reason = result.verdict(expect)
    shown = reason.split(": ", 1)[1]
    assert not ok and shown.startswith("FATAL x") and token[:4] not in shown
    assert MASK not in shown and not MASK.startswith(shown[-3:]) and "[" not in shown


def test_a_command_that_cannot_start_is_an_error_not_a_crash(tmp_path: Path) -> None:
    lines: list[OutputLine] = []
    result = CommandRunner([str(tmp_path / "no-such-binary")], listeners=[lines.append]).run()
    assert result.exit_code is None and result.error and "cannot start" in result.error
    assert lines and lines[0].stream == "stderr"
    assert result.verdict(Expectation())[0] is False


# -- stopping the whole process group ------------------------------------------------------------------------------


@pytest.mark.parametrize("stubborn", [False, True], ids=["polite-leader", "leader-ignores-sigint-sigterm"])
def test_a_timeout_kills_the_child_and_the_grandchild(tmp_path: Path, stubborn: bool) -> None:
    pidfile = tmp_path / "pids"
    ready = threading.Event()
    argv = [PY, SPAWN_TREE, str(pidfile), *(["--stubborn"] if stubborn else [])]
    runner = CommandRunner(
        argv, timeout_s=2.5, grace=FAST_GRACE,
        listeners=[lambda line: ready.set() if line.text == "ready" else None],
    )
    result = runner.run()

    assert ready.is_set(), "the tree never reported ready"
    assert result.timed_out and not result.cancelled
    assert result.verdict(Expectation())[1].startswith("timed out after")
    pids = tree_pids(pidfile)
    assert set(pids) == {"child", "grandchild"}
    # SIGKILL is immediate, but reaping an orphan is up to whoever adopted it: wait for it with a deadline.
    wait_for(lambda: not any(pid_alive(p) for p in pids.values()), timeout=5, what=f"{pids} to be gone")
    assert not pid_alive(runner.pid)


def test_a_cancel_from_another_thread_kills_the_child_and_the_grandchild(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    holder: dict[str, CommandRunner] = {}

    def listen(line: OutputLine) -> None:
        if line.text == "ready":
            # Listeners run on the reader threads: the cancel comes from a thread that is not the runner's.
            holder["runner"].cancel()

    runner = CommandRunner([PY, SPAWN_TREE, str(pidfile)], timeout_s=30, grace=FAST_GRACE, listeners=[listen])
    holder["runner"] = runner
    result = runner.run()

    # Ended by the cancel, not by the 30 s timeout (the tree never ends by itself), and by a signal.
    assert result.cancelled and not result.timed_out
    assert result.exit_code is not None and result.exit_code < 0, result
    assert result.verdict(Expectation()) == (False, "cancelled by the operator")
    pids = tree_pids(pidfile)
    wait_for(lambda: not any(pid_alive(p) for p in pids.values()), timeout=5, what=f"{pids} to be gone")


def test_cancel_before_run_stops_at_once(tmp_path: Path) -> None:
    runner = CommandRunner(["sleep", "30"], grace=FAST_GRACE)
    runner.cancel()
    result = runner.run()
    # Stopped by a signal: a sleep left to its end exits 0.
    assert result.cancelled and result.exit_code is not None and result.exit_code < 0, result


# -- memory ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_million_lines_keep_memory_bounded(tmp_path: Path) -> None:
    """A million lines through redaction into the cast file: RSS grows by less than 50 MB, the tail stays 500."""
    n = 1_000_000
    script = f"import sys\nw = sys.stdout.write\nfor i in range({n}):\n    w(f'line {{i}} password=hunter2-{{i}} of a long output\\n')\n"
    seen = 0

    def count(line: OutputLine) -> None:
        nonlocal seen
        seen += 1

    process = psutil.Process()
    before = process.memory_info().rss
    cast = new_cast(tmp_path, "million.cast")
    result = CommandRunner([PY, "-c", script], cast=cast, redactor=Redactor(["hunter2"]), listeners=[count]).run()
    sha = cast.close()
    growth = process.memory_info().rss - before

    assert result.exit_code == 0
    assert result.lines == n and seen == n
    assert len(result.tail) == 500 and result.tail[-1] == f"line {n - 1} password=[REDACTED] of a long output"
    assert growth < 50 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB"
    path = tmp_path / "million.cast"
    assert sha == sha256_file(path)
    with open(path, "rb") as handle:
        # Lines read together are written as one event; every output line ends in an escaped \r\n inside it.
        line_ends = sum(event.count(b"\\r\\n") for event in handle)
        handle.seek(-200, 2)
        last = handle.read().splitlines()[-1]
    assert line_ends == n
    assert b"hunter2" not in last and f"line {n - 1} ".encode() in last


def test_one_endless_line_is_split_and_memory_stays_bounded(tmp_path: Path) -> None:
    """40 MB with no newline at all arrives in pieces of at most 64 KiB, never as one 40 MB string."""
    script = "import sys\nblock = 'x' * 65536\nfor _ in range(640):\n    sys.stdout.write(block)\n"
    longest = 0

    def measure(line: OutputLine) -> None:
        nonlocal longest
        longest = max(longest, len(line.text))

    process = psutil.Process()
    before = process.memory_info().rss
    result = CommandRunner([PY, "-c", script], listeners=[measure], tail_lines=10).run()
    growth = process.memory_info().rss - before
    assert result.exit_code == 0
    assert longest <= 64 * 1024
    assert result.lines >= 640
    assert growth < 50 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB"


def test_a_background_process_left_behind_is_stopped_when_the_command_ends(tmp_path: Path) -> None:
    """``sleep 30 &`` keeps the output pipe open after the shell exits; the step still ends, and takes it along."""
    pidfile = tmp_path / "bg"
    result = CommandRunner(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; echo started"]).run()
    assert result.exit_code == 0
    assert result.tail[0] == "started"
    assert result.tail[-1] == "(processes the command left running were stopped when it ended)"
    bg = int(pidfile.read_text())
    wait_for(lambda: not pid_alive(bg), timeout=5, what="the background sleep to be gone")


def test_a_command_that_exits_cleanly_gets_no_straggler_note(tmp_path: Path) -> None:
    result = CommandRunner(["sh", "-c", "echo a; (echo b) ; wait"]).run()
    assert result.exit_code == 0 and result.tail == ["a", "b"]


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")
def test_a_command_dies_with_a_console_that_crashes(tmp_path: Path) -> None:
    """A SIGKILLed console must not leave its command acting with nobody watching and nothing recording."""
    script = (
        "import sys, threading, time\n"
        "from console.engine.runner import CommandRunner\n"
        "r = CommandRunner(['sleep', '60'])\n"
        "threading.Thread(target=r.run, daemon=True).start()\n"
        "while r.pid is None: time.sleep(0.01)\n"
        "print(r.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    console = subprocess.Popen([PY, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    command_pid = int(console.stdout.readline())
    assert psutil.pid_exists(command_pid)
    console.kill()
    console.wait()
    try:
        wait_for(lambda: not psutil.pid_exists(command_pid) or psutil.Process(command_pid).status() == psutil.STATUS_ZOMBIE,
                 timeout=10, what="the command to die with the console that started it")
    except AssertionError:
        os.kill(command_pid, signal.SIGKILL)
        raise

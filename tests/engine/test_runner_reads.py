"""How the runner reads a command's output: a secret cut in two by the pipe, batches of lines, the pipes' size.

Every command is a real process (this interpreter) writing to the runner's real pipes. Where a test needs output to
arrive in two reads, the command writes the first part, says so with a file, and waits for a file before the rest; the
test lets it go on only once the runner's pipe is empty, that is once the runner has read the first part.
"""

from __future__ import annotations

import fcntl
import struct
import sys
import termios
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.engine.redact import MASK, Redactor, StreamRedactor
from console.engine.runner import PIPE_SIZE, CommandRunner, RunResult
from console.journal.cast import CastWriter, read_cast
from tests.support.wait import wait_for

from .conftest import PY

TWO_WRITES = """
import os, sys, time
from pathlib import Path
here = Path(sys.argv[1])
os.write(1, sys.argv[2].encode())
(here / "first-written").touch()
while not (here / "go-on").exists():
    time.sleep(0.01)
os.write(1, sys.argv[3].encode() + b"\\n")
"""

GITHUB_TOKEN = "ghp_" + "Q7" * 18


def unread(fd: int) -> int:
    """Bytes waiting in a pipe that nobody has read yet."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])


def run_in_two_reads(tmp_path: Path, first: str, second: str, redactor: Redactor) -> tuple[RunResult, list[str], str]:
    """Run a command printing ``first`` then ``second`` + newline, the runner reading each part on its own."""
    cast = CastWriter(tmp_path / "out.cast", started=datetime.now(UTC))
    seen: list[str] = []
    runner = CommandRunner([PY, "-c", TWO_WRITES, str(tmp_path), first, second], redactor=redactor, cast=cast,
                           listeners=[lambda line: seen.append(line.text)])
    results: list[RunResult] = []
    thread = threading.Thread(target=lambda: results.append(runner.run()), daemon=True)
    thread.start()
    try:
        wait_for(lambda: (tmp_path / "first-written").exists(), what="the command to write the first part")
        proc = wait_for(lambda: runner._proc, what="the runner to start the command")
        assert proc.stdout is not None
        wait_for(lambda: unread(proc.stdout.fileno()) == 0, what="the runner to read the first part")
        assert seen == []  # a line without its end is held back, not delivered in pieces
    finally:
        (tmp_path / "go-on").touch()
        thread.join(timeout=60)
    cast.close()
    assert results, "the run did not end"
    return results[0], seen, (tmp_path / "out.cast").read_text(encoding="utf-8")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FIONREAD on a pipe, as Linux reports it")
@pytest.mark.parametrize(
    ("first", "second", "secret", "expected"),
    [
        ("export DB_PASSWORD=hunt", "er2-split", "hunter2-split", f"export DB_PASSWORD={MASK}"),  # the value cut in two
        ("export DB_PASS", "WORD=hunter2-split", "hunter2-split", f"export DB_PASSWORD={MASK}"),  # the name cut in two
        (f"token {GITHUB_TOKEN[:20]}", f"{GITHUB_TOKEN[20:]} used", GITHUB_TOKEN, f"token {MASK} used"),  # a token shape
        ("conn s3cret-v", "alue-param ok", "s3cret-value-param", f"conn {MASK} ok"),  # a secret parameter's value
        ("X-Api-Key: ", "zz-policy-99", "zz-policy-99", f"X-Api-Key: {MASK}"),  # a policy pattern
    ],
)
def test_a_secret_cut_in_two_by_the_pipe_is_masked(tmp_path: Path, first: str, second: str, secret: str,
                                                    expected: str) -> None:
    redactor = Redactor(["s3cret-value-param"], [r"(?i)(x-api-key:\s*)\S+"])
    result, seen, cast_text = run_in_two_reads(tmp_path, first, second, redactor)
    assert result.exit_code == 0
    assert seen == [expected]
    assert secret not in cast_text and secret[: len(secret) // 2] not in cast_text
    _, events = read_cast(tmp_path / "out.cast")
    assert [text for _, _, text in events] == [expected + "\r\n"]


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="pipe sizes are Linux's")
def test_the_commands_pipes_hold_a_mebibyte(tmp_path: Path) -> None:
    """A command printing fast runs ahead of the redaction by up to the pipe's size, on stdout and stderr alike."""
    script = "import fcntl, sys\nfor fd in (1, 2):\n    print(fd, fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ), flush=True)\n"
    result = CommandRunner([PY, "-c", script]).run()
    assert result.exit_code == 0
    assert result.tail == [f"1 {PIPE_SIZE}", f"2 {PIPE_SIZE}"]


def test_a_policy_pattern_across_a_line_end_leaves_the_lines_as_printed() -> None:
    """One pass over a batch would join two lines into one mask: the batch is then redacted line by line instead."""
    seen: list[str] = []
    runner = CommandRunner(["true"], redactor=Redactor([], [r"BEGIN-X\s+END-X"]), listeners=[lambda line: seen.append(line.text)])
    redacting = StreamRedactor(runner.redactor)
    runner._block(redacting, "stdout", b"a BEGIN-X\nEND-X b\nBEGIN-X END-X c\r\ntoken=abc123")
    assert seen == ["a BEGIN-X", "END-X b", f"{MASK} c", f"token={MASK}"]

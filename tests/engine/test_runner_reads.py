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
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.engine.redact import MASK, Redactor, StreamRedactor
from console.engine.runner import MAX_LINE, PIPE_SIZE, CommandRunner, OutputLine, RunResult
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


# -- one line longer than the runner's piece -----------------------------------------------------------------------

PRINT_FILE = "import sys\nsys.stdout.buffer.write(open(sys.argv[1], 'rb').read())\n"
PEM_BODY = "MIIEowIBAAKCAQEA" + "q8Zt3Xw1Lp9Kd2Vb" * 100  # a private key's base64, one line with JSON's \n escapes
LONG_LINE_SECRETS = [
    # (before, secret, after): the text printed is before + secret + after
    ("remote ", "ghp_" + "Q7xZ" * 10, " ok"),
    ("key ", "AKIAIOSFODNN7EXAMPLE", " used"),
    ("got ", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlc2lnbmF0dXJl", " end"),
    ("db?user=app&password=", "hunter2hunter2", "&ssl=true"),
    ('"client-key-data":"', "LS0tLS1CRUdJTiBFQyBQUklWQVRF" * 60, '",'),
    ('"tls.key":"-----BEGIN RSA PRIVATE KEY-----\\n', PEM_BODY, '\\n-----END RSA PRIVATE KEY-----\\n",'),
    ("conn ", "s3cret-value-param", " ok"),  # a secret parameter's value
    ("X-Api-Key: ", "zz-policy-99-long-value", " ok"),  # a policy pattern
]


def line_around_cuts(before: str, secret: str, after: str, piece: int) -> tuple[str, list[tuple[str, str]]]:
    """One line of filler words with ``secret`` placed across each of three cuts ``piece`` bytes apart: its middle on
    the first cut, its end on the second, its start on the third (the name before it ending on the cut). Returns the
    line and each placement's two parts, as the cut splits it."""
    line = ""
    parts = []
    for n, before_cut in enumerate((len(secret) // 2, len(secret), 0), start=1):
        start = n * piece - before_cut  # where the secret starts
        filler = start - len(before) - len(line)
        line += ("ok " * piece)[:filler - 1] + " " + before + secret + after
        parts.append((secret[:before_cut], secret[before_cut:]))
    return line + " ok" * 4000, parts


@pytest.mark.parametrize(("before", "secret", "after"), LONG_LINE_SECRETS, ids=lambda v: v[:12] if isinstance(v, str) else None)
def test_a_secret_across_a_cut_in_an_over_long_line_is_masked(tmp_path: Path, before: str, secret: str, after: str) -> None:
    """A line too long to hold is redacted in pieces: a secret the cut goes through is masked on both sides of it."""
    line, parts = line_around_cuts(before, secret, after, MAX_LINE)
    assert len(line) > 3 * MAX_LINE and line.isascii()
    (tmp_path / "line").write_text(line + "\n", encoding="ascii")
    cast = CastWriter(tmp_path / "out.cast", started=datetime.now(UTC))
    seen: list[str] = []
    redactor = Redactor(["s3cret-value-param"], [r"(?i)(x-api-key:\s*)\S+"])
    result = CommandRunner([PY, "-c", PRINT_FILE, str(tmp_path / "line")], redactor=redactor, cast=cast,
                           listeners=[lambda out: seen.append(out.text)]).run()
    cast.close()
    assert result.exit_code == 0
    printed = "".join(seen)
    on_disk = (tmp_path / "out.cast").read_text(encoding="utf-8")
    fragments = [secret] + [part for pair in parts for part in pair if len(part) >= 6]  # shorter: letters found anywhere
    # Compared here rather than in the assert, so a failure does not have pytest diff 200 KiB of text.
    leaked = [fragment for fragment in fragments if fragment in printed or fragment in on_disk]
    assert leaked == []
    # Only the secrets go: the filler words around them are all there.
    kept = printed.count("ok") >= line.count("ok") - 10
    assert kept


def long_secret(size: int) -> str:
    """A secret parameter's value of ``size`` characters with no shape a rule knows (a whole kubeconfig or bundle, say):
    only the literal match finds it, and it has to be seen whole to be found."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(alphabet[(i * 7919 + i // 57) % len(alphabet)] for i in range(size))


@pytest.mark.parametrize("size", [40 * 1024, 150 * 1024])
def test_a_secret_parameter_longer_than_the_overlap_is_masked_across_cuts(tmp_path: Path, size: int) -> None:
    """A secret value longer than the 16 KiB each piece of a long line is redacted with (even longer than a piece)
    is still seen whole on both sides of every cut through it: the overlap grows to the longest secret."""
    secret = long_secret(size)
    # Placed so cuts (every MAX_LINE bytes) fall before, inside and after it; the words around it must survive.
    line = "ok " * (MAX_LINE // 3 - 4000) + "conn=" + secret + " " + "ok " * (MAX_LINE // 2) + "conn=" + secret + " end"
    assert len(line) > 2 * MAX_LINE and line.isascii()
    (tmp_path / "line").write_text(line + "\n", encoding="ascii")
    cast = CastWriter(tmp_path / "out.cast", started=datetime.now(UTC))
    seen: list[str] = []
    redactor = Redactor([secret])
    result = CommandRunner([PY, "-c", PRINT_FILE, str(tmp_path / "line")], redactor=redactor, cast=cast,
                           listeners=[lambda out: seen.append(out.text)]).run()
    cast.close()
    assert result.exit_code == 0
    printed = "".join(seen)
    on_disk = (tmp_path / "out.cast").read_text(encoding="utf-8")
    # Any 24 characters of it in a row would be a piece of the secret (the alphabet's cycle is far longer).
    pieces = {secret[i : i + 24] for i in range(0, size - 24, 101)}
    leaked = [piece for piece in pieces if piece in printed or piece in on_disk]
    assert leaked == []
    # Only the secret goes: every filler word around it is there (the secret itself holds no space).
    assert printed.count("conn=") == 2 and printed.endswith(" end") and printed.count("ok ") == line.count("ok ")


def test_a_secret_of_bytes_that_are_not_utf8_does_not_stop_an_over_long_line(tmp_path: Path) -> None:
    """A secret parameter given as bytes that are not UTF-8 (kept as surrogate escapes) still sizes the overlap by
    the bytes it prints as: the long line is read to its end and the words around it kept."""
    line = "ok " * (MAX_LINE // 2)  # three pieces' worth: cut twice
    (tmp_path / "line").write_text(line + "\n", encoding="ascii")
    seen: list[str] = []
    result = CommandRunner([PY, "-c", PRINT_FILE, str(tmp_path / "line")], redactor=Redactor(["pass\udcffword"]),
                           listeners=[lambda out: seen.append(out.text)]).run()
    assert result.exit_code == 0
    assert "".join(seen).count("ok ") == line.count("ok ")


def test_an_endless_line_is_captured_in_bounded_memory(tmp_path: Path) -> None:
    """Twenty megabytes without a line end: the run completes, and the runner never holds more than a few pieces."""
    size = 20 * 1024 * 1024
    script = f"import sys\nw = sys.stdout.buffer.write\nfor _ in range({size} // 65536):\n    w(b'abc ' * 16384)\n"
    cast = CastWriter(tmp_path / "out.cast", started=datetime.now(UTC))
    count = [0, 0]

    def listen(out: OutputLine) -> None:
        count[0] += 1
        count[1] += len(out.text)

    tracemalloc.start()
    try:
        result = CommandRunner([PY, "-c", script], cast=cast, tail_lines=4, listeners=[listen]).run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    cast.close()
    assert result.exit_code == 0
    assert count[1] == size and count[0] >= size // MAX_LINE  # all of it, in pieces no longer than a piece
    assert peak < 4 * 1024 * 1024, peak  # a fifth of the line: a few pieces and their redaction, not the line

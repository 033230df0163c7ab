"""asciicast v2 output files: header, events in order, hashes, torn tails, threads."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.journal.cast import CastError, CastWriter, read_cast, sha256_file

STARTED = datetime(2026, 11, 21, 23, 20, 55, 500000, tzinfo=UTC)


class StepClock:
    """Monotonic seconds that the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_header_events_and_hash(tmp_path: Path) -> None:
    clock = StepClock()
    path = tmp_path / "001-restart.cast"
    w = CastWriter(path, width=100, height=30, title="restart", command="kubectl rollout restart deployment/web", started=STARTED, clock=clock)
    clock.t += 0.5
    w.write("deployment.apps/web restarted\r\n")
    clock.t += 1.25
    w.write("Error from server (NotFound): ✗\r\n")  # stderr goes in as output too
    w.marker("exit 1")
    w.write("", at=9.0)  # nothing to record
    sha = w.close()

    raw = path.read_bytes()
    assert sha == hashlib.sha256(raw).hexdigest() == sha256_file(path)
    assert w.close() == sha  # idempotent
    lines = raw.decode().splitlines()
    assert json.loads(lines[0]) == {
        "version": 2,
        "width": 100,
        "height": 30,
        "timestamp": int(STARTED.timestamp()),
        "title": "restart",
        "command": "kubectl rollout restart deployment/web",
        "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"},
    }
    header, events = read_cast(path)
    assert header["version"] == 2 and header["title"] == "restart"
    assert events == [
        (0.5, "o", "deployment.apps/web restarted\r\n"),
        (1.75, "o", "Error from server (NotFound): ✗\r\n"),
        (1.75, "m", "exit 1"),
    ]


def test_each_event_is_on_disk_as_soon_as_written(tmp_path: Path) -> None:
    path = tmp_path / "x.cast"
    w = CastWriter(path, started=STARTED)
    w.write("first\n", at=0.1)
    # A reader (or a crash) sees the line now, before close: no userspace buffering.
    assert read_cast(path)[1] == [(0.1, "o", "first\n")]
    w.close()


def test_times_never_go_backwards(tmp_path: Path) -> None:
    path = tmp_path / "x.cast"
    with CastWriter(path, started=STARTED) as w:
        w.write("a", at=2.0)
        w.write("b", at=1.0)
        w.write("c", at=3.0)
    times = [t for t, _, _ in read_cast(path)[1]]
    assert times == [2.0, 2.0, 3.0]


def test_streams_limited_to_output_and_marker(tmp_path: Path) -> None:
    with CastWriter(tmp_path / "x.cast", started=STARTED) as w:
        with pytest.raises(ValueError):
            w.write("oops", stream="e")
        w.write("m via write", stream="m", at=0)
    with pytest.raises(ValueError):
        w.write("after close")


def test_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "x.cast"
    CastWriter(path, started=STARTED).close()
    with pytest.raises(FileExistsError):
        CastWriter(path, started=STARTED)


def test_undecodable_text_is_kept_escaped(tmp_path: Path) -> None:
    path = tmp_path / "x.cast"
    text = b"bad \xff byte\n".decode("utf-8", "surrogateescape")
    with CastWriter(path, started=STARTED) as w:
        w.write(text, at=0)
    assert read_cast(path)[1] == [(0.0, "o", text)]


def test_threads_share_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "x.cast"
    w = CastWriter(path, started=STARTED)

    def pump(name: str) -> None:
        for i in range(200):
            w.write(f"{name} {i}\n")

    threads = [threading.Thread(target=pump, args=(n,)) for n in ("stdout", "stderr")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    _, events = read_cast(path)
    assert len(events) == 400
    for name in ("stdout", "stderr"):
        assert [e[2] for e in events if e[2].startswith(name)] == [f"{name} {i}\n" for i in range(200)]
    assert [e[0] for e in events] == sorted(e[0] for e in events)


def test_read_tolerates_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "x.cast"
    with CastWriter(path, started=STARTED) as w:
        w.write("whole\n", at=0.5)
    with open(path, "ab") as f:
        f.write(b'[0.9, "o", "cut sh')
    header, events = read_cast(path)
    assert header["version"] == 2 and events == [(0.5, "o", "whole\n")]
    with open(path, "ab") as f:
        f.write(b"\n")
    assert read_cast(path)[1] == [(0.5, "o", "whole\n")]


def test_read_rejects_damage_before_the_end(tmp_path: Path) -> None:
    path = tmp_path / "x.cast"
    path.write_bytes(b'{"version": 2}\nnot json\n[1.0, "o", "x"]\n')
    with pytest.raises(CastError, match="line 2"):
        read_cast(path)
    path.write_bytes(b'{"version": 1}\n')
    with pytest.raises(CastError, match="header"):
        read_cast(path)

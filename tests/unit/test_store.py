"""The record store: directories, IDs under concurrency (real processes), output names, change locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.journal.store import ChangeLocked, ChangeNotFound, RecordStore, StoreError, sanitise

REPO = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 11, 21, 23, 20, 55, tzinfo=UTC)


def child(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_create_change_layout(records_dir: Path) -> None:
    store = RecordStore(records_dir)
    ref = store.create_change(component="web", from_version="1.4.2", to_version="1.5.0-rc.1", when=WHEN)
    assert ref.change_id == "CHG-2026-0001"
    assert ref.path == records_dir / "2026" / "2026-11-21__web__1.4.2-1.5.0-rc.1__CHG-2026-0001"
    assert (ref.path / "outputs").is_dir() and (ref.path / "artifacts").is_dir()
    assert store.journal_path(ref) == ref.path / "journal.jsonl"
    assert (ref.date, ref.component, ref.from_version, ref.to_version) == ("2026-11-21", "web", "1.4.2", "1.5.0-rc.1")
    # The exact versions survive a round trip although the directory name cannot say where "from" ends.
    assert store.find("CHG-2026-0001") == ref


def test_names_are_sanitised(records_dir: Path) -> None:
    store = RecordStore(records_dir)
    ref = store.create_change(component="web/api __ prod", from_version="1.4 beta", to_version="../2", when=WHEN)
    assert ref.path.parent == records_dir / "2026"
    assert ref.path.name == "2026-11-21__web-api-_-prod__1.4-beta-2__CHG-2026-0001"
    assert ref.component == "web/api __ prod"
    assert sanitise("ok-1.2_3") == "ok-1.2_3" and sanitise("///") == "x"


def test_list_and_find(records_dir: Path) -> None:
    store = RecordStore(records_dir)
    assert store.list_changes() == []
    a = store.create_change(component="web", from_version="1", to_version="2", when=WHEN)
    b = store.create_change(component="db", from_version="14", to_version="15", when=WHEN.replace(year=2027, month=1))
    c = store.create_change(component="web", from_version="2", to_version="3", when=WHEN)
    (records_dir / "2026" / "notes.txt").write_text("not a change")
    assert [r.change_id for r in store.list_changes()] == ["CHG-2026-0001", "CHG-2026-0002", "CHG-2027-0001"]
    assert [r.path for r in store.list_changes()] == [a.path, c.path, b.path]
    assert store.find("CHG-2027-0001") == b
    with pytest.raises(ChangeNotFound, match=f"no change CHG-2026-0099 in {records_dir}"):
        store.find("CHG-2026-0099")
    with pytest.raises(ChangeNotFound):
        store.find("bogus")


def test_explicit_ids_are_never_reallocated(records_dir: Path) -> None:
    store = RecordStore(records_dir)
    store.create_change(component="web", from_version="1", to_version="2", when=WHEN, change_id="CHG-2026-0041")
    with pytest.raises(StoreError, match="already exists"):
        store.create_change(component="web", from_version="1", to_version="2", when=WHEN, change_id="CHG-2026-0041")
    assert store.allocate_id(2026) == "CHG-2026-0042"
    with pytest.raises(StoreError):
        store.create_change(component="web", from_version="1", to_version="2", when=WHEN, change_id="CHG-26-1")


def test_copied_in_changes_count_towards_ids(records_dir: Path) -> None:
    (records_dir / "2026" / "2026-01-02__web__1-2__CHG-2026-0007").mkdir(parents=True)
    assert RecordStore(records_dir).allocate_id(2026) == "CHG-2026-0008"


def test_next_output_path(records_dir: Path) -> None:
    store = RecordStore(records_dir)
    ref = store.create_change(component="web", from_version="1", to_version="2", when=WHEN)
    first = store.next_output_path(ref, "backup")
    second = store.next_output_path(ref, "restart deployment")  # handed out, not yet created
    assert (first.name, second.name) == ("001-backup.cast", "002-restart-deployment.cast")
    (ref.path / "outputs" / "007-old.cast").write_text("")
    # Another store object (a resumed console) sees only the files.
    assert RecordStore(records_dir).next_output_path(ref, "wait").name == "008-wait.cast"


ALLOCATE = """
    import sys, time
    from pathlib import Path
    from console.journal.store import RecordStore
    root, go = Path(sys.argv[1]), Path(sys.argv[2])
    store = RecordStore(root)
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("no go signal")
        time.sleep(0.001)
    print(" ".join(store.allocate_id(2026) for _ in range(25)), flush=True)
"""


def test_concurrent_id_allocation_across_processes(records_dir: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [child(ALLOCATE, str(records_dir), str(go)) for _ in range(6)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()  # all six are polling for this: they allocate at the same moment
    ids: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        ids += out.split()
    assert len(ids) == 150 and len(set(ids)) == 150
    assert sorted(ids) == [f"CHG-2026-{n:04d}" for n in range(1, 151)]
    assert sorted(os.listdir(records_dir / ".ids")) == sorted(ids)


HOLD = """
    import sys
    from pathlib import Path
    from console.journal.store import RecordStore
    store = RecordStore(Path(sys.argv[1]))
    lock = store.lock(store.find(sys.argv[2]), who="alice")
    print("locked", flush=True)
    sys.stdin.read()  # hold until killed
"""


def test_change_lock_held_by_another_process(records_dir: Path) -> None:
    store = RecordStore(records_dir)
    ref = store.create_change(component="web", from_version="1", to_version="2", when=WHEN)
    holder = child(HOLD, str(records_dir), ref.change_id)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(ChangeLocked) as info:
            store.lock(ref, who="bob")
        assert info.value.holder.pid == holder.pid
        assert info.value.holder.user == "alice"
        assert f"held by alice (pid {holder.pid} on " in str(info.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # The kernel dropped the flock with the process; the stale holder record in the file does not matter.
    with store.lock(ref, who="bob") as lock:
        assert lock.held and lock.holder.user == "bob" and lock.holder.pid == os.getpid()
        recorded = json.loads((ref.path / ".lock").read_text())
        assert recorded["user"] == "bob" and recorded["pid"] == os.getpid()
    assert not lock.held


def test_change_lock_within_one_process(records_dir: Path) -> None:
    store = RecordStore(records_dir)
    ref = store.create_change(component="web", from_version="1", to_version="2", when=WHEN)
    first = store.lock(ref, who="alice", now=WHEN)
    with pytest.raises(ChangeLocked, match=r"held by alice \(pid \d+ on .*\) since 2026-11-21T23:20:55.000000Z"):
        store.lock(ref, who="bob")
    first.release()
    first.release()
    store.lock(ref, who="bob").release()


class SteppedTime:
    """Stands in for the time module: monotonic() moves only when sleep() is called, by what it was asked."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_lock_waits_briefly_for_the_holder_record(records_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    import console.journal.store as store_module

    store = RecordStore(records_dir)
    ref = store.create_change(component="web", from_version="1", to_version="2", when=WHEN)
    fd = os.open(ref.path / ".lock", os.O_RDWR | os.O_CREAT)
    # The store's own clock, moved only by its sleeps: how long it waits is what it asks for, however busy the machine.
    clock = SteppedTime()
    monkeypatch.setattr(store_module, "time", clock)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a holder that has not written its details (yet)
        with pytest.raises(ChangeLocked, match="has not recorded who yet") as info:
            store.lock(ref, who="bob")
        assert info.value.holder.pid is None
        assert 0 < clock.slept <= 1.0, clock.slept  # it gave the holder a moment, then gave up
    finally:
        os.close(fd)

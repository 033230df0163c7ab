"""The record store: change IDs, one directory per change, and the lock that lets one console drive a change.

Layout under the root::

    .lock  .ids/CHG-2026-0042                      ID allocation (flock + one O_EXCL marker per ID)
    2026/2026-11-21__web__1.4.2-1.5.0__CHG-2026-0042/
        journal.jsonl  outputs/003-restart.cast  artifacts/  record.md  change.json  .lock

``change.json`` keeps the exact component and versions: a directory name cannot, since versions may
contain ``-`` and names are sanitised. It is an index only; the journal is the record.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from console.errors import OpsConsoleError
from console.journal.journal import fsync_dir, utc_ts
from console.journal.team import RemoteUnreachable, TeamStore, host_tag

ID_RE = re.compile(r"^CHG-(\d{4})-(\d{4,})$")
# A provisional ID, taken while a team store's remote was unreachable: unique to its host, kept for ever.
PROVISIONAL_RE = re.compile(r"^CHG-(\d{4})-P(\d{4,})\.([a-z0-9-]{1,32})$")
DIR_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})__(.+?)__(.+)__(CHG-\d{4}-(?:\d{4,}|P\d{4,}\.[a-z0-9-]{1,32}))$")
OUTPUT_RE = re.compile(r"^(\d{3,})-")
INDEX_FILE = "change.json"


class StoreError(OpsConsoleError):
    """Base class of record store failures."""


class ChangeNotFound(StoreError):
    """No change with that ID in the store."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a change lock, as written into its lock file."""

    pid: int | None
    user: str
    host: str
    since: str

    def describe(self) -> str:
        if self.pid is None:
            return "another process (it has not recorded who yet)"
        return f"{self.user} (pid {self.pid} on {self.host}) since {self.since}"


class ChangeLocked(StoreError):
    """Another console drives this change."""

    def __init__(self, change_id: str, holder: LockHolder) -> None:
        self.change_id = change_id
        self.holder = holder
        super().__init__(f"{change_id} is held by {holder.describe()}")


@dataclass
class ChangeRef:
    """Where one change lives and what it changes."""

    change_id: str
    path: Path
    date: str
    component: str
    from_version: str
    to_version: str


def sanitise(text: str) -> str:
    """A name part safe in a directory name: ``[A-Za-z0-9._-]``, no ``__`` (the field separator)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    out = re.sub(r"_{2,}", "_", out).strip("-_.")
    return out or "x"


def _id_key(change_id: str) -> tuple[int, int, int, str]:
    """Sort key: by year, team IDs by number, then provisional ones by host and number."""
    m = ID_RE.match(change_id)
    if m is not None:
        return int(m.group(1)), 0, int(m.group(2)), ""
    p = PROVISIONAL_RE.match(change_id)
    if p is not None:
        return int(p.group(1)), 1, int(p.group(2)), p.group(3)
    raise StoreError(f"not a change ID: {change_id!r} (expected CHG-YYYY-NNNN)")


def is_change_id(text: str) -> bool:
    """A team ID or a provisional one."""
    return bool(ID_RE.match(text) or PROVISIONAL_RE.match(text))


class ChangeLock:
    """An exclusive hold on one change, for as long as this object (its flock'd file descriptor) lives.

    flock belongs to the open file, so the kernel drops it when the process dies, however it dies: a stale
    lock file never blocks anyone.
    """

    def __init__(self, ref: ChangeRef, fd: int, holder: LockHolder) -> None:
        self.ref = ref
        self.holder = holder
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Clear the holder record and unlock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # so nobody reads an old holder as current; the file itself stays
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> ChangeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int, deadline: float) -> LockHolder:
    # The holder writes its details just after taking the lock; give it a moment rather than report "unknown".
    while True:
        raw = os.pread(fd, 4096, 0)
        try:
            info = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            info = None  # caught mid-write
        if isinstance(info, dict):
            pid = info.get("pid")
            return LockHolder(
                pid if isinstance(pid, int) else None,
                str(info.get("user", "?")),
                str(info.get("host", "?")),
                str(info.get("since", "?")),
            )
        if time.monotonic() >= deadline:
            return LockHolder(None, "?", "?", "?")
        time.sleep(0.01)


class RecordStore:
    """All changes under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.team = TeamStore(self.root)
        self._outputs_lock = threading.Lock()
        self._handed_out: dict[Path, set[Path]] = {}  # outputs dir -> paths handed out there

    # -- IDs and directories --------------------------------------------------------------------------------

    def _root_lock(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocking: allocation takes microseconds
        return fd

    def _highest(self, year: int) -> int:
        numbers = [0]
        ids = self.root / ".ids"
        if ids.is_dir():
            numbers += [n for y, n in map(_maybe_key, os.listdir(ids)) if y == year]
        year_dir = self.root / f"{year:04d}"
        if year_dir.is_dir():
            # Directories copied in without their markers still count: an ID is never reused.
            for name in os.listdir(year_dir):
                m = DIR_RE.match(name)
                if m:
                    y, n = _maybe_key(m.group(4))
                    if y == year:
                        numbers.append(n)
        return max(numbers)

    def _mark(self, change_id: str) -> bool:
        """Create the O_EXCL marker for an ID; False if it already exists."""
        ids = self.root / ".ids"
        ids.mkdir(exist_ok=True)
        try:
            fd = os.open(ids / change_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(ids)
        return True

    def allocate_id(self, year: int, *, offline_ids: str = "provisional") -> str:
        """The next free ``CHG-YYYY-NNNN``; safe against other processes allocating at the same moment.

        In a team store with a remote the number is claimed on the remote (unique across the team); with the
        remote unreachable, a provisional ID (``offline_ids="provisional"``) or a refusal (``"refuse"``).
        """
        fd = self._root_lock()
        try:
            if self.team.enabled and self.team.remote_url() is not None:
                return self._claim_team_id(year, offline_ids)
            n = self._highest(year) + 1
            # The marker's O_EXCL is a second guard, for stores on filesystems where flock is advisory-only
            # across hosts (NFS): a collision moves on to the next number instead of sharing one.
            while not self._mark(f"CHG-{year:04d}-{n:04d}"):
                n += 1
            return f"CHG-{year:04d}-{n:04d}"
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _claim_team_id(self, year: int, offline_ids: str) -> str:
        try:
            change_id = self.team.claim_id(year, floor=self._highest(year))
        except RemoteUnreachable as exc:
            if offline_ids == "refuse":
                raise StoreError(
                    f"{exc}; policy refuses to start a change without a team ID (store.offline_ids = \"refuse\")"
                ) from None
            return self._provisional_id(year)
        self._mark(change_id)
        return change_id

    def _provisional_id(self, year: int) -> str:
        host = host_tag()
        ids = self.root / ".ids"
        used = [0]
        for name in os.listdir(ids) if ids.is_dir() else []:
            m = PROVISIONAL_RE.match(name)
            if m and int(m.group(1)) == year and m.group(3) == host:
                used.append(int(m.group(2)))
        n = max(used) + 1
        while not self._mark(f"CHG-{year:04d}-P{n:04d}.{host}"):
            n += 1
        return f"CHG-{year:04d}-P{n:04d}.{host}"

    def create_change(
        self,
        *,
        component: str,
        from_version: str,
        to_version: str,
        when: datetime,
        change_id: str | None = None,
        offline_ids: str = "provisional",
    ) -> ChangeRef:
        """Make the change's directory (with ``outputs/`` and ``artifacts/``) and return its reference."""
        day = when.astimezone(UTC) if when.tzinfo is not None else when
        if change_id is None:
            change_id = self.allocate_id(day.year, offline_ids=offline_ids)
        else:
            _id_key(change_id)
            fd = self._root_lock()
            try:
                self._mark(change_id)  # so allocate_id never hands it out; already marked is fine
                for ref in self.list_changes():
                    if ref.change_id == change_id:
                        raise StoreError(f"{change_id} already exists at {ref.path}")
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        date = day.strftime("%Y-%m-%d")
        name = f"{date}__{sanitise(component)}__{sanitise(from_version)}-{sanitise(to_version)}__{change_id}"
        year_dir = self.root / date[:4]
        year_dir.mkdir(parents=True, exist_ok=True)
        path = year_dir / name
        try:
            path.mkdir()
        except FileExistsError:
            raise StoreError(f"{path} already exists") from None
        (path / "outputs").mkdir()
        (path / "artifacts").mkdir()
        index = {"change_id": change_id, "component": component, "from_version": from_version, "to_version": to_version, "date": date}
        fd = os.open(path / INDEX_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, json.dumps(index, ensure_ascii=False, indent=2).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        for d in (path, year_dir, self.root):  # each new entry is durable only once its directory is fsynced
            fsync_dir(d)
        return ChangeRef(change_id, path, date, component, from_version, to_version)

    # -- finding --------------------------------------------------------------------------------------------

    def _ref(self, path: Path) -> ChangeRef | None:
        m = DIR_RE.match(path.name)
        if m is None or not path.is_dir():
            return None
        date, component, versions, change_id = m.groups()
        from_version, _, to_version = versions.partition("-")
        try:
            index = json.loads((path / INDEX_FILE).read_text())
        except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
            index = None
        if isinstance(index, dict) and index.get("change_id") == change_id:
            component = str(index.get("component", component))
            from_version = str(index.get("from_version", from_version))
            to_version = str(index.get("to_version", to_version))
        return ChangeRef(change_id, path, date, component, from_version, to_version)

    def list_changes(self) -> list[ChangeRef]:
        """Every change in the store, sorted by ID."""
        refs: list[ChangeRef] = []
        if not self.root.is_dir():
            return refs
        for year_dir in self.root.iterdir():
            if year_dir.is_dir() and re.fullmatch(r"\d{4}", year_dir.name):
                refs += [r for r in map(self._ref, year_dir.iterdir()) if r is not None]
        return sorted(refs, key=lambda r: _id_key(r.change_id))

    def find(self, change_id: str) -> ChangeRef:
        """The change with this ID, or with this team ID as its alias; raises ``ChangeNotFound``."""
        year = change_id[4:8] if is_change_id(change_id) else None
        year_dir = self.root / year if year else None
        if year_dir is not None and year_dir.is_dir():
            for path in year_dir.glob(f"*__{change_id}"):
                ref = self._ref(path)
                if ref is not None and ref.change_id == change_id:
                    return ref
            if ID_RE.match(change_id):
                # A change created under a provisional ID and later given this team ID (change.json's alias).
                for path in year_dir.glob("*__CHG-*-P*"):
                    if self.alias_of(path) == change_id:
                        ref = self._ref(path)
                        if ref is not None:
                            return ref
        # The store's full path: run from another directory, the default ./records is another store.
        raise ChangeNotFound(f"no change {change_id} in {self.root.absolute()} (another record store: --records-dir or "
                             "OPSCONSOLE_RECORDS)")

    def alias_of(self, change_dir: Path) -> str | None:
        """The team ID a provisionally named change was given, from its index file."""
        try:
            index = json.loads((change_dir / INDEX_FILE).read_text())
        except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        alias = index.get("team_id") if isinstance(index, dict) else None
        return alias if isinstance(alias, str) and ID_RE.match(alias) else None

    def set_alias(self, ref: ChangeRef, team_id: str) -> None:
        """Note the team ID in the change's index file (the journal's ``change.aliased`` event is the record)."""
        path = ref.path / INDEX_FILE
        try:
            index = json.loads(path.read_text())
        except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
            index = {"change_id": ref.change_id}
        index["team_id"] = team_id
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(index, ensure_ascii=False, indent=2) + "\n")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(ref.path)

    def journal_path(self, ref: ChangeRef) -> Path:
        return ref.path / "journal.jsonl"

    def record_path(self, ref: ChangeRef) -> Path:
        return ref.path / "record.md"

    def artifacts_dir(self, ref: ChangeRef) -> Path:
        return ref.path / "artifacts"

    def next_output_path(self, ref: ChangeRef, step_id: str) -> Path:
        """``outputs/NNN-step-id.cast`` with NNN one past the highest used (or already handed out)."""
        outputs = ref.path / "outputs"
        with self._outputs_lock:
            used = [0]
            names = os.listdir(outputs) if outputs.is_dir() else []
            names += [p.name for p in self._handed_out.get(outputs, ())]
            for name in names:
                m = OUTPUT_RE.match(name)
                if m:
                    used.append(int(m.group(1)))
            path = outputs / f"{max(used) + 1:03d}-{sanitise(step_id)}.cast"
            # Remembered so two commands started together in this process never get the same file.
            self._handed_out.setdefault(outputs, set()).add(path)
            return path

    # -- locking --------------------------------------------------------------------------------------------

    def lock(self, ref: ChangeRef, *, who: str, now: datetime | None = None) -> ChangeLock:
        """Take the change's exclusive lock or raise ``ChangeLocked`` naming the holder."""
        fd = os.open(ref.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd, time.monotonic() + 0.5)
            os.close(fd)
            raise ChangeLocked(ref.change_id, holder) from None
        except OSError:
            os.close(fd)
            raise
        holder = LockHolder(os.getpid(), who, socket.gethostname(), utc_ts(now or datetime.now(UTC)))
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder.__dict__).encode(), 0)
            os.fsync(fd)
        except OSError:
            os.close(fd)
            raise
        return ChangeLock(ref, fd, holder)


def _maybe_key(name: str) -> tuple[int, int]:
    m = ID_RE.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else (-1, -1)


def default_user() -> str:
    """The operator's login name, for ``lock(who=...)`` when nothing better is known."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"

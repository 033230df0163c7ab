"""The refused-start log: every change refused before it started, one hash-chained line per refusal.

A refused start creates no change (no ID, no directory, no journal), so without this log it leaves no trace of
who tried what, where, and why policy said no. Layout under the record store's root::

    refused/<host>.jsonl

One file per host: a store shared through git then only ever sees each file grow on one machine, so merges never
conflict. Each line is a journal event (``journal.py``: canonical JSON with seq, prev and SHA-256, one fsynced
write) of type ``change.refused``; the journal's own reader and verifier check it, so a changed byte is named
by file and line exactly as in a change's journal. Appends from several processes on one host are serialised by
an flock on the file.

``change.refused`` data: operator, host, runbook{id, path, sha256}, environment, context, reason (one
sentence), verdicts[{name, ok, message, overridable}], params{name: value} (secret, and undeclared, values
shown as ``[REDACTED]``), approvals[{name, role, reference}], emergency. The event's ``ts`` is when (UTC).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from console.journal import events as ev
from console.journal.chain import Clock, Event, JournalError, TornTailError
from console.journal.event_data import check_data
from console.journal.journal import Journal, VerifyReport, fsync_dir, scan, verify
from console.journal.store import RecordStore, sanitise
from console.runbook.loader import LoadedRunbook, RunbookError, load_runbook

REFUSED = ev.CHANGE_REFUSED
REFUSED_DIR = "refused"
MASK = "[REDACTED]"
MIN_SECRET_LEN = 4  # as the redactor: shorter values would blank out ordinary words (a start refuses them anyway)

Redact = Callable[[str], str]


class StartLike(Protocol):
    """What a refusal needs of a start request (``console.engine.admission.StartRequest`` has it all)."""

    @property
    def runbook_path(self) -> Path: ...
    @property
    def environment(self) -> str: ...
    @property
    def context(self) -> str: ...
    @property
    def operator(self) -> str: ...
    @property
    def params(self) -> Mapping[str, Any]: ...


class VerdictLike(Protocol):
    """A policy verdict (``console.engine.policy.Verdict``)."""

    def as_dict(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class RunbookId:
    """Which runbook a refused start named: its id (None when it could not be read), path and SHA-256."""

    id: str | None
    path: str
    sha256: str | None


@dataclass(frozen=True)
class Refusal:
    """One refused start as read back: the event and where it is (file and 1-based line)."""

    path: Path
    line: int
    event: Event

    @property
    def ts(self) -> str:
        return self.event.ts

    @property
    def data(self) -> dict[str, Any]:
        return self.event.data

    def field(self, name: str) -> str:
        value = self.event.data.get(name)
        return value if isinstance(value, str) else ""

    @property
    def runbook_id(self) -> str:
        rb = self.event.data.get("runbook")
        if not isinstance(rb, dict):
            return ""
        return str(rb.get("id") or Path(str(rb.get("path") or "")).name)


@dataclass
class RefusalLog:
    """Every refusal readable from a store's logs (oldest first) and each file's first problem as ``file:line: reason``."""

    entries: list[Refusal]
    problems: list[str]


def log_path(root: Path, host: str | None = None) -> Path:
    """``<root>/refused/<host>.jsonl`` for this host (or ``host``), the name made safe for a file."""
    return Path(root) / REFUSED_DIR / f"{sanitise(host or socket.gethostname())}.jsonl"


def log_paths(root: Path) -> list[Path]:
    """Every host's refused-start log in the store, sorted by name."""
    d = Path(root) / REFUSED_DIR
    return sorted(p for p in d.glob("*.jsonl") if p.is_file()) if d.is_dir() else []


# -- writing -------------------------------------------------------------------------------------------------------


def record_refusal(
    root: Path,
    *,
    operator: str,
    environment: str,
    context: str,
    runbook: RunbookId,
    reason: str,
    verdicts: Sequence[Mapping[str, object]] = (),
    params: Mapping[str, str] | None = None,
    approvals: Sequence[Mapping[str, object]] = (),
    emergency: bool = False,
    redact: Redact | None = None,
    secrets: Iterable[str] = (),
    host: str | None = None,
    clock: Clock | None = None,
) -> Event:
    """Append one refusal to this host's log and return its event once it is fsynced.

    ``params`` are written as given (the caller masks secret ones); every string of the entry then has each of
    ``secrets`` replaced by ``[REDACTED]`` and goes through ``redact``. A torn last line (a crash mid-write) is
    recorded by a ``journal.torn_tail`` event, its bytes kept, before the refusal; any other damage raises
    ``JournalCorruptError`` and nothing is written. Raises ``EventDataError`` (nothing written) when the entry does not
    match the ``change.refused`` model, and ``OSError`` when the disk refuses.
    """
    hostname = host or socket.gethostname()
    data: dict[str, Any] = {
        "operator": operator,
        "host": hostname,
        "runbook": {"id": runbook.id, "path": runbook.path, "sha256": runbook.sha256},
        "environment": environment,
        "context": context,
        "reason": reason,
        "verdicts": [dict(v) for v in verdicts],
        "params": dict(params or {}),
        "approvals": [dict(a) for a in approvals],
        "emergency": emergency,
    }
    data = _redacted(data, _masker(secrets, redact))
    check_data(REFUSED, data)  # EventDataError, before the log is touched
    path = log_path(root, hostname)
    _ensure_dir(path.parent)
    # O_RDONLY is enough for flock; the journal opens its own descriptor to append.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocking: another console on this host appends in microseconds
        if os.fstat(fd).st_size == 0:
            fsync_dir(path.parent)  # a new file's name survives a power cut only once its directory is synced
        try:
            journal = Journal.open(path, clock=clock)
        except TornTailError:
            # The torn bytes are kept in the chain by the marker event; refusing to log every later refusal
            # until someone repairs the file would lose more than it protects.
            journal = Journal.recover_torn_tail(path, clock=clock)
        with journal:
            return journal.append(REFUSED, data)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def refuse(
    store: RecordStore | Path,
    request: StartLike,
    runbook: LoadedRunbook | Path | str | None,
    reason: str,
    verdicts: Sequence[VerdictLike | Mapping[str, object]] = (),
    redact: Redact | None = None,
    *,
    clock: Clock | None = None,
    host: str | None = None,
) -> str | None:
    """Record a start refused before it began; None once it is on disk, else one sentence saying why it is not.

    Call it where the refusal is raised, with what the start had: the loaded runbook, or its path when it could
    not be loaded (then the file's SHA-256 is still taken). Parameter values are shown only for parameters the
    runbook declares and does not mark secret; the rest read ``[REDACTED]``, and their values are masked
    wherever else they appear (a reason quoting one), since a redactor built before the parameters were
    resolved does not know them. Writing never hides the refusal itself: a failure to record comes back as text
    for the caller to add to its message, not as an exception.
    """
    root = store.root if isinstance(store, RecordStore) else Path(store)
    loaded = runbook if isinstance(runbook, LoadedRunbook) else _try_load(runbook or request.runbook_path)
    rb_path = Path(runbook.path if isinstance(runbook, LoadedRunbook) else (runbook or request.runbook_path))
    declared = loaded.runbook.params if loaded is not None else {}
    shown: dict[str, str] = {}
    hidden: list[str] = []
    for name, value in request.params.items():
        param = declared.get(name)
        if param is None or param.secret:
            # Undeclared too: a misspelt secret's name is not declared, and its value is still a secret.
            shown[name] = MASK
            hidden.append(str(value))
        else:
            shown[name] = str(value)
    approvals = [
        {"name": a.name, "role": a.role, "reference": a.reference} for a in getattr(request, "approvals", None) or ()
    ]
    try:
        record_refusal(
            root,
            operator=request.operator,
            environment=request.environment,
            context=request.context,
            runbook=RunbookId(
                loaded.runbook.metadata.id if loaded is not None else None,
                str(rb_path.resolve()),
                loaded.sha256 if loaded is not None else _sha256_or_none(rb_path),
            ),
            reason=reason,
            verdicts=[v if isinstance(v, Mapping) else v.as_dict() for v in verdicts],
            params=shown,
            approvals=approvals,
            emergency=bool(getattr(request, "emergency_reason", None)),
            redact=redact,
            secrets=hidden,
            host=host,
            clock=clock,
        )
    except (OSError, JournalError) as exc:
        return f"the refusal could not be recorded in {log_path(root, host)}: {exc}"
    return None


def _try_load(path: Path | str) -> LoadedRunbook | None:
    try:
        return load_runbook(path)
    except (RunbookError, OSError):
        return None  # an unreadable or invalid runbook is recorded by path and hash alone


def _sha256_or_none(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _masker(secrets: Iterable[str], redact: Redact | None) -> Redact:
    values = sorted({s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)

    def mask(text: str) -> str:
        for value in values:  # longest first, so a secret containing another is masked whole
            text = text.replace(value, MASK)
        return redact(text) if redact is not None else text

    return mask


def _redacted(value: Any, mask: Redact) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: _redacted(v, mask) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v, mask) for v in value]
    return value


def _ensure_dir(d: Path) -> None:
    if d.is_dir():
        return
    d.mkdir(parents=True, exist_ok=True)
    fsync_dir(d.parent)


# -- reading -------------------------------------------------------------------------------------------------------


def read_refusals(root: Path) -> RefusalLog:
    """Every refusal in the store's logs, oldest first; each log is read up to its first bad line.

    Lines after a bad one are not shown: the chain no longer vouches for them. The bad line itself is reported
    as ``<file>:<line>: <reason>``.
    """
    entries: list[Refusal] = []
    problems: list[str] = []
    for path in log_paths(root):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(describe(path, 0, exc.strerror or str(exc)))
            continue
        result = scan(raw, first_only=True)
        # The good events come first among the parsed lines, which carry their file line numbers (a recovered
        # torn line is skipped, so counting events would drift after one).
        for (line, _parsed), event in zip(result.parsed, result.events, strict=False):
            if event.type == REFUSED:
                entries.append(Refusal(path, line, event))
        if result.problems:
            problems.append(describe(path, result.problems[0].line, result.problems[0].reason))
    entries.sort(key=lambda r: (r.ts, r.field("host"), r.event.seq))
    return RefusalLog(entries, problems)


def verify_refusals(root: Path) -> list[tuple[Path, VerifyReport]]:
    """Each log's full verification (every line, the chain, a torn tail), by file name."""
    return [(path, verify(path)) for path in log_paths(root)]


def describe(path: Path, line: int, reason: str) -> str:
    """``<file>:<line>: <reason>`` (the line left out when the problem concerns none)."""
    return f"{path}:{line}: {reason}" if line else f"{path}: {reason}"


def refusal_rows(entries: Sequence[Refusal]) -> list[list[str]]:
    """The ``records list --refused`` table (a header, then one row per refusal, in the order given)."""
    rows = [["TIME (UTC)", "HOST", "OPERATOR", "RUNBOOK", "ENVIRONMENT", "CONTEXT", "REASON"]]
    for r in entries:
        when = r.ts[:19].replace("T", " ")
        rows.append([
            when, r.field("host") or "?", r.field("operator") or "?", r.runbook_id or "?",
            r.field("environment") or "?", r.field("context") or "?", r.field("reason"),
        ])
    return rows

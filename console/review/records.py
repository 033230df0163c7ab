"""Reading changes back from the store: summaries with their integrity, verification, and record.md on disk.

Everything here works with nothing but a records directory: no cluster, no policy file, no network.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from console.journal.journal import VerifyReport, read_events, verify
from console.journal.store import ChangeRef, RecordStore
from console.review.render import render_record
from console.review.summary import ChangeSummary, summarise

DEFAULT_RECORDS_DIR = "records"


def resolve_records_dir(flag: str | None = None, *, env: dict[str, str] | None = None, configured: str | None = None) -> Path:
    """The record store: ``--records-dir``, else ``OPSCONSOLE_RECORDS``, else the policy file's, else ./records."""
    environ = os.environ if env is None else env
    chosen = flag or environ.get("OPSCONSOLE_RECORDS") or configured or DEFAULT_RECORDS_DIR
    return Path(chosen).expanduser()


@dataclass
class LoadedChange:
    """A change as read from disk: where it is, what its journal says, and whether the chain holds."""

    ref: ChangeRef
    summary: ChangeSummary
    report: VerifyReport

    @property
    def integrity(self) -> str:
        return "ok" if self.report.ok else "BROKEN"


def load_change(store: RecordStore, ref: ChangeRef, *, head: str | None = None) -> LoadedChange:
    """Read what can be read of a change's journal (up to any bad line) and verify the whole of it."""
    journal = store.journal_path(ref)
    result = read_events(journal)
    report = verify(journal, head=head)
    return LoadedChange(ref, summarise(result.events), report)


def describe_problem(change: LoadedChange) -> str:
    """One sentence naming the first problem of a broken change and where it is."""
    first = change.report.first
    if first is None:
        return f"{change.ref.change_id}: ok"
    where = f"journal.jsonl line {first.line}" if first.line else "journal.jsonl"
    return f"{change.ref.change_id}: {where}: {first.reason}"


def render_to_disk(store: RecordStore, ref: ChangeRef) -> Path:
    """Regenerate record.md from the journal, replacing the file atomically (it is never authoritative)."""
    journal = store.journal_path(ref)
    result = read_events(journal)
    report = verify(journal)
    integrity = "verified" if report.ok else f"BROKEN: {report.first}"
    text = render_record(result.events, head=report.head, integrity=integrity, change_id=ref.change_id)
    target = store.record_path(ref)
    fd, tmp = tempfile.mkstemp(prefix=".record.", suffix=".md.tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target

"""What a team store does at a change's milestones: pull before a start, publish at close-out and addenda, and
a full sync that also gives provisional IDs their team IDs.

Every function here is safe to call on a store that is not a git repository (it does nothing and says so), and
none raises for a remote that cannot be reached: the record on this disk is already complete and fsynced, and a
sync later carries it to the team. What happened is returned as one sentence for the operator.
"""

from __future__ import annotations

import fcntl
import getpass
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from console.journal.chain import CHANGE_ALIASED, CHANGE_CLOSED
from console.journal.journal import Journal
from console.journal.store import PROVISIONAL_RE, ChangeLocked, ChangeRef, RecordStore
from console.journal.team import RemoteUnreachable, TeamStoreError


@dataclass
class SyncReport:
    """What ``sync_store`` did, for the operator."""

    aliased: list[tuple[str, str]] = field(default_factory=list)  # (provisional, team ID)
    committed: list[str] = field(default_factory=list)  # change IDs committed by this sync
    skipped: list[str] = field(default_factory=list)  # one sentence each: what is left for a later sync
    message: str = ""
    ok: bool = True


@contextmanager
def team_lock(store: RecordStore) -> Iterator[None]:
    """One git operation at a time per store on this host (git's own index.lock refuses the second)."""
    fd = os.open(store.root / ".git" / "opsconsole-sync.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def prepare(store: RecordStore, remote: str | None) -> None:
    """Make the store a team store when policy names a remote and it is not one yet."""
    if remote:
        store.team.init(remote)


def pull_for_start(store: RecordStore) -> tuple[bool, str]:
    """Fetch the team's changes before a start counts them; (ok, sentence). Unreachable is said, not fatal."""
    if not store.team.enabled or store.team.remote_url() is None:
        return True, "record store is not shared: limits count this store's changes"
    try:
        with team_lock(store):
            result = store.team.pull()
    except RemoteUnreachable as exc:
        return False, f"{exc}; limits count the changes synced before now"
    except TeamStoreError as exc:
        return False, f"{exc}; limits count the changes synced before now"
    return True, f"{result.message}: limits count the team's changes"


def publish(store: RecordStore, ref: ChangeRef, message: str) -> str:
    """Commit one change's directory and push it; one sentence saying what happened."""
    if not store.team.enabled:
        return ""
    try:
        with team_lock(store):
            store.team.commit_change(ref.path, message)
            if store.team.remote_url() is None:
                return f"{ref.change_id} committed to the record store (no remote to push to)"
            store.team.sync()
    except RemoteUnreachable as exc:
        return f"{ref.change_id} committed here; not pushed ({exc}): run opsconsole records sync later"
    except TeamStoreError as exc:
        return f"{ref.change_id} not shared: {exc}"
    return f"{ref.change_id} pushed to {store.team.remote_url()}"


def _journal_closed(store: RecordStore, ref: ChangeRef) -> bool:
    try:
        with open(store.journal_path(ref), "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return False
    # A cheap look for the closing event's type; the journal's own open verifies before anything is appended.
    return f'"type":"{CHANGE_CLOSED}"'.encode() in data


def _alias(store: RecordStore, ref: ChangeRef, who: str, report: SyncReport) -> None:
    m = PROVISIONAL_RE.match(ref.change_id)
    if m is None or store.alias_of(ref.path) is not None:
        return
    try:
        lock = store.lock(ref, who=who)
    except ChangeLocked as exc:
        report.skipped.append(f"{ref.change_id} is open in a console ({exc.holder.describe()}): aliased at a later sync")
        return
    with lock:
        team_id = store.team.claim_id(int(m.group(1)))
        with Journal.open(store.journal_path(ref)) as journal:
            journal.append(CHANGE_ALIASED, {"team_id": team_id, "provisional_id": ref.change_id, "by": who})
        store.set_alias(ref, team_id)
    report.aliased.append((ref.change_id, team_id))


def sync_store(store: RecordStore, *, who: str | None = None) -> SyncReport:
    """Claim team IDs for provisional changes, commit every closed change not yet committed, then fetch, merge
    and push. Raises nothing for an unreachable remote: the report says it (``ok`` False)."""
    who = who or f"{getpass.getuser()}@{socket.gethostname()}"
    report = SyncReport()
    if not store.team.enabled:
        report.ok = False
        report.message = f"{store.root} is not a team store (run: opsconsole records sync --remote URL)"
        return report
    try:
        with team_lock(store):
            shared = store.team.remote_url() is not None  # asked of git once, not once per change
            for ref in store.list_changes():
                if shared:
                    _alias(store, ref, who, report)
                if not _journal_closed(store, ref):
                    continue
                label = store.alias_of(ref.path) or ref.change_id
                if store.team.commit_change(ref.path, f"{label}: record"):
                    report.committed.append(ref.change_id)
            refused = store.root / "refused"
            store.team.commit_path(refused, "Refused starts")
            if not shared:
                report.message = f"committed {len(report.committed)} change(s); the store has no remote"
                return report
            result = store.team.sync()
    except RemoteUnreachable as exc:
        report.ok = False
        report.message = f"{exc}; the records here are complete and will be pushed by a later sync"
        return report
    except TeamStoreError as exc:
        report.ok = False
        report.message = str(exc)
        return report
    report.message = result.message
    return report


def describe(report: SyncReport) -> list[str]:
    """The report as lines for the terminal."""
    lines = [f"{prov} is now {team}" for prov, team in report.aliased]
    lines += [f"committed {cid}" for cid in report.committed]
    lines += report.skipped
    lines.append(report.message)
    return lines

"""The apps ``opsconsole serve`` runs for a browser: the reviewer and the follower, both read-only.

Each browser session is one process, started by the server as ``python -m screens.served review|follow ...``. The
reviewer here writes nothing: its list is read without saving the index cache, a record opens without the addendum
action, and a change still in progress opens in the follower instead. With ``--access-log FILE`` each session
appends a JSON line per view it shows (which session, which screen, which change): a served record store says who
looked at what, and the server's side can tell what a browser is showing without reading its canvas.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from textual import events, work
from textual.screen import Screen

from console.journal.store import ChangeRef
from console.review.index import IndexEntry, IndexLoad, load_index
from screens.follow import FollowApp, FollowScreen, ReadOnlyRecordScreen
from screens.record import RecordScreen
from screens.records import RecordsScreen, ReviewApp

SERVER_CHECK_S = 1.0


class ReadOnlyRecordsScreen(RecordsScreen):
    """The list of changes, read without writing the index cache; a change in progress opens in the follower."""

    @work(thread=True, exclusive=True, group="records-index", exit_on_error=False)
    def _load(self) -> IndexLoad:
        load = load_index(self.records_dir, write=False)
        self.app.call_from_thread(self._loaded, load)
        return load

    def record_screen(self, entry: IndexEntry, ref: ChangeRef) -> Screen:
        if entry.outcome is None:
            return FollowScreen(ref.path, ref.change_id)
        return ReadOnlyRecordScreen(self.store, ref)


class AccessLog:
    """Appends one JSON line per view a session shows (opened for each line: several sessions share the file)."""

    def __init__(self, path: Path | None, session: str) -> None:
        self.path = path
        self.session = session
        self._last: dict[str, str] | None = None

    def view(self, screen: Screen) -> None:
        if self.path is None:
            return
        if isinstance(screen, RecordScreen):
            entry = {"view": "record", "change_id": screen.ref.change_id}
        elif isinstance(screen, FollowScreen):
            entry = {"view": "follow", "change_id": screen.change_id}
        elif isinstance(screen, RecordsScreen):
            entry = {"view": "records"}
        else:
            entry = {"view": type(screen).__name__}
        if entry == self._last:
            return  # the same view announced again (a screen mounted, then resumed)
        self._last = entry
        line = json.dumps({"ts": datetime.now(UTC).isoformat(), "session": self.session, "pid": os.getpid(), **entry})
        # O_APPEND: each line lands whole after the others, whichever session writes it.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


class ServedReviewApp(ReviewApp):
    """The reviewer for a browser: read-only, each view noted in the access log."""

    def __init__(self, *, records_dir: Path, access: AccessLog) -> None:
        super().__init__(records_dir=records_dir)
        self.access = access

    def _on_mount(self, event: events.Mount) -> None:
        # Textual calls each class's mount handler, this class's first: stopping there keeps ReviewApp's, which would
        # push the list that writes the index cache, from running too.
        event.prevent_default()
        self.screen_change_signal.subscribe(self, self.access.view)
        self.push_screen(ReadOnlyRecordsScreen(records_dir=self.records_dir))


class ServedFollowApp(FollowApp):
    """The follower for a browser, each view noted in the access log."""

    def __init__(self, *, change_dir: Path, change_id: str, access: AccessLog) -> None:
        super().__init__(change_dir=change_dir, change_id=change_id)
        self.access = access

    def on_mount(self) -> None:
        # FollowApp's own on_mount runs after this one (Textual calls each class's) and pushes the Follow screen.
        self.screen_change_signal.subscribe(self, self.access.view)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m screens.served review|follow [CHG-ID] --records-dir DIR [--access-log FILE --session ID]``."""
    from console.review.follow_cli import FollowError, change_dir

    parser = argparse.ArgumentParser(prog="python -m screens.served", description="a served, read-only opsconsole view")
    parser.add_argument("view", choices=("review", "follow"))
    parser.add_argument("change_id", nargs="?", metavar="ID")
    parser.add_argument("--records-dir", required=True, metavar="DIR")
    parser.add_argument("--access-log", metavar="FILE")
    parser.add_argument("--session", default="-", metavar="ID")
    parser.add_argument("--server-pid", type=int, metavar="PID", help="leave when this process (the server) is gone")
    args = parser.parse_args(argv)
    root = Path(args.records_dir)
    access = AccessLog(Path(args.access_log) if args.access_log else None, args.session)
    if args.view == "review":
        app: ReviewApp | FollowApp = ServedReviewApp(records_dir=root, access=access)
    else:
        if not args.change_id:
            parser.error("follow needs a change ID")
        try:
            path = change_dir(root, args.change_id)
        except FollowError as exc:
            sys.stderr.write(f"opsconsole: {exc}\n")
            return 1
        app = ServedFollowApp(change_dir=path, change_id=args.change_id, access=access)
    if args.server_pid:
        threading.Thread(target=_leave_with_server, args=(app, args.server_pid), daemon=True).start()
    app.run()
    return app.return_code or 0


def _leave_with_server(app: ReviewApp | FollowApp, pid: int) -> None:
    """Quit once the server is gone: a server killed outright cannot stop its sessions, and nothing else would."""
    while True:
        time.sleep(SERVER_CHECK_S)
        try:
            os.kill(pid, 0)  # signal 0: only whether it exists
        except ProcessLookupError:
            break
        except PermissionError:
            continue  # it exists, as another user
    try:
        app.call_from_thread(app.exit, return_code=1)
    except RuntimeError:
        return  # the app had already stopped: nothing to end


if __name__ == "__main__":
    sys.exit(main())

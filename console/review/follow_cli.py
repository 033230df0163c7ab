"""``opsconsole follow CHG-ID``: a change in progress, read-only, from another terminal.

``--plain`` prints each event and each output line as it arrives and exits when the change closes: 0 when it
closed as a success, 1 otherwise (another outcome, or a journal it cannot read on). Without it the full screen
follows the change (the CLI passes the function that starts it, since console never imports the UI).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from console.journal.store import ChangeNotFound, RecordStore, StoreError

if TYPE_CHECKING:  # the reading side (pydantic, aiofiles) is imported by the handler: building the parser stays light
    from console.review.follow import FollowItem

EXIT_OK, EXIT_FAIL = 0, 1


class FollowError(StoreError):
    """A change that cannot be followed (no store, no such change)."""


def change_dir(records_dir: Path, change_id: str) -> Path:
    """The directory of the change to follow; raises ``FollowError`` in one sentence."""
    if not records_dir.is_dir():
        raise FollowError(f"{records_dir}: no record store here (use --records-dir or OPSCONSOLE_RECORDS)")
    try:
        return RecordStore(records_dir).find(change_id).path
    except ChangeNotFound as exc:
        raise FollowError(str(exc)) from None


def _clock(ts: str) -> str:
    return ts[11:19]


def plain_lines(item: FollowItem) -> list[str]:
    """How line mode prints one item (pure)."""
    from console.review.follow import EventItem, HolderItem, OutputItem, ProblemItem
    from console.review.follow_lines import describe
    from console.review.render import OUTCOME_WORDS

    if isinstance(item, EventItem):
        text = describe(item.event)
        return [f"{_clock(item.event.ts)}  {text}"] if text is not None else []
    if isinstance(item, OutputItem):
        at = datetime.fromtimestamp(item.started + item.line.t, UTC).strftime("%H:%M:%S")
        mark = "·" if item.line.code == "m" else "!" if item.line.stderr else "|"
        return [f"{at}  {item.step_id} {mark} {item.line.text}"]
    if isinstance(item, ProblemItem):
        return [f"follow stopped: {item.text}"]
    if isinstance(item, HolderItem):
        return [f"-- {item.text}"]
    return [f"== closed: {OUTCOME_WORDS.get(item.outcome, item.outcome)}"]


async def follow_plain(path: Path, out: TextIO, *, poll_s: float | None = None) -> int:
    """Print the change as it grows until it closes; the exit code says how it ended."""
    from console.review.follow import ChangeFollower, ClosedItem

    follower = ChangeFollower(path) if poll_s is None else ChangeFollower(path, poll_s=poll_s)
    code = EXIT_FAIL
    async for batch in follower.batches():
        text = "".join(line + "\n" for item in batch for line in plain_lines(item))
        if text:
            out.write(text)
            out.flush()  # a follower in a pipe sees each line as it comes, not when a buffer fills
        for item in batch:
            if isinstance(item, ClosedItem):
                code = EXIT_OK if item.outcome == "success" else EXIT_FAIL
    return code


def make_cmd_follow(start_follow: Callable[[Path, str, bool], int]) -> Callable[[argparse.Namespace], int]:
    """The ``follow`` handler; ``start_follow(change_dir, change_id, exit_on_close)`` runs the full screen."""

    def cmd_follow(args: argparse.Namespace) -> int:
        from console.review.records import resolve_records_dir

        path = change_dir(resolve_records_dir(getattr(args, "records_dir", None)), args.change_id)
        if args.plain:
            sys.stdout.write(f"following {args.change_id} (read-only; Ctrl-C stops following, the change goes on)\n")
            sys.stdout.flush()
            import asyncio  # here: every command's start builds this parser, and asyncio takes a while to import

            return asyncio.run(follow_plain(path, sys.stdout))
        return start_follow(path, args.change_id, args.exit_on_close)

    return cmd_follow


def add_follow_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], *,
                       start_follow: Callable[[Path, str, bool], int]) -> None:
    """Register ``follow`` on the main subcommands."""
    follow = sub.add_parser("follow", help="watch a change in progress, read-only: its steps, output and decisions, live")
    follow.add_argument("change_id", metavar="ID")
    follow.add_argument("--plain", action="store_true",
                        help="line mode: print events and output as they come; exit 0 when the change closes as a success, 1 otherwise")
    follow.add_argument("--exit-on-close", action="store_true",
                        help="full screen: leave when the change closes (default: stay on its record)")
    follow.add_argument("--records-dir", metavar="DIR", default=argparse.SUPPRESS, help="record store")
    follow.set_defaults(func=make_cmd_follow(start_follow))

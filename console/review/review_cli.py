"""The reviewer's commands: ``review``, ``records report``, ``records export`` and ``records addendum``.

``add_review_commands(sub, records_sub)`` registers them on the main parser's subcommands and on the
``records`` subcommands; the handlers take the parsed arguments and return an exit code, raising errors the CLI
already turns into one sentence (``JournalError``/``StoreError`` and their subclasses, ``CliError``). Nothing here
needs a cluster: the review path runs with only a records directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from console.journal.store import ChangeNotFound, ChangeRef, RecordStore, StoreError

EXIT_OK, EXIT_FAIL = 0, 1


class ReviewError(StoreError):
    """A review command that cannot do what was asked (no store, an unwritable output file)."""


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def open_store(args: argparse.Namespace) -> RecordStore:
    """The record store the command names (--records-dir, $OPSCONSOLE_RECORDS, ./records); one that is not there is
    an error, never an empty list (it is most often a mistyped --records-dir)."""
    from console.review.records import resolve_records_dir

    root = resolve_records_dir(getattr(args, "records_dir", None))
    if not root.is_dir():
        raise ReviewError(f"{root}: no record store here (use --records-dir or OPSCONSOLE_RECORDS)")
    return RecordStore(root)


def find_change(store: RecordStore, change_id: str) -> ChangeRef:
    """The change ``change_id`` in ``store``; a ReviewError saying so if there is none."""
    try:
        return store.find(change_id)
    except ChangeNotFound as exc:
        raise ReviewError(str(exc)) from None


def review_dir(args: argparse.Namespace) -> Path:
    """The store ``review`` opens: its positional RECORDS_DIR, else --records-dir, $OPSCONSOLE_RECORDS, ./records."""
    from console.review.records import resolve_records_dir

    root = Path(args.review_dir).expanduser() if args.review_dir else resolve_records_dir(getattr(args, "records_dir", None))
    if not root.is_dir():
        raise ReviewError(f"{root}: no record store here")
    return root


def make_cmd_review(start_review: Callable[[Path], int]) -> Callable[[argparse.Namespace], int]:
    """The ``review`` handler; ``start_review`` opens the UI (the CLI passes it, since console never imports it)."""

    def cmd_review(args: argparse.Namespace) -> int:
        return start_review(review_dir(args))

    return cmd_review


def cmd_records_report(args: argparse.Namespace) -> int:
    from console.review.index import load_index
    from console.review.reports import build_report, duration_rows, fmt_rate, period_rows, text_table

    store = open_store(args)
    index = load_index(store.root)
    report = build_report(index.entries, by=args.by, since=args.since)
    if args.json:
        for f in [*report.periods, report.total]:
            _out(json.dumps({
                "period": f.period, "changes": f.changes, "closed": f.closed, "succeeded": f.succeeded,
                "success_rate": f.success_rate, "rollbacks": f.rollbacks, "rollback_rate": f.rollback_rate,
                "breakglass": f.breakglass,
                "mean_s": f.overall.mean_s if f.overall else None, "p90_s": f.overall.p90_s if f.overall else None,
                "by_component": {k: vars(v) for k, v in f.by_component.items()},
                "by_risk": {k: vars(v) for k, v in f.by_risk.items()},
            }))
        return EXIT_OK
    if not report.periods:
        since = f" since {args.since}" if args.since else ""
        _out(f"no changes{since} in {store.root}")
        return EXIT_OK
    for line in text_table(period_rows(report)):
        _out(line)
    for group in ("component", "risk"):
        _out()
        _out(f"Duration of closed changes by {group}:")
        for line in text_table(duration_rows(report, group)):
            _out(line)
    total = report.total
    _out()
    _out(f"{total.changes} change(s), {fmt_rate(total.success_rate)} of closed ones succeeded")
    return EXIT_OK


def cmd_records_export(args: argparse.Namespace) -> int:
    from console.review.export import export_change

    store = open_store(args)
    ref = find_change(store, args.change_id)
    text = export_change(store, ref, args.format)
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return EXIT_OK
    target = Path(args.output)
    try:
        # Exclusive create: an export attached to a ticket is not silently replaced by another.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ReviewError(f"{target} already exists; choose another name or remove it first") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    _out(str(target))
    return EXIT_OK


def make_cmd_addendum(redaction: Callable[[argparse.Namespace], Callable[[str], str]]) -> Callable[[argparse.Namespace], int]:
    """The ``records addendum`` handler; ``redaction(args)`` gives the redaction to apply (the CLI's, from policy)."""

    def cmd_records_addendum(args: argparse.Namespace) -> int:
        from console.review.addenda import add_addendum

        store = open_store(args)
        ref = find_change(store, args.change_id)
        event = add_addendum(store, ref, author=args.author, kind=args.kind, text=args.text, refers_to=args.refers_to,
                             redact=redaction(args))
        _out(f"{ref.change_id}: addendum recorded as event {event.seq} at {event.ts} (head {event.hash})")
        return EXIT_OK

    return cmd_records_addendum


def since_date(text: str) -> str:
    """argparse type for --since: the date as given, once it reads as YYYY-MM-DD or YYYY-MM (usage error otherwise)."""
    from console.review.reports import ReportError, parse_day

    try:
        parse_day(text)
    except ReportError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_review_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    records_sub: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    start_review: Callable[[Path], int],
    redaction: Callable[[argparse.Namespace], Callable[[str], str]],
) -> None:
    """Register ``review`` on the main subcommands and ``report``/``export``/``addendum`` under ``records``.

    ``start_review(records_dir)`` runs the review UI and returns the exit code; ``redaction(args)`` gives the
    redaction an addendum's text goes through.
    """
    review = sub.add_parser("review", help="browse, search and verify past changes full screen (no cluster needed)")
    review.add_argument("review_dir", nargs="?", metavar="RECORDS_DIR",
                        help="record store (default: --records-dir, $OPSCONSOLE_RECORDS or ./records)")
    review.set_defaults(func=make_cmd_review(start_review))

    report = records_sub.add_parser("report", help="changes per week or month: success, rollbacks, break-glass, durations")
    report.add_argument("--since", metavar="DATE", type=since_date, help="only changes on or after this date (YYYY-MM-DD or YYYY-MM)")
    report.add_argument("--by", choices=("week", "month"), default="week", help="period (default: week)")
    report.add_argument("--json", action="store_true", help="one JSON object per period, then the total")
    report.set_defaults(func=cmd_records_report)

    export = records_sub.add_parser("export", help="write a change's record with its outputs as one Markdown or HTML file")
    export.add_argument("change_id", metavar="ID")
    export.add_argument("--format", choices=("md", "html"), default="md", help="md (default) or html")
    export.add_argument("-o", "--output", metavar="FILE", help="write here (never overwriting) instead of stdout")
    export.set_defaults(func=cmd_records_export)

    addendum = records_sub.add_parser("addendum", help="append a signed correction or follow-up to a closed change")
    addendum.add_argument("change_id", metavar="ID")
    addendum.add_argument("--author", required=True, metavar="NAME", help="who signs the addendum")
    # addenda.KINDS, written out: importing it here would load pydantic while the parser is built.
    addendum.add_argument("--kind", required=True, choices=("correction", "follow-up", "post-mortem"))
    addendum.add_argument("--text", required=True, metavar="TEXT")
    addendum.add_argument("--refers-to", type=int, metavar="SEQ", help="the journal event (seq) it corrects or follows up")
    addendum.set_defaults(func=make_cmd_addendum(redaction))

    for p in (review, report, export, addendum):
        p.add_argument("--records-dir", metavar="DIR", default=argparse.SUPPRESS, help="record store")

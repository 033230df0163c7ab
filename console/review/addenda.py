"""Addenda: a reviewer's correction or follow-up, appended to a closed change's journal and never edited.

An addendum is one ``addendum.added`` event (author, kind, text, refers_to) appended through the real
``Journal`` (fsync, hash chain), signed with the author's name and the journal clock's time, under the change's
exclusive lock so it never interleaves with a console still driving the change. Nothing already in the journal
is touched, so the chain stays valid; a journal that does not verify takes no addendum, because appending to a
broken chain would hide where it broke. record.md, if present, is rendered again afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from console.journal import events as ev
from console.journal.event_data import check_data
from console.journal.journal import Clock, Event, Journal, JournalError, verify
from console.journal.store import ChangeRef, RecordStore
from console.journal.team_sync import publish
from console.review.records import render_to_disk
from console.review.summary import summarise

# A post-mortem is what an emergency owes within policy's hours (obligations.py lists the ones still owed).
KINDS = ("correction", "follow-up", "post-mortem")
MAX_TEXT = 10_000


class AddendumError(JournalError):
    """An addendum that cannot be appended: bad fields, an open or broken change."""


def validate(*, author: str, kind: str, text: str, refers_to: int | None, events: int) -> None:
    """Raise ``AddendumError`` saying what is wrong with an addendum's fields (``events``: the journal's length)."""
    if not author.strip():
        raise AddendumError("an addendum is signed: give the author's name")
    if kind not in KINDS:
        raise AddendumError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not text.strip():
        raise AddendumError("an addendum needs text")
    if len(text) > MAX_TEXT:
        raise AddendumError(f"an addendum is at most {MAX_TEXT} characters ({len(text)} given)")
    if refers_to is not None and not 1 <= refers_to <= events:
        raise AddendumError(f"refers_to must name an event of this journal (1-{events}), not {refers_to}")


def add_addendum(
    store: RecordStore,
    ref: ChangeRef,
    *,
    author: str,
    kind: str,
    text: str,
    redact: Callable[[str], str],
    refers_to: int | None = None,
    clock: Clock | None = None,
    now: datetime | None = None,
) -> Event:
    """Append one addendum to a closed change and return the event, once it is on disk.

    ``redact`` masks secrets in the author's name and the text before they reach the journal (the caller's
    redaction rules: the reading side does not import the engine that holds them); a reviewer pastes a connection
    string or a token into a correction as readily as an operator into a note.

    Raises ``ChangeLocked`` (from the store) if a console holds the change, ``AddendumError`` if the change is
    not closed, its journal does not verify, or the fields are wrong; ``TornTailError``/``JournalCorruptError``
    come through from ``Journal.open`` unchanged.
    """
    path = store.journal_path(ref)
    with store.lock(ref, who=author.strip() or "reviewer", now=now):
        report = verify(path)
        if not report.ok:
            raise AddendumError(
                f"{ref.change_id}: the journal does not verify ({report.first}); an addendum would hide where it broke"
            )
        with Journal.open(path, clock=clock) as journal:
            summary = summarise(journal.events)
            if summary.outcome is None:
                raise AddendumError(
                    f"{ref.change_id} is still in progress: addenda are for closed changes (add a note while it runs)"
                )
            validate(author=author, kind=kind, text=text, refers_to=refers_to, events=len(journal.events))
            data = {"author": redact(author.strip()), "kind": kind, "text": redact(text.strip()), "refers_to": refers_to}
            check_data(ev.ADDENDUM_ADDED, data)
            event = journal.append(ev.ADDENDUM_ADDED, data)
        if store.record_path(ref).exists():
            render_to_disk(store, ref)  # keep the regenerable reading in step with the journal
    # Shared once the change's lock is let go; a remote out of reach leaves it committed here for a later sync.
    publish(store, ref, f"{ref.change_id}: addendum ({kind}) by {author.strip()}")
    return event

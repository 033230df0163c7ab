"""Addenda: appended through the real Journal under the change lock, signed and timed, only to closed changes
whose chain verifies; the chain stays valid and nothing before is rewritten."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.engine.redact import Redactor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from console.journal import events as ev
from console.journal.journal import read_events, verify
from console.journal.store import ChangeLocked, RecordStore
from console.review.addenda import AddendumError, add_addendum
from console.review.records import render_to_disk
from tests.support.review_records import FixedClock, build_sample_store, tamper_line

WHEN = datetime(2026, 12, 1, 9, 30, 0, tzinfo=UTC)


@pytest.fixture
def store(records_dir: Path) -> RecordStore:
    build_sample_store(records_dir)
    return RecordStore(records_dir)


def test_an_addendum_is_signed_appended_and_the_chain_verifies(store: RecordStore) -> None:
    ref = store.find("CHG-2026-0001")
    journal = store.journal_path(ref)
    before = journal.read_bytes()
    head_before = verify(journal).head
    event = add_addendum(store, ref, redact=Redactor().redact, author=" rita ", kind="correction", text="bob approved by phone, not OPS-1234",
                         refers_to=3, clock=FixedClock(WHEN))
    assert journal.read_bytes().startswith(before)
    assert (event.type, event.ts, event.prev) == (ev.ADDENDUM_ADDED, "2026-12-01T09:30:00.000000Z", head_before)
    assert event.data == {"author": "rita", "kind": "correction", "text": "bob approved by phone, not OPS-1234", "refers_to": 3}
    report = verify(journal)
    assert report.ok and report.head == event.hash
    assert read_events(journal).events[-1] == event
    second = add_addendum(store, ref, redact=Redactor().redact, author="sam", kind="follow-up", text="ticket OPS-1300 opened", clock=FixedClock(WHEN))
    assert second.seq == event.seq + 1 and verify(journal).ok


def test_record_md_is_rendered_again_when_present(store: RecordStore) -> None:
    ref = store.find("CHG-2026-0002")
    render_to_disk(store, ref)
    add_addendum(store, ref, redact=Redactor().redact, author="rita", kind="follow-up", text="retry in the next window", clock=FixedClock(WHEN))
    assert "- 2026-12-01 09:30:00Z **follow-up** by rita: retry in the next window" in store.record_path(ref).read_text()


@pytest.mark.parametrize(("fields", "message"), [
    ({"author": "  "}, "give the author's name"),
    ({"kind": "edit"}, "kind must be one of correction, follow-up"),
    ({"text": " "}, "needs text"),
    ({"refers_to": 0}, r"refers_to must name an event of this journal \(1-14\)"),
    ({"refers_to": 15}, "not 15"),
    ({"text": "x" * 10_001}, "at most 10000"),
])
def test_bad_fields_are_refused_and_nothing_is_written(store: RecordStore, fields: dict, message: str) -> None:
    ref = store.find("CHG-2026-0001")
    size = store.journal_path(ref).stat().st_size
    args = {"author": "rita", "kind": "correction", "text": "t", "refers_to": None, **fields}
    with pytest.raises(AddendumError, match=message):
        add_addendum(store, ref, redact=Redactor().redact, **args)
    assert store.journal_path(ref).stat().st_size == size


def test_an_open_change_takes_no_addendum(store: RecordStore) -> None:
    with pytest.raises(AddendumError, match="still in progress"):
        add_addendum(store, store.find("CHG-2026-0003"), redact=Redactor().redact, author="rita", kind="correction", text="t")


def test_a_broken_chain_takes_no_addendum(store: RecordStore) -> None:
    ref = store.find("CHG-2026-0001")
    tamper_line(store.journal_path(ref), 3, b'"name":"bob"', b'"name":"eve"')
    with pytest.raises(AddendumError, match="line 3: hash does not match"):
        add_addendum(store, ref, redact=Redactor().redact, author="rita", kind="correction", text="t")


def test_a_change_held_by_a_console_takes_no_addendum(store: RecordStore) -> None:
    ref = store.find("CHG-2026-0001")
    size = store.journal_path(ref).stat().st_size
    with store.lock(ref, who="alice"), pytest.raises(ChangeLocked, match="held by alice"):
        add_addendum(store, ref, redact=Redactor().redact, author="rita", kind="correction", text="t")
    assert store.journal_path(ref).stat().st_size == size
    add_addendum(store, ref, redact=Redactor().redact, author="rita", kind="correction", text="t")  # the lock was released

"""Export: Markdown and HTML files holding the whole record and every command's output with its times; the HTML
is one self-contained file with every recorded string escaped. Also the cast-to-lines splitting both use."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from console.journal import events as ev
from console.journal.store import RecordStore
from console.review.export import ExportError, export_change, output_lines, strip_ansi
from tests.support.review_records import T0, ChangeBuilder, build_sample_store

BASE = datetime(2026, 11, 2, 22, 0, 0, tzinfo=UTC)


def test_lines_keep_the_time_they_began_at() -> None:
    events = [(0.1, "o", "first li"), (0.2, "o", "ne\r\nsecond\r\n"), (0.5, "o", "\x1b[32mgreen\x1b[0m\n"),
              (0.7, "o", "10%\r50%\r100%\n"), (0.9, "m", "exit 0"), (1.0, "o", "tail without newline")]
    lines = [(round(o.offset, 3), o.at, o.text, o.kind) for o in output_lines(events, base=BASE)]
    assert lines == [
        (0.1, "22:00:00.100", "first line", "o"),
        (0.2, "22:00:00.200", "second", "o"),
        (0.5, "22:00:00.500", "green", "o"),
        (0.7, "22:00:00.700", "10%", "o"),
        (0.7, "22:00:00.700", "50%", "o"),
        (0.7, "22:00:00.700", "100%", "o"),
        (0.9, "22:00:00.900", "exit 0", "m"),
        (1.0, "22:00:01.000", "tail without newline", "o"),
    ]


def test_strip_ansi_removes_colours_titles_and_cursor_moves() -> None:
    assert strip_ansi("\x1b[1;31mred\x1b[0m \x1b]0;title\x07x\x1b[2K") == "red x"


@pytest.fixture
def store(records_dir: Path) -> RecordStore:
    build_sample_store(records_dir)
    return RecordStore(records_dir)


def test_markdown_holds_the_record_and_the_outputs(store: RecordStore) -> None:
    md = export_change(store, store.find("CHG-2026-0002"), "md")
    assert md.startswith("# CHG-2026-0002: Upgrade the API\n")
    assert "- **2026-11-10 22:00:04Z: change window, approved by dave: \"customer outage needs the fix now\"**" in md
    assert "- Verification when rendered: verified" in md
    section = md[md.index("## Command output"):]
    assert "### step `migrate`\n\n`kubectl apply -f migrate-job.yaml`\n\n```\n22:00:10.500  job.batch/migrate created\n" in section
    assert "22:00:45.000  error: timed out waiting for the condition\n" in section
    assert "### rollback `undo`" in section


def test_markdown_fences_outlast_backticks_in_output(records_dir: Path) -> None:
    b = ChangeBuilder(RecordStore(records_dir), start=T0, component="web", from_version="1", to_version="2",
                      risk="low", environment="staging", operator="alice", title="t")
    b.run("step", "s", start_s=1, duration_s=1, command="echo", lines=[(0.1, "```\r\n````x\r\n")])
    b.close(3, "success")
    md = export_change(RecordStore(records_dir), b.ref, "md")
    out = md[md.index("## Command output"):]
    assert "\n`````\n" in out and out.count("`````") == 2


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_and_escapes_everything(records_dir: Path) -> None:
    store = RecordStore(records_dir)
    hostile = '<script>alert("x")</script> & <img src=x onerror=y>'
    b = ChangeBuilder(store, start=T0, component="web", from_version="1", to_version="2", risk="low",
                      environment="staging", operator=hostile, title=hostile)
    b.at(2, ev.BREAKGLASS_RECORDED, {"reason": hostile, "approver": "dave", "what": "window", "step_id": "s"})
    b.run("step", "s", start_s=3, duration_s=1, command=hostile, lines=[(0.1, hostile + "\r\n")])
    b.close(5, "success", followups=[hostile])
    page = export_change(store, b.ref, "html")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script" not in page and "<img" not in page and "onerror=y>" not in page
    parsed = _Collect()
    parsed.feed(page)
    assert set(parsed.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "table",
                                "thead", "tbody", "tr", "th", "td", "ul", "li", "pre", "span", "code", "strong",
                                "em", "footer"}
    assert not any(name in ("src", "href") for name, _ in parsed.attrs)  # nothing fetched from anywhere
    text = "".join(parsed.text)
    assert text.count(hostile) >= 5  # title, operator, break-glass, command, output, follow-up: shown as text
    assert 'class="bg"' in page  # the break-glass decision is marked


def test_html_of_a_broken_record_says_so(store: RecordStore) -> None:
    ref = store.find("CHG-2026-0004")
    cast = next((ref.path / "outputs").glob("*.cast"))
    cast.write_bytes(cast.read_bytes() + b'[9.0, "o", "added later"]\n')
    page = export_change(store, ref, "html")
    assert re.search(r'<p class="bad">Integrity: BROKEN: line \d+: outputs/001-restart.cast: SHA-256 differs', page)


def test_unknown_format(store: RecordStore) -> None:
    with pytest.raises(ExportError, match="md, html"):
        export_change(store, store.find("CHG-2026-0001"), "pdf")

"""A change record as one self-contained file for a ticket or a pull request: Markdown or HTML, outputs included.

The Markdown export is record.md followed by every command's output, line by line with its time; the HTML export
says the same in one file with inline CSS, every piece of recorded text escaped. Outputs are taken as recorded:
the runner redacted secrets before a byte reached the cast file, so nothing here needs to (or could) un-redact.

``output_lines`` and the two renderers are pure; ``load_outputs`` and ``export_change`` read the store.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.errors import OpsConsoleError
from console.journal.cast import CastError, read_cast
from console.journal.journal import Event, read_events, verify
from console.journal.store import ChangeRef, RecordStore
from console.review.render import OUTCOME_WORDS, render_record
from console.review.summary import ChangeSummary, StepRun, parse_ts, summarise
from console.review.summary import format_duration as fmt_duration

FORMATS = ("md", "html")
# CSI sequences (colours, cursor moves), OSC titles, and other two-byte escapes: a record is read, not replayed here.
ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


class ExportError(OpsConsoleError, ValueError):
    """An export that cannot be made (unknown format)."""


@dataclass(frozen=True)
class OutputLine:
    """One line of a command's output: seconds from the start of the command, wall-clock time, the text."""

    offset: float
    at: str  # HH:MM:SS.mmm UTC
    text: str
    kind: str = "o"  # "o" output, "m" marker


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


def output_lines(events: Sequence[tuple[float, str, str]], *, base: datetime) -> list[OutputLine]:
    """Cast events as lines; a line keeps the time of the chunk it began in. ``base`` is the command's start.

    Chunks do not follow lines (a process writes what it likes), so text is carried over until a newline;
    ``\\r\\n`` and a bare ``\\r`` both end a line, which turns a progress bar into its successive states.
    """
    out: list[OutputLine] = []
    pending = ""
    pending_t: float | None = None

    def stamp(t: float) -> str:
        return (base + timedelta(seconds=t)).astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]

    for t, code, text in events:
        if code == "m":
            if pending_t is not None:
                out.append(OutputLine(pending_t, stamp(pending_t), pending))
                pending, pending_t = "", None
            out.append(OutputLine(t, stamp(t), text, "m"))
            continue
        clean = strip_ansi(text).replace("\r\n", "\n").replace("\r", "\n")
        pieces = clean.split("\n")
        for i, piece in enumerate(pieces):
            if pending_t is None:
                if piece == "" and i == len(pieces) - 1:
                    break  # the chunk ended with a newline: nothing pending
                pending_t = t
            pending += piece
            if i < len(pieces) - 1:
                out.append(OutputLine(pending_t, stamp(pending_t), pending))
                pending, pending_t = "", None
    if pending_t is not None:
        out.append(OutputLine(pending_t, stamp(pending_t), pending))
    return out


@dataclass
class RunOutput:
    """The output of one run as read from its cast file, or why it could not be read."""

    run: StepRun
    lines: list[OutputLine]
    error: str = ""


def read_run_output(change_dir: Path, run: StepRun) -> RunOutput:
    """Read one run's cast file (relative to the change directory) into lines; problems are reported, not raised."""
    if not run.output or not run.output.get("path"):
        return RunOutput(run, [], "no output recorded")
    rel = str(run.output["path"])
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        return RunOutput(run, [], f"{rel}: path leaves the change directory")
    try:
        header, events = read_cast(change_dir / rel)
    except FileNotFoundError:
        return RunOutput(run, [], f"{rel} is missing")
    except CastError as exc:
        return RunOutput(run, [], str(exc))
    if run.started:
        base = parse_ts(run.started)
    else:
        base = datetime.fromtimestamp(int(header.get("timestamp", 0)), UTC)
    return RunOutput(run, output_lines(events, base=base))


def load_outputs(change_dir: Path, summary: ChangeSummary) -> list[RunOutput]:
    """Every run's output, in the order the runs started."""
    return [read_run_output(change_dir, run) for run in summary.runs if run.output]


# -- Markdown ------------------------------------------------------------------------------------------------------


def _fence(lines: Sequence[str]) -> str:
    longest = max((len(m) for line in lines for m in re.findall(r"`{3,}", line)), default=2)
    return "`" * max(3, longest + 1)


def export_markdown(events: Sequence[Event], *, head: str, integrity: str, outputs: Sequence[RunOutput]) -> str:
    """record.md plus a "Command output" section with every run's lines and times."""
    text = render_record(events, head=head, integrity=integrity)
    lines = [text.rstrip("\n"), "", "## Command output", ""]
    if not outputs:
        lines += ["_No command output recorded._", ""]
    for out in outputs:
        run = out.run
        attempt = f", attempt {run.attempt}" if run.attempt > 1 else ""
        lines += [f"### {run.section} `{run.step_id}`{attempt}", ""]
        if run.command:
            lines += [f"`{run.command}`", ""]
        if out.error:
            lines += [f"_Output unreadable: {out.error}_", ""]
            continue
        body = [f"{o.at}  {'# ' if o.kind == 'm' else ''}{o.text}" for o in out.lines] or ["(no output)"]
        fence = _fence(body)
        lines += [fence, *body, fence, ""]
    return "\n".join(lines)


# -- HTML ----------------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}pre{background:#0d1117;color:#e6edf3;padding:.75rem;overflow-x:auto;font-size:.85rem}
.t{color:#7d8590}.m{color:#d29922}.bad{color:#cf222e;font-weight:bold}.ok{color:#1a7f37;font-weight:bold}
.bg{font-weight:bold;color:#cf222e}code{background:#eff1f3;padding:0 .2rem}footer{color:#57606a;margin-top:2rem;font-size:.85rem}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _time(ts: str | None) -> str:
    return f"{ts[:10]} {ts[11:19]}Z" if ts else "—"


def _dur(seconds: float | None) -> str:
    return fmt_duration(seconds)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _runs_html(runs: Sequence[StepRun]) -> str:
    if not runs:
        return "<p><em>None run.</em></p>"
    rows = [
        [r.step_id + (f" (attempt {r.attempt})" if r.attempt > 1 else ""), r.title, _time(r.started), _time(r.ended),
         _dur(r.duration_s), "" if r.exit_code is None else r.exit_code,
         r.status + (f": {r.reason}" if r.reason and r.status != "passed" else ""), r.command]
        for r in runs
    ]
    return _table(["Step", "Title", "Started", "Ended", "Duration", "Exit", "Result", "Command"], rows)


def export_html(events: Sequence[Event], *, head: str, integrity: str, outputs: Sequence[RunOutput]) -> str:
    """One HTML document, inline CSS, no scripts or external references; all recorded text escaped."""
    s = summarise(events)
    ok = integrity == "verified"
    outcome = OUTCOME_WORDS.get(s.outcome, s.outcome)
    fields = [
        ("Change ID", s.change_id), ("Title", s.title), ("Date", s.date), ("Operator", s.operator),
        ("Approvals", ", ".join(f"{a.get('name')} ({a.get('role')})" for a in s.approvals) or "none recorded"),
        ("Sign-off", f"{s.signoff.get('name')} ({s.signoff.get('role', '')})" if s.signoff.get("name") else "—"),
        ("Risk level", s.risk), ("Environment", s.environment), ("Kube context", s.context),
        ("Components affected", s.component), ("Versions", f"{s.from_version} → {s.to_version}"),
        ("Runbook", f"{s.runbook.get('id', '')} (sha256 {str(s.runbook.get('sha256', ''))[:12]})"),
        ("Emergency", "yes (break-glass)" if s.emergency else "no"), ("Started", _time(s.created)),
        ("Closed", _time(s.closed)), ("Duration", _dur(s.duration_s)), ("Outcome", outcome),
        ("Scope", s.scope), ("Blast radius", s.blast_radius),
    ]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(s.change_id)}: {_e(s.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(s.change_id)}: {_e(s.title)}</h1>",
        f'<p class="{"ok" if ok else "bad"}">Integrity: {_e(integrity)}</p>',
        _table(["Field", "Value"], fields),
        "<h2>Description</h2>", f"<p>{_e(s.description.strip() or '—')}</p>",
    ]
    if s.params:
        parts.append(_table(["Parameter", "Value"], list(s.params.items())))
    parts.append("<h2>Approvals</h2>")
    parts.append(_table(["Who", "Role", "Reference", "When"],
                        [[a.get("name"), a.get("role"), a.get("reference"), _time(a["at"])] for a in s.approvals])
                 if s.approvals else "<p><em>No approvals recorded.</em></p>")
    parts.append("<h2>Break-glass decisions</h2>")
    if s.breakglass:
        parts.append("<ul>" + "".join(
            f'<li class="bg">{_e(_time(b["at"]))}: {_e(b.get("what", "override"))}, approved by '
            f'{_e(b.get("approver", "?"))}: “{_e(b.get("reason", ""))}”</li>' for b in s.breakglass) + "</ul>")
    else:
        parts.append("<p><em>None.</em></p>")
    for section, title in (("precondition", "Preconditions"), ("gate", "Gates"), ("step", "Steps")):
        parts += [f"<h2>{title}</h2>", _runs_html(s.runs_in(section))]
    parts.append("<h2>Rollback</h2>")
    if s.rollbacks:
        parts.append("<ul>" + "".join(
            f"<li>{_e(_time(r['at']))} rollback {_e('started' if r['type'] == 'rollback.started' else 'finished: ' + str(r.get('status')))}"
            f"{_e(' (' + r['reason'] + ')' if r.get('reason') else '')}</li>" for r in s.rollbacks) + "</ul>")
    parts.append(_runs_html(s.runs_in("rollback")) if s.runs_in("rollback") or s.rollbacks else "<p><em>Not rolled back.</em></p>")
    parts += ["<h2>Verification</h2>", _runs_html(s.runs_in("verification"))]
    parts += ["<h2>Outcome and follow-ups</h2>", f"<p>Outcome: <strong>{_e(outcome)}</strong></p>"]
    if s.followups:
        parts.append("<ul>" + "".join(f"<li>{_e(f)}</li>" for f in s.followups) + "</ul>")
    if s.notes:
        parts += ["<h2>Notes</h2>", "<ul>" + "".join(
            f"<li>{_e(_time(n['at']))} {_e(n.get('author', ''))}: {_e(n.get('text', ''))}</li>" for n in s.notes) + "</ul>"]
    parts.append("<h2>Addenda</h2>")
    if s.addenda:
        items = []
        for a in s.addenda:
            target = f" (to event {a['refers_to']})" if a.get("refers_to") else ""
            items.append(f"<li>{_e(_time(a['at']))} <strong>{_e(a.get('kind'))}</strong> by {_e(a.get('author'))}"
                         f"{_e(target)}: {_e(a.get('text'))}</li>")
        parts.append("<ul>" + "".join(items) + "</ul>")
    else:
        parts.append("<p><em>None.</em></p>")
    parts.append("<h2>Command output</h2>")
    for out in outputs:
        run = out.run
        parts.append(f"<h3>{_e(run.section)} <code>{_e(run.step_id)}</code></h3>")
        if run.command:
            parts.append(f"<p><code>{_e(run.command)}</code></p>")
        if out.error:
            parts.append(f'<p class="bad">Output unreadable: {_e(out.error)}</p>')
            continue
        body = "\n".join(
            f'<span class="t">{_e(o.at)}</span>  ' + (f'<span class="m"># {_e(o.text)}</span>' if o.kind == "m" else _e(o.text))
            for o in out.lines
        ) or "(no output)"
        parts.append(f"<pre>{body}</pre>")
    if not outputs:
        parts.append("<p><em>No command output recorded.</em></p>")
    parts.append(f"<footer>Journal events: {s.events} · chain head (SHA-256): <code>{_e(head)}</code> · "
                 "exported from journal.jsonl, which is authoritative.</footer></body></html>")
    return "\n".join(parts) + "\n"


def export_change(store: RecordStore, ref: ChangeRef, fmt: str) -> str:
    """The export of one change in ``fmt`` ("md" or "html"), verified as it is read."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    journal = store.journal_path(ref)
    events = read_events(journal).events
    report = verify(journal)
    integrity = "verified" if report.ok else f"BROKEN: {report.first}"
    outputs = load_outputs(ref.path, summarise(events))
    render = export_markdown if fmt == "md" else export_html
    return render(events, head=report.head, integrity=integrity, outputs=outputs)

"""record.md, rendered from a change's journal (pure: events in, Markdown out).

The journal is the record; this file is a reading of it. It is regenerated whenever asked and never edited, so
it carries every minimum field of a change record and says which chain head it was rendered from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from console.journal.events import EVIDENCE_SECTION, SECTION_TITLES
from console.review.summary import ChangeSummary, EventLike, EvidenceItem, StepRun, summarise
from console.review.summary import format_duration as _dur

OUTCOME_WORDS = {
    "success": "Success",
    "rolled_back": "Rolled back",
    "partial": "Partial",
    "aborted": "Aborted",
    None: "In progress (not closed)",
}


def _cell(value: Any) -> str:
    """A value safe inside a Markdown table cell."""
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ").strip() or "—"


def _lock_line(x: dict[str, Any]) -> str:
    """One ``lock.*`` event as record.md says it."""
    kind, lease = str(x["type"]), f"`{x.get('lease', '')}`"
    if kind == "lock.acquired":
        d = x.get("displaced") or {}
        how = "taken back on resume" if x.get("resumed") else "acquired"
        took = ""
        if d:
            took = f", taken from {d.get('holder')} ({'expired' if d.get('expired') else 'break-glass' if x.get('break_glass') else 'live'})"
        return f"lock {lease} {how} by {x.get('holder', '')}{took}"
    if kind == "lock.lost":
        return f"**lock {lease} lost** ({x.get('detected', '')}): {x.get('message', '')}"
    if kind == "lock.unreachable":
        return f"lock {lease} could not be renewed: {x.get('message', '')}"
    if kind == "lock.restored":
        return f"lock {lease} renewed again"
    if kind == "lock.paused":
        return f"paused before `{x.get('step_id', '')}`: {x.get('message', '')}"
    if kind == "lock.released":
        return f"lock {lease} released" if x.get("released", True) else f"lock {lease} was no longer this change's to release"
    return kind


def _time(ts: str | None) -> str:
    return f"{ts[:10]} {ts[11:19]}Z" if ts else "—"


def _run_result(run: StepRun) -> str:
    if run.status == "interrupted":
        return "**interrupted**"
    if run.status == "skipped":
        return run.reason or "skipped"
    if run.answer is not None:
        return f"answered {run.answer}"
    if run.status == "failed":
        return "**failed**" + (f": {run.reason}" if run.reason else "")
    return run.status


def _runs_table(runs: list[StepRun], *, artifacts: dict[str, list[dict[str, Any]]]) -> list[str]:
    if not runs:
        return ["_None run._", ""]
    out = [
        "| # | Step | Started | Ended | Duration | Exit | Result | Output |",
        "|---|------|---------|-------|----------|------|--------|--------|",
    ]
    for i, run in enumerate(runs, 1):
        label = f"`{run.step_id}`" + (f" {run.title}" if run.title else "")
        if run.retry:
            label += f" (attempt {run.retry.get('try')} of {run.retry.get('of')})"
        elif run.attempt > 1:
            label += f" (attempt {run.attempt})"
        output = run.output["path"] if run.output else ""
        for art in artifacts.get(run.step_id, []):
            output += (" " if output else "") + f"evidence: {art['file']['path']} (sha256 {art['file']['sha256'][:12]})"
        out.append(
            f"| {i} | {_cell(label)} | {_time(run.started)} | {_time(run.ended)} | {_dur(run.duration_s)} "
            f"| {_cell(run.exit_code)} | {_cell(_run_result(run))} | {_cell(output)} |"
        )
    scaled = [r for r in runs if r.timing and r.timing.get("factor", 1) != 1]
    if scaled:
        # What the runbook declared, and what the rehearsal clock made of it.
        out += ["", "Durations scaled by the rehearsal clock:", ""]
        for r in scaled:
            t = r.timing or {}
            pairs = ", ".join(
                f"{k.removesuffix('_s')} {_dur(v)} declared, {_dur((t.get('scaled') or {}).get(k))} at the clock's speed"
                for k, v in (t.get("declared") or {}).items()
            )
            out.append(f"- `{r.step_id}`: {pairs} (the rehearsal clock ran at {t.get('factor'):g}x)")
    commands = [r for r in runs if r.command]
    if commands:
        out += ["", "Commands as run:", ""]
        out += [f"- `{r.step_id}`: `{r.command}`" for r in commands]
    notes = [r for r in runs if r.note]
    if notes:
        out += ["", "Operator notes:", ""]
        out += [f"- `{r.step_id}`: {r.note}" for r in notes]
    out.append("")
    return out


def _heading(s: ChangeSummary, integrity: str, change_id: str | None) -> list[str]:
    """The record's first lines: a broken record says so before anything else, with what is wrong and where."""
    title = f"# {s.change_id}: {s.title}"
    if not integrity.startswith("BROKEN"):
        return [title, ""]
    what = integrity.removeprefix("BROKEN").lstrip(": ") or "the journal does not verify"
    named = s.change_id or change_id or "change"
    out = [f"# BROKEN: {named}: {what}", "",
           "_The journal does not verify: what follows is what can be read of it before its first bad line._", ""]
    if s.change_id and s.title:
        out[-1:] = ["", f"**{s.change_id}: {s.title}**", ""]
    return out


def _owed_line(s: ChangeSummary) -> str:
    """What an emergency that started without its signed approvals owes, and what has been given since."""
    given: dict[str, set[str]] = {}
    for a in s.approvals:
        if a.get("retro"):
            given.setdefault(str(a.get("role")), set()).add(str(a.get("name")))
    still = {role: n - len(given.get(role, ())) for role, n in sorted(s.approvals_owed.items()) if n > len(given.get(role, ()))}
    owed = ", ".join(f"{n} {role}" for role, n in sorted(s.approvals_owed.items()))
    if not still:
        return f"Signed approvals owed after the fact (emergency): {owed}; **all given** (retro-approvals above)."
    return (f"Signed approvals owed after the fact (emergency): {owed}; **still owed: "
            + ", ".join(f"{n} {role}" for role, n in still.items()) + "**.")


def _plan_file(artifact: dict[str, Any]) -> str:
    """Where a saved plan is: outside the record (it holds the variables' values), or in it in older records."""
    kept, file = artifact.get("saved_plan"), artifact.get("file")
    if isinstance(kept, dict):
        return (f"plan file kept outside the record on {kept.get('host', '?')} (`{kept.get('kept_at', '?')}`) "
                f"sha256 `{kept.get('sha256', '?')}`")
    if isinstance(file, dict):
        return f"plan file `{file.get('path', '?')}` sha256 `{file.get('sha256', '?')}`"
    return "plan file not recorded"


def render_record(events: Iterable[EventLike], *, head: str, integrity: str = "verified",
                  change_id: str | None = None) -> str:
    """The whole record.md for a change; ``head`` is the chain hash it was rendered from.

    ``change_id`` names the change when its journal is too damaged to say (its first line unreadable).
    """
    s: ChangeSummary = summarise(events)
    artifacts: dict[str, list[dict[str, Any]]] = {}
    for art in s.artifacts:
        if art.get("file") and art.get("section") != EVIDENCE_SECTION:  # evidence has a section of its own
            artifacts.setdefault(art.get("step_id", ""), []).append(art)

    lines = _heading(s, integrity, change_id)
    lines += ["| Field | Value |", "|-------|-------|"]
    approvers = ", ".join(f"{a.get('name')} ({a.get('role')})" for a in s.approvals) or "none recorded"
    signoff = s.signoff.get("name") and f"{s.signoff.get('name')} ({s.signoff.get('role', '')})"
    for field, value in (
        ("Change ID", s.change_id),
        ("Date", s.date),
        ("Operator", s.operator),
        ("Reviewer / approvals", approvers),
        ("Sign-off", signoff or "—"),
        ("Risk level", s.risk),
        ("Environment", s.environment),
        ("Kube context", s.context),
        ("Components affected", s.component),
        ("Versions", f"{s.from_version} → {s.to_version}"),
        ("Runbook", f"{s.runbook.get('id', '')} (sha256 {str(s.runbook.get('sha256', ''))[:12]})"),
        ("Emergency", "**yes (break-glass)**" if s.emergency else "no"),
        ("Started", _time(s.created)),
        ("Closed", _time(s.closed)),
        ("Duration", _dur(s.duration_s)),
        ("Outcome", f"**{OUTCOME_WORDS.get(s.outcome, s.outcome)}**"),
    ):
        lines.append(f"| {field} | {_cell(value)} |")
    lines.append("")

    lines += ["## Description", "", s.description.strip() or "—", ""]
    lines += [f"- **Scope:** {s.scope or '—'}", f"- **Blast radius:** {s.blast_radius or '—'}", ""]
    if s.params:
        lines += ["Parameters:", ""] + [f"- `{k}` = `{v}`" for k, v in s.params.items()] + [""]

    lines += ["## Approvals", ""]
    if s.approvals:
        lines += ["| Who | Role | Reference | When |", "|-----|------|-----------|------|"]
        lines += [
            f"| {_cell(a.get('name'))} | {_cell(a.get('role'))} | {_cell(a.get('reference'))} | {_time(a['at'])} |"
            for a in s.approvals
        ]
    else:
        lines.append("_No approvals recorded._")
    if s.approvals_owed:
        lines += ["", _owed_line(s)]
    lines.append("")

    if s.policy_checks:
        lines += ["## Policy checks", ""]
        lines += [f"- {'pass' if c.get('ok') else '**refused**'}: {c.get('name')}: {c.get('message', '')}" for c in s.policy_checks]
        lines.append("")

    lines += ["## Break-glass decisions", ""]
    if s.breakglass:
        lines += [
            f"- **{_time(b['at'])}: {b.get('what', 'override')}, approved by {b.get('approver', '?')}: "
            f"\"{b.get('reason', '')}\"**"
            for b in s.breakglass
        ]
    else:
        lines.append("_None._")
    lines.append("")

    if s.locks:
        lines += ["## Change lock", ""] + [f"- {_time(x['at'])} {_lock_line(x)}" for x in s.locks] + [""]

    lines += ["## Preconditions", ""]
    lines += _runs_table(s.runs_in("precondition"), artifacts=artifacts)
    backups = [a for a in s.artifacts if a.get("kind") in ("backup", "state")]
    if backups:
        lines += ["Backups taken (evidence):", ""]
        lines += [f"- `{a['file']['path']}` sha256 `{a['file']['sha256']}` ({a.get('description', '')})" for a in backups]
        lines.append("")

    for section in ("gate", "step"):
        lines += [f"## {SECTION_TITLES[section]}", ""]
        lines += _runs_table(s.runs_in(section), artifacts=artifacts)

    if s.refusals:
        lines += ["Refused confirmations:", ""]
        lines += [f"- {_time(r['at'])} `{r.get('step_id')}`: typed `{r.get('typed', '')}`" for r in s.refusals] + [""]
    if s.failure_choices:
        lines += ["Decisions after failures:", ""]
        lines += [f"- {_time(c['at'])} `{c.get('step_id')}`: {c.get('choice')} (by {c.get('by', '?')})" for c in s.failure_choices]
        lines.append("")
    if s.triggers:
        lines += ["Rollback triggers fired:", ""]
        lines += [f"- {_time(t['at'])} {t.get('trigger')}: {t.get('object', '')}: {t.get('message', '')}" for t in s.triggers]
        lines.append("")
    if s.escalations:
        lines += ["Escalation deadlines passed:", ""]
        lines += [_escalation_line(x) for x in s.escalations]
        lines.append("")

    plans = [a for a in s.artifacts if a.get("kind") == "plan" and a.get("summary")]
    if plans:
        lines += ["## Terraform plans", ""]
        for a in plans:
            c = a["summary"]
            lines.append(
                f"- `{a.get('step_id')}`: +{c.get('add', 0)} to add, {c.get('change', 0)} to change, "
                f"{c.get('replace', 0)} to replace, {c.get('destroy', 0)} to destroy; {_plan_file(a)}"
            )
        lines.append("")

    lines += ["## Rollback", ""]
    rollback_runs = s.runs_in("rollback")
    if s.rollbacks or rollback_runs:
        for r in s.rollbacks:
            what = "started" if r["type"] == "rollback.started" else f"finished: {r.get('status')}"
            lines.append(f"- {_time(r['at'])} rollback {what}" + (f" ({r.get('reason')})" if r.get("reason") else ""))
        lines.append("")
        lines += _runs_table(rollback_runs, artifacts=artifacts)
    else:
        lines += ["_Not rolled back._", ""]

    lines += ["## Verification", ""]
    lines += _runs_table(s.runs_in("verification"), artifacts=artifacts)

    if s.snapshots:
        lines += ["## Cluster before and after", ""]
        for when in ("before", "after"):
            if when in s.snapshots:
                lines += [f"**{when.capitalize()}:**", "", "```", _format_snapshot(s.snapshots[when]), "```", ""]

    lines += _evidence_section(s.evidence)

    lines += ["## Outcome and follow-ups", "", f"Outcome: **{OUTCOME_WORDS.get(s.outcome, s.outcome)}**", ""]
    if _not_kept(s.evidence):
        lines += [_not_kept(s.evidence), ""]
    lines += [f"- [ ] {f}" for f in s.followups] if s.followups else ["_No follow-ups._"]
    lines.append("")

    if s.notes:
        lines += ["## Notes", ""] + [f"- {_time(n['at'])} {n.get('author', '')}: {n.get('text', '')}" for n in s.notes] + [""]

    lines += ["## Addenda", ""]
    if s.addenda:
        for a in s.addenda:
            ref = f" (to event {a['refers_to']})" if a.get("refers_to") else ""
            lines.append(f"- {_time(a['at'])} **{a.get('kind', 'addendum')}** by {a.get('author', '?')}{ref}: {a.get('text', '')}")
    else:
        lines.append("_None._")
    lines.append("")

    lines += [
        "## Integrity",
        "",
        f"- Journal events: {s.events}",
        f"- Chain head (SHA-256): `{head}`",
        f"- Verification when rendered: {integrity}",
        "",
        (
            "_Rendered from journal.jsonl; regenerate with `opsconsole records render "
            f"{s.change_id}`. The journal is authoritative._"
        ),
        "",
    ]
    return "\n".join(lines)


def _not_kept(items: list[EvidenceItem]) -> str:
    """One bold line naming every evidence entry that was not kept and why, or "" when all were."""
    missed = [f"`{e.evidence_id}` ({e.result})" for e in items if not e.kept]
    return f"**Evidence not kept:** {'; '.join(missed)}" if missed else ""


def _evidence_section(items: list[EvidenceItem]) -> list[str]:
    """What close-out kept from the runbook's evidence entries, each file with its full SHA-256."""
    if not items:
        return []
    out = [
        "## Evidence", "",
        "| # | Evidence | Source | Result | Exit | Duration |",
        "|---|----------|--------|--------|------|----------|",
    ]
    for i, e in enumerate(items, 1):
        label = f"`{e.evidence_id}`" + (f" {e.title}" if e.title else "")
        result = e.result if e.kept else f"**{e.result}**"
        out.append(
            f"| {i} | {_cell(label)} | {_cell(e.source)} | {_cell(result)} | {_cell(e.exit_code)} | {_dur(e.duration_s)} |"
        )
    out.append("")
    if _not_kept(items):
        out += [_not_kept(items), ""]
    files = [(e, f) for e in items for f in e.files]
    if files:
        out += ["Evidence files (SHA-256):", ""]
        out += [
            f"- `{e.evidence_id}`: `{f['path']}` sha256 `{f['sha256']}`" + (f" ({f['note']})" if f.get("note") else "")
            for e, f in files
        ]
        out.append("")
    return out


def _format_snapshot(summary: dict[str, Any]) -> str:
    lines = []
    for key, value in summary.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {v}" for k, v in value.items())
            lines.append(f"{key}: {inner}")
        elif isinstance(value, list):
            lines.append(f"{key}:")
            lines += [f"  {item}" for item in value]
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines) or "(empty)"


def _escalation_line(x: dict[str, Any]) -> str:
    if x.get("type") == "escalation.notified":
        ran = " ".join(x.get("argv") or [])
        result = f"exit {x.get('exit_code')}" if x.get("error") is None else f"not run: {x.get('error')}"
        output = (x.get("output") or "").strip().replace("\n", " / ")
        return f"- {_time(x['at'])} {x.get('level')} notified: `{ran}` ({result}){': ' + output if output else ''}"
    return f"- {_time(x['at'])} {x.get('level')} after {x.get('minutes')} min (step `{x.get('step_id')}`)"

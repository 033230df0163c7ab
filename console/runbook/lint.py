"""Authoring rules for runbooks, each a named check over a loaded runbook (pure: data in, findings out).

The loader already refuses what cannot run; lint refuses what should not run: a high-risk change with no way
back, a backup that leaves no evidence, a mutating step that one stray Enter would start.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from console.runbook.loader import Loc, LoadedRunbook, iter_steps
from console.runbook.models import Runbook, Step
from console.runbook.params import placeholders

HIGH_RISK = ("high", "critical")
BACKUP_WORDS = re.compile(r"\b(backup|back up|back-up|snapshot|dump)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One broken authoring rule: where, which rule, and what to do about it."""

    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule}: {self.message}"


Rule = Callable[[LoadedRunbook], Iterator[tuple[Loc, str]]]
RULES: dict[str, tuple[str, Rule]] = {}


def rule(name: str, summary: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[name] = (summary, fn)
        return fn

    return register


def _main_steps(rb: Runbook) -> Iterator[tuple[Loc, Step]]:
    for i, step in enumerate(rb.steps):
        yield ("steps", i), step


@rule("required-sections", "why, scope, blast_radius and done_when are written")
def _required_sections(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    rb = lr.runbook
    for name in ("why", "scope", "blast_radius"):
        if not getattr(rb, name).strip():
            yield (name,), f"{name} is empty: say it, reviewers and the operator at 2 a.m. both need it"
    if not rb.done_when:
        yield ("done_when",), "done_when is empty: list what must be true for the change to count as done"


@rule("rollback-defined", "a runbook that changes anything (risk medium or more) has rollback steps")
def _rollback_defined(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    rb = lr.runbook
    if rb.metadata.risk != "low" and any(s.is_mutating for s in rb.steps) and not rb.rollback.steps:
        yield ("rollback",), f"a {rb.metadata.risk}-risk runbook that changes things needs rollback.steps"


@rule("rollback-coverage", "on high and critical runbooks every mutating step names the rollback step that undoes it")
def _rollback_coverage(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    rb = lr.runbook
    if rb.metadata.risk not in HIGH_RISK:
        return
    for loc, step in _main_steps(rb):
        if step.is_mutating and not step.rollback:
            yield loc, f"step {step.id!r} changes things but names no rollback step (rollback: ID)"


@rule("verification-required", "high and critical runbooks have a verification checklist")
def _verification_required(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    rb = lr.runbook
    if rb.metadata.risk in HIGH_RISK and not rb.verification:
        yield ("verification",), f"a {rb.metadata.risk}-risk runbook needs verification steps"


@rule("typed-confirmation", "on high and critical runbooks mutating steps ask for a typed confirmation")
def _typed_confirmation(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    rb = lr.runbook
    if rb.metadata.risk not in HIGH_RISK:
        return
    for section_loc, steps in ((("steps",), rb.steps), (("rollback", "steps"), rb.rollback.steps)):
        section = "rollback" if section_loc[0] == "rollback" else "step"
        for i, step in enumerate(steps):
            if step.is_mutating and step.confirmation(section) != "typed":
                yield section_loc + (i,), f"step {step.id!r} changes things: use confirm: typed with a confirm_word"


@rule("backup-evidence", "a precondition that takes a backup keeps it as evidence (capture: artifact)")
def _backup_evidence(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    for i, step in enumerate(lr.runbook.preconditions):
        takes_backup = step.backup or bool(BACKUP_WORDS.search(f"{step.id.replace('-', ' ')} {step.title}"))
        if takes_backup and step.capture != "artifact" and step.kind != "terraform":
            yield ("preconditions", i), f"precondition {step.id!r} takes a backup but does not keep it: capture: artifact"


@rule("unused-param", "every declared parameter is used somewhere")
def _unused_param(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    used = set()
    for text in _templated_texts(lr.runbook):
        used.update(ph.name for ph in placeholders(text))
    for name in lr.runbook.params:
        if name not in used:
            yield ("params", name), f"parameter {name!r} is declared but never used"


@rule("secret-default", "a secret parameter has no default: secrets are given when a change starts, never kept in runbooks")
def _secret_default(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    for name, param in lr.runbook.params.items():
        if param.secret and param.default is not None:
            yield ("params", name, "default"), f"secret parameter {name!r} has a default: remove it and pass it with --param"


@rule("confirm-word-known", "a typed confirmation word names something the operator can see (a parameter or the target)")
def _confirm_word(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    for loc, step in iter_steps(lr.runbook):
        if step.confirm == "typed" and step.confirm_word and step.confirm_word.strip().lower() in ("yes", "y", "ok"):
            yield loc + ("confirm_word",), f"step {step.id!r}: a typed word of {step.confirm_word!r} is no better than yes"


@rule("evidence-source", "each evidence entry keeps one thing (from_step or run) under an id of its own")
def _evidence_source(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    # The loader checks that from_step names a step; close-out records each entry once, by its id.
    seen: set[str] = set()
    for i, entry in enumerate(lr.runbook.evidence):
        if bool(entry.from_step) == bool(entry.run):
            yield ("evidence", i), (
                f"evidence {entry.id!r} needs exactly one of from_step (a step's output) or run (a command run at close-out)"
            )
        if entry.id in seen:
            yield ("evidence", i, "id"), f"evidence id {entry.id!r} is used twice: each entry is recorded under its id"
        seen.add(entry.id)


def _templated_texts(rb: Runbook) -> Iterator[str]:
    for _loc, step in iter_steps(rb):
        yield from step.run or []
        for value in (step.cwd, step.confirm_word, step.target, step.namespace, step.instructions, step.explain):
            if value:
                yield value
        yield from step.env.values()
        yield from (r for r in (step.expect.output_matches, step.expect.output_not_matches) if r)
        if step.terraform is not None:
            yield step.terraform.dir
            yield from step.terraform.vars.values()
            yield from step.terraform.var_files
    for ev in rb.evidence:
        yield from ev.run or []
    for trig in rb.rollback.triggers:
        yield trig.model_dump_json()


def lint(lr: LoadedRunbook, *, only: set[str] | None = None) -> list[Finding]:
    """Every finding of every rule (or of ``only``), sorted by line."""
    findings = []
    for name, (_summary, fn) in RULES.items():
        if only is not None and name not in only:
            continue
        for loc, message in fn(lr):
            findings.append(Finding(str(lr.path), lr.positions.line(loc), name, message))
    findings.sort(key=lambda f: (f.line, f.rule))
    return findings

"""Authoring rules for runbooks, each a named check over a loaded runbook (pure: data in, findings out).

The loader already refuses what cannot run; lint refuses what should not run: a high-risk change with no way
back, a backup that leaves no evidence, a mutating step that one stray Enter would start.

A rule is an error (the runbook must not start: ``opsconsole lint`` fails and a change refuses to start) or a
warning (advice: printed by ``opsconsole lint``, which still passes, and never in the way of a start).
``lint`` returns only errors unless asked for warnings, so a caller that refuses on any finding refuses on
errors alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from console.runbook.loader import LoadedRunbook, Loc, _string_column, _walk_data, iter_steps
from console.runbook.models import Runbook, Section, Step
from console.runbook.order import DEFAULT_ORDER
from console.runbook.params import placeholders

HIGH_RISK = ("high", "critical")
BACKUP_WORDS = re.compile(r"\b(backup|back up|back-up|snapshot|dump)\b", re.IGNORECASE)
ERROR, WARNING = "error", "warning"
# Programs that run their -c argument as shell code.
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash"})


@dataclass(frozen=True)
class Finding:
    """One broken authoring rule: where (line, and column when the rule knows it), which rule, what to do.

    ``severity`` is ``error`` (blocks) or ``warning`` (advice only); a warning says so in its text.
    """

    file: str
    line: int
    rule: str
    message: str
    col: int | None = None
    severity: str = ERROR

    @property
    def blocking(self) -> bool:
        return self.severity == ERROR

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f":{self.col}" if self.col is not None else "")
        level = "warning: " if self.severity == WARNING else ""
        return f"{where}: {level}{self.rule}: {self.message}"


@dataclass(frozen=True)
class At:
    """An exact place in the file (1-based line and column), for a rule that points inside a string."""

    line: int
    col: int


Rule = Callable[[LoadedRunbook], Iterator[tuple[Loc | At, str]]]
RULES: dict[str, tuple[str, Rule]] = {}
SEVERITY: dict[str, str] = {}


def rule(name: str, summary: str, *, severity: str = ERROR) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[name] = (summary, fn)
        SEVERITY[name] = severity
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
        section: Section = "rollback" if section_loc[0] == "rollback" else "step"
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
    used: set[str] = set()
    for text in [*_templated_texts(lr.runbook), *lr.manifests.values()]:
        used.update(ph.name for ph in placeholders(text))
    for name in lr.runbook.params:
        if name not in used:
            yield ("params", name), f"parameter {name!r} is declared but never used"


@rule("secret-in-version", "from and to name the record's folder, so they never take a secret parameter")
def _secret_in_version(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    md = lr.runbook.metadata
    for field_name, text in (("from", md.from_version), ("to", md.to_version)):
        for ph in placeholders(text):
            param = lr.runbook.params.get(ph.name)
            if param is not None and param.secret:
                yield ("metadata", field_name), (
                    f"{{{ph.name}}} is a secret parameter: {field_name} names the change's folder in the record store, "
                    "which no redaction reaches; use a parameter that is not secret"
                )


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


def shell_script_index(argv: list[str]) -> tuple[int, int] | None:
    """``(shell, script)``: the indexes of a shell word and of the script it runs with ``-c``; None if there is none.

    The shell may be anywhere in argv (``kubectl exec pod -- sh -c ...``, ``env X=1 bash -lc ...``). Options are
    read the way sh and bash read them: clusters (``-ec``, ``-euxc``), ``-o``/``+o``/``-O`` with their argument
    (also at the end of a cluster: ``-eo pipefail``), bash's long options, and ``--``; the script is the first
    word after them, when a cluster held ``c``.
    """
    for i, word in enumerate(argv):
        if word.rsplit("/", 1)[-1] not in SHELLS:
            continue
        j, has_c = i + 1, False
        while j < len(argv):
            opt = argv[j]
            if opt == "--":
                j += 1
                break
            if opt.startswith("--"):
                j += 2 if opt in ("--rcfile", "--init-file") else 1
            elif len(opt) > 1 and opt[0] in "-+":
                has_c = has_c or (opt[0] == "-" and "c" in opt[1:])
                j += 2 if opt[-1] in "oO" else 1
            else:
                break
        if has_c and j < len(argv):
            return i, j
    return None


def _runs(rb: Runbook) -> Iterator[tuple[Loc, str, Step | None, list[str]]]:
    """Every argv a runbook runs, with where it is, a name for it, and its step (None for evidence)."""
    for loc, step in iter_steps(rb):
        if step.run:
            yield loc, f"step {step.id!r}", step, step.run
    for i, ev in enumerate(rb.evidence):
        if ev.run:
            yield ("evidence", i), f"evidence {ev.id!r}", None, ev.run


@rule(
    "param-in-shell-script",
    "a {param} is not written into the script of sh -c (the shell would run its value as code)",
    severity=WARNING,
)
def _param_in_shell_script(lr: LoadedRunbook) -> Iterator[tuple[Loc | At, str]]:
    lines = lr.text.split("\n")
    for loc, what, step, argv in _runs(lr.runbook):
        found = shell_script_index(argv)
        if found is None:
            continue
        shell_i, script_i = found
        shell = argv[shell_i].rsplit("/", 1)[-1]
        word_loc = loc + ("run", script_i)
        _walked, node = _walk_data(lr.positions.root, word_loc)
        for ph in placeholders(argv[script_i]):
            line, col = _string_column(node, word_loc, lr.positions, ph.offset, lines)
            instead = f"pass it as a positional argument ([{shell}, -c, 'do \"$1\"', {shell}, '{{{ph.name}}}'])"
            # shell: true quotes values for the one shell it starts; a shell further along argv (kubectl exec
            # ... -- sh -c) would still re-read them, so it is offered only when the shell is the command itself.
            if shell_i == 0 and step is not None and not step.shell:
                instead += f" or drop {shell} -c and set shell: true, which shell-quotes every value"
            yield At(line, col), (
                f"{what}: {{{ph.name}}} is written into the script of {shell} -c, so the shell reads its value as "
                f"code rather than as one literal argument; {instead}"
            )
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


# -- retries, conditions and order ---------------------------------------------------------------------------------


@rule("retry-mutating", "a step that changes things is retried only when it says running it again is safe (idempotent: true)")
def _retry_mutating(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    for loc, step in iter_steps(lr.runbook):
        if step.retry is not None and step.is_mutating and not step.idempotent:
            yield loc + ("retry",), (
                f"step {step.id!r} changes things, so trying it {step.retry.attempts} times may change them "
                f"{step.retry.attempts} times: set idempotent: true if running it again is safe, mutates: false if it "
                "only looks, or drop retry"
            )


@rule("when-on-gate", "no precondition or gate has when: (a parameter must never switch a gate off)")
def _when_on_gate(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    for loc, step in iter_steps(lr.runbook):
        if step.when and loc[0] in ("preconditions", "gates"):
            what = "precondition" if loc[0] == "preconditions" else "gate"
            yield loc + ("when",), (
                f"{what} {step.id!r} has when:, so a parameter could switch it off: a {what} always runs; put the "
                "condition in its command, or move the step to steps"
            )


@rule(
    "order-fails-fast",
    "a runbook whose preconditions change things runs its gates first (order: [gates, preconditions, steps, verification])",
    severity=WARNING,
)
def _order_fails_fast(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    rb = lr.runbook
    order = rb.order or list(DEFAULT_ORDER)
    if not rb.gates or order.index("gates") < order.index("preconditions"):
        return
    for i, step in enumerate(rb.preconditions):
        # Terraform's init, state backup, plan and output change no infrastructure, whatever their kind implies.
        reads_only = step.terraform is not None and step.terraform.action != "apply" and step.mutates is None
        if step.is_mutating and not reads_only:
            yield ("preconditions", i), (
                f"precondition {step.id!r} changes things before the gates have run, so a mistyped parameter is "
                "caught only after it: add order: [gates, preconditions, steps, verification] (or mark it mutates: "
                "false if it only reads)"
            )
            return


def _templated_texts(rb: Runbook) -> Iterator[str]:
    md = rb.metadata
    yield from (md.title, md.from_version, md.to_version, rb.why, rb.scope, rb.blast_radius)
    for _loc, step in iter_steps(rb):
        yield from step.run or []
        for value in (step.title, step.cwd, step.confirm_word, step.target, step.namespace, step.instructions, step.explain):
            if value:
                yield value
        yield from step.env.values()
        # duration parameters and conditions name parameters too
        for spec in (step.duration, step.timeout, step.retry.interval if step.retry else None):
            if isinstance(spec, str):
                yield spec
        yield from (f"{{{name}}}" for name in (step.when or {}))
        yield from (r for r in (step.expect.output_matches, step.expect.output_not_matches) if r)
        yield from step.namespaces or []
        yield from (trig.model_dump_json() for trig in step.triggers or [])
        if step.terraform is not None:
            yield step.terraform.dir
            yield from step.terraform.vars.values()
            yield from step.terraform.var_files
    for ev in rb.evidence:
        yield from ev.run or []
    for trig in rb.rollback.triggers:
        yield trig.model_dump_json()


@rule(
    "apply-reviewed",
    "an apply or restore step asks a confirmation, so its diff against the live objects is read before it applies",
    severity=WARNING,
)
def _apply_reviewed(lr: LoadedRunbook) -> Iterator[tuple[Loc, str]]:
    for loc, step in iter_steps(lr.runbook):
        section: Section = "rollback" if loc[0] == "rollback" else "step"
        if step.kind in ("apply", "restore") and step.confirmation(section) == "none":
            yield loc, (f"step {step.id!r} {step.kind}s with confirm: none: its diff is still recorded, but nobody reads "
                        "it before the objects change (drop confirm: none)")


def lint(lr: LoadedRunbook, *, only: set[str] | None = None, warnings: bool = False) -> list[Finding]:
    """Every finding of every rule (or of ``only``), sorted by line.

    Warnings come only with ``warnings=True``: without it every finding returned is one that blocks a start.
    """
    findings = []
    for name, (_summary, fn) in RULES.items():
        if only is not None and name not in only:
            continue
        severity = SEVERITY[name]
        if severity == WARNING and not warnings:
            continue
        for where, message in fn(lr):
            if isinstance(where, At):
                findings.append(Finding(str(lr.path), where.line, name, message, where.col, severity))
            else:
                findings.append(Finding(str(lr.path), lr.positions.line(where), name, message, None, severity))
    findings.sort(key=lambda f: (f.line, f.col or 0, f.rule))
    return findings

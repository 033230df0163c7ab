"""A step bound to a change's values, once: what the screen shows, what the journal records and what runs.

Before a step runs, its runbook text and the change's parameter values become one :class:`BoundStep` (argv,
display text, env, working directory, namespace, target, expectation patterns, rollback triggers, Terraform
variables). The step screen and line mode show ``display``, the session records ``display`` and ``argv`` in
``step.started``, and the step's runner reads every value from the same object: what the record says ran is, by
construction, what ran. Binding is pure: it reads no clock, file or cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from console.engine.redact import Redactor
from console.engine.timing import StepTiming, step_timing
from console.runbook.models import Runbook, Step, Trigger
from console.runbook.params import ParamError, display_command, render_argv, secret_values, substitute

# kubectl's own flags for a namespace; a command naming one acts there, whatever the change's default is.
_NS_FLAG = re.compile(r"^(?:-n|--namespace)(?:=(.+))?$")


@dataclass(frozen=True)
class BoundStep:
    """One step with every placeholder filled in; immutable, so the three readers cannot drift apart."""

    section: str
    step: Step
    argv: tuple[str, ...] = ()
    display: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    namespace: str = "default"
    target: str | None = None
    title: str = ""
    expect_matches: re.Pattern[str] | None = None
    expect_not_matches: re.Pattern[str] | None = None
    triggers: tuple[Mapping[str, Any], ...] = ()
    tf_dir: Path | None = None
    tf_vars: Mapping[str, str] = field(default_factory=dict)
    tf_var_files: tuple[Path, ...] = ()
    # An apply step's manifest as the record holds it ({path, sha256}, path under the change directory).
    manifest: Mapping[str, str] | None = None
    # A rollout wait's or observe window's namespaces beyond ``namespace``, each watched for the triggers.
    watch_namespaces: tuple[str, ...] = ()
    # Declared durations with duration parameters filled in, and the rehearsal clock's factor (timing.py).
    timing: StepTiming = field(default_factory=StepTiming)

    @property
    def step_id(self) -> str:
        return self.step.id

    @property
    def kind(self) -> str:
        return self.step.kind

    def namespaces(self) -> list[str]:
        """Every namespace this step acts on or watches: its own, and any a kubectl command names with -n."""
        found = [self.namespace] if self.kind in ("rollout", "observe", "apply") or _is_kubectl(self.argv) else []
        found.extend(self.watch_namespaces)
        argv = list(self.argv)
        for i, word in enumerate(argv):
            m = _NS_FLAG.match(word)
            if m:
                value = m.group(1) if m.group(1) is not None else (argv[i + 1] if i + 1 < len(argv) else None)
                if value:
                    found.append(value)
        for trig in self.triggers:
            body = next(iter(trig.values()), None)
            if isinstance(body, Mapping) and body.get("namespace"):
                found.append(str(body["namespace"]))
        return list(dict.fromkeys(found))


@dataclass(frozen=True)
class ChangeIdentity:
    """What the change is, as the record names it: the runbook's title, from, to and why with parameters filled in."""

    title: str
    from_version: str
    to_version: str
    why: str
    scope: str
    blast_radius: str


VERSION = re.compile(r"^[A-Za-z0-9._+-]+$")


def identify(runbook: Runbook, values: Mapping[str, str]) -> ChangeIdentity:
    """The change's identity; raises ParamError when a filled-in version would not name a folder safely."""
    md = runbook.metadata
    # A version names the record's folder (no redaction reaches a file name): one holding a secret parameter or
    # something shaped like a secret (a token pasted as a version at 2 a.m.) is refused, without repeating it.
    redactor = Redactor(secret_values(runbook, values))
    versions = {}
    for field_name, text in (("from", md.from_version), ("to", md.to_version)):
        value = substitute(text, values)
        if redactor.redact(value) != value:
            raise ParamError(f"metadata.{field_name}: {text!r} gives a value that holds a secret, and the version names "
                             "the change's folder in the record store")
        if not VERSION.match(value):
            raise ParamError(f"metadata.{field_name}: {text!r} gives {value!r}, which is not a version (letters, digits, . _ + -)")
        versions[field_name] = value
    return ChangeIdentity(
        substitute(md.title, values), versions["from"], versions["to"], substitute(runbook.why, values).strip(),
        substitute(runbook.scope, values), substitute(runbook.blast_radius, values),
    )


def _is_kubectl(argv: tuple[str, ...]) -> bool:
    return bool(argv) and Path(argv[0]).name == "kubectl"


def expectation_pattern(text: str | None, values: Mapping[str, str]) -> re.Pattern[str] | None:
    """An expect regex with parameters filled in as literal text (escaped)."""
    if text is None:
        return None
    escaped = {k: re.escape(v) for k, v in values.items()}
    return re.compile(substitute(text, escaped), re.MULTILINE)


def bound_triggers(runbook: Runbook, values: Mapping[str, str]) -> tuple[dict[str, Any], ...]:
    """The runbook's rollback triggers with parameters filled in (each a one-key mapping, as evaluate_triggers reads)."""
    return _bound_trigger_list(runbook.rollback.triggers, values)


def _bound_trigger_list(triggers: Sequence[Trigger], values: Mapping[str, str]) -> tuple[dict[str, Any], ...]:
    out = []
    for trig in triggers:
        raw = trig.model_dump(exclude_none=True, exclude_defaults=False)
        raw = {k: v for k, v in raw.items() if v not in (None, False)}
        # Substitute inside the JSON text so nested strings (selectors, patterns) are filled in; values are escaped.
        out.append(json.loads(substitute(json.dumps(raw), {k: json.dumps(v)[1:-1] for k, v in values.items()})))
    return tuple(out)


def _fill(text: str | None, values: Mapping[str, str]) -> str | None:
    return substitute(text, values) if text is not None else None


def bind(
    step: Step, section: str, values: Mapping[str, str], runbook: Runbook, runbook_dir: Path,
    redactor: Redactor | None = None, *, manifests: Mapping[str, Mapping[str, str]] | None = None,
    clock_factor: float = 1.0,
) -> BoundStep:
    """Bind ``step`` to the change's values; raises ParamError when a placeholder has no value.

    ``display`` and ``title`` are text for people and files (the screen, the journal, the cast header) and pass
    through ``redact``; ``argv``, ``env`` and the rest are what runs and are never shown as they are.

    ``values`` holds the built-in ``namespace`` (the runbook's parameter when it declares one, else the namespace of
    the change's pinned context), so a step without its own ``namespace:`` acts where the change does.

    ``manifests`` holds the record's copy of each apply step's manifest by step id (``manifests.manifest_copies``):
    an apply step runs ``kubectl apply`` of that copy, and its display names the copy's SHA-256. ``clock_factor``
    is the rehearsal clock's speed on a rehearsal environment (1 elsewhere): every declared duration is divided by it.
    """
    namespace = _fill(step.namespace, values) or values.get("namespace") or "default"
    timing = step_timing(step, values, clock_factor)
    if step.kind == "apply":
        return replace(_bind_apply(step, section, values, namespace, (manifests or {}).get(step.id), redactor), timing=timing)
    if step.kind == "restore" and step.restore is not None:
        title = substitute(step.title, values)
        display = (f"restore the objects step {step.restore.from_step} backed up, server-set fields stripped: kubectl "
                   "replace (create where gone), shown as a diff first")
        return BoundStep(section, step, namespace=namespace, display=display, timing=timing,
                         title=redactor.redact(title) if redactor else title)
    bound = _bind(step, section, values, runbook, runbook_dir, namespace, timing)
    if redactor is None:
        return bound
    display = display_command(redactor.redact_argv(bound.argv)) if bound.argv else bound.display
    return replace(bound, display=redactor.redact(display), title=redactor.redact(bound.title))


def _bind_apply(step: Step, section: str, values: Mapping[str, str], namespace: str, copy: Mapping[str, str] | None,
                redactor: Redactor | None) -> BoundStep:
    """``kubectl apply`` of the record's copy of the manifest, in the step's namespace; before the change has a copy
    (a runbook bound for a preview), the step shows what it will do and runs nothing."""
    title = substitute(step.title, values)
    title = redactor.redact(title) if redactor else title
    if copy is None:
        return BoundStep(section, step, namespace=namespace, title=title,
                         display=f"kubectl apply -n {namespace} of the step's manifest (copied into the record when the change starts)")
    path = Path(values.get("change_dir") or ".") / copy["path"]
    argv = ("kubectl", "apply", "-f", str(path), "-n", namespace)
    return BoundStep(
        section, step, argv=argv, namespace=namespace, title=title, manifest=dict(copy),
        display=f"kubectl apply -f {copy['path']} -n {namespace} (manifest sha256 {copy['sha256']})",
    )


def _bind(
    step: Step, section: str, values: Mapping[str, str], runbook: Runbook, runbook_dir: Path, namespace: str,
    timing: StepTiming,
) -> BoundStep:
    # The rollback triggers are what sends a change into its rollback: they are watched on the way forward (rollout
    # waits, observe windows, verification), never while the rollback itself runs, whose cluster may well still
    # show the condition that fired.
    watched = bound_triggers(runbook, values) if section in ("step", "verification") else ()
    # A watching step's own triggers and namespaces are its author's choice for that step, in any section.
    own = _bound_trigger_list(step.triggers or [], values)
    also = tuple(ns for ns in dict.fromkeys(substitute(n, values) for n in step.namespaces or []) if ns != namespace)
    common: dict[str, Any] = {
        "section": section, "step": step, "namespace": namespace, "title": substitute(step.title, values),
        "expect_matches": expectation_pattern(step.expect.output_matches, values),
        "expect_not_matches": expectation_pattern(step.expect.output_not_matches, values), "timing": timing,
    }
    if step.kind in ("command", "check"):
        argv = tuple(render_argv(step, values))
        return BoundStep(
            **common, argv=argv, display=display_command(argv),
            # A check or smoke test after the change runs while the rollback triggers are watched.
            triggers=watched if section == "verification" else (),
            env={k: substitute(v, values) for k, v in step.env.items()},
            cwd=runbook_dir / substitute(step.cwd, values) if step.cwd else runbook_dir,
        )
    if step.kind == "rollout":
        target = substitute(step.target or "", values)
        limit = f", timeout {timing.shown('timeout')}" if step.timeout is not None else ""
        return BoundStep(
            **common, target=target, triggers=watched + own, watch_namespaces=also,
            display=f"rollout status {target} -n {namespace} (watched live, kubectl's logic{limit})"
            + (f"; triggers also watched in {', '.join(also)}" if also else ""),
        )
    if step.kind == "observe":
        where = f"namespaces {', '.join((namespace, *also))}" if also else f"namespace {namespace}"
        return BoundStep(
            **common, triggers=watched + own, watch_namespaces=also,
            display=f"observe {where} for {timing.shown('duration')}, watching the rollback triggers",
        )
    if step.kind == "terraform" and step.terraform is not None:
        tf = step.terraform
        tf_vars = {k: substitute(v, values) for k, v in tf.vars.items()}
        extra = " ".join(f"-var {k}={v}" for k, v in tf_vars.items())
        return BoundStep(
            **common, tf_dir=(runbook_dir / substitute(tf.dir, values)).resolve(), tf_vars=tf_vars,
            tf_var_files=tuple((runbook_dir / substitute(f, values)).resolve() for f in tf.var_files),
            display=f"terraform {tf.action} ({tf.dir}) {extra}".strip(),
        )
    return BoundStep(**common)

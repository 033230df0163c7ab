"""Manifests kept in runbooks: rendered when a change starts, copied into its record, diffed, then applied from the copy.

An ``apply`` step's manifest (inline, or the file next to the runbook that the loader read) has its ``{param}``
placeholders filled in when the change is admitted (``render_manifests``: a manifest that no longer names objects once
filled in refuses the start), is written under ``artifacts/manifests/`` once the change exists (``write_manifests``,
each copy recorded by an ``artifact.saved`` of kind ``manifest`` with its SHA-256), and is bound to its step from
those events (``manifest_copies``): the step's command and the start event name the copy and its hash, so an approval
of the plan covers the manifest's exact bytes.

Before the step's confirmation the console runs ``kubectl diff -f COPY`` against the live objects and records what
it printed (``diff_manifest``, an ``artifact.saved`` of kind ``diff``); the step itself diffs once more into its output
(the live objects may have moved while the confirmation waited) and then runs ``kubectl apply -f COPY`` through the
runner, after checking that the copy still has the SHA-256 on record.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.engine.redact import Redactor
from console.engine.runner import CommandRunner, Expectation, Listener, OutputLine, run_command
from console.engine.step_context import StepContext, StepOutcome, step_cast
from console.errors import OpsConsoleError
from console.journal import events as ev
from console.journal.cast import sha256_file
from console.runbook.loader import LoadedRunbook, Problem, dotted, iter_steps
from console.runbook.manifest_checks import ManifestSyntaxError, inline_position, manifest_path, parse_manifest
from console.runbook.params import ParamError, placeholders, substitute

MANIFEST_DIR = "artifacts/manifests"
MANIFEST_KIND = "manifest"
DIFF_KIND = "diff"
DIFF_TIMEOUT_S = 60.0
# kubectl diff: 0 the live objects already match, 1 they differ; anything else is kubectl's own failure.
DIFF_EXIT_CODES = (0, 1)


class ManifestError(OpsConsoleError, ValueError):
    """A manifest that cannot be rendered, copied or applied; the message names the step and what is wrong."""


@dataclass(frozen=True)
class RenderedManifest:
    """One apply step's manifest with its parameters filled in, ready to be copied into the record."""

    section: str
    step_id: str
    text: str
    source: str  # "inline" or "file NAME"


def render_manifests(loaded: LoadedRunbook, values: Mapping[str, str]) -> list[RenderedManifest]:
    """Every apply step's manifest, filled in; raises ManifestError when a value is missing or breaks the YAML."""
    out: list[RenderedManifest] = []
    for section, steps in loaded.runbook.sections():
        for step in steps:
            if step.kind != "apply" or step.apply is None:
                continue
            raw = loaded.manifests.get(step.id)
            if raw is None:
                raise ManifestError(f"step {step.id}: its manifest was not read when the runbook was loaded")
            for name, value in values.items():
                if "\n" in str(value) and "{" + name + "}" in raw:
                    raise ManifestError(f"step {step.id}: parameter {name} holds a line break, which would change the "
                                        "manifest's structure rather than fill in a value")
            try:
                text = substitute(raw, values)
                parse_manifest(text)
            except (ParamError, ManifestSyntaxError) as exc:
                raise ManifestError(f"step {step.id}: the manifest, filled in: {exc}") from None
            source = "inline" if step.apply.manifest is not None else f"file {step.apply.manifest_file}"
            out.append(RenderedManifest(section, step.id, text, source))
    return out


def write_manifests(rendered: Iterable[RenderedManifest], change_dir: Path) -> list[dict[str, Any]]:
    """Write each manifest under ``artifacts/manifests/`` (created exclusively, fsynced); the ``artifact.saved`` data
    that records each copy and its SHA-256."""
    events: list[dict[str, Any]] = []
    folder = change_dir / MANIFEST_DIR
    for item in rendered:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{item.step_id}.yaml"
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(item.text)
            handle.flush()
            os.fsync(handle.fileno())
        events.append({
            "section": item.section, "step_id": item.step_id, "kind": MANIFEST_KIND,
            "description": f"manifest of step {item.step_id} ({item.source}), as it will be applied",
            "file": {"path": path.relative_to(change_dir).as_posix(), "sha256": sha256_file(path)},
            "source": item.source,
        })
    return events


def manifest_copies(events: Iterable[Any]) -> dict[str, dict[str, str]]:
    """Each apply step's manifest copy ({path, sha256}) by step id, from the change's ``artifact.saved`` events."""
    copies: dict[str, dict[str, str]] = {}
    for event in events:
        data = event.data
        if event.type == ev.ARTIFACT_SAVED and data.get("kind") == MANIFEST_KIND and isinstance(data.get("file"), dict):
            copies[str(data["step_id"])] = {"path": str(data["file"]["path"]), "sha256": str(data["file"]["sha256"])}
    return copies


def check_copy(change_dir: Path, copy: Mapping[str, str]) -> Path:
    """The copy's path once its SHA-256 is the one on record; raises ManifestError otherwise."""
    path = change_dir / copy["path"]
    if not path.is_file():
        raise ManifestError(f"the manifest copy {copy['path']} is missing from the record")
    found = sha256_file(path)
    if found != copy["sha256"]:
        raise ManifestError(f"the manifest copy {copy['path']} has changed since it was recorded "
                            f"(sha256 {found}, the record says {copy['sha256']})")
    return path


@dataclass(frozen=True)
class DiffResult:
    """What ``kubectl diff`` said about a manifest: its lines (redacted), whether the live objects differ, and the
    ``artifact.saved`` data recording it."""

    lines: list[str]
    changed: bool
    exit_code: int | None
    error: str | None
    record: dict[str, Any]


def diff_argv(path: Path, namespace: str | None) -> list[str]:
    return ["kubectl", "diff", "-f", str(path), *(["-n", namespace] if namespace else [])]


def run_diff(path: Path, namespace: str | None, env: Mapping[str, str], redactor: Redactor,
             listeners: Sequence[Listener] = (), cast: Any = None) -> tuple[list[str], int | None, str | None]:
    """``kubectl diff`` of ``path``: (its output lines, redacted; exit code; why it failed, or None)."""
    lines: list[str] = []

    def keep(line: OutputLine) -> None:
        lines.append(line.text if line.stream == "stdout" else f"! {line.text}")

    result = run_command(diff_argv(path, namespace), env=dict(env), timeout_s=DIFF_TIMEOUT_S, redactor=redactor,
                         listeners=[keep, *listeners], cast=cast, expect=Expectation(DIFF_EXIT_CODES))
    passed, reason = result.verdict(Expectation(DIFF_EXIT_CODES))
    said = [line[2:] for line in lines if line.startswith("! ")]
    # kubectl says why on stderr (a namespace that does not match, an unknown kind): the reason carries its last word.
    return lines, result.exit_code, None if passed else f"kubectl diff failed: {reason}" + (f": {said[-1]}" if said else "")


def diff_record(section: str, step_id: str, path: Path, change_dir: Path, copy_sha256: str, lines: list[str],
                exit_code: int | None, error: str | None, write: Any) -> dict[str, Any]:
    """The ``artifact.saved`` data of a diff: its text kept under ``artifacts/`` by ``write(name, bytes)``."""
    text = "\n".join(lines) + ("\n" if lines else "")
    if not lines:
        text = "(kubectl diff printed nothing: the live objects already match the manifest)\n" if exit_code == 0 else ""
    return {
        "section": section, "step_id": step_id, "kind": DIFF_KIND,
        "description": f"kubectl diff of {path.relative_to(change_dir).as_posix()} against the live objects",
        "file": write(f"{step_id}.diff", text.encode()),
        "manifest_sha256": copy_sha256, "exit_code": exit_code, "changed": exit_code == 1,
        **({"error": error} if error else {}),
    }


def run_apply(ctx: StepContext) -> StepOutcome:
    """Diff the record's copy against the live objects (into the step's output), then ``kubectl apply`` it."""
    bound = ctx.bound
    if bound.manifest is None or not bound.argv:
        return StepOutcome(False, f"step {ctx.step.id} has no manifest copy in the record (it is made when the change starts)")
    try:
        path = check_copy(ctx.change_dir, bound.manifest)
    except ManifestError as exc:
        return StepOutcome(False, str(exc))
    return apply_file(ctx, path, bound.namespace, list(bound.argv), bound.display)


def apply_file(ctx: StepContext, path: Path, namespace: str | None, argv: list[str], display: str) -> StepOutcome:
    """Into one asciicast: ``kubectl diff`` of ``path``, then ``argv`` (its ``kubectl apply``); a diff kubectl cannot
    make stops the step before anything is applied."""
    cast = step_cast(ctx, ctx.redactor.redact(display))
    say = _sayer(ctx, cast)
    say(f"$ {' '.join(diff_argv(Path(path.relative_to(ctx.change_dir).as_posix()), namespace))}")
    _lines, _code, error = run_diff(path, namespace, ctx.env, ctx.redactor, ctx.listeners, cast)
    if error:
        say(f"{error}; nothing was applied", stream="stderr")
        sha = cast.close()
        return StepOutcome(False, error, None, 0.0, 0, ctx.output_path, sha)
    say(f"$ {display}")
    runner = CommandRunner(argv, cwd=ctx.change_dir, env=ctx.env, timeout_s=ctx.bound.timing.timeout_s, redactor=ctx.redactor,
                           cast=cast, listeners=ctx.listeners, expect=Expectation(tuple(ctx.step.expect.exit_codes)),
                           grace=ctx.grace)
    stop = _forward_cancel(ctx, runner)
    result = runner.run()
    stop()
    passed, reason = result.verdict(runner.expect)
    cast.marker(f"exit {result.exit_code}")
    sha = cast.close()
    return StepOutcome(passed, reason, result.exit_code, result.duration_s, result.lines, ctx.output_path, sha,
                       tail=result.tail)


def _sayer(ctx: StepContext, cast: Any) -> Any:
    def say(text: str, *, stream: str = "stdout") -> None:
        text = ctx.redactor.redact(text)
        t = cast.elapsed
        cast.write(f"\x1b[31m{text}\x1b[0m\r\n" if stream == "stderr" else f"{text}\r\n", at=t)
        for listener in ctx.listeners:
            listener(OutputLine(t, stream, text))
    return say


def _forward_cancel(ctx: StepContext, runner: CommandRunner) -> Callable[[], None]:
    """The operator's cancel stops the apply's process group; returns the function that ends the forwarding."""
    done = threading.Event()

    def forward() -> None:
        while not done.is_set():
            if ctx.cancel.wait(0.1):
                runner.cancel()
                return

    threading.Thread(target=forward, name=f"cancel:{ctx.step.id}", daemon=True).start()
    return done.set


def manifest_literal_secrets(loaded: LoadedRunbook, redactor: Redactor) -> list[Problem]:
    """Every literal in an apply step's manifest that redaction would alter: the record's copy would have to show
    [REDACTED] where the cluster got the value, so the change is refused before it starts (pure: no IO)."""
    lines = loaded.text.split("\n")
    found: list[Problem] = []
    for loc, step in iter_steps(loaded.runbook):
        text = loaded.manifests.get(step.id)
        if step.apply is None or text is None:
            continue
        inline = step.apply.manifest is not None
        file = str(loaded.path) if inline else str(manifest_path(loaded.directory, step.apply.manifest_file or ""))
        field = loc + (("apply", "manifest") if inline else ("apply", "manifest_file"))
        for row, line in enumerate(text.split("\n")):
            names = {p.offset for p in placeholders(line)}
            for start, end in redactor.spans(line):
                if start in names or not any(ch.isalnum() for ch in line[start:end]):
                    continue
                where = inline_position(loaded.positions, field, lines, row, start) if inline else (row + 1, start + 1)
                found.append(Problem(
                    file, where[0], where[1], dotted(field),
                    f"{line[max(0, start - 20):start].lstrip()}{line[start:end][:2]}… is a secret written into a manifest "
                    "(the record's copy would show [REDACTED], not what was applied); keep it in a Secret created "
                    "outside the runbook and reference that Secret by name",
                ))
    return found

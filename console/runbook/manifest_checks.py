"""The loader's checks of what ``apply:`` and ``restore:`` steps and per-step ``triggers``/``namespaces`` refer to.

An ``apply`` step's manifest (inline, or a file next to the runbook) must be YAML documents that each name an object
(``apiVersion``, ``kind``, ``metadata.name``), never a Secret, and may name only the parameters known when the change
starts (declared ones that are not secret, and ``context``, ``environment``, ``namespace``): the record keeps a copy
of the manifest as applied, so a secret value in it would reach the disk. A manifest file must stay inside the
runbook's directory. A ``restore`` step names a backup step that keeps its output as YAML or JSON and runs before
it. Problems inside a manifest file are located in that file; problems inside an inline manifest at their line in
the runbook.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from console.errors import OpsConsoleError
from console.runbook.params import placeholders

Loc = tuple[str | int, ...]
# What a manifest may name: it is filled in when the change starts, before the change has an ID or a folder.
MANIFEST_BUILTINS = frozenset({"context", "environment", "namespace"})
# kubectl's output flags that make a backup something a restore can read back.
STRUCTURED_OUTPUT = frozenset({"-oyaml", "-ojson", "-o=yaml", "-o=json", "--output=yaml", "--output=json"})


@dataclass(frozen=True)
class ManifestDoc:
    """One document of a manifest: its index, the object it names, and the line (0-based, in the manifest) it starts at."""

    index: int
    kind: str
    name: str
    namespace: str | None
    line: int


class ManifestSyntaxError(OpsConsoleError, ValueError):
    """A manifest that is not YAML documents naming objects; ``line`` and ``col`` are 0-based within the manifest."""

    def __init__(self, message: str, line: int = 0, col: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.col = col


def parse_manifest(text: str) -> list[ManifestDoc]:
    """Every document of ``text`` as the object it names; raises ManifestSyntaxError saying what and where."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        docs = [d for d in yaml.load_all(text) if d is not None]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ManifestSyntaxError(f"the manifest is not valid YAML: {exc.problem or exc}",
                                  mark.line if mark else 0, mark.column if mark else 0) from None
    if not docs:
        raise ManifestSyntaxError("the manifest holds no object")
    out: list[ManifestDoc] = []
    for i, doc in enumerate(docs):
        line = doc.lc.line if isinstance(doc, CommentedMap) else 0
        if not isinstance(doc, Mapping):
            raise ManifestSyntaxError(f"document {i + 1} of the manifest is not a mapping (an object with apiVersion, kind, metadata)", line)
        meta = doc.get("metadata")
        for key, value in (("apiVersion", doc.get("apiVersion")), ("kind", doc.get("kind")),
                           ("metadata.name", meta.get("name") if isinstance(meta, Mapping) else None)):
            if not isinstance(value, str) or not value:
                raise ManifestSyntaxError(
                    f"document {i + 1} of the manifest needs {key} as a string"
                    + (" (a placeholder that is the whole value is written in quotes: \"{name}\")" if isinstance(value, Mapping) else ""),
                    line)
        assert isinstance(meta, Mapping)
        ns = meta.get("namespace")
        if ns is not None and not isinstance(ns, str):
            at = meta.lc.key("namespace") if isinstance(meta, CommentedMap) else (line, 0)
            raise ManifestSyntaxError(
                f"document {i + 1} of the manifest: metadata.namespace must be a string (a placeholder that is the whole "
                "value is written in quotes: \"{namespace}\")", at[0], at[1])
        kind = str(doc["kind"])
        if kind == "Secret":
            raise ManifestSyntaxError(
                f"document {i + 1} of the manifest is a Secret: a manifest is copied into the change record, so Secrets "
                "are not applied from runbooks", line)
        out.append(ManifestDoc(i, kind, str(meta["name"]), ns, line))
    return out


def manifest_path(runbook_dir: Path, relative: str) -> Path:
    """The manifest file ``relative`` names; raises ValueError when it is absolute or leaves the runbook's directory."""
    if Path(relative).is_absolute():
        raise ValueError(f"manifest_file {relative!r} is absolute: name a file next to the runbook (a relative path)")
    base = runbook_dir.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise ValueError(f"manifest_file {relative!r} leaves the runbook's directory ({base})")
    return path


AddProblem = Callable[..., None]


def inline_position(positions: Any, loc: Loc, lines: list[str], line: int, col: int) -> tuple[int, int]:
    """1-based line and column in the runbook of (``line``, ``col``), 0-based inside the inline manifest at ``loc``."""
    start_line, start_col = positions.of(loc)
    indicator = lines[start_line - 1][start_col - 1:].strip() if 0 < start_line <= len(lines) else ""
    if not indicator.startswith(("|", ">")):
        return start_line, start_col  # a quoted or plain scalar: the field itself
    # A block scalar's indentation is that of its first line that is not blank.
    indent = next((len(t) - len(t.lstrip()) for t in lines[start_line:] if t.strip()), 0)
    row = start_line + 1 + line
    return (row, indent + col + 1) if row <= len(lines) else (start_line, start_col)


def check_manifests(
    name: str, steps: Iterator[tuple[Loc, dict[str, Any]]], positions: Any, text: str, runbook_dir: Path,
    params: Mapping[str, Any], add: AddProblem, *, read_files: bool = True,
) -> dict[str, str]:
    """Report every problem of every ``apply:`` manifest through ``add(loc, message, at=(line, col), file=...)``;
    returns each apply step's manifest text by step id (inline, or as read from its file)."""
    texts: dict[str, str] = {}
    lines = text.split("\n")
    secret = {str(k) for k, v in params.items() if isinstance(v, Mapping) and v.get("secret") is True}
    allowed = {str(k) for k in params} | MANIFEST_BUILTINS
    for step_loc, step in steps:
        spec = step.get("apply")
        if not isinstance(spec, Mapping):
            continue
        inline, relative = spec.get("manifest"), spec.get("manifest_file")
        if isinstance(inline, str) and relative is None:
            loc = step_loc + ("apply", "manifest")

            def at_inline(line: int, col: int, loc: Loc = loc) -> tuple[int, int]:
                return inline_position(positions, loc, lines, line, col)

            _check_text(inline, loc, at_inline, None, allowed, secret, add)
            texts[str(step.get("id"))] = inline
        elif isinstance(relative, str) and inline is None:
            loc = step_loc + ("apply", "manifest_file")
            try:
                path = manifest_path(runbook_dir, relative)
            except ValueError as exc:
                add(loc, str(exc))
                continue
            if not read_files:
                continue
            try:
                body = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                add(loc, f"manifest_file {relative!r}: no such file next to the runbook ({path})")
                continue
            except (OSError, UnicodeDecodeError) as exc:
                add(loc, f"manifest_file {relative!r} cannot be read as UTF-8 text: {exc}")
                continue

            def at_file(line: int, col: int) -> tuple[int, int]:
                return line + 1, col + 1

            _check_text(body, loc, at_file, str(path), allowed, secret, add)
            texts[str(step.get("id"))] = body
    return texts


def _check_text(body: str, loc: Loc, at: Callable[[int, int], tuple[int, int]], file: str | None,
                allowed: set[str], secret: set[str], add: AddProblem) -> None:
    try:
        parse_manifest(body)
    except ManifestSyntaxError as exc:
        add(loc, str(exc), at=at(exc.line, exc.col), file=file)
    for row, line_text in enumerate(body.split("\n")):
        for ph in placeholders(line_text):
            where = at(row, ph.offset)
            if ph.name in secret:
                add(loc, f"{{{ph.name}}} is a secret parameter: a manifest is copied into the change record as applied, "
                         "so it cannot hold a secret (reference a Secret object created outside the runbook)", at=where, file=file)
            elif ph.name not in allowed:
                hint = difflib.get_close_matches(ph.name, sorted(allowed), n=1)
                extra = f" (did you mean {{{hint[0]}}}?)" if hint else ""
                add(loc, f"unknown parameter {{{ph.name}}}{extra}; a manifest may name declared parameters, context, "
                         "environment and namespace", at=where, file=file)


def check_restores(steps: list[tuple[Loc, dict[str, Any]]], add: AddProblem) -> None:
    """A restore names a backup step that keeps YAML or JSON output and runs before it."""
    order = {s.get("id"): (i, loc, s) for i, (loc, s) in enumerate(steps) if isinstance(s.get("id"), str)}
    for i, (step_loc, step) in enumerate(steps):
        spec = step.get("restore")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("from"), str):
            continue
        loc = step_loc + ("restore", "from")
        ref = spec["from"]
        found = order.get(ref)
        if found is None:
            add(loc, f"step {ref!r} does not exist")
            continue
        j, ref_loc, ref_step = found
        if ref_step.get("backup") is not True or ref_step.get("capture") != "artifact":
            add(loc, f"step {ref!r} is not a backup: a restore reads what a step with backup: true and capture: artifact kept")
            continue
        if ref_loc[0] == "rollback":
            add(loc, f"step {ref!r} is a rollback step: a restore reads a backup taken on the way forward")
        elif step_loc[0] != "rollback" and j > i:
            add(loc, f"step {ref!r} runs after this one: a restore reads a backup taken before it")
        run = ref_step.get("run")
        if isinstance(run, list) and not _structured(run):
            add(loc, f"step {ref!r} does not print YAML or JSON (add -o yaml to its kubectl get): a restore reads the "
                     "objects back from its output")


def _structured(argv: list[Any]) -> bool:
    words = [str(w) for w in argv]
    for i, word in enumerate(words):
        if word in STRUCTURED_OUTPUT:
            return True
        if word in ("-o", "--output") and i + 1 < len(words) and words[i + 1] in ("yaml", "json"):
            return True
    return False


def templated_step_strings(step_loc: Loc, step: Mapping[str, Any]) -> Iterator[tuple[Loc, Any]]:
    """A step's ``namespaces`` and its own ``triggers``' strings, which may hold {param} placeholders like commands."""
    namespaces = step.get("namespaces")
    if isinstance(namespaces, list):
        for i, ns in enumerate(namespaces):
            yield step_loc + ("namespaces", i), ns
    triggers = step.get("triggers")
    if isinstance(triggers, list):
        for i, trig in enumerate(triggers):
            for key, value in (trig.items() if isinstance(trig, Mapping) else ()):
                if isinstance(value, str):
                    yield step_loc + ("triggers", i, key), value
                elif isinstance(value, Mapping):
                    yield from ((step_loc + ("triggers", i, key, k), v) for k, v in value.items())

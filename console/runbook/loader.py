"""Load a runbook from YAML and report every problem at once as ``file:line:col: field.path: message``.

Three passes, all run even when an earlier one finds problems, so an author fixes a file in one go:
YAML syntax (ruamel.yaml, YAML 1.2: ``yes`` is a word, not a boolean), the pydantic models, and the
cross-references no single model can see (parameters used, duplicate step ids, rollback targets).
Nothing is returned from an invalid file, so nothing can run from one.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from console.errors import OpsConsoleError
from console.runbook.format_checks import format_problems
from console.runbook.manifest_checks import check_manifests, check_restores, templated_step_strings
from console.runbook.models import BUILTIN_PARAMS, IDENTITY_PARAMS, Runbook, Step
from console.runbook.params import ParamError, coerce, placeholders

Loc = tuple[str | int, ...]

STEP_SECTIONS: tuple[Loc, ...] = (("preconditions",), ("gates",), ("steps",), ("verification",), ("rollback", "steps"))
# Fields of a step whose text may hold {param} placeholders.
TEMPLATED_FIELDS = ("cwd", "confirm_word", "target", "namespace")
# Words of kubectl's jsonpath that look like a {param}: the message says how to escape them.
JSONPATH_WORDS = frozenset({"end", "range"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a runbook, where it is, and why."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path or '(document)'}: {self.message}"


class RunbookError(OpsConsoleError):
    """A runbook that cannot be used; ``problems`` holds every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Positions:
    """Line and column (1-based) of any field of the loaded document, for the linter and the UI."""

    root: Any

    def of(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        node = self.root
        line, col = 0, 0
        if isinstance(node, (CommentedMap, CommentedSeq)):
            line, col = node.lc.line, node.lc.col
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            if isinstance(node, CommentedMap) and part in node:
                if key and last:
                    line, col = node.lc.key(part)
                else:
                    line, col = node.lc.value(part)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, col = node.lc.item(part)
                node = node[part]
            else:
                break
        return line + 1, col + 1

    def line(self, loc: Loc) -> int:
        return self.of(loc, key=True)[0]


@dataclass
class LoadedRunbook:
    """A valid runbook with where it came from: path, text, SHA-256 and the positions of its fields."""

    runbook: Runbook
    path: Path
    text: str
    sha256: str
    positions: Positions = field(repr=False)
    # Each apply step's manifest text by step id, as loaded (inline, or read from its manifest_file).
    manifests: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def directory(self) -> Path:
        return self.path.parent


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.preserve_quotes = True  # so a placeholder inside quotes is reported at its own column
    return yaml


def to_plain(node: Any) -> Any:
    """ruamel's round-trip nodes as plain dicts, lists, str, int, float, bool and None."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, (int, float, bool)) else k: to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def load_runbook(path: str | Path) -> LoadedRunbook:
    """Read and validate a runbook file; raises RunbookError listing every problem, or OSError if unreadable."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise RunbookError([Problem(str(p), 1, 1, "", "no such file")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - data.rfind(b"\n", 0, exc.start)  # bytes into the line, 1-based
        raise RunbookError([Problem(str(p), line, col, "", "the file is not UTF-8 text")]) from None
    return load_runbook_text(text, p)


def load_runbook_text(text: str, path: str | Path = "<runbook>", *, read_manifests: bool = True) -> LoadedRunbook:
    """Validate runbook text; ``path`` names it in messages and anchors relative paths.

    ``read_manifests=False`` leaves the ``manifest_file`` files unread (their paths are still checked): a change
    resumed from its record applies the copies the record holds, whatever the files next to the runbook now say.
    """
    p = Path(path)
    name = str(path)
    try:
        root = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        what = exc.problem or str(exc).splitlines()[0]
        if "duplicate key" in str(exc):
            what = f"duplicate key: {what}"
        raise RunbookError([Problem(name, line, col, "", f"invalid YAML: {what}")]) from None
    except Exception as exc:  # noqa: BLE001 - ruamel raises a few unmarked errors (e.g. bad indentation of a directive)
        raise RunbookError([Problem(name, 1, 1, "", f"invalid YAML: {exc}")]) from None
    if not isinstance(root, CommentedMap):
        raise RunbookError([Problem(name, 1, 1, "", "a runbook is a YAML mapping (apiVersion, kind, metadata, ...)")])
    positions = Positions(root)
    manifests: dict[str, str] = {}
    problems = _model_problems(name, root, positions) + _reference_problems(
        name, root, positions, text, p.parent, read_manifests, manifests)
    problems.sort(key=lambda pr: (pr.file != name, pr.line, pr.col, pr.path, pr.message))
    if problems:
        raise RunbookError(problems)
    runbook = Runbook.model_validate(to_plain(root))
    return LoadedRunbook(runbook, p, text, hashlib.sha256(text.encode()).hexdigest(), positions, manifests)


def _walk_data(root: Any, loc: Loc) -> tuple[Loc, Any]:
    """The longest prefix of a pydantic ``loc`` that exists in the document, and the node there."""
    node = root
    walked: list[str | int] = []
    for part in loc:
        # Two branches, not one `or`: each narrows node and part for its own indexing.
        if isinstance(node, dict) and part in node:  # noqa: SIM114
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break
        walked.append(part)
    return tuple(walked), node


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_problems(name: str, root: CommentedMap, positions: Positions) -> list[Problem]:
    try:
        Runbook.model_validate(to_plain(root))
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            kind = err["type"]
            walked, node = _walk_data(root, loc)
            message = err["msg"].removeprefix("Value error, ")
            shown = walked
            if kind == "missing":
                missing = loc[len(walked)] if len(loc) > len(walked) else "?"
                message = f"required field {missing!r} is missing"
                shown = walked + (missing,)
            elif kind == "extra_forbidden":
                message = f"unknown field {walked[-1]!r}"
                parent_loc = walked[:-1]
                model_fields = _known_fields(parent_loc)
                close = difflib.get_close_matches(str(walked[-1]), model_fields, n=1)
                if close:
                    message += f" (did you mean {close[0]!r}?)"
            elif kind == "literal_error":
                message = f"{to_plain(node)!r} is not allowed: {err['msg'].removeprefix('Input should be ').replace(chr(39), '')}"
            # A bad mapping key (loc ends in "[key]", e.g. a parameter's name) is pointed at the key, not its value.
            on_key = kind == "extra_forbidden" or loc[len(walked):] == ("[key]",)
            line, col = positions.of(walked, key=on_key)
            problems.append(Problem(name, line, col, dotted(shown), message))
        return _dedupe(problems)
    return []


def _known_fields(loc: Loc) -> list[str]:
    """Field names of the model found at ``loc`` (best effort, for did-you-mean suggestions)."""
    from console.runbook import models

    names = [p for p in loc if isinstance(p, str)]
    if len(names) >= 2 and names[0] == "params":
        del names[1]  # a parameter's name is a key of the params mapping, not a field to look up
    model: Any = models.Runbook
    for part in names:
        fld = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if fld is None:
            return []
        ann = fld.annotation
        candidates = [a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")]
        for arg in getattr(ann, "__args__", ()):
            candidates += [a for a in getattr(arg, "__args__", ()) if hasattr(a, "model_fields")]
        if part == "params":
            candidates = [models.Param]
        if not candidates:
            return []
        model = candidates[0]
    return [f.alias or n for n, f in model.model_fields.items()]


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        key = (p.line, p.col, p.path, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _steps(root: CommentedMap) -> Iterator[tuple[Loc, dict[str, Any]]]:
    for section in STEP_SECTIONS:
        _, seq = _walk_data(root, section)
        if len(_walk_data(root, section)[0]) != len(section) or not isinstance(seq, list):
            continue
        for i, step in enumerate(seq):
            if isinstance(step, dict):
                yield section + (i,), step


def _string_column(node: Any, loc: Loc, positions: Positions, offset: int, lines: list[str]) -> tuple[int, int]:
    """Line and column of the placeholder at ``offset`` in a string value, found in the source text.

    The offset within the value is not the offset on the line for block scalars (``|``, ``>``), plain or quoted
    strings folded over several lines, and quoted strings with escapes, so the placeholder's own text is looked
    for from where the value starts, skipping as many earlier occurrences as the value itself has.
    """
    line, col = positions.of(loc)
    end = node.find("}", offset)
    token = node[offset : end + 1]
    nth = node.count(token, 0, offset)
    row, start = line - 1, col - 1
    while 0 <= row < len(lines) and token:
        idx = lines[row].find(token, start)
        while idx != -1:
            if nth == 0:
                return row + 1, idx + 1
            nth -= 1
            idx = lines[row].find(token, idx + 1)
        row, start = row + 1, 0
    quoted = isinstance(node, (DoubleQuotedScalarString, SingleQuotedScalarString))
    return line, col + offset + (1 if quoted else 0)


def _templated_strings(step_loc: Loc, step: dict[str, Any]) -> Iterator[tuple[Loc, Any]]:
    run = step.get("run")
    if isinstance(run, list):
        for i, word in enumerate(run):
            yield step_loc + ("run", i), word
    for fld in TEMPLATED_FIELDS:
        if fld in step:
            yield step_loc + (fld,), step[fld]
    env = step.get("env")
    if isinstance(env, dict):
        for k, v in env.items():
            yield step_loc + ("env", k), v
    expect = step.get("expect")
    if isinstance(expect, dict):
        for fld in ("output_matches", "output_not_matches"):
            if fld in expect:
                yield step_loc + ("expect", fld), expect[fld]
    if "instructions" in step:
        yield step_loc + ("instructions",), step["instructions"]
    tf = step.get("terraform")
    if isinstance(tf, dict):
        if "dir" in tf:
            yield step_loc + ("terraform", "dir"), tf["dir"]
        if isinstance(tf.get("vars"), dict):
            for k, v in tf["vars"].items():
                yield step_loc + ("terraform", "vars", k), v


def _reference_problems(name: str, root: CommentedMap, positions: Positions, text: str = "", runbook_dir: Path = Path("."),
                        read_manifests: bool = True, manifests: dict[str, str] | None = None) -> list[Problem]:
    problems: list[Problem] = []
    lines = text.split("\n")

    def add(loc: Loc, message: str, *, key: bool = False, at: tuple[int, int] | None = None, file: str | None = None) -> None:
        line, col = at or positions.of(loc, key=key)
        problems.append(Problem(file or name, line, col, dotted(loc), message))

    params = root.get("params") if isinstance(root.get("params"), dict) else {}
    known = set(params) | BUILTIN_PARAMS

    # Parameters used in commands must be declared (or built in).
    strings: list[tuple[Loc, Any]] = []
    for step_loc, step in _steps(root):
        strings.extend(_templated_strings(step_loc, step))
        strings.extend(templated_step_strings(step_loc, step))
    evidence = root.get("evidence")
    if isinstance(evidence, list):
        for i, item in enumerate(evidence):
            if isinstance(item, dict) and isinstance(item.get("run"), list):
                strings.extend((("evidence", i, "run", j), w) for j, w in enumerate(item["run"]))
    triggers = _walk_data(root, ("rollback", "triggers"))[1]
    if isinstance(triggers, list):
        for i, trig in enumerate(triggers):
            for key, value in (trig.items() if isinstance(trig, dict) else ()):
                if isinstance(value, str):
                    strings.append((("rollback", "triggers", i, key), value))
                elif isinstance(value, dict):
                    strings.extend((("rollback", "triggers", i, key, k), v) for k, v in value.items())
    # The change's identity is filled in before it has an ID or a folder: declared parameters and the target only.
    identity: list[tuple[Loc, str]] = []
    metadata = root.get("metadata") if isinstance(root.get("metadata"), dict) else {}
    for key in ("title", "from", "to"):
        if isinstance(metadata.get(key), str):
            identity.append((("metadata", key), metadata[key]))
    for key in ("why", "scope", "blast_radius"):
        if isinstance(root.get(key), str):
            identity.append(((key,), root[key]))
    identity_known = set(params) | IDENTITY_PARAMS
    for loc, value in identity:
        for ph in placeholders(value):
            if ph.name not in identity_known:
                hint = difflib.get_close_matches(ph.name, sorted(identity_known), n=1)
                extra = f" (did you mean {{{hint[0]}}}?)" if hint else ""
                add(loc, f"unknown parameter {{{ph.name}}}{extra}; the change's title, versions and why may name declared parameters, "
                         "context, environment and namespace", at=_string_column(value, loc, positions, ph.offset, lines))
    for loc, value in strings:
        if not isinstance(value, str):
            continue
        for ph in placeholders(value):
            if ph.name not in known:
                hint = difflib.get_close_matches(ph.name, sorted(known), n=1)
                extra = f" (did you mean {{{hint[0]}}}?)" if hint else ""
                if ph.name in JSONPATH_WORDS:
                    # kubectl's jsonpath ({range .items[*]}...{end}) uses the same braces as a placeholder.
                    extra = (f"; if this is kubectl's jsonpath {{{ph.name}}}, write it {{{{{ph.name}}}}} so it reaches "
                             "the command as it stands")
                add(loc, f"unknown parameter {{{ph.name}}}{extra}", at=_string_column(value, loc, positions, ph.offset, lines))
    format_problems(_steps(root), params, add)

    # Parameter defaults must satisfy their own declaration.
    for pname, pdecl in params.items():
        if isinstance(pdecl, dict) and pdecl.get("default") is not None:
            try:
                from console.runbook.models import Param

                coerce(str(pname), Param.model_validate(to_plain(pdecl)), to_plain(pdecl["default"]))
            except ParamError as exc:
                add(("params", pname, "default"), f"default does not fit: {exc}")
            except ValidationError:
                pass  # the model pass reports it

    # Step ids are unique across every section.
    seen: dict[str, Loc] = {}
    for step_loc, step in _steps(root):
        sid = step.get("id")
        if not isinstance(sid, str):
            continue
        if sid in seen:
            add(step_loc + ("id",), f"duplicate step id {sid!r} (first used at line {positions.line(seen[sid] + ('id',))})")
        else:
            seen[sid] = step_loc

    # A step's rollback names a rollback step; an apply's plan names a plan step; evidence names a step.
    rollback_ids = {
        s.get("id") for loc, s in _steps(root) if loc[:2] == ("rollback", "steps") and isinstance(s.get("id"), str)
    }
    for step_loc, step in _steps(root):
        ref = step.get("rollback")
        if ref is not None and step_loc[:2] != ("rollback", "steps"):
            refs: list[tuple[Loc, Any]] = [(step_loc + ("rollback",), ref)] if not isinstance(ref, list) else [
                (step_loc + ("rollback", i), r) for i, r in enumerate(ref)
            ]
            for loc, one in refs:
                if isinstance(one, str) and one not in rollback_ids:
                    choices = ", ".join(sorted(str(r) for r in rollback_ids)) or "there are no rollback steps"
                    add(loc, f"rollback step {one!r} does not exist under rollback.steps ({choices})")
        tf = step.get("terraform")
        if isinstance(tf, dict) and tf.get("plan") is not None:
            target = seen.get(tf["plan"])
            plan_step = _walk_data(root, target)[1] if target else None
            tf2 = plan_step.get("terraform") if isinstance(plan_step, dict) else None
            if not isinstance(tf2, dict) or tf2.get("action") != "plan":
                add(step_loc + ("terraform", "plan"), f"{tf['plan']!r} is not a terraform plan step")
    if isinstance(evidence, list):
        for i, item in enumerate(evidence):
            if isinstance(item, dict) and item.get("from_step") is not None and item["from_step"] not in seen:
                add(("evidence", i, "from_step"), f"step {item['from_step']!r} does not exist")
    # Manifests (their YAML, the parameters they name, where their files are) and what restores read back.
    texts = check_manifests(name, _steps(root), positions, text, runbook_dir, params, add, read_files=read_manifests)
    if manifests is not None:
        manifests.update(texts)
    check_restores(list(_steps(root)), add)
    return problems


def iter_steps(runbook: Runbook) -> Iterator[tuple[Loc, Step]]:
    """Each step of a valid runbook with its location in the document."""
    lists = {
        ("preconditions",): runbook.preconditions,
        ("gates",): runbook.gates,
        ("steps",): runbook.steps,
        ("verification",): runbook.verification,
        ("rollback", "steps"): runbook.rollback.steps,
    }
    for loc, steps in lists.items():
        for i, step in enumerate(steps):
            yield loc + (i,), step

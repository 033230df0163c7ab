"""Secrets written into a runbook's commands: what redaction would mask in a command's own text.

A literal password or token in a step's ``run``, ``env``, ``cwd`` or Terraform ``vars`` would run as written while
the record shows ``[REDACTED]``: the record could no longer say what ran, and the secret sits in a file that is
shared and versioned. :func:`literal_secrets` finds every such literal so a change can be refused before it starts,
with the place to fix and what to do instead (a parameter marked ``secret: true``). Pure: it reads the loaded
runbook and asks the redactor; no IO.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from console.engine.manifests import manifest_literal_secrets
from console.engine.redact import Redactor
from console.engine.secret_scan import Span
from console.runbook.loader import LoadedRunbook, Loc, Problem, dotted, iter_steps

# A placeholder ({name}) or a shell variable ($NAME, ${NAME}) is not a literal: its value comes in at run time.
_NOT_LITERAL = re.compile(r"\{\{?[A-Za-z_][A-Za-z0-9_-]*\}\}?|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")
_ALNUM = re.compile(r"[A-Za-z0-9]")
_LETTER = re.compile(r"[A-Za-z]")


def literal_secrets(loaded: LoadedRunbook, redactor: Redactor) -> list[Problem]:
    """Every literal in the runbook's command text that redaction would alter, sorted by where it is."""
    lines = loaded.text.split("\n")
    found: list[Problem] = []
    for loc, text, spans, offset, before in _command_texts(loaded, redactor):
        for start, end in spans:
            start = max(start, offset)
            if end <= start:
                continue  # the env or Terraform variable's own name
            secret = text[start:end]
            if not _ALNUM.search(_NOT_LITERAL.sub("", secret)):
                continue
            shown_from = _token_start(text, start)
            while shown_from > 0 and not _LETTER.search(text[shown_from:start]):
                shown_from = _token_start(text, shown_from - 1)  # "Bearer ab…" rather than "ab…"
            shown = text[shown_from:start] + _hint(secret)
            if start == 0 and before.startswith("-"):
                shown = f"{before} {shown}"  # the flag that makes the word a secret: --password X
            line, col = _locate(loaded, loc, text[offset:], start - offset, secret, lines)
            found.append(Problem(
                str(loaded.path), line, col, dotted(loc),
                f"{shown} is a secret written into the runbook (the record would show [REDACTED], not what ran); "
                "pass it as a parameter declared with secret: true and write {name} here instead",
            ))
    # Manifests are copied into the record as applied: a literal secret in one is refused the same way.
    found.extend(manifest_literal_secrets(loaded, redactor))
    found.sort(key=lambda p: (p.file != str(loaded.path), p.line, p.col, p.path))
    return found


def _command_texts(loaded: LoadedRunbook, redactor: Redactor) -> Iterator[tuple[Loc, str, list[Span], int, str]]:
    """(location, text, masked spans, where the value starts in the text, the argv word before) for each command field.

    An env or Terraform variable is checked as ``NAME=value``, the way the command receives it, so its name tells
    whether the value is a secret; only spans inside the value count.
    """
    runbook = loaded.runbook
    for loc, step in iter_steps(runbook):
        if step.run:
            yield from _argv(loc + ("run",), step.run, redactor)
        for key, value in step.env.items():
            text = f"{key}={value}"
            yield loc + ("env", key), text, redactor.spans(text), len(key) + 1, ""
        if step.cwd:
            yield loc + ("cwd",), step.cwd, redactor.spans(step.cwd), 0, ""
        if step.terraform is not None:
            for key, value in step.terraform.vars.items():
                text = f"{key}={value}"
                yield loc + ("terraform", "vars", key), text, redactor.spans(text), len(key) + 1, ""
    for i, item in enumerate(runbook.evidence):
        if item.run:
            yield from _argv(("evidence", i, "run"), item.run, redactor)


def _argv(loc: Loc, argv: Sequence[str], redactor: Redactor) -> Iterator[tuple[Loc, str, list[Span], int, str]]:
    # Word by word with the words around (``--password X``, ``mysql -pX``), as the journal's argv is redacted.
    for i, (word, spans) in enumerate(zip(argv, redactor.argv_spans(argv), strict=True)):
        yield loc + (i,), word, spans, 0, argv[i - 1] if i else ""


def _hint(secret: str) -> str:
    """The first characters of a secret and an ellipsis: enough to find it, too little to use it."""
    return secret[: min(2, len(secret) // 3)] + "…"


def _token_start(text: str, at: int) -> int:
    """Where the word holding ``at`` starts, so the message shows the name with the value (``DB_PASSWORD=hu…``)."""
    start = at
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in "\"'":
        start -= 1
    return start


def _locate(loaded: LoadedRunbook, loc: Loc, value: str, offset: int, needle: str, lines: list[str]) -> tuple[int, int]:
    """Line and column of ``needle`` (found at ``offset`` in the field's ``value``) in the runbook's source.

    The field's own position is where its scalar starts; the literal is looked for from there, skipping as many earlier
    occurrences as the value itself has. A scalar written with escapes or folded over lines may not hold the literal
    verbatim: then the field's position is the answer.
    """
    line, col = loaded.positions.of(loc)
    nth = value.count(needle, 0, offset) if needle else 0
    row, start = line - 1, col - 1
    while needle and 0 <= row < len(lines) and row < line - 1 + 50:
        idx = lines[row].find(needle, start)
        while idx != -1:
            if nth == 0:
                return row + 1, idx + 1
            nth -= 1
            idx = lines[row].find(needle, idx + 1)
        row, start = row + 1, 0
    return line, col

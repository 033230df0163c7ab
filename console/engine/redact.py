"""Redaction: secrets are replaced by ``[REDACTED]`` before any text reaches a file, the journal or the screen.

Two layers. :class:`Redactor` works on one piece of text (a journal value, a command line): secret parameter
values, bearer tokens, ``password=``/``token=`` pairs, AWS-style keys, and whole PEM private-key blocks.
:class:`StreamRedactor` works on command output line by line and adds what needs memory across lines: the inside
of a PEM block, and the ``data:``/``stringData:`` values of Kubernetes Secrets printed as YAML or JSON. kubectl
prints ``data`` *before* ``kind``, so a data block is held back until the object says what kind it is; the hold
is bounded, and a block still undecided when the bound is hit is redacted (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"
MIN_SECRET_LEN = 4  # shorter values would blank out ordinary words; params.resolve refuses them as secrets

BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = (
    ("bearer", r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    ("basic-auth-url", r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(?=@)"),
    ("pair", r"(?i)(\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|client[_-]?secret|auth)"
             r"[\"']?\s*[=:]\s*[\"']?)[^\s\"',;&}]+"),
    ("aws-access-key", r"()\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
    ("aws-secret", r"(?i)(aws_secret_access_key[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{20,}"),
    ("pem-inline", r"()-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----"),
)

PEM_BEGIN = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
PEM_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY-----")


class Redactor:
    """Replaces secrets in a single piece of text; built from the change's secret values and policy patterns."""

    def __init__(self, secrets: Iterable[str] = (), extra_patterns: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        patterns = [re.compile(p, re.DOTALL) for _name, p in BUILTIN_PATTERNS]
        for extra in extra_patterns:
            rx = re.compile(extra)
            # A policy pattern with one group keeps what precedes the secret; otherwise the whole match goes.
            patterns.append(rx if rx.groups else re.compile(f"()(?:{extra})"))
        self.patterns = patterns

    def add_secret(self, value: str) -> None:
        if value and len(value) >= MIN_SECRET_LEN and value not in self.secrets:
            self.secrets = sorted([*self.secrets, value], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        if not text:
            return text
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for rx in self.patterns:
            text = rx.sub(lambda m: (m.group(1) or "") + MASK, text)
        return text

    def redact_data(self, value: Any) -> Any:
        """A JSON-like value with every string in it redacted (for journal event data)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self.redact_data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_data(v) for v in value]
        return value


_YAML_KEY = re.compile(r"^(?P<indent>\s*(?:-\s+)*)(?P<key>[A-Za-z0-9_.\"-]+)\s*:(?P<rest>.*)$")
_YAML_DATA = re.compile(r"^(?P<indent>\s*(?:-\s+)*)(?P<key>data|stringData)\s*:\s*$")
_JSON_DATA = re.compile(r'^(?P<indent>\s*)"(?P<key>data|stringData)"\s*:\s*\{\s*$')
_KIND_SECRET = re.compile(r'^\s*(?:-\s+)?"?kind"?\s*:\s*"?Secret"?,?\s*$')
_KIND_ANY = re.compile(r'^\s*(?:-\s+)?"?kind"?\s*:')
_YAML_VALUE = re.compile(r"^(\s*[A-Za-z0-9_.\-/\"]+\s*:\s*)(\S.*)$")
_JSON_VALUE = re.compile(r'^(\s*"[^"]+"\s*:\s*)"[^"]*"(,?)\s*$')


class StreamRedactor:
    """Redacts command output line by line, remembering PEM blocks and Secret data blocks across lines."""

    def __init__(self, redactor: Redactor, *, hold_limit: int = 5000) -> None:
        self.redactor = redactor
        self.hold_limit = hold_limit
        self._in_pem = False
        self._held: list[str] = []
        self._held_indent = -1
        self._held_json = False
        self._block_open = False  # still inside the data block (vs. waiting for the kind after it)
        self._masking: int | None = None  # indent of a data block released masked at the hold limit, still going

    @property
    def idle(self) -> bool:
        """Holding nothing and inside no PEM block: the next lines can be redacted without this object's memory."""
        return not self._in_pem and not self._held

    def feed(self, line: str) -> list[str]:
        """Lines safe to release now (possibly none while a data block waits for its kind)."""
        out: list[str] = []
        if self._masking is not None:
            # The rest of a block released at the hold limit is as undecided as its start: keep masking it.
            if line.strip() and len(line) - len(line.lstrip()) > self._masking:
                return [_mask_value(line, self._held_json)]
            self._masking = None
        if self._in_pem:
            if PEM_END.search(line):
                self._in_pem = False
                return self._emit(MASK + line[PEM_END.search(line).end():], out)
            return self._emit(MASK if not self._held else None, out)
        begin = PEM_BEGIN.search(line)
        if begin and not PEM_END.search(line, begin.end()):
            self._in_pem = True
            return self._emit(self.redactor.redact(line[: begin.start()]) + MASK, out)
        if self._held:
            return self._continue_hold(line, out)
        m = _YAML_DATA.match(line) or _JSON_DATA.match(line)
        if m:
            self._held = [line]
            self._held_indent = _indent_of(m.group("indent"))
            self._held_json = line.lstrip().startswith('"')
            self._block_open = True
            return out
        return self._emit(self.redactor.redact(line), out)

    def _emit(self, line: str | None, out: list[str]) -> list[str]:
        if line is None:
            return out
        if self._held:
            self._held.append(line)
        else:
            out.append(line)
        return out

    def _continue_hold(self, line: str, out: list[str]) -> list[str]:
        indent = _indent_of(_YAML_KEY.match(line).group("indent")) if _YAML_KEY.match(line) else len(line) - len(line.lstrip())
        if self._block_open:
            closing_json = self._held_json and line.strip() in ("}", "},") and indent <= self._held_indent
            if closing_json or (not self._held_json and line.strip() and indent <= self._held_indent):
                self._block_open = False
                if closing_json:
                    self._held.append(line)
                    return out
            else:
                self._held.append(line)
                return self._check_limit(out)
        # After the block: wait for the object's kind at the block's own level.
        if _KIND_SECRET.match(line) and indent == self._held_indent:
            return self._release(out, secret=True, then=line)
        if (_KIND_ANY.match(line) and indent == self._held_indent) or (line.strip() and indent < self._held_indent):
            return self._release(out, secret=False, then=line)
        self._held.append(line)
        return self._check_limit(out)

    def _check_limit(self, out: list[str]) -> list[str]:
        if len(self._held) >= self.hold_limit:
            if self._block_open:
                self._masking = self._held_indent
            return self._release(out, secret=True, then=None)
        return out

    def _release(self, out: list[str], *, secret: bool, then: str | None) -> list[str]:
        held, self._held = self._held, []
        block_header, rest = held[0], held[1:]
        out.append(self.redactor.redact(block_header))
        in_block = True
        for h in rest:
            h_indent = len(h) - len(h.lstrip())
            if in_block and secret and h.strip() and h_indent > self._held_indent:
                out.append(_mask_value(h, self._held_json))
            else:
                if h.strip() and h_indent <= self._held_indent:
                    in_block = False
                out.append(self.redactor.redact(h))
        if then is not None:
            out.extend(self.feed(then))
        return out

    def flush(self) -> list[str]:
        """Release anything still held at the end of the output (undecided data blocks are redacted)."""
        if not self._held:
            return []
        return self._release([], secret=True, then=None)


def _indent_of(prefix: str) -> int:
    return len(prefix)


def _mask_value(line: str, is_json: bool) -> str:
    if is_json:
        m = _JSON_VALUE.match(line)
        return f'{m.group(1)}"{MASK}"{m.group(2)}' if m else MASK
    m = _YAML_VALUE.match(line)
    return f"{m.group(1)}{MASK}" if m else " " * (len(line) - len(line.lstrip())) + MASK

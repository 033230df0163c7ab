"""Redaction: secrets are replaced by ``[REDACTED]`` before any text reaches a file, the journal or the screen.

Two layers. :class:`Redactor` works on one piece of text (a journal value, a command line, a batch of output): the
change's secret parameter values, the policy's own patterns, whole private-key blocks, and the rule table of
``secret_rules.py`` (token shapes ported from detect-secrets, values held by secret-looking names, secrets in
command lines). :class:`StreamRedactor` works on command output line by line and adds what needs memory across
lines: the inside of a private-key block, PuTTY's private lines, the value line after a Kubernetes env entry's
secret-looking name, and the ``data:``/``stringData:`` values of Kubernetes Secrets printed as YAML or JSON. kubectl
prints ``data`` *before* ``kind``, so a data block is held back until the object says what kind it is; the hold is
bounded, and a block still undecided when the bound is hit is redacted (fail closed).

Speed: the rule table's exact patterns are Python ``re``, which scans text at some 15,000 lines a second when
dozens of patterns are tried everywhere. Each rule also has an RE2 prefilter, and one RE2 set pass over a whole
text (millions of lines a second) says which rules can match at all; each of those rules' prefilter then points
at the lines where it hit, and the exact pattern runs on those lines only.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate
from typing import Any

from console.engine import secret_rules as sr

try:
    import re2  # google-re2: linear-time matching, no backtracking; the prefilter that keeps capture fast
except ImportError:  # pragma: no cover - tested in a subprocess where the import fails
    # Without it every exact pattern scans every text: the same result, at Python re's speed.
    re2 = None

MASK = "[REDACTED]"
MIN_SECRET_LEN = 4  # shorter values would blank out ordinary words; params.resolve refuses them as secrets

# (name, Python pattern) of every built-in rule, for reference and for policy authors reading the code.
BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = tuple((rule.name, rule.pattern) for rule in sr.RULES)

_FLAGS = re.ASCII | re.MULTILINE  # ASCII: RE2's \w, \s, \b and case folding cover Python's, so it never misses
PEM_BEGIN = re.compile(sr.PEM_BEGIN)
PEM_END = re.compile(sr.PEM_END)
_PEM_BLOCK = re.compile(sr.PEM_BEGIN + r".*?(?:" + sr.PEM_END + r"|\Z)", re.DOTALL)  # no END: mask to the end
_PUTTY = re.compile(sr.PUTTY_PRIVATE_LINES, re.MULTILINE)
_ENV_NAME_LINE = re.compile(
    r"(?i)^[ \t]*(?:-[ \t]+)?[\"']?name[\"']?[ \t]*:[ \t]*[\"']?[A-Za-z0-9_.-]{0,128}" + sr.NAME_SUFFIX
    + r"""["']?,?[ \t]*\r?$""", re.ASCII,
)
_ENV_VALUE_LINE = re.compile(r"""(?i)^[ \t]*["']?value["']?[ \t]*:""")
# A whole argv word that may stand as a secret (not a flag, placeholder, boolean or kubectl stand-in).
_WORD_VALUE = re.compile(sr.NOT_A_VALUE + r"(?!-)\S", re.ASCII)
_KEY_VALUE = re.compile(sr.NOT_A_VALUE + r"\S", re.ASCII)
# Flags whose next argv word is a secret: --password, --db-token, -client-secret, keytool's -storepass, openssl's -passin.
_SECRET_FLAG = re.compile(
    r"(?i)--?[A-Za-z0-9_.-]{0,128}" + sr.NAME_SUFFIX + r"|-(?:src|dest|new)?(?:store|key)?pass(?:in|out)?", re.ASCII
)
_SECRET_KEY = re.compile(r"(?i)[A-Za-z0-9_.-]{0,128}" + sr.NAME_SUFFIX, re.ASCII)
_MYSQL_WORD = re.compile(r"(?:.*/)?" + sr.MYSQL_COMMANDS)
_GLUED_P = re.compile(r"-p(?=\S)")
_REGISTRY_LOGIN = frozenset({"docker", "podman", "nerdctl", "buildah", "skopeo", "oras", "helm"})

# Output that needs StreamRedactor's memory across lines (a key block, PuTTY's private lines, a Secret's data block,
# an env entry whose value is on the next line). RE2 syntax and Python syntax alike; it may over-match (a certificate,
# a ConfigMap's data), which only sends those lines the slower way.
STATEFUL_MARKERS = (
    r"-{4,5} ?BEGIN |^[ \t]*Private-Lines:|"
    r'^[ \t]*(?:-[ \t]+)*"?(?:data|stringData)"?[ \t]*:[ \t]*\{?[ \t]*\r?$|'
    r"""^[ \t]*(?:-[ \t]+)?["']?(?i:name)["']?[ \t]*:[ \t]*["']?[A-Za-z0-9_.-]*""" + sr.NAME_SUFFIX_RE2
    + r"""["']?,?[ \t]*\r?$"""
)

Span = tuple[int, int]


class _CompiledRules:
    """The rule table compiled once per process: exact Python patterns, and the RE2 set and prefilters."""

    def __init__(self, rules: Sequence[sr.SecretRule]) -> None:
        self.exact = [re.compile(rule.pattern, _FLAGS) for rule in rules]
        self.lines = [rule.lines for rule in rules]
        self.screen: Any = None
        self.prefilters: list[Any] = []
        self.anywhere: Any = None
        if re2 is not None:
            screen = re2.Set.SearchSet(_re2_options())
            for rule in rules:
                screen.Add("(?m)" + rule.prefilter)
            screen.Compile()
            self.screen = screen
            self.prefilters = [re2.compile("(?m)" + rule.prefilter, _re2_options()) for rule in rules]
            self.anywhere = re2.compile("(?m)" + "|".join(f"(?:{rule.prefilter})" for rule in rules), _re2_options())

    def spans(self, text: str, *, prefilter: bool) -> list[Span]:
        """Where the rules' secrets are in ``text``."""
        found: list[Span] = []
        # RE2 offsets are bytes; for ASCII text (almost all command output) they are the str offsets as well.
        ascii_only = text.isascii()
        try:
            source = text.encode("ascii") if ascii_only else text.encode("utf-8")
        except UnicodeEncodeError:
            source = b""  # a lone surrogate is no UTF-8 for RE2 to read: such a text goes the slow, exact way
        if self.screen is None or not prefilter or not source:
            for rx in self.exact:
                found.extend(_masked(m) for m in rx.finditer(text))
            return found
        hits = self.screen.Match(source)  # which rules can match anywhere in the text: one pass
        if not hits:
            return found
        rules = sorted(hits)
        if ascii_only and len(rules) <= 2:
            # One or two rules: each one's prefilter walks the text to the lines it hit (a scan per rule).
            for index in rules:
                self._walk(text, source, index, found)
            return found
        # Several rules: one scan with every prefilter at once marks the lines to look at; on each, only the rules
        # that hit somewhere are tried. A hit marks the line it starts on and the one it ends on (env entries span two).
        lines = None if ascii_only else _LineIndex(text, source)
        last = -1
        for hit in self.anywhere.finditer(source):
            for at in (hit.start(), max(hit.start(), hit.end() - 1)):
                start = source.rfind(b"\n", 0, at) + 1
                if start > last:
                    last = start
                    for index in rules:
                        self._try_line(text, source, index, start, lines, found)
        return found

    def _walk(self, text: str, source: bytes, index: int, found: list[Span]) -> None:
        rx, lines = self.exact[index], self.lines[index]
        done = -1
        for hit in self.prefilters[index].finditer(source):
            start = hit.start()
            if start >= done:
                done = _line_end(text, start, lines)
                _search(rx, text, start, done, found)

    def _try_line(self, text: str, source: bytes, index: int, start: int, lines: _LineIndex | None, found: list[Span]) -> None:
        end = _line_end(source, start, self.lines[index])
        hit = self.prefilters[index].search(source, start, end)
        if hit is None:
            return
        if lines is None:
            _search(self.exact[index], text, hit.start(), end, found)
        else:
            # Byte offsets are not str offsets here: search the whole line (or pair of lines) from its start.
            _search(self.exact[index], text, *lines.chars(start, end), found)


def _search(rx: re.Pattern[str], text: str, start: int, end: int, found: list[Span]) -> None:
    """Every match of ``rx`` in ``text[start:end]`` (with the text around for lookarounds).

    A prefilter hit starts no later than the exact pattern can on its line, so searching from the hit to the line's
    end finds every match the exact pattern has on that line.
    """
    m = rx.search(text, start, end)
    while m is not None:
        found.append(_masked(m))
        if m.end() >= end:
            return
        m = rx.search(text, max(m.end(), m.start() + 1), end)


def _line_end(text: Any, pos: int, lines: int) -> int:
    """Where the line holding ``pos`` ends (or the line after it, for ``lines=2``); works on str and bytes."""
    newline = "\n" if isinstance(text, str) else b"\n"
    end = pos - 1
    for _ in range(lines):
        end = text.find(newline, end + 1)
        if end < 0:
            return len(text)
    return end


class _LineIndex:
    """Line starts in a non-ASCII text and in its UTF-8 bytes, to turn a byte range of whole lines into str offsets."""

    def __init__(self, text: str, source: bytes) -> None:
        self.byte_starts = [0, *accumulate(len(line) + 1 for line in source.split(b"\n"))]
        self.char_starts = [0, *accumulate(len(line) + 1 for line in text.split("\n"))]

    def chars(self, start: int, end: int) -> tuple[int, int]:
        first = bisect_left(self.byte_starts, start)
        last = bisect_left(self.byte_starts, end + 1) - 1  # the line ``end`` closes
        return self.char_starts[first], self.char_starts[last + 1] - 1


def _masked(m: re.Match[str]) -> Span:
    """The secret part of a match: after group 1 when there is one (the name, flag or scheme that stays)."""
    if m.re.groups and m.start(1) >= 0:
        return m.end(1), m.end()
    return m.start(), m.end()


_RULES: _CompiledRules | None = None


def _rules() -> _CompiledRules:
    global _RULES
    if _RULES is None:
        _RULES = _CompiledRules(sr.RULES)
    return _RULES


# Python's \s in a str pattern (what str.isspace() calls space); RE2's \s is only [\t\n\f\r ].
_PY_SPACE = r"\t\n\v\f\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
# Escapes whose meaning differs between Python (Unicode) and RE2 (ASCII) with no safe translation here.
_UNICODE_CLASSES = frozenset("dDwWbB")


def policy_screen(pattern: str) -> Any:
    """An RE2 regex that matches every text the Python ``pattern`` matches, or None when none can be made safely.

    A policy pattern is the operator's own Python regex; running it over every batch costs what the whole rule table
    costs with its prefilter. Where the pattern's meaning carries over to RE2 (ASCII source, no lookarounds or
    backreferences, none of ``\\d \\w \\b``), a screen built from it tells in one RE2 pass whether it can match at all.
    ``\\s`` becomes Python's own set of spaces; ``^`` and ``$`` are read per line, which only widens what matches.
    """
    if re2 is None or not pattern.isascii() or "{," in pattern:
        return None
    out: list[str] = []
    in_class = negated = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in _UNICODE_CLASSES:
                return None
            if nxt == "s":
                out.append(r"\s" if negated else (_PY_SPACE if in_class else f"[{_PY_SPACE}]"))
            elif nxt == "S" and in_class and negated:
                return None  # [^\S] is Python's spaces, wider than RE2's
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]" and not out[-1].endswith(("[", "[^")):
                in_class = negated = False
        elif ch == "[":
            in_class = True
            negated = pattern.startswith("[^", i)
            out.append("[^" if negated else "[")
            i += 2 if negated else 1
            continue
        out.append(ch)
        i += 1
    try:
        return re2.compile("(?m)" + "".join(out), _re2_options())
    except re2.error:
        return None  # lookarounds, backreferences, possessive repeats, verbose mode: Python only


def _re2_options() -> Any:
    options = re2.Options()
    options.max_mem = 64 << 20  # room for the DFAs over large batches (a set's DFA has no slower fallback)
    return options


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Spans sorted, with overlapping and touching ones joined, so each secret becomes one mask."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def apply_spans(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each (merged) span replaced by the mask."""
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)


class Redactor:
    """Replaces secrets in a single piece of text; built from the change's secret values and policy patterns.

    ``prefilter=False`` runs the exact patterns over all of every text (what happens anyway when google-re2 is not
    installed); the result is the same, only slower.
    """

    def __init__(self, secrets: Iterable[str] = (), extra_patterns: Iterable[str] = (), *, prefilter: bool = True) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        # A policy pattern with a group keeps what precedes its first group's end; otherwise the whole match goes.
        # It runs as Python re over the whole text, behind an RE2 screen when one can be built that never misses.
        self.extra = [(re.compile(p), policy_screen(p) if prefilter else None) for p in extra_patterns]
        self.prefilter = prefilter
        self._rules = _rules()

    def add_secret(self, value: str) -> None:
        if value and len(value) >= MIN_SECRET_LEN and value not in self.secrets:
            self.secrets = sorted([*self.secrets, value], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        if not text:
            return text
        spans = self.spans(text)
        return apply_spans(text, spans) if spans else text

    def spans(self, text: str) -> list[Span]:
        """Where the secrets in ``text`` are, as merged (start, end) offsets: what :meth:`redact` masks."""
        found: list[Span] = []
        for secret in self.secrets:
            at = text.find(secret)
            while at >= 0:
                found.append((at, at + len(secret)))
                at = text.find(secret, at + len(secret))
        if "PRIVATE KEY" in text:
            found.extend(m.span() for m in _PEM_BLOCK.finditer(text))
        if "Private-Lines:" in text:
            found.extend(_putty_spans(text))
        found.extend(self._rules.spans(text, prefilter=self.prefilter))
        source: bytes | None = None
        for rx, screen in self.extra:
            if screen is not None and source != b"":
                if source is None:
                    try:
                        source = text.encode("utf-8")
                    except UnicodeEncodeError:
                        source = b""  # a lone surrogate is no UTF-8 for RE2 to read: every pattern runs
                if source and screen.search(source) is None:
                    continue
            found.extend(_masked(m) for m in rx.finditer(text))
        return merge_spans(s for s in found if s[0] < s[1])

    def redact_data(self, value: Any) -> Any:
        """A JSON-like value with every string in it redacted (for journal event data).

        A list of strings is read as an argv, so a secret in the word after ``--password`` goes too.
        """
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self._redact_entry(k, v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            if value and all(isinstance(v, str) for v in value):
                return self.redact_argv(value)
            return [self.redact_data(v) for v in value]
        return value

    def _redact_entry(self, key: Any, value: Any) -> Any:
        # A string held under a secret-looking key (a parameter named db_password, an env entry GITHUB_TOKEN) is a
        # secret whatever it looks like; booleans, placeholders and the like are not (see NOT_A_VALUE).
        if isinstance(key, str) and isinstance(value, str) and _SECRET_KEY.fullmatch(key) and _KEY_VALUE.match(value):
            return MASK
        return self.redact_data(value)

    def redact_argv(self, argv: Sequence[str]) -> list[str]:
        """Each word of a command redacted, with what only the words around it show: the word after a secret flag
        (``--password X``), ``-pX`` for mysql, ``-p X`` for a registry login, the password in curl's ``-u user:X``."""
        return [apply_spans(word, spans) if spans else word for word, spans in zip(argv, self.argv_spans(argv))]

    def argv_spans(self, argv: Sequence[str]) -> list[list[Span]]:
        """The spans :meth:`redact_argv` masks, word by word."""
        out = [self.spans(word) for word in argv]
        mysql = registry = login = curl = False
        for i, word in enumerate(argv):
            before = argv[i - 1] if i else ""
            whole: Span | None = None
            if _SECRET_FLAG.fullmatch(before) and _WORD_VALUE.match(word):
                whole = (0, len(word))
            elif mysql and _GLUED_P.match(word) and _WORD_VALUE.match(word, 2):
                whole = (2, len(word))
            elif login and before == "-p" and _WORD_VALUE.match(word):
                whole = (0, len(word))
            elif curl and before in ("-u", "--user", "--proxy-user", "-U") and ":" in word:
                whole = (word.index(":") + 1, len(word))
            if whole is not None and whole[0] < whole[1]:
                out[i] = merge_spans([*out[i], whole])
            base = word.rsplit("/", 1)[-1]
            mysql = mysql or bool(_MYSQL_WORD.fullmatch(word))
            login = login or (registry and word == "login")
            registry = registry or base in _REGISTRY_LOGIN
            curl = curl or base == "curl"
        return out


def _putty_spans(text: str) -> list[Span]:
    """PuTTY key files: the N lines after ``Private-Lines: N`` are the private key."""
    spans = []
    for m in _PUTTY.finditer(text):
        start = text.find("\n", m.end())
        if start < 0:
            continue
        end = start
        for _ in range(int(m.group(1))):
            nxt = text.find("\n", end + 1)
            end = len(text) if nxt < 0 else nxt
            if nxt < 0:
                break
        spans.append((start + 1, end))
    return spans


def stateful_screen() -> Any:
    """A compiled search (over bytes) for output that needs :class:`StreamRedactor`'s memory: RE2 when installed."""
    if re2 is not None:
        return re2.compile("(?m)" + STATEFUL_MARKERS)
    return re.compile(STATEFUL_MARKERS.encode(), re.MULTILINE)


_YAML_KEY = re.compile(r"^(?P<indent>\s*(?:-\s+)*)(?P<key>[A-Za-z0-9_.\"-]+)\s*:(?P<rest>.*)$")
_YAML_DATA = re.compile(r"^(?P<indent>\s*(?:-\s+)*)(?P<key>data|stringData)\s*:\s*$")
_JSON_DATA = re.compile(r'^(?P<indent>\s*)"(?P<key>data|stringData)"\s*:\s*\{\s*$')
_KIND_SECRET = re.compile(r'^\s*(?:-\s+)?"?kind"?\s*:\s*"?Secret"?,?\s*$')
_KIND_ANY = re.compile(r'^\s*(?:-\s+)?"?kind"?\s*:')
_YAML_VALUE = re.compile(r"^(\s*[A-Za-z0-9_.\-/\"]+\s*:\s*)(\S.*)$")
_JSON_VALUE = re.compile(r'^(\s*"[^"]+"\s*:\s*)"[^"]*"(,?)\s*$')


class StreamRedactor:
    """Redacts command output line by line, remembering key blocks, env entries and Secret data blocks across lines."""

    def __init__(self, redactor: Redactor, *, hold_limit: int = 5000) -> None:
        self.redactor = redactor
        self.hold_limit = hold_limit
        self._in_pem = False
        self._held: list[str] = []
        self._held_indent = -1
        self._held_json = False
        self._block_open = False  # still inside the data block (vs. waiting for the kind after it)
        self._masking: int | None = None  # indent of a data block released masked at the hold limit, still going
        self._putty_left = 0  # PuTTY private-key lines still to come
        self._env_value_next = False  # the line before named a secret-looking env variable

    @property
    def idle(self) -> bool:
        """Holding nothing and expecting nothing: the next lines can be redacted without this object's memory."""
        return not self._in_pem and not self._held and not self._putty_left and not self._env_value_next

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
        if self._putty_left:
            self._putty_left -= 1
            return self._emit(MASK, out)
        if self._env_value_next:
            self._env_value_next = False
            if _ENV_VALUE_LINE.match(line):
                return self._emit(_mask_value(line, line.lstrip().startswith('"')), out)
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
        putty = _PUTTY.match(line)
        if putty:
            self._putty_left = int(putty.group(1))
        elif _ENV_NAME_LINE.match(line):
            self._env_value_next = True  # kubectl prints an env entry's name, then its value on the next line
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

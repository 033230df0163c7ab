"""Where secrets are in a text: the rule table compiled for Python ``re``, screened by RE2.

The rules' exact patterns (``secret_rules.py``) are Python ``re``, which scans text at some 15,000 lines a second when
dozens of patterns are tried everywhere. Each rule also has an RE2 prefilter: one RE2 set pass over a whole text
(millions of lines a second) says which rules can match at all, their prefilters point at the lines where they hit,
and the exact patterns run on those lines only. :func:`policy_screen` does the same for an operator's own pattern
where its meaning carries over to RE2, and the same set pass finds the output that needs ``StreamRedactor``'s memory
across lines (:meth:`RuleScanner.batch_spans`). Without google-re2 every exact pattern scans every text: the same result,
at Python re's speed.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from functools import partial
from itertools import accumulate
from typing import Any

from console.engine import secret_rules as sr

try:
    import re2  # google-re2: linear-time matching, no backtracking; the prefilter that keeps capture fast
except ImportError:  # pragma: no cover - tested in a subprocess where the import fails
    re2 = None

Span = tuple[int, int]
Locate = Callable[[bytes, int, int], Sequence[Span]]
_NO_MATCH: Span = (-1, -1)

_FLAGS = re.ASCII | re.MULTILINE  # ASCII: RE2's \w, \s, \b and case folding cover Python's, so it never misses

# Output that needs StreamRedactor's memory across lines (a key block, PuTTY's private lines, a Secret's data block,
# an env entry whose value is on the next line). RE2 syntax and Python syntax alike; it may over-match (a certificate,
# a ConfigMap's data), which only sends those lines the slower way.
STATEFUL_MARKERS = (
    r"-{4,5} ?BEGIN |^[ \t]*Private-Lines:|"
    r'^[ \t]*(?:-[ \t]+)*"?(?:data|stringData)"?[ \t]*:[ \t]*\{?[ \t]*\r?$|'
    r"""^[ \t]*(?:-[ \t]+)?["']?(?i:name)["']?[ \t]*:[ \t]*["']?[A-Za-z0-9_.-]*""" + sr.NAME_SUFFIX_RE2
    + r"""["']?,?[ \t]*\r?$"""
)


class RuleScanner:
    """The rule table compiled: exact Python patterns, and the RE2 set and prefilters that say where to run them."""

    def __init__(self, rules: Sequence[sr.SecretRule]) -> None:
        self.exact = [re.compile(rule.pattern, _FLAGS) for rule in rules]
        self.lines = [rule.lines for rule in rules]
        self.screen: Any = None
        self.prefilters: list[Any] = []
        self.anywhere: Any = None
        self._locate: list[Locate] = []
        self._locate_any: Locate | None = None
        # Last in the set, the markers of output that needs StreamRedactor's memory: a batch of output learns whether it
        # can be redacted as a whole in the same pass that says which rules can match in it.
        self._stateful = len(rules)
        self._stateful_py = re.compile(STATEFUL_MARKERS, re.MULTILINE)
        if re2 is not None:
            screen = re2.Set.SearchSet(_re2_options())
            for rule in rules:
                screen.Add("(?m)" + rule.prefilter)
            screen.Add("(?m)" + STATEFUL_MARKERS)
            screen.Compile()
            self.screen = screen
            self.prefilters = [re2.compile("(?m)" + rule.prefilter, _re2_options()) for rule in rules]
            self.anywhere = re2.compile("(?m)" + "|".join(f"(?:{rule.prefilter})" for rule in rules), _re2_options())
            self._locate = [locator(rx) for rx in self.prefilters]
            self._locate_any = locator(self.anywhere)
        self._grouped = [rx.groups > 0 for rx in self.exact]

    def spans(self, text: str, *, prefilter: bool) -> list[Span]:
        """Where the rules' secrets are in ``text``."""
        found = self._scan(text, prefilter=prefilter, batch=False)
        assert found is not None  # only a batch scan stops at the markers
        return found

    def batch_spans(self, text: str, *, prefilter: bool) -> list[Span] | None:
        """Where the rules' secrets are in a batch of output lines, or None if the batch holds output that needs
        ``StreamRedactor``'s memory across lines (``STATEFUL_MARKERS``: a key block, a Secret's data, an env entry)."""
        return self._scan(text, prefilter=prefilter, batch=True)

    def _scan(self, text: str, *, prefilter: bool, batch: bool) -> list[Span] | None:
        found: list[Span] = []
        # RE2 offsets are bytes; for ASCII text (almost all command output) they are the str offsets as well.
        ascii_only = text.isascii()
        try:
            source = text.encode("ascii") if ascii_only else text.encode("utf-8")
        except UnicodeEncodeError:
            source = b""  # a lone surrogate is no UTF-8 for RE2 to read: such a text goes the slow, exact way
        if self.screen is None or not prefilter or not source:
            if batch and self._stateful_py.search(text):
                return None
            for rx in self.exact:
                found.extend(secret_span(m) for m in rx.finditer(text))
            return found
        hits = self.screen.Match(source)  # which rules can match anywhere in the text (and the markers): one pass
        if not hits:
            return found
        if self._stateful in hits:
            if batch:
                return None
            hits = [index for index in hits if index != self._stateful]
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
        assert self._locate_any is not None
        locate, size, last, pos = self._locate_any, len(source), -1, 0
        while True:
            hit_start, hit_end = locate(source, pos, size)[0]
            if hit_start < 0:
                return found
            for at in (hit_start, max(hit_start, hit_end - 1)):
                start = source.rfind(b"\n", 0, at) + 1
                if start > last:
                    last = start
                    for index in rules:
                        self._try_line(text, source, index, start, lines, found)
            pos = hit_end if hit_end > hit_start else hit_start + 1

    def _walk(self, text: str, source: bytes, index: int, found: list[Span]) -> None:
        """Every match of rule ``index``: RE2 finds the next line its prefilter hits, Python re searches that line.

        This loop runs once per line that holds a secret, which in the worst case is every line of the output, so it
        keeps to a few C calls per line (see ``locator``).
        """
        rx, grouped, two = self.exact[index], self._grouped[index], self.lines[index] == 2
        locate, find, search, append = self._locate[index], text.find, rx.search, found.append
        size, pos = len(source), 0
        while (start := locate(source, pos, size)[0][0]) >= 0:
            end = find("\n", start)
            if two and end >= 0:
                end = find("\n", end + 1)
            if end < 0:
                end = len(text)
            # A prefilter hit starts no later than the exact pattern can on its line, so searching from the hit to the
            # line's end finds every match the exact pattern has there.
            m = search(text, start, end)
            while m is not None:
                after = m.end()
                if grouped and (kept := m.span(1))[0] >= 0:
                    append((kept[1], after))
                else:
                    append((m.start(), after))
                if after >= end:
                    break
                m = search(text, max(after, m.start() + 1), end)
            pos = end

    def _try_line(self, text: str, source: bytes, index: int, start: int, lines: _LineIndex | None, found: list[Span]) -> None:
        end = _line_end(source, start, self.lines[index])
        hit = self._locate[index](source, start, end)[0][0]
        if hit < 0:
            return
        if lines is None:
            _search(self.exact[index], text, hit, end, found)
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
        found.append(secret_span(m))
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


def secret_span(m: re.Match[str]) -> Span:
    """The secret part of a match: after group 1 when there is one (the name, flag or scheme that stays)."""
    if m.re.groups and m.start(1) >= 0:
        return m.end(1), m.end()
    return m.start(), m.end()


_SCANNER: RuleScanner | None = None


def rule_scanner() -> RuleScanner:
    """The built-in rules, compiled once per process (RE2's set and DFAs take a moment to build)."""
    global _SCANNER
    if _SCANNER is None:
        _SCANNER = RuleScanner(sr.RULES)
    return _SCANNER


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


def values_screen(values: Sequence[str]) -> Any:
    """One RE2 regex matching any of ``values`` literally (over UTF-8 bytes), or None without google-re2 or values.

    A change's secret values and their encoded forms are each looked for in every text; most texts hold none, and
    one RE2 pass says so where a ``str.find`` per value would scan the text once for each of them."""
    if re2 is None or not values:
        return None
    literal = "|".join("".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in v) for v in values)
    try:
        return re2.compile(literal, _re2_options())
    except re2.error:
        return None  # too large for the screen's memory: every value is looked for as it is


def locator(compiled: Any) -> Locate:
    """``locate(source, pos, end)[0]``: the (start, end) of ``compiled``'s first match in ``source[pos:end]``, or (-1, -1).

    google-re2's ``search`` builds a generator and a match object in Python for every hit, which costs more than the
    search itself when every line of the output holds a secret. Its compiled ``RE2`` object answers the same question
    in one C call over the same bytes, with the same ``pos``/``endpos`` meaning (the text before ``pos`` is context
    for ``^`` and ``\\b``); where a version of the binding lacks it, the public ``search`` gives the same answer.
    """
    regexp = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(getattr(re2, "_re2", None), "RE2", None), "Anchor", None)
    if regexp is not None and anchor is not None and hasattr(regexp, "Match"):
        return partial(regexp.Match, anchor.UNANCHORED)

    def search(source: bytes, pos: int, end: int) -> list[Span]:
        m = compiled.search(source, pos, end)
        return [_NO_MATCH] if m is None else [m.span()]

    return search


def _re2_options() -> Any:
    options = re2.Options()
    options.max_mem = 64 << 20  # room for the DFAs over large batches (a set's DFA has no slower fallback)
    return options

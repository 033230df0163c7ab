"""Redaction: secrets are replaced by ``[REDACTED]`` before any text reaches a file, the journal or the screen.

Two layers. :class:`Redactor` works on one piece of text (a journal value, a command line, a batch of output): the
change's secret parameter values, the policy's own patterns, whole private-key blocks, and the rule table of
``secret_rules.py`` (token shapes ported from detect-secrets, values held by secret-looking names, secrets in
command lines). :class:`StreamRedactor` works on command output line by line and adds what needs memory across
lines: the inside of a private-key block, PuTTY's private lines, the value line after a Kubernetes env entry's
secret-looking name, and the ``data:``/``stringData:`` values of Kubernetes Secrets printed as YAML or JSON. kubectl
prints ``data`` *before* ``kind``, so a data block is held back until the object says what kind it is; the hold is
bounded, and a block still undecided when the bound is hit is redacted (fail closed).

Finding the rules' matches fast (RE2 screening Python ``re``) is ``secret_scan.py``'s part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from console.engine import secret_rules as sr
from console.engine.secret_scan import Span, policy_screen, rule_scanner, secret_span, values_screen

MASK = "[REDACTED]"
MIN_SECRET_LEN = 4  # shorter values would blank out ordinary words; params.resolve refuses them as secrets
# The shortest piece of a secret's base64 taken from inside a longer base64 text: shorter ones would mask ordinary words.
MIN_ENCODED_PIECE = 8

# (name, Python pattern) of every built-in rule, for reference and for policy authors reading the code.
BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = tuple((rule.name, rule.pattern) for rule in sr.RULES)

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


def mask_spans(text: str, spans: list[Span]) -> str:
    """``apply_spans(text, merge_spans(spans))`` (empty spans left out) in one pass; sorts ``spans`` in place.

    Output where every line holds a secret has a span per line, so redaction walks this loop once per line.
    """
    spans.sort()
    pieces: list[str] = []
    last = 0  # where the text after the last mask starts
    masked = False
    for start, end in spans:
        if start >= end:
            continue
        if masked and start <= last:  # overlaps or touches the mask before: one mask for both
            if end > last:
                last = end
            continue
        pieces.append(text[last:start])
        pieces.append(MASK)
        last = end
        masked = True
    if not masked:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def cut_redacted(redacted: str, limit: int) -> str:
    """The first ``limit`` characters of an already redacted text; a mask the cut would split is left out whole, so
    no half marker reads as text of its own (the secret under it stays masked: it is not there at all)."""
    if len(redacted) <= limit:
        return redacted
    split = redacted.find(MASK, max(0, limit - len(MASK) + 1))
    if 0 <= split < limit:
        return redacted[:split]
    return redacted[:limit]


def encoded_forms(secret: str) -> list[str]:
    """The ways a secret value is printed besides itself, each as it appears in output.

    A Kubernetes Secret's ``data`` holds the value base64-encoded (``kubectl get secret -o jsonpath={.data.KEY}``
    prints exactly that), ``echo VALUE | base64`` encodes it with a newline, JSON escapes quotes and backslashes and
    URLs percent-encode. Base64 depends on where the value starts modulo three bytes (inside a longer text, such as
    a connection string holding the password); for each start, the characters that only the value's own bytes decide
    are a form. The one for a value at the start is a prefix of its whole encoding with or without a newline, so one
    form masks all three (the last character or two left out say at most a few bits). A value too short for such a
    piece to be safe (it would mask ordinary words) is masked only as its whole encodings.
    """
    import base64
    import json
    from urllib.parse import quote

    # An argument that was not UTF-8 reaches Python with its bytes kept as surrogates: those bytes are what print.
    raw = _bytes_of(secret)
    forms = {json.dumps(secret)[1:-1], quote(raw, safe="")}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in (0, 1, 2):
            encoded = encode(b"\0" * offset + raw).decode()
            start, end = -(-8 * offset // 6), 8 * (offset + len(raw)) // 6
            if end - start >= MIN_ENCODED_PIECE:
                forms.add(encoded[start:end])
            elif offset == 0:
                forms.update(encode(raw + tail).decode() for tail in (b"", b"\n"))
    forms.discard(secret)
    return sorted(f for f in forms if len(f) >= MIN_SECRET_LEN)


def _bytes_of(text: str) -> bytes:
    """The bytes a value stands for: UTF-8, with undecodable argument bytes (surrogate escapes) put back."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _with_encodings(secrets: Iterable[str]) -> list[str]:
    """Secret values (at least MIN_SECRET_LEN long) and their encoded forms, longest first."""
    values = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN}
    return sorted(values.union(*(encoded_forms(s) for s in values)), key=len, reverse=True)


class Redactor:
    """Replaces secrets in a single piece of text; built from the change's secret values and policy patterns.

    ``prefilter=False`` runs the exact patterns over all of every text (what happens anyway when google-re2 is not
    installed); the result is the same, only slower.
    """

    def __init__(self, secrets: Iterable[str] = (), extra_patterns: Iterable[str] = (), *, prefilter: bool = True) -> None:
        # Each value is masked as itself and as it is printed encoded (base64 in a Secret's data, JSON, URLs).
        self._values = [s for s in secrets if s and len(s) >= MIN_SECRET_LEN]
        self.prefilter = prefilter
        self._set_secrets()
        # A policy pattern with a group keeps what precedes its first group's end; otherwise the whole match goes.
        # It runs as Python re over the whole text, behind an RE2 screen when one can be built that never misses.
        self.extra = [(re.compile(p), policy_screen(p) if prefilter else None) for p in extra_patterns]
        self._rules = rule_scanner()

    def add_secret(self, value: str) -> None:
        if value and len(value) >= MIN_SECRET_LEN and value not in self._values:
            self._values.append(value)
            self._set_secrets()

    def _set_secrets(self) -> None:
        """What the values make: their encodings (never encodings of encodings), the RE2 screen for them all, and
        the longest in bytes as printed (how much text a long line's pieces need around them: see the runner)."""
        self.secrets = _with_encodings(self._values)
        self._values_screen = values_screen(self.secrets) if self.prefilter else None
        self.longest_bytes = max((len(_bytes_of(s)) for s in self.secrets), default=0)

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        if not text:
            return text
        found = self._found(text, self._rules.spans(text, prefilter=self.prefilter))
        return mask_spans(text, found) if found else text

    def redact_cut(self, text: str, limit: int, *, ended_early: bool = False) -> str:
        """``text`` redacted whole, then cut to at most ``limit`` characters (see :func:`cut_redacted`).

        Redacting before cutting is what keeps a secret the cut goes through from surviving as a prefix too short for
        its rule. ``ended_early``: the text itself stops short of what was printed (a process stopped mid-line), so
        a tail that begins one of the change's secret values is masked as well.
        """
        redacted = self.redact(text)
        if ended_early:
            redacted = self._mask_secret_prefix_tail(redacted)
        return cut_redacted(redacted, limit)

    def _mask_secret_prefix_tail(self, text: str) -> str:
        """``text`` with a tail of it that is the start of a secret value (at least MIN_SECRET_LEN long) masked."""
        for secret in self.secrets:  # longest first: the longest such tail goes
            for n in range(min(len(secret) - 1, len(text)), MIN_SECRET_LEN - 1, -1):
                if text.endswith(secret[:n]):
                    return text[:-n] + MASK
        return text

    def redact_piece(self, text: str, before: str = "", after: str = "", *, carried: int = 0,
                     goes_on: bool = False) -> tuple[str, int, bool]:
        """One piece of a line too long to redact whole, redacted with the text around it on the same line.

        ``before`` is the end of the line's previous piece ("" at the line's start), ``after`` the start of its next
        piece; a secret the cut between two pieces goes through is seen whole from both sides as long as it (with the
        name before it) is no longer than either. ``carried`` is how far into this piece a secret found in the last
        piece's window runs. Returns the piece redacted, how far into the next piece its last secret runs, and whether
        that secret runs to the window's end on a line that ``goes_on``: then where it ends is out of sight, and the
        caller masks the rest of the line (fail closed).
        """
        # A mid-line window must not pass for a line's start (rules anchored at ^): a NUL is no line end and no part
        # of any rule's name.
        lead = "\0" + before if before else ""
        window = lead + text + after
        start, end = len(lead), len(lead) + len(text)
        spans: list[Span] = [(0, min(carried, len(text)))] if carried else []
        carry, open_end = 0, False
        for s, e in self.spans(window):
            if e <= start or s >= end:
                continue
            spans.append((max(s, start) - start, min(e, end) - start))
            if e > end:
                carry = max(carry, e - end)
                open_end = open_end or (goes_on and e >= len(window))
        return (mask_spans(text, spans) if spans else text), carry, open_end

    def redact_batch(self, text: str) -> str | None:
        """A batch of output lines redacted as one text, or None if it holds something only :class:`StreamRedactor`
        redacts right (a key block, a Secret's data block, an env entry's value on the line after its name); the rules'
        one RE2 pass over the batch tells both."""
        if not text:
            return text
        rules = self._rules.batch_spans(text, prefilter=self.prefilter)
        if rules is None:
            return None
        found = self._found(text, rules)
        return mask_spans(text, found) if found else text

    def spans(self, text: str) -> list[Span]:
        """Where the secrets in ``text`` are, as merged (start, end) offsets: what :meth:`redact` masks."""
        found = self._found(text, self._rules.spans(text, prefilter=self.prefilter))
        return merge_spans(s for s in found if s[0] < s[1])

    def _found(self, text: str, found: list[Span]) -> list[Span]:
        """``found`` (the rules' spans) with every other secret's span added: unsorted, possibly empty or overlapping."""
        source: bytes | None = None
        screen = self._values_screen
        if screen is not None:
            try:
                source = text.encode("utf-8")
            except UnicodeEncodeError:
                source, screen = b"", None  # a lone surrogate is no UTF-8 for RE2 to read: every value is looked for
        if screen is None or screen.search(source) is not None:
            for secret in self.secrets:
                at = text.find(secret)
                while at >= 0:
                    found.append((at, at + len(secret)))
                    at = text.find(secret, at + len(secret))
        if "PRIVATE KEY" in text:
            found.extend(m.span() for m in _PEM_BLOCK.finditer(text))
        if "Private-Lines:" in text:
            found.extend(_putty_spans(text))
        for rx, screen in self.extra:
            if screen is not None and source != b"":
                if source is None:
                    try:
                        source = text.encode("utf-8")
                    except UnicodeEncodeError:
                        source = b""  # a lone surrogate is no UTF-8 for RE2 to read: every pattern runs
                if source and screen.search(source) is None:
                    continue
            found.extend(secret_span(m) for m in rx.finditer(text))
        return found

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
        return [apply_spans(word, spans) if spans else word for word, spans in zip(argv, self.argv_spans(argv), strict=True)]

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
        self._line_masked = False  # the line fed last was masked whole for what came before it: so is its rest

    @property
    def idle(self) -> bool:
        """Holding nothing and expecting nothing: the next lines can be redacted without this object's memory."""
        return not self._in_pem and not self._held and not self._putty_left and not self._env_value_next

    @property
    def holding(self) -> bool:
        """Lines are held back (a data block waiting for its object's kind): what is fed now comes out later."""
        return bool(self._held)

    def feed(self, line: str) -> list[str]:
        """Lines safe to release now (possibly none while a data block waits for its kind)."""
        out: list[str] = []
        self._line_masked = True
        if self._masking is not None:
            # The rest of a block released at the hold limit is as undecided as its start: keep masking it.
            if line.strip() and len(line) - len(line.lstrip()) > self._masking:
                return [_mask_value(line, self._held_json)]
            self._masking = None
        if self._in_pem:
            if (end := PEM_END.search(line)) is not None:
                self._in_pem = False
                self._line_masked = False
                return self._emit(MASK + self.redactor.redact(line[end.end():]), out)
            return self._emit(MASK if not self._held else None, out)
        if self._putty_left:
            self._putty_left -= 1
            return self._emit(MASK, out)
        if self._env_value_next:
            self._env_value_next = False
            if _ENV_VALUE_LINE.match(line):
                return self._emit(_mask_value(line, line.lstrip().startswith('"')), out)
        self._line_masked = False
        begin = PEM_BEGIN.search(line)
        if begin and not PEM_END.search(line, begin.end()):
            self._in_pem = True
            self._line_masked = True
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

    def feed_more(self, rest: str) -> list[str]:
        """The next piece of the line fed last, which came in pieces (too long to hold; already redacted by
        :meth:`Redactor.redact_piece`): masked if the line was, held with it if it was held."""
        out: list[str] = []
        # _masking: the line was the one that filled the hold, released masked with its block.
        if self._line_masked or self._masking is not None:
            if self._in_pem and (end := PEM_END.search(rest)) is not None:
                self._in_pem = False
                self._line_masked = False
                return self._emit(MASK + rest[end.end():], out)
            return self._emit(MASK if not (self._in_pem and self._held) else None, out)
        if self._held:
            # Part of the held line before it: masked or not with it when the block is decided; never read as a line
            # of its own, whose indentation would say the block had ended.
            self._held.append(_Continued(rest))
            return self._check_limit(out)
        return self._emit(rest, out)

    def _emit(self, line: str | None, out: list[str]) -> list[str]:
        if line is None:
            return out
        if self._held:
            self._held.append(line)
        else:
            out.append(line)
        return out

    def _continue_hold(self, line: str, out: list[str]) -> list[str]:
        key = _YAML_KEY.match(line)
        indent = _indent_of(key.group("indent")) if key else len(line) - len(line.lstrip())
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
        masked = False  # whether the last held line was masked (a continuation of it goes the same way)
        for h in rest:
            if isinstance(h, _Continued):
                out.append(MASK if masked else str(h))
                continue
            h_indent = len(h) - len(h.lstrip())
            masked = in_block and secret and bool(h.strip()) and h_indent > self._held_indent
            if masked:
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


class _Continued(str):
    """A held piece of the line held before it (a line too long to come whole), already redacted on its own."""


def _indent_of(prefix: str) -> int:
    return len(prefix)


def _mask_value(line: str, is_json: bool) -> str:
    if is_json:
        m = _JSON_VALUE.match(line)
        return f'{m.group(1)}"{MASK}"{m.group(2)}' if m else MASK
    m = _YAML_VALUE.match(line)
    return f"{m.group(1)}{MASK}" if m else " " * (len(line) - len(line.lstrip())) + MASK

"""Checking a run of journal lines at once: the fast read of a long journal's intact lines.

Checking one line is a dozen small steps (find its hash field, check the fields after ``data``, parse ``data`` and
serialise it again, hash the line, compare). One line at a time, the interpreter's work between those steps costs
about as much as the steps; here each step runs over a whole run of lines (``map``, joined bytes, list compares), so
the loops are in C. A run is taken only when every line in it passes every check; if any does not, ``take`` says
so and the caller reads that run line by line, which finds and names what is wrong. So this decides no verdict: it
only saves time on lines that are intact, and what it takes is exactly what the line-by-line read would take.

What a taken line is: ``{"data":D,"hash":"H","prev":"P","seq":N,"ts":"T","type":"Y"}`` with ``D`` the canonical
serialisation of a JSON object (re-serialised and compared), ``H`` the SHA-256 of the line without ``,"hash":"H"``,
``P`` the previous line's ``H`` (the first one's: the ``prev`` given), ``N`` the line's number in the file (a
positive integer, written as ``canonical`` writes it), and ``T`` and ``Y`` strings that JSON writes as they are (no
quote, backslash or control character: a line with one is left to the line-by-line read). That is ``canonical`` of
the event, byte for byte, so ``json.loads`` of the line gives these very fields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import add, getitem, itemgetter
from typing import Any, cast

from pydantic_core import from_json

from console.journal.chain import canonical_of_parsed

LINE_START = b'{"data":'  # every canonical line starts so: "data" sorts first of the six fields
HASH_FIELD = b',"hash":"'
# A line's tail from its last HASH_FIELD, split at its quotes: these pieces, with the hash (3), prev (7), seq
# (10, as ':N,'), ts (13) and type (17) between them. A quote inside ts or type (escaped) would add pieces.
_PIECES = 19
_FIXED = itemgetter(0, 1, 2, 4, 5, 6, 8, 9, 11, 12, 14, 15, 16, 18)
TAIL_PIECES = (b",", b"hash", b":", b",", b"prev", b":", b",", b"seq", b"ts", b":", b",", b"type", b":", b"}")
_VALUES = itemgetter(3, 7, 10, 13, 17)
_SEQ_PIECE = b":%d,".__mod__
ESCAPED = bytes(range(0x20)) + b"\\"  # what JSON writes escaped in a string, besides the quote
_HASH_END = len(HASH_FIELD) + 64 + 1  # from HASH_FIELD's start to just after the hash's closing quote
_sha256 = hashlib.sha256
_hexdigest = type(hashlib.sha256()).hexdigest
# The bytes methods and operators mapped over a run, typed for the bytes they take (their own types are overloaded).
_cut = cast(Callable[[bytes, slice], bytes], getitem)
_split: Callable[[bytes, bytes], list[bytes]] = bytes.split


@dataclass
class Run:
    """The fields of a run of taken lines, one entry a line: each line's hash (its SHA-256, which it holds), type,
    ts (None when the caller asked for no timestamps) and data."""

    hashes: list[str]
    types: list[str]
    ts: list[str] | None
    data: list[dict[str, Any]]


def take(
    lines: list[bytes], start: int, stop: int, prev: str, *, ts: bool, types: dict[bytes, str], stops: Iterable[str]
) -> Run | None:
    """``lines[start:stop]`` (line ``start + 1`` onwards) as a ``Run``, or None unless every one of them is a taken
    line (see the module) following ``prev`` and none has a type in ``stops``.

    ``types`` caches decoded types between calls (a journal has few), so equal types are one string object.
    """
    run = lines[start:stop]
    if not run or not all(map(bytes.startswith, run, repeat(LINE_START))):
        return None
    at = list(map(bytes.rfind, run, repeat(HASH_FIELD)))
    if min(at) <= len(LINE_START):
        return None
    pieces = list(map(_split, map(_cut, run, map(slice, at, repeat(None))), repeat(b'"')))
    if set(map(len, pieces)) != {_PIECES} or set(map(_FIXED, pieces)) != {TAIL_PIECES}:
        return None
    hashes, prevs, seqs, stamps, kinds = zip(*map(_VALUES, pieces), strict=True)
    if seqs != tuple(map(_SEQ_PIECE, range(start + 1, stop + 1))):
        return None
    if set(map(len, hashes)) != {64} or set(map(len, prevs)) != {64}:
        return None
    # The hashed bytes: the line without ,"hash":"H" (H is 64 characters, checked above).
    hashed = map(add, map(_cut, run, map(slice, at)), map(_cut, run, map(slice, map(add, at, repeat(_HASH_END)), repeat(None))))
    digests = list(map(_hexdigest, map(_sha256, hashed)))
    chained = "".join(digests).encode()
    # Each piece 64 bytes long, so equal joins are equal pieces: every hash its line's digest, every prev the last.
    if b"".join(hashes) != chained or b"".join(prevs) != prev.encode() + chained[:-64]:
        return None
    text = b"".join(stamps) + b"".join(kinds)
    if len(text.translate(None, ESCAPED)) != len(text):
        return None
    try:
        for kind in set(kinds).difference(types):
            types[kind] = kind.decode()
        stamps_text = list(map(bytes.decode, stamps)) if ts or not text.isascii() else None
    except UnicodeDecodeError:
        return None
    names = list(map(types.__getitem__, kinds))
    if not set(stops).isdisjoint(names):
        return None
    data = _canonical_objects(list(map(_cut, run, map(slice, repeat(len(LINE_START)), at))))
    if data is None:
        return None
    return Run(digests, names, stamps_text if ts else None, data)


def _canonical_objects(texts: list[bytes]) -> list[dict[str, Any]] | None:
    """The JSON objects ``texts`` hold, if each is the canonical serialisation of its object; else None.

    Each text is parsed alone (pydantic-core's parser: strict JSON, several times faster than ``json``'s; a text it
    reads otherwise than ``canonical`` writes fails the comparison), and all are serialised again in one call, as a
    list (``fast_canonical``'s orjson when it vouches for its bytes, else ``canonical_text``), and compared with the
    texts joined the same way. Equal means each text is its object's serialisation: the
    first object's serialisation and the first text start at the same byte; both end where that object's closing
    brace is, since the bytes up to it are the same, and the text has nothing after it (a comma follows it in the
    list); and so on for each next one.
    """
    try:
        objects = list(map(from_json, texts))
        if set(map(type, objects)) != {dict}:
            return None
        again = canonical_of_parsed(objects)
    except (ValueError, RecursionError):
        return None  # not JSON, NaN or Infinity, a lone surrogate, nested too deeply: the line-by-line read names it
    if again != b"[" + b",".join(texts) + b"]":
        return None
    return objects

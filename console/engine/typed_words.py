"""What a refused confirmation keeps of what was typed (pure).

A refused confirmation is recorded, and what was typed tells a reviewer whether it was a slip (``postgress`` for
``postgres``, ``n`` for no) or the wrong change. But a prompt also receives what was never meant for it: at 2 a.m.
a password typed into the console because the operator thought the terminal was asking for sudo's. The journal is
append-only, so such text would stay for good. What looks like an attempt at the word (close to it, or too short to
be a secret) is kept; anything else is kept only as a mask.
"""

from __future__ import annotations

from console.engine.redact import MASK

SHORT = 3  # shorter than the shortest secret redaction considers (4 characters)


def distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def kept_typing(typed: str, words: tuple[str, ...]) -> str:
    """``typed`` as the record keeps it, for a prompt that wanted one of ``words`` (case aside)."""
    if len(typed) <= SHORT:
        return typed
    lowered = typed.lower()
    for word in words:
        if distance(lowered, word.lower()) <= max(2, len(word) // 3):
            return typed
    return MASK

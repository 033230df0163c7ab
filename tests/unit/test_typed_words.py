"""What a refused confirmation keeps of what was typed: slips as typed, anything else masked (pure)."""

from __future__ import annotations

import pytest

from console.engine.typed_words import MASK, distance, kept_typing


@pytest.mark.parametrize(("typed", "words", "kept"), [
    ("postgress", ("postgres",), "postgress"),  # one letter too many
    ("Postgres", ("postgres",), "Postgres"),  # case
    ("1.4.9", ("1.5.0",), "1.4.9"),  # a version close to the one asked for
    ("wbe", ("web",), "wbe"),  # short: no secret is this short
    ("", ("web",), ""),
    ("nope", ("yes", "no"), "nope"),
    ("payments-staging", ("payments",), MASK),  # another namespace's name is far from the word: masked too
    ("Hunter2-MyLdapPassw0rd!", ("postgres",), MASK),
    ("correct horse battery staple", ("yes", "no"), MASK),
])
def test_kept_typing(typed: str, words: tuple[str, ...], kept: str) -> None:
    assert kept_typing(typed, words) == kept


def test_distance() -> None:
    assert distance("kitten", "sitting") == 3 and distance("", "abc") == 3 and distance("abc", "abc") == 0

"""Tests for label selectors: the text form, the API's matchLabels/matchExpressions form, and agreement with the
rehearsal cluster's own parser (an independent implementation) on kubectl's semantics."""

from __future__ import annotations

import pytest

from console.cluster.selectors import Requirement, SelectorError, matches, parse_selector

# --- selectors -----------------------------------------------------------------------------------

WEB = {"app": "web", "tier": "frontend", "env": "prod", "shard": "3"}


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", WEB, True),
        ("app=web", WEB, True),
        ("app==web", WEB, True),
        ("app=db", WEB, False),
        ("app=web,tier=frontend", WEB, True),
        ("app=web,tier=backend", WEB, False),
        ("app!=db", WEB, True),
        ("app!=web", WEB, False),
        ("missing!=x", WEB, True),            # != matches objects without the key, as in Kubernetes
        ("env in (prod,staging)", WEB, True),
        ("env in (staging)", WEB, False),
        ("missing in (a)", WEB, False),
        ("env notin (prod)", WEB, False),
        ("env notin (dev, test)", WEB, True),
        ("missing notin (a)", WEB, True),
        ("app", WEB, True),                   # exists
        ("missing", WEB, False),
        ("!missing", WEB, True),              # does not exist
        ("!app", WEB, False),
        ("shard>2", WEB, True),
        ("shard>3", WEB, False),
        ("shard<4", WEB, True),
        ("app>1", WEB, False),                # not an integer value
        ("missing>1", WEB, False),
        ("  app = web ,  !canary ", WEB, True),
        ("app=web", None, False),
        ("!app", None, True),
        ("app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"}, True),
        ("flag=", {"flag": ""}, True),
        ("flag=", {"flag": "x"}, False),
    ],
)
def test_selector_matching(text: str, labels: dict | None, expected: bool) -> None:
    assert matches(text, labels) is expected
    assert parse_selector(text).matches(labels) is expected


def test_selector_structure() -> None:
    sel = parse_selector("app=web, env in (prod, staging),!canary,tier!=db")
    assert sel.requirements == (
        Requirement("app", "=", ("web",)),
        Requirement("env", "in", ("prod", "staging")),
        Requirement("canary", "!"),
        Requirement("tier", "!=", ("db",)),
    )


@pytest.mark.parametrize(
    "text",
    ["=web", "app=web,", "app web", "app in", "app in (a b)", "app in ()", "shard>x", "-app=1", "app=-x-",
     "!", "a,,b", "x/=1", "a" * 64 + "=1", "app=(x)"],
)
def test_selector_errors(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)



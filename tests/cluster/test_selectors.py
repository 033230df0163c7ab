"""Tests for label selectors: the text form, the API's matchLabels/matchExpressions form, and agreement with the
rehearsal cluster's own parser (an independent implementation) on kubectl's semantics."""

from __future__ import annotations

from typing import Any

import pytest

from console.cluster.selectors import NOTHING, Requirement, SelectorError, label_selector, matches, parse_selector
from kubesim import selectors as sim
from kubesim.errors import BadRequest

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


# --- the API's form: matchLabels and matchExpressions --------------------------------------------


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({"matchLabels": {"app": "web"}}, WEB, True),
        ({"matchLabels": {"app": "web", "tier": "backend"}}, WEB, False),
        ({"matchExpressions": [expr("env", "In", "prod", "staging")]}, WEB, True),
        ({"matchExpressions": [expr("env", "In", "staging")]}, WEB, False),
        ({"matchExpressions": [expr("env", "NotIn", "dev")]}, WEB, True),
        ({"matchExpressions": [expr("missing", "NotIn", "dev")]}, WEB, True),   # NotIn matches a missing key
        ({"matchExpressions": [expr("env", "NotIn", "prod")]}, WEB, False),
        ({"matchExpressions": [expr("app", "Exists")]}, WEB, True),
        ({"matchExpressions": [expr("missing", "Exists")]}, WEB, False),
        ({"matchExpressions": [expr("canary", "DoesNotExist")]}, WEB, True),
        ({"matchExpressions": [expr("app", "DoesNotExist")]}, WEB, False),
        ({"matchLabels": {"app": "web"}, "matchExpressions": [expr("tier", "In", "frontend")]}, WEB, True),
        ({"matchLabels": {"app": "web"}, "matchExpressions": [expr("tier", "In", "backend")]}, WEB, False),
        ({}, WEB, True),                      # an empty selector selects everything
        ({"matchLabels": {}, "matchExpressions": []}, {}, True),
        (None, WEB, False),                   # a missing one selects nothing
        (None, {}, False),
    ],
)
def test_api_selector_matching(selector: dict[str, Any] | None, labels: dict[str, str], expected: bool) -> None:
    assert label_selector(selector).matches(labels) is expected


def test_api_selector_structure_and_text() -> None:
    sel = label_selector({"matchLabels": {"tier": "web"},
                          "matchExpressions": [expr("env", "NotIn", "qa", "dev"), expr("canary", "DoesNotExist")]})
    # Sorted by key, set values sorted in the text, as apimachinery's String() writes a selector.
    assert sel.requirements == (
        Requirement("canary", "!"),
        Requirement("env", "notin", ("qa", "dev")),
        Requirement("tier", "=", ("web",)),
    )
    assert sel.text == "!canary,env notin (dev,qa),tier=web"
    assert parse_selector(sel.text).requirements == (
        Requirement("canary", "!"), Requirement("env", "notin", ("dev", "qa")), Requirement("tier", "=", ("web",)))
    assert label_selector(None) is NOTHING and NOTHING.matches(None) is False


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"matchExpressions": [expr("app", "Equals", "web")]},
         "spec.selector.matchExpressions[0]: operator 'Equals' is not one of In, NotIn, Exists, DoesNotExist"),
        ({"matchExpressions": [expr("app", "In")]}, "spec.selector.matchExpressions[0]: In needs at least one value"),
        ({"matchExpressions": [expr("app", "Exists"), expr("tier", "DoesNotExist", "x")]},
         "spec.selector.matchExpressions[1]: DoesNotExist takes no values"),
        ({"matchExpressions": [expr("-app", "Exists")]}, "spec.selector.matchExpressions[0]: invalid label key '-app'"),
        ({"matchExpressions": [expr("app", "In", "-x-")]},
         "spec.selector.matchExpressions[0].values: invalid label value '-x-'"),
        ({"matchExpressions": [{"operator": "Exists"}]}, "spec.selector.matchExpressions[0]: invalid label key None"),
        ({"matchLabels": {"app": 3}}, "spec.selector.matchLabels[app]: invalid label value 3"),
        ({"matchLabels": ["app"]}, "spec.selector.matchLabels: expected a mapping"),
        ({"matchExpressions": {"key": "app"}}, "spec.selector.matchExpressions: expected a list"),
        ("app=web", "spec.selector: a label selector is a mapping"),
    ],
)
def test_api_selector_errors_say_what_and_where(selector: Any, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        label_selector(selector, "spec.selector")
    assert str(caught.value).startswith(message), str(caught.value)


# --- agreement with the rehearsal cluster's parser --------------------------------------------------
# The rehearsal cluster parses selectors with code of its own (it shares nothing with the console), so
# kubectl against it checks the console independently. Both must give kubectl's answer on the same table.

LABEL_SETS: list[dict[str, str]] = [
    {},
    {"app": "web"},
    {"app": "web", "tier": "frontend", "env": "prod"},
    {"app": "web", "tier": "backend", "canary": "true"},
    {"app": "db", "env": "staging"},
    {"app.kubernetes.io/name": "web", "flag": ""},
]

# (selector text, the same selector as the API writes it, kubectl's answer for each of LABEL_SETS)
AGREEMENT = [
    ("app=web", {"matchLabels": {"app": "web"}}, [False, True, True, True, False, False]),
    ("app==web,tier=frontend", {"matchLabels": {"app": "web", "tier": "frontend"}},
     [False, False, True, False, False, False]),
    ("app!=web", None, [True, False, False, False, True, True]),
    ("env in (prod,staging)", {"matchExpressions": [expr("env", "In", "prod", "staging")]},
     [False, False, True, False, True, False]),
    ("env notin (prod)", {"matchExpressions": [expr("env", "NotIn", "prod")]}, [True, True, False, True, True, True]),
    ("canary", {"matchExpressions": [expr("canary", "Exists")]}, [False, False, False, True, False, False]),
    ("!canary", {"matchExpressions": [expr("canary", "DoesNotExist")]}, [True, True, True, False, True, True]),
    ("app=web,tier!=backend,env in (prod,qa),!canary,tier", None, [False, False, True, False, False, False]),
    ("app in (web, db), env notin (staging)",
     {"matchExpressions": [expr("app", "In", "web", "db"), expr("env", "NotIn", "staging")]},
     [False, True, True, True, False, False]),
    ("app=web,!canary", {"matchLabels": {"app": "web"}, "matchExpressions": [expr("canary", "DoesNotExist")]},
     [False, True, True, False, False, False]),
    ("app.kubernetes.io/name=web,flag=", {"matchLabels": {"app.kubernetes.io/name": "web", "flag": ""}},
     [False, False, False, False, False, True]),
    ("  app = web ,  !canary ", None, [False, True, True, False, False, False]),
    ("", {}, [True] * len(LABEL_SETS)),
]


@pytest.mark.parametrize(("text", "api", "expected"), AGREEMENT, ids=[a[0] or "(empty)" for a in AGREEMENT])
def test_console_and_rehearsal_cluster_agree_on_text_selectors(text: str, api: Any, expected: list[bool]) -> None:
    ours = parse_selector(text)
    theirs = sim.parse_labels(text)
    assert [ours.matches(labels) for labels in LABEL_SETS] == expected
    assert [sim.match_labels(theirs, labels) for labels in LABEL_SETS] == expected


@pytest.mark.parametrize(("text", "api", "expected"), [a for a in AGREEMENT if a[1] is not None],
                         ids=[a[0] or "(empty)" for a in AGREEMENT if a[1] is not None])
def test_console_and_rehearsal_cluster_agree_on_api_selectors(text: str, api: dict[str, Any], expected: list[bool]) -> None:
    ours = label_selector(api)
    theirs = sim.from_label_selector(api)
    assert [ours.matches(labels) for labels in LABEL_SETS] == expected
    assert [sim.match_labels(theirs, labels) for labels in LABEL_SETS] == expected
    # The text each side writes for it (kubectl's SELECTOR column) parses back to the same selector on the other.
    assert [parse_selector(sim.selector_string(api)).matches(labels) for labels in LABEL_SETS] == expected
    assert [sim.match_labels(sim.parse_labels(ours.text), labels) for labels in LABEL_SETS] == expected


@pytest.mark.parametrize("text", ["=web", "-app=1", "x/=1", "!", "app web", "app=web,-tier"])
def test_console_and_rehearsal_cluster_both_refuse(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)
    with pytest.raises(BadRequest):
        sim.parse_labels(text)


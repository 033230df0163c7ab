"""Kubernetes label selectors, in both of the forms the API uses, with apimachinery's semantics.

* Text (``a=b,c!=d,e in (x,y),!f,g``): ``parse_selector`` follows ``labels.Parse``'s grammar (``a=b``,
  ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a``, ``!a``, ``a>1``, ``a<1``). The live tables'
  ``-l`` filter and the rollback triggers' ``selector:`` use it.
* Objects (a workload's ``spec.selector``): ``label_selector`` reads ``matchLabels`` and ``matchExpressions``
  (``In``, ``NotIn``, ``Exists``, ``DoesNotExist``) as ``metav1.LabelSelectorAsSelector`` does.

Both give a ``Selector``; ``Selector.matches(labels)`` says whether a label set satisfies it. No IO, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.errors import OpsConsoleError

__all__ = [
    "NOTHING",
    "Requirement",
    "Selector",
    "SelectorError",
    "label_selector",
    "matches",
    "parse_selector",
]


class SelectorError(OpsConsoleError, ValueError):
    """A label selector that does not parse; the message says what and where."""


_OPERATORS = ("=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt")

# A label key: optional DNS-subdomain prefix and a "/" then a name of at most 63 characters.
_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One clause of a selector: ``key op values`` (values empty for exists / not-exists)."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this clause, with apimachinery's semantics."""
        present = self.key in labels
        if self.op in ("=", "=="):
            return present and labels[self.key] == self.values[0]
        if self.op == "in":
            return present and labels[self.key] in self.values
        # Like Kubernetes, != and notin also match objects that lack the key entirely.
        if self.op == "!=":
            return not present or labels[self.key] != self.values[0]
        if self.op == "notin":
            return not present or labels[self.key] not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("gt", "lt"):
            if not present:
                return False
            try:
                have = int(labels[self.key])
            except ValueError:
                return False
            want = int(self.values[0])
            return have > want if self.op == "gt" else have < want
        raise SelectorError(f"unknown operator {self.op!r}")


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector: all requirements must hold. An empty selector matches everything; ``NOTHING`` (what an
    absent API selector means) matches no labels at all."""

    requirements: tuple[Requirement, ...] = ()
    text: str = ""
    matches_nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether ``labels`` (None counts as no labels) satisfy every requirement."""
        if self.matches_nothing:
            return False
        lab = labels or {}
        return all(r.matches(lab) for r in self.requirements)


# metav1.LabelSelectorAsSelector: a nil selector selects nothing (an empty one selects everything).
NOTHING = Selector(matches_nothing=True)


def matches(selector: Selector | str, labels: Mapping[str, str] | None) -> bool:
    """Whether ``labels`` match ``selector`` (a ``Selector`` or selector text)."""
    if isinstance(selector, str):
        selector = parse_selector(selector)
    return selector.matches(labels)


# --- lexer -------------------------------------------------------------------------------------

_SPECIAL = "!=(),<>"


def _tokens(text: str) -> list[tuple[str, int]]:
    """Split selector text into (token, column) pairs the way apimachinery's lexer does."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in _SPECIAL:
            # Two-character operators first: "==" and "!=".
            if text.startswith("==", i) or text.startswith("!=", i):
                out.append((text[i : i + 2], i))
                i += 2
            else:
                out.append((c, i))
                i += 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
            j += 1
        out.append((text[i:j], i))
        i = j
    return out


_NAME_RULE = "must be 63 characters or fewer, alphanumeric, '-', '_' or '.', starting and ending with an alphanumeric character"


def _key_problem(key: str) -> str | None:
    """What is wrong with a label key, or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _PREFIX_RE.match(prefix)):
        return "bad prefix"
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        return _NAME_RULE
    return None


def _value_ok(value: str) -> bool:
    # An empty value is legal: "a=" matches a label set to the empty string.
    return not value or (len(value) <= 63 and _NAME_RE.match(value) is not None)


def _check_key(key: str, col: int, text: str) -> None:
    problem = _key_problem(key)
    if problem is not None:
        raise SelectorError(f"invalid label key {key!r} at column {col + 1} in {text!r}: {problem}")


def _check_value(value: str, col: int, text: str) -> None:
    if not _value_ok(value):
        raise SelectorError(f"invalid label value {value!r} at column {col + 1} in {text!r}")


def parse_selector(text: str) -> Selector:
    """Parse label-selector text; raises ``SelectorError`` naming the column of the first problem."""
    toks = _tokens(text)
    reqs: list[Requirement] = []
    pos = 0

    def peek() -> tuple[str, int] | None:
        return toks[pos] if pos < len(toks) else None

    def take(expect: str | None = None) -> tuple[str, int]:
        nonlocal pos
        tok = peek()
        if tok is None:
            raise SelectorError(f"unexpected end of selector {text!r}" + (f", expected {expect!r}" if expect else ""))
        if expect is not None and tok[0] != expect:
            raise SelectorError(f"expected {expect!r} at column {tok[1] + 1} in {text!r}, found {tok[0]!r}")
        pos += 1
        return tok

    def is_word(tok: tuple[str, int] | None) -> bool:
        return tok is not None and tok[0] not in _SPECIAL and tok[0] not in ("==", "!=")

    while pos < len(toks):
        tok = take()
        if tok[0] == "!":
            key = take()
            if not is_word(key):
                raise SelectorError(f"expected a label key after '!' at column {key[1] + 1} in {text!r}")
            _check_key(key[0], key[1], text)
            reqs.append(Requirement(key[0], "!"))
        elif is_word(tok):
            _check_key(tok[0], tok[1], text)
            nxt = peek()
            if nxt is None or nxt[0] == ",":
                reqs.append(Requirement(tok[0], "exists"))
            elif nxt[0] in ("=", "==", "!="):
                take()
                val = peek()
                # An empty value is legal ("a=" matches a label set to the empty string).
                if is_word(val):
                    assert val is not None
                    take()
                    _check_value(val[0], val[1], text)
                    reqs.append(Requirement(tok[0], nxt[0], (val[0],)))
                else:
                    reqs.append(Requirement(tok[0], nxt[0], ("",)))
            elif nxt[0] in ("<", ">"):
                take()
                val = take()
                try:
                    int(val[0])
                except ValueError:
                    raise SelectorError(
                        f"expected an integer after {nxt[0]!r} at column {val[1] + 1} in {text!r}"
                    ) from None
                reqs.append(Requirement(tok[0], "gt" if nxt[0] == ">" else "lt", (val[0],)))
            elif nxt[0] in ("in", "notin"):
                take()
                take("(")
                values: list[str] = []
                while True:
                    val = take()
                    if val[0] == ")" and not values:
                        break
                    if is_word(val):
                        _check_value(val[0], val[1], text)
                        values.append(val[0])
                        val = take()
                    elif val[0] in (",", ")"):
                        values.append("")  # "in (a,,b)" holds an empty value, as in apimachinery
                    if val[0] == ")":
                        break
                    if val[0] != ",":
                        raise SelectorError(f"expected ',' or ')' at column {val[1] + 1} in {text!r}")
                if nxt[0] == "in" and not values:
                    raise SelectorError(f"'in' needs at least one value in {text!r}")
                reqs.append(Requirement(tok[0], nxt[0], tuple(values)))
            else:
                raise SelectorError(f"unexpected {nxt[0]!r} at column {nxt[1] + 1} in {text!r}")
        else:
            raise SelectorError(f"unexpected {tok[0]!r} at column {tok[1] + 1} in {text!r}")
        sep = peek()
        if sep is not None:
            if sep[0] != ",":
                raise SelectorError(f"expected ',' at column {sep[1] + 1} in {text!r}, found {sep[0]!r}")
            take()
            if peek() is None:
                raise SelectorError(f"selector {text!r} ends with ','")
    return Selector(tuple(reqs), text)


# --- the API's form: matchLabels and matchExpressions ------------------------------------------

_API_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def _requirement_text(req: Requirement) -> str:
    """One requirement as apimachinery's ``Requirement.String`` writes it (set values sorted)."""
    if req.op in ("in", "notin"):
        return f"{req.key} {req.op} ({','.join(sorted(req.values))})"
    if req.op == "exists":
        return req.key
    if req.op == "!":
        return f"!{req.key}"
    return f"{req.key}{req.op}{req.values[0]}"


def _api_key(key: Any, where: str) -> str:
    """``key``, once it is known to be a valid label key."""
    problem = _key_problem(key) if isinstance(key, str) else "must be a string"
    if problem is not None or not isinstance(key, str):
        raise SelectorError(f"{where}: invalid label key {key!r}: {problem}")
    return key


def _api_value(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _value_ok(value):
        raise SelectorError(f"{where}: invalid label value {value!r}: {_NAME_RULE}")


def label_selector(selector: Mapping[str, Any] | None, where: str = "selector") -> Selector:
    """The ``Selector`` of a ``metav1.LabelSelector`` (``matchLabels`` and ``matchExpressions``), as
    ``LabelSelectorAsSelector`` builds it: None selects nothing, an empty mapping everything, and every term must
    hold. Raises ``SelectorError`` naming the term (``where`` prefixes the path, e.g. ``spec.selector``)."""
    if selector is None:
        return NOTHING
    if not isinstance(selector, Mapping):
        raise SelectorError(f"{where}: a label selector is a mapping of matchLabels and matchExpressions")
    reqs: list[Requirement] = []
    labels = selector.get("matchLabels") or {}
    if not isinstance(labels, Mapping):
        raise SelectorError(f"{where}.matchLabels: expected a mapping of label keys to values")
    for key, value in labels.items():
        _api_key(key, f"{where}.matchLabels")
        _api_value(value, f"{where}.matchLabels[{key}]")
        reqs.append(Requirement(key, "=", (value,)))
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, (list, tuple)):
        raise SelectorError(f"{where}.matchExpressions: expected a list of {{key, operator, values}}")
    for i, expr in enumerate(expressions):
        here = f"{where}.matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            raise SelectorError(f"{here}: expected a mapping with key, operator and values")
        key, op, values = _api_key(expr.get("key"), here), expr.get("operator"), expr.get("values") or []
        if op not in _API_OPERATORS:
            raise SelectorError(f"{here}: operator {op!r} is not one of {', '.join(_API_OPERATORS)}")
        if not isinstance(values, (list, tuple)):
            raise SelectorError(f"{here}: values must be a list of strings")
        for value in values:
            _api_value(value, f"{here}.values")
        if op in ("In", "NotIn") and not values:
            raise SelectorError(f"{here}: {op} needs at least one value")
        if op in ("Exists", "DoesNotExist") and values:
            raise SelectorError(f"{here}: {op} takes no values")
        reqs.append(Requirement(key, _API_OPERATORS[op], tuple(values)))
    # apimachinery keeps a selector's requirements sorted by key; its text form follows that order.
    reqs.sort(key=lambda r: r.key)
    return Selector(tuple(reqs), ",".join(_requirement_text(r) for r in reqs))

"""Label and field selectors as the API server parses them (pure functions).

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a`` (exists), ``!a``.
Field selectors: ``path=value``, ``path==value``, ``path!=value`` over dotted paths such as
``metadata.name``, ``spec.nodeName``, ``status.phase`` or ``involvedObject.uid``; a missing field is "".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kubesim.errors import BadRequest

_KEY = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        v = labels.get(self.key)
        if self.op == "=":
            return has and v == self.values[0]
        if self.op == "!=":
            return not has or v != self.values[0]
        if self.op == "in":
            return has and v in self.values
        if self.op == "notin":
            return not has or v not in self.values
        if self.op == "exists":
            return has
        return not has


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _key(k: str, text: str) -> str:
    k = k.strip()
    if not _KEY.match(k):
        raise BadRequest(f"unable to parse requirement: invalid label key {k!r} in selector {text!r}")
    return k


def parse_labels(text: str | None) -> list[Requirement]:
    """Parse a labelSelector query value; BadRequest on nonsense."""
    if not text:
        return []
    reqs = []
    for term in _split_top(text):
        m = re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", term)
        if m:
            vals = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(_key(m.group(1), text), m.group(2), vals))
        elif "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append(Requirement(_key(k, text), "!=", (v.strip(),)))
        elif "==" in term:
            k, v = term.split("==", 1)
            reqs.append(Requirement(_key(k, text), "=", (v.strip(),)))
        elif "=" in term:
            k, v = term.split("=", 1)
            reqs.append(Requirement(_key(k, text), "=", (v.strip(),)))
        elif term.startswith("!"):
            reqs.append(Requirement(_key(term[1:], text), "!"))
        else:
            reqs.append(Requirement(_key(term, text), "exists"))
    return reqs


def match_labels(reqs: list[Requirement], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in reqs)


def from_label_selector(sel: dict[str, Any] | None) -> list[Requirement]:
    """Requirements of a ``metav1.LabelSelector`` (matchLabels and matchExpressions)."""
    if not sel:
        return []
    reqs = [Requirement(k, "=", (v,)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for e in sel.get("matchExpressions") or ():
        reqs.append(Requirement(e["key"], ops[e["operator"]], tuple(e.get("values") or ())))
    return reqs


def selector_string(sel: dict[str, Any] | None) -> str:
    """The text form kubectl shows (SELECTOR column, scale status.selector)."""
    out = []
    for r in from_label_selector(sel):
        if r.op == "=":
            out.append(f"{r.key}={r.values[0]}")
        elif r.op in ("in", "notin"):
            out.append(f"{r.key} {r.op} ({','.join(r.values)})")
        elif r.op == "exists":
            out.append(r.key)
        else:
            out.append(f"!{r.key}")
    return ",".join(out)


@dataclass(frozen=True)
class FieldTerm:
    """One term of a field selector."""

    path: str
    equal: bool
    value: str


def parse_fields(text: str | None) -> list[FieldTerm]:
    if not text:
        return []
    terms = []
    for term in _split_top(text):
        if "!=" in term:
            p, v = term.split("!=", 1)
            terms.append(FieldTerm(p.strip(), False, v.strip()))
        elif "==" in term:
            p, v = term.split("==", 1)
            terms.append(FieldTerm(p.strip(), True, v.strip()))
        elif "=" in term:
            p, v = term.split("=", 1)
            terms.append(FieldTerm(p.strip(), True, v.strip()))
        else:
            raise BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
    return terms


def field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def match_fields(terms: list[FieldTerm], obj: dict[str, Any]) -> bool:
    return all((field_value(obj, t.path) == t.value) == t.equal for t in terms)

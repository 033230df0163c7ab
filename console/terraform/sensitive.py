"""Values Terraform itself marks sensitive, masked in its JSON documents before they are kept (pure: data in, data out).

Terraform prints a sensitive value as ``(sensitive value)`` on the terminal but keeps it in plain text in every JSON
document it writes: the state (``outputs.*.value`` beside ``sensitive: true``; a resource's ``attributes`` at the
paths listed in its ``sensitive_attributes``), ``show -json PLAN`` (``variables`` declared sensitive, each
``before``/``after`` beside its ``before_sensitive``/``after_sensitive`` tree, each ``values`` beside its
``sensitive_values`` tree, outputs with ``sensitive: true``) and ``output -json``. The change record keeps these
documents as evidence, so they are masked by Terraform's own markers here; the change's secret parameters and the
redaction rules are applied to them as well by the caller, since a marker can be missing (``terraform_data``'s
``output`` mirrors a sensitive ``input`` unmarked).
"""

from __future__ import annotations

from typing import Any

MASK = "[REDACTED]"

# A value and the tree beside it that says which parts of it are sensitive.
_TREES = (("before", "before_sensitive"), ("after", "after_sensitive"), ("values", "sensitive_values"))


def mask_tree(value: Any, tree: Any) -> Any:
    """``value`` with every part ``tree`` marks ``true`` masked (a null stays null: it says nothing)."""
    if tree is True:
        return None if value is None else MASK
    if isinstance(tree, dict) and isinstance(value, dict):
        return {k: mask_tree(v, tree.get(k, False)) for k, v in value.items()}
    if isinstance(tree, list) and isinstance(value, list):
        return [mask_tree(v, tree[i] if i < len(tree) else False) for i, v in enumerate(value)]
    return value


def mask_path(value: Any, path: list[Any]) -> Any:
    """``value`` with the part at a state's ``sensitive_attributes`` path masked (steps ``get_attr`` and ``index``;
    a path that leads nowhere leaves the value as it is)."""
    if not path:
        return None if value is None else MASK
    step, rest = path[0], path[1:]
    key = step.get("value") if isinstance(step, dict) else None
    if isinstance(key, dict):  # an index step: {"value": KEY, "type": "string" | "number"}
        key = key.get("value")
    if isinstance(value, dict) and isinstance(key, str) and key in value:
        # An attribute of object type is kept as {"value": ..., "type": ...} in some providers' state: look inside.
        return {**value, key: mask_path(value[key], rest)}
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return [mask_path(v, rest) if i == key else v for i, v in enumerate(value)]
    if isinstance(value, dict) and set(value) >= {"value", "type"}:
        return {**value, "value": mask_path(value["value"], path)}
    return value


def mask_sensitive(doc: Any) -> Any:
    """A state, a ``show -json`` plan or an ``output -json`` document with everything Terraform marks sensitive masked."""
    if isinstance(doc, list):
        return [mask_sensitive(v) for v in doc]
    if not isinstance(doc, dict):
        return doc
    out = {k: mask_sensitive(v) for k, v in doc.items()}
    for value_key, tree_key in _TREES:
        if value_key in out and tree_key in out:
            out[value_key] = mask_tree(out[value_key], out[tree_key])
    if out.get("sensitive") is True:
        for key in ("value", "default", "before", "after"):
            if out.get(key) is not None:
                out[key] = MASK
    if isinstance(out.get("attributes"), dict) and isinstance(out.get("sensitive_attributes"), list):
        attributes = out["attributes"]
        for path in out["sensitive_attributes"]:
            if isinstance(path, list):
                attributes = mask_path(attributes, path)
        out["attributes"] = attributes
    declared = ((out.get("configuration") or {}).get("root_module") or {}).get("variables") or {}
    if isinstance(out.get("variables"), dict) and isinstance(declared, dict):
        out["variables"] = {
            name: ({**v, "value": MASK} if (declared.get(name) or {}).get("sensitive") and isinstance(v, dict) else v)
            for name, v in out["variables"].items()
        }
    return out

"""The three patch kinds the API accepts (pure functions): JSON merge, strategic merge and JSON patch.

Strategic merge differs from a merge patch in lists: lists named in ``MERGE_KEYS`` are merged element by
element on their key (containers by name, so ``kubectl set image`` changes one image), and the
``$patch``, ``$setElementOrder/``, ``$retainKeys`` and ``$deleteFromPrimitiveList/`` directives are honoured.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.errors import BadRequest, Invalid

# list field -> merge key, as declared by patchMergeKey in the Kubernetes API types.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "taints": "key",
    "addresses": "type",
    "volumeClaimTemplates": "metadata.name",
}
# primitive lists merged as sets (patchStrategy "merge" without a key)
SET_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _item_key(item: Any, key: str) -> Any:
    cur = item
    for part in key.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _merge_key(field: str, parent: str) -> str | None:
    if field == "ports":
        return "containerPort" if parent in ("containers", "initContainers", "ephemeralContainers") else "port"
    return MERGE_KEYS.get(field)


def strategic_merge(target: Any, patch: Any, parent: str = "") -> Any:
    """Apply a strategic merge patch to ``target`` and return the result (target is not modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k in ("$retainKeys", "$patch"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            out[name] = [x for x in out.get(name) or [] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
            continue
        if isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, k, parent)
        elif isinstance(v, dict):
            merged = strategic_merge(out.get(k), v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        else:
            out[k] = v
    return out


def _merge_list(current: Any, patch: list[Any], field: str, parent: str) -> list[Any]:
    merged: list[Any] = list(current or [])
    if field in SET_LISTS:
        return merged + [x for x in patch if x not in merged]
    key = _merge_key(field, parent)
    if key is None or not all(isinstance(x, dict) for x in patch):
        if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
            return [x for x in patch if not (isinstance(x, dict) and "$patch" in x)]
        return copy.deepcopy(patch)
    for item in patch:
        if item.get("$patch") == "replace":
            return [copy.deepcopy(x) for x in patch if x.get("$patch") is None]
        kv = _item_key(item, key)
        idx = next((i for i, c in enumerate(merged) if _item_key(c, key) == kv), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                merged.pop(idx)
        elif idx is None:
            merged.append(strategic_merge({}, item, field))
        else:
            merged[idx] = strategic_merge(merged[idx], item, field)
    return merged


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise BadRequest(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, list):
            cur = cur[int(p)]
        elif isinstance(cur, dict) and p in cur:
            cur = cur[p]
        else:
            raise Invalid(f"the server rejected our request due to an error in our request: path /{'/'.join(parts)} not found")
    return cur


def _get(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        try:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise Invalid(f"path /{'/'.join(parts)} not found") from e
    return cur


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test)."""
    if not isinstance(ops, list):
        raise BadRequest("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind = op.get("op")
        parts = _pointer(op.get("path", ""))
        if kind in ("move", "copy"):
            value = copy.deepcopy(_get(doc, _pointer(op["from"])))
            if kind == "move":
                doc = json_patch(doc, [{"op": "remove", "path": op["from"]}])
            doc = json_patch(doc, [{"op": "add", "path": op["path"], "value": value}])
            continue
        if kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise Invalid(f"test operation failed at {op.get('path')}")
            continue
        if not parts:
            if kind in ("add", "replace"):
                doc = copy.deepcopy(op["value"])
                continue
            raise BadRequest("cannot remove the whole document")
        parent, last = _parent(doc, parts), parts[-1]
        if kind == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(op["value"]))
            else:
                parent[last] = copy.deepcopy(op["value"])
        elif kind == "replace":
            _get(doc, parts)  # must exist
            if isinstance(parent, list):
                parent[int(last)] = copy.deepcopy(op["value"])
            else:
                parent[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            _get(doc, parts)
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                del parent[last]
        else:
            raise BadRequest(f"unknown JSON patch operation {kind!r}")
    return doc

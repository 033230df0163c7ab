"""The API verbs on stored objects, free of HTTP: get, list, create, update, patch, delete, scale, evict, logs.

``api.py`` parses requests and calls these; tests of semantics can call them directly. Every failure is an
``ApiError`` that renders as a real Status object.
"""

from __future__ import annotations

import base64
import bisect
import builtins
import json
from typing import TYPE_CHECKING, Any

from kubesim import leases, logs
from kubesim.clock import rfc3339
from kubesim.defaults import apply_defaults, validate
from kubesim.errors import ANONYMOUS, ApiError, BadRequest, Conflict, Forbidden, Invalid, NotFound, TooManyRequests, UnsupportedMediaType
from kubesim.patch import json_patch, merge_patch, strategic_merge
from kubesim.resources import BY_NAME, Resource
from kubesim.selectors import from_label_selector, match_fields, match_labels, parse_fields, parse_labels, selector_string
from kubesim.store import clone

if TYPE_CHECKING:
    from kubesim.cluster import SimCluster

Obj = dict[str, Any]
SCALABLE = ("deployments", "replicasets", "statefulsets")


def _encode_continue(rv: int, key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"rv": rv, "k": list(key)}).encode()).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        d = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(d["rv"]), (d["k"][0], d["k"][1])
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise BadRequest("continue key is not valid: " + str(e)) from e


def apply_patch(target: Obj, body: bytes, content_type: str) -> Obj:
    """Apply a PATCH body of the given content type to ``target``."""
    try:
        patch = json.loads(body or b"null")
    except json.JSONDecodeError as e:
        raise BadRequest(f"error decoding patch: {e}") from e
    ct = content_type.split(";")[0].strip()
    patched: Obj
    if ct == "application/strategic-merge-patch+json":
        patched = strategic_merge(target, patch)
    elif ct == "application/merge-patch+json":
        patched = merge_patch(target, patch)
    elif ct == "application/json-patch+json":
        patched = json_patch(target, patch)
    else:
        raise UnsupportedMediaType(f"the body of the request was in an unknown format - accepted media types include: "
                                   f"application/json-patch+json, application/merge-patch+json, "
                                   f"application/strategic-merge-patch+json (got {ct})")
    return patched


def prune_nulls(value: Any) -> Any:
    """Drop null fields, as decoding into the API's typed structs does."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


class Verbs:
    """The verbs of one cluster."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    # ----- checks ----------------------------------------------------------------------------------------
    def check_allowed(self, res: Resource, verb: str, namespace: str | None, user: str = ANONYMOUS) -> None:
        if self.cluster.faults.is_forbidden(res.name, user):
            raise Forbidden.for_(verb, res.name, res.group, namespace, user)

    def _namespace_ok(self, res: Resource, ns: str) -> None:
        if not res.namespaced:
            return
        nso = self.store.peek("namespaces", "", ns)
        if nso is None:
            raise NotFound.for_("namespaces", ns)
        if nso["metadata"].get("deletionTimestamp"):
            raise Forbidden(f'{res.name} "{ns}" is forbidden: unable to create new content in namespace {ns} because it is being terminated')

    # ----- reads -----------------------------------------------------------------------------------------
    def get(self, res: Resource, ns: str, name: str) -> Obj:
        obj = self.store.peek(res.name, ns, name)
        if obj is None:
            raise NotFound.for_(res.name, name, res.group)
        return obj

    # Below this method, annotations in the class body spell the builtin ``builtins.list``: ``list`` names the method.
    def list(self, res: Resource, ns: str | None, q: dict[str, str]) -> tuple[list[Obj], str, str]:
        """(items, list resourceVersion, continue token) honouring selectors, limit and continue."""
        labels, fields = parse_labels(q.get("labelSelector")), parse_fields(q.get("fieldSelector"))
        limit = int(q.get("limit") or 0)
        with self.store.lock:
            rv = self.store.resource_version
            keys = self.store.keys(res.name)
            lo, hi = 0, len(keys)
            if ns:
                lo, hi = bisect.bisect_left(keys, (ns, "")), bisect.bisect_left(keys, (ns + "\x00", ""))
            if q.get("continue"):
                rv, after = _decode_continue(q["continue"])
                lo = max(lo, bisect.bisect_right(keys, after))
            items: list[Obj] = []
            cont = ""
            for i in range(lo, hi):
                o = self.store.peek(res.name, *keys[i])
                if o is None or not match_labels(labels, o["metadata"].get("labels")) or (fields and not match_fields(fields, o)):
                    continue
                items.append(o)
                if limit and len(items) >= limit:
                    if i + 1 < hi:
                        cont = _encode_continue(rv, keys[i])
                    break
            return items, str(rv), cont

    def list_object(self, res: Resource, items: builtins.list[Obj], rv: str, cont: str) -> Obj:
        md: Obj = {"resourceVersion": rv}
        if cont:
            md["continue"] = cont
        return {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": md, "items": items}

    # ----- writes ----------------------------------------------------------------------------------------
    def create(self, res: Resource, ns: str, body: Obj, *, dry_run: bool = False) -> Obj:
        body = prune_nulls(body)
        if res.name == "leases":
            leases.decode(body)
        md = body.setdefault("metadata", {})
        if res.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + self.store.suffix()
        for k in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp"):
            md.pop(k, None)
        apply_defaults(res, body, cluster_ip=self.cluster.next_cluster_ip() if res.name == "services" else "")
        validate(res, body)
        self._namespace_ok(res, ns)
        if res.name == "persistentvolumeclaims":
            self.cluster.bind_claim(body)
        return self.store.create(res.name, body, owned=True, dry_run=dry_run, group=res.group)

    def put(self, res: Resource, ns: str, name: str, body: Obj, *, dry_run: bool = False) -> tuple[Obj, bool]:
        """PUT on an object: (the object, whether it was created), creating only where the resource allows it."""
        with self.store.lock:
            if not res.create_on_update or self.store.peek(res.name, ns, name) is not None:
                return self.update(res, ns, name, body, dry_run=dry_run), False
            md = body.get("metadata") or {}
            if md.get("uid"):  # the writer read an object that is gone: its UID precondition fails
                raise Conflict.precondition(res.name, ns, name, res.group, "UID", md["uid"], "")
            if md.get("name") and md["name"] != name:
                raise BadRequest(f'the name of the object ({md["name"]}) does not match the name on the URL ({name})')
            body.setdefault("metadata", {})["name"] = name
            return self.create(res, ns, body, dry_run=dry_run), True

    def update(self, res: Resource, ns: str, name: str, body: Obj, sub: str = "", *, dry_run: bool = False) -> Obj:
        body = prune_nulls(body)
        if res.name == "leases":
            leases.decode(body)
        md = body.setdefault("metadata", {})
        if md.get("name") and md["name"] != name:
            raise BadRequest(f'the name of the object ({md["name"]}) does not match the name on the URL ({name})')
        md["name"] = name
        if res.namespaced:
            md["namespace"] = ns
        with self.store.lock:
            old = self.get(res, ns, name)
            # the storage layer's checks come before validation, as in the API server's generic registry
            if md.get("uid") and md["uid"] != old["metadata"]["uid"]:
                raise Conflict.precondition(res.name, ns, name, res.group, "UID", md["uid"], old["metadata"]["uid"])
            if not md.get("resourceVersion") and not res.unconditional_update:
                raise Invalid.for_(res.name, name, [("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")],
                                   res.group)
            if md.get("resourceVersion") and md["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise Conflict.for_(res.name, name, res.group)
            body["kind"], body["apiVersion"] = res.kind, res.api_version
            if sub != "status":
                apply_defaults(res, body)
                validate(res, body)
                self._immutable(res, old, body)
            return self.store.replace(
                res.name, body, expect_rv=md.get("resourceVersion") or None, owned=True, dry_run=dry_run,
                keep_status=res.has_status and sub != "status", status_only=sub == "status", group=res.group,
            )

    def _immutable(self, res: Resource, old: Obj, new: Obj) -> None:
        if (res.name in ("deployments", "replicasets", "statefulsets", "daemonsets")
                and (old.get("spec") or {}).get("selector") != (new.get("spec") or {}).get("selector")):
            raise Invalid.for_(res.kind, old["metadata"]["name"], [("spec.selector", "Invalid value: field is immutable")], res.group)
        if res.name == "persistentvolumeclaims":
            self.cluster.resize_claim(old, new)

    def patch(self, res: Resource, ns: str, name: str, body: bytes, content_type: str, sub: str = "", *, dry_run: bool = False) -> Obj:
        with self.store.lock:
            current = self.get(res, ns, name)
            patched = apply_patch(clone(current), body, content_type)
            if not isinstance(patched, dict):
                raise BadRequest("patch did not produce an object")
            # a version named in the patch is a precondition; otherwise the patch applies to what is there now
            md = patched.setdefault("metadata", {})
            md["resourceVersion"] = md.get("resourceVersion") or current["metadata"]["resourceVersion"]
            return self.update(res, ns, name, patched, sub, dry_run=dry_run)

    def delete(self, res: Resource, ns: str, name: str, q: dict[str, str], body: Obj | None) -> Obj:
        """Delete; pods and namespaces go Terminating first, others go at once (dependents via GC)."""
        opts = body or {}
        grace = q.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
        policy = q.get("propagationPolicy") or opts.get("propagationPolicy") or "Background"
        dry_run = bool(q.get("dryRun") or opts.get("dryRun"))
        with self.store.lock:
            obj = self.get(res, ns, name)
            pre = opts.get("preconditions") or {}
            for what, key in (("UID", "uid"), ("ResourceVersion", "resourceVersion")):
                if pre.get(key) and pre[key] != obj["metadata"][key]:
                    raise Conflict.precondition(res.name, ns, name, res.group, what, pre[key], obj["metadata"][key])
            if dry_run:
                return obj
            if res.name == "pods":
                return self.cluster.terminate_pod(ns, name, None if grace is None else int(grace), reason="delete")
            if res.name == "namespaces":
                def mark(o: Obj) -> None:
                    o["metadata"].setdefault("deletionTimestamp", rfc3339(self.cluster.clock.now()))
                    o["status"] = {"phase": "Terminating"}
                return self.store.update("namespaces", "", name, mark) or obj
            if policy == "Orphan":
                self.cluster.orphan_dependents(obj["metadata"]["uid"])
            gone = self.store.delete(res.name, ns, name)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": res.group, "kind": res.name, "uid": gone["metadata"]["uid"]}}

    # ----- subresources ----------------------------------------------------------------------------------
    def scale(self, res: Resource, ns: str, name: str) -> Obj:
        if res.name not in SCALABLE:
            raise NotFound(f"the server could not find the requested resource ({res.name}/scale)")
        o = self.get(res, ns, name)
        md = o["metadata"]
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md},
            "spec": {"replicas": o["spec"].get("replicas", 1)},
            "status": {"replicas": (o.get("status") or {}).get("replicas", 0), "selector": selector_string(o["spec"].get("selector"))},
        }

    def write_scale(self, res: Resource, ns: str, name: str, body: bytes, content_type: str | None, *, dry_run: bool = False) -> Obj:
        """PUT (content_type None) or PATCH of the scale subresource: only spec.replicas moves."""
        with self.store.lock:
            current = self.scale(res, ns, name)
            if content_type is None:
                new = json.loads(body or b"{}")
                want_rv = (new.get("metadata") or {}).get("resourceVersion")
            else:
                new = apply_patch(clone(current), body, content_type)
                want_rv = None
            replicas = (new.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise Invalid.for_("Scale", name, [("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")],
                                   "autoscaling")
            obj = clone(self.get(res, ns, name))
            obj["spec"]["replicas"] = replicas
            if want_rv:
                obj["metadata"]["resourceVersion"] = want_rv
            else:
                obj["metadata"].pop("resourceVersion", None)
            self.update(res, ns, name, obj, dry_run=dry_run)
            return self.scale(res, ns, name)

    def evict(self, ns: str, name: str, body: Obj) -> Obj:
        """POST pods/NAME/eviction: honour disruption budgets, then delete gracefully."""
        with self.store.lock:
            pod = self.get(BY_NAME["pods"], ns, name)
            for pdb in self.store.list("poddisruptionbudgets", ns):
                spec = pdb.get("spec") or {}
                if not match_labels(from_label_selector(spec.get("selector")), pod["metadata"].get("labels")):
                    continue
                healthy = [p for p in self.store.list("pods", ns)
                           if match_labels(from_label_selector(spec.get("selector")), p["metadata"].get("labels"))
                           and not p["metadata"].get("deletionTimestamp")
                           and any(c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions") or [])]
                min_avail = spec.get("minAvailable")
                if isinstance(min_avail, int) and len(healthy) - 1 < min_avail:
                    message = (f"The disruption budget {pdb['metadata']['name']} needs {min_avail} healthy pods "
                               f"and has {len(healthy)} currently")
                    raise TooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.",
                                          details={"causes": [{"reason": "DisruptionBudget", "message": message}]})
            grace = ((body or {}).get("deleteOptions") or {}).get("gracePeriodSeconds")
            self.cluster.terminate_pod(ns, name, grace, reason="evict")
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def log(self, ns: str, name: str, q: dict[str, str]) -> tuple[builtins.list[str], Obj, str]:
        """(lines, pod, container) for GET pods/NAME/log; 400 when the container has not started."""
        pod = self.get(BY_NAME["pods"], ns, name)
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        container = q.get("container") or ""
        if not container:
            if len(names) != 1:
                raise BadRequest(f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
            container = names[0]
        if container not in names:
            raise BadRequest(f"container {container} is not valid for pod {name}")
        try:
            lines = logs.pod_log(pod, container, self.cluster.clock.now(), previous=q.get("previous") == "true")
        except logs.NotStarted as e:
            raise BadRequest(str(e)) from e
        tail = q.get("tailLines")
        if tail is not None:
            n = int(tail)
            lines = lines[-n:] if n > 0 else []
        return lines, pod, container


__all__ = ["ApiError", "Verbs", "apply_patch"]

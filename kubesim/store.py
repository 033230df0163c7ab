"""The rehearsal cluster's object store: objects, resourceVersions, the watch history ring and watch fan-out.

Like etcd behind a real API server there is one global, monotonically increasing revision; every write takes
the next one and the object keeps it as ``metadata.resourceVersion``. Every write is also appended to a
bounded history ring shared by all resources, which is what lets a watch resume from an older version; a
version older than the ring answers 410 Expired. Stored objects are snapshots that are never mutated after
they are stored, so readers may hold them without copying; ``get`` hands out a private copy for editing.
"""

from __future__ import annotations

import builtins
import json
import queue
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubesim.clock import SimClock, rfc3339
from kubesim.errors import AlreadyExists, Conflict, Gone, NotFound

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)

# Watchers that fall this far behind are closed (a real server drops slow watchers too); they resume.
MAX_BACKLOG = 200_000


def clone(obj: Obj) -> Obj:
    """A deep copy of a JSON object (faster than copy.deepcopy for this shape)."""
    copied: Obj = json.loads(json.dumps(obj))
    return copied


@dataclass(eq=False)
class WatchEvent:
    """One change: its type, the object after it (before it, for DELETED) and the object before it."""

    type: str
    resource: str
    obj: Obj
    prev: Obj | None
    rv: int
    _encoded: bytes | None = field(default=None, repr=False)

    def encoded(self) -> bytes:
        """The JSON watch line, computed once and shared by every watcher."""
        if self._encoded is None:
            self._encoded = json.dumps({"type": self.type, "object": self.obj}, separators=(",", ":")).encode() + b"\n"
        return self._encoded


class Watcher:
    """One watch's queue of events; filled under the store lock so order is the store's order."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        self.queue: queue.SimpleQueue[WatchEvent | None] = queue.SimpleQueue()
        self.closed = False
        self.dropped = False

    def put(self, ev: WatchEvent | None) -> None:
        if self.closed:
            return
        if self.queue.qsize() > MAX_BACKLOG:
            self.close(dropped=True)
            return
        self.queue.put(ev)

    def close(self, *, dropped: bool = False) -> None:
        """Wake the consumer with a None sentinel and stop queueing; ``dropped`` cuts the connection."""
        if not self.closed:
            self.closed = True
            self.dropped = dropped
            self.queue.put(None)


class Store:
    """Objects of one cluster keyed by resource, namespace and name, with versions and watches."""

    def __init__(self, clock: SimClock, *, history: int = 20_000, seed: int = 7, first_rv: int = 1000) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self._rv = first_rv
        self._objs: dict[str, dict[Key, Obj]] = {}
        self._sorted: dict[str, list[Key]] = {}
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._compacted_rv = 0
        self._watchers: dict[str, set[Watcher]] = {}
        self._listeners: list[Callable[[WatchEvent], None]] = []
        self._owned: dict[str, set[tuple[str, str, str]]] = {}  # owner uid -> {(resource, ns, name)}

    # ----- ids -------------------------------------------------------------------------------------------
    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, n: int = 5) -> str:
        """A random name suffix drawn from the same alphabet Kubernetes uses."""
        return "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def oldest_resumable(self) -> int:
        """A watch from a version below this gets 410."""
        return self._compacted_rv

    # ----- reads -----------------------------------------------------------------------------------------
    def peek(self, resource: str, namespace: str, name: str) -> Obj | None:
        """The stored snapshot (read-only), or None."""
        return self._objs.get(resource, {}).get((namespace or "", name))

    def get(self, resource: str, namespace: str, name: str) -> Obj:
        """A private, editable copy; NotFound when absent."""
        obj = self.peek(resource, namespace, name)
        if obj is None:
            raise NotFound.for_(resource, name)
        return clone(obj)

    def keys(self, resource: str) -> list[Key]:
        """Keys of a resource in (namespace, name) order; cached until a create or delete."""
        ks = self._sorted.get(resource)
        if ks is None:
            ks = sorted(self._objs.get(resource, {}))
            self._sorted[resource] = ks
        return ks

    # Below this method, annotations in the class body spell the builtin ``builtins.list``: ``list`` names the method.
    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Snapshots (read-only) in key order, optionally in one namespace."""
        with self.lock:
            objs = self._objs.get(resource, {})
            if namespace:
                return [o for (ns, _), o in sorted((k, v) for k, v in objs.items() if k[0] == namespace)]
            return [objs[k] for k in self.keys(resource)]

    def count(self, resource: str) -> int:
        return len(self._objs.get(resource, {}))

    def owned_by(self, uid: str, resource: str | None = None) -> builtins.list[Obj]:
        """Objects whose ownerReferences name ``uid`` (snapshots)."""
        with self.lock:
            out = []
            for res, ns, name in self._owned.get(uid, ()):
                if resource is None or res == resource:
                    o = self.peek(res, ns, name)
                    if o is not None:
                        out.append(o)
            return out

    def dependents(self, uid: str) -> builtins.list[tuple[str, str, str]]:
        with self.lock:
            return list(self._owned.get(uid, ()))

    # ----- writes ----------------------------------------------------------------------------------------
    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _index_owners(self, resource: str, obj: Obj, add: bool) -> None:
        md = obj["metadata"]
        entry = (resource, md.get("namespace", ""), md["name"])
        for ref in md.get("ownerReferences") or ():
            s = self._owned.setdefault(ref["uid"], set())
            if add:
                s.add(entry)
            else:
                s.discard(entry)
                if not s:
                    del self._owned[ref["uid"]]

    def _emit(self, ev: WatchEvent) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(ev)
        for w in self._watchers.get(ev.resource, ()):
            w.put(ev)
        for fn in self._listeners:
            fn(ev)

    def create(self, resource: str, obj: Obj, *, owned: bool = False, dry_run: bool = False, group: str = "") -> Obj:
        """Store a new object, filling uid, creationTimestamp, generation and resourceVersion.

        ``group`` only qualifies the resource in the error a taken name answers with.
        """
        if not owned:
            obj = clone(obj)
        md = obj.setdefault("metadata", {})
        ns = md.get("namespace", "") or ""
        with self.lock:
            bucket = self._objs.setdefault(resource, {})
            if (ns, md["name"]) in bucket:
                raise AlreadyExists.for_(resource, md["name"], group)
            md.setdefault("uid", self.new_uid())
            md.setdefault("creationTimestamp", rfc3339(self.clock.now()))
            md.setdefault("generation", 1)
            if dry_run:
                md["resourceVersion"] = str(self._rv)
                return obj
            rv = self._next_rv()
            md["resourceVersion"] = str(rv)
            bucket[(ns, md["name"])] = obj
            self._sorted.pop(resource, None)
            self._index_owners(resource, obj, True)
            self._emit(WatchEvent("ADDED", resource, obj, None, rv))
            return obj

    def replace(
        self,
        resource: str,
        obj: Obj,
        *,
        expect_rv: str | None = None,
        keep_status: bool = False,
        status_only: bool = False,
        owned: bool = False,
        dry_run: bool = False,
        group: str = "",
    ) -> Obj:
        """Store a new version of an existing object.

        ``expect_rv`` makes a stale writer fail with 409 Conflict; ``keep_status`` ignores the caller's status
        (a write to the main resource), ``status_only`` takes only the status (a write to /status); ``group``
        qualifies the resource in errors. A write that changes nothing keeps the old version, as the API
        server does. ``metadata.generation`` moves when the spec moves.
        """
        if not owned:
            obj = clone(obj)
        md = obj["metadata"]
        ns, name = md.get("namespace", "") or "", md["name"]
        with self.lock:
            old = self._objs.get(resource, {}).get((ns, name))
            if old is None:
                raise NotFound.for_(resource, name)
            if expect_rv and expect_rv != old["metadata"]["resourceVersion"]:
                raise Conflict.for_(resource, name, group)
            if status_only:
                new = dict(old)
                new["metadata"] = dict(old["metadata"])
                if "status" in obj:
                    new["status"] = obj["status"]
                obj = clone(new) if not owned else new
                md = obj["metadata"]
            elif keep_status and "status" in old:
                obj["status"] = old["status"]
            for k in ("uid", "creationTimestamp"):
                md[k] = old["metadata"][k]
            gen = old["metadata"].get("generation", 1)
            if obj.get("spec") != old.get("spec"):
                gen += 1
            md["generation"] = gen
            md["resourceVersion"] = old["metadata"]["resourceVersion"]
            if obj == old:
                return old
            if dry_run:
                return obj
            rv = self._next_rv()
            md["resourceVersion"] = str(rv)
            self._objs[resource][(ns, name)] = obj
            if old["metadata"].get("ownerReferences") != md.get("ownerReferences"):
                self._index_owners(resource, old, False)
                self._index_owners(resource, obj, True)
            self._emit(WatchEvent("MODIFIED", resource, obj, old, rv))
            return obj

    def update(self, resource: str, namespace: str, name: str, fn: Callable[[Obj], Any]) -> Obj | None:
        """Read-modify-write under the lock: ``fn`` edits a copy; returning False skips the write."""
        with self.lock:
            old = self.peek(resource, namespace, name)
            if old is None:
                return None
            obj = clone(old)
            if fn(obj) is False:
                return old
            return self.replace(resource, obj, owned=True)

    def delete(self, resource: str, namespace: str, name: str, *, dry_run: bool = False) -> Obj:
        """Remove an object now; the DELETED event carries a fresh resourceVersion."""
        with self.lock:
            old = self._objs.get(resource, {}).get((namespace or "", name))
            if old is None:
                raise NotFound.for_(resource, name)
            if dry_run:
                return old
            rv = self._next_rv()
            gone = dict(old)
            gone["metadata"] = dict(old["metadata"], resourceVersion=str(rv))
            del self._objs[resource][(namespace or "", name)]
            self._sorted.pop(resource, None)
            self._index_owners(resource, old, False)
            self._emit(WatchEvent("DELETED", resource, gone, old, rv))
            return gone

    # ----- watches ---------------------------------------------------------------------------------------
    def add_listener(self, fn: Callable[[WatchEvent], None]) -> None:
        """Call ``fn`` (under the lock; keep it cheap) for every change."""
        with self.lock:
            self._listeners.append(fn)

    def watch(self, resource: str, since: int | None) -> tuple[Watcher, builtins.list[WatchEvent]]:
        """Register a watcher; return it with the events it must see first.

        ``since`` None means "from now, with the current objects as ADDED" (what an unset or "0" version
        means); otherwise the retained events after ``since``. Raises Gone when ``since`` is older than the
        ring. Registration and the replay are taken under one lock, so nothing falls between them.
        """
        with self.lock:
            w = Watcher(resource)
            if since is None:
                backlog = [
                    WatchEvent("ADDED", resource, o, None, int(o["metadata"]["resourceVersion"]))
                    for o in self.list(resource)
                ]
            else:
                if since < self._compacted_rv:
                    raise Gone(f"too old resource version: {since} ({self._compacted_rv + 1})")
                backlog = []
                for ev in reversed(self._history):
                    if ev.rv <= since:
                        break
                    if ev.resource == resource:
                        backlog.append(ev)
                backlog.reverse()
            self._watchers.setdefault(resource, set()).add(w)
            return w, backlog

    def unwatch(self, w: Watcher) -> None:
        with self.lock:
            self._watchers.get(w.resource, set()).discard(w)
        w.close()

    def bookmark(self, w: Watcher) -> None:
        """Queue a BOOKMARK at the current version; queued under the lock, so it follows every earlier event."""
        with self.lock:
            rv = self._rv
            w.put(WatchEvent("BOOKMARK", w.resource, {"metadata": {"resourceVersion": str(rv)}}, None, rv))

    def close_watches(self, *, dropped: bool = False) -> int:
        """Close every open watch; ``dropped`` cuts connections (the fault) instead of ending streams."""
        with self.lock:
            ws = [w for s in self._watchers.values() for w in s]
            for s in self._watchers.values():
                s.clear()
        for w in ws:
            w.close(dropped=dropped)
        return len(ws)

    def compact(self) -> None:
        """Forget all history: every resume from an older version now gets 410."""
        with self.lock:
            self._history.clear()
            self._compacted_rv = self._rv

    def history_since(self, rv: int, resource: str | None = None) -> builtins.list[WatchEvent]:
        """Retained events after ``rv`` (ground truth for tests of watch delivery)."""
        with self.lock:
            return [e for e in self._history if e.rv > rv and (resource is None or e.resource == resource)]

    def watcher_count(self) -> int:
        with self.lock:
            return sum(len(s) for s in self._watchers.values())

    def all_objects(self) -> Iterable[tuple[str, Obj]]:
        with self.lock:
            return [(r, o) for r, b in self._objs.items() for o in b.values()]

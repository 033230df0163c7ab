"""What the watch loops hand to their consumers, and the consumer-side cache those changes build.

A ``Change`` is one object added, modified or deleted, or a ``RESYNC`` carrying a kind's whole new set after
a (re)list; a ``WatchStatus`` is one loop's state for the UI's health line. ``ClusterCache`` applies drained
changes to per-kind dicts keyed like the changes (``namespace/name``, or ``name`` for nodes); a RESYNC
replaces the kind's dict, which is what keeps a relist from leaving duplicate or ghost rows behind.

Pure: no threads, no IO, no clock. Objects are the API's JSON dicts (camelCase), shared, never copied:
treat them as read-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Change", "ClusterCache", "KindDelta", "WatchStatus", "object_key"]

Obj = dict[str, Any]

# Loop states, in the order a healthy loop passes through them.
SYNCING, LIVE, RECONNECTING, FORBIDDEN, ERROR, STOPPED = "syncing", "live", "reconnecting", "forbidden", "error", "stopped"
STATES = (SYNCING, LIVE, RECONNECTING, FORBIDDEN, ERROR, STOPPED)


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{ns}/{md.get('name', '')}" if ns else str(md.get("name", ""))


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one kind: ADDED / MODIFIED / DELETED with its object, or RESYNC with the full set."""

    kind: str  # "pods", "nodes", ... (the resource name)
    type: str  # "ADDED" | "MODIFIED" | "DELETED" | "RESYNC"
    key: str  # "namespace/name" (or "name" for nodes); "" for RESYNC
    obj: Obj | None  # API JSON (for DELETED: the object's last state); None for RESYNC
    objects: tuple[Obj, ...] = ()  # RESYNC only: every object of the kind now


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """One loop's state: syncing | live | reconnecting | forbidden | error | stopped.

    ``since`` is when this state began (the loop's clock, epoch seconds), so "reconnecting for 42 s" is
    ``now - since``; ``synced`` is True once the loop has listed the kind at least once.
    """

    kind: str
    state: str
    since: float
    message: str = ""
    resource_version: str = ""
    synced: bool = False
    relists: int = 0  # how many times the kind was listed again after the first list (410s, regained access)
    drops: int = 0  # how many times a watch connection failed and was resumed from the last version

    def age(self, now: float) -> float:
        """Seconds spent in this state at ``now``."""
        return max(0.0, now - self.since)


@dataclass
class KindDelta:
    """What one ``apply`` did to one kind: keys added or modified, keys removed, and whether it was replaced."""

    upserted: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    resynced: bool = False


class ClusterCache:
    """Per-kind dicts of API objects keyed by ``Change.key``, built by applying drained changes in order."""

    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, Obj]] = {}

    def apply(self, changes: Iterable[Change]) -> dict[str, KindDelta]:
        """Apply ``changes`` in order; return, per kind touched, which keys changed.

        After a RESYNC the delta lists the keys that disappeared as ``deleted`` and every key of the new set
        as ``upserted``, so a table can update rows in place instead of rebuilding itself.
        """
        deltas: dict[str, KindDelta] = {}
        for ch in changes:
            objs = self._kinds.setdefault(ch.kind, {})
            delta = deltas.get(ch.kind)
            if delta is None:
                delta = deltas[ch.kind] = KindDelta()
            if ch.type == "RESYNC":
                new = {object_key(o): o for o in ch.objects}
                gone = objs.keys() - new.keys()
                delta.deleted = (delta.deleted | gone) - new.keys()
                delta.upserted = set(new)
                delta.resynced = True
                self._kinds[ch.kind] = new
            elif ch.type == "DELETED":
                objs.pop(ch.key, None)
                delta.upserted.discard(ch.key)
                delta.deleted.add(ch.key)
            elif ch.obj is not None:
                objs[ch.key] = ch.obj
                delta.deleted.discard(ch.key)
                delta.upserted.add(ch.key)
        return deltas

    def kinds(self) -> list[str]:
        """Kinds that have received at least one change."""
        return list(self._kinds)

    def objects(self, kind: str) -> list[Obj]:
        """Every object of ``kind`` (a new list; the dicts themselves are shared)."""
        return list(self._kinds.get(kind, {}).values())

    def get(self, kind: str, key: str) -> Obj | None:
        return self._kinds.get(kind, {}).get(key)

    def keys(self, kind: str) -> set[str]:
        return set(self._kinds.get(kind, {}))

    def versions(self, kind: str) -> dict[str, str]:
        """key -> resourceVersion, for comparing a cache with a fresh list."""
        return {k: str((o.get("metadata") or {}).get("resourceVersion", "")) for k, o in self._kinds.get(kind, {}).items()}

    def count(self, kind: str) -> int:
        return len(self._kinds.get(kind, {}))

    def clear(self, kind: str | None = None) -> None:
        """Forget one kind, or everything (on a context switch)."""
        if kind is None:
            self._kinds.clear()
        else:
            self._kinds.pop(kind, None)

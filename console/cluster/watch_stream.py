"""Raw list and watch calls of the official client, returning the API's JSON as plain dicts.

Why not ``kubernetes.watch.Watch``: with the default ``deserialize=True`` it builds a pydantic model of every
event (v37) that the console would only turn back into a dict, and with ``deserialize=False`` it neither
tracks the resourceVersion nor survives an ERROR event (it looks for a ``raw_object`` key that only the
deserialising path adds, so a 410 becomes a KeyError). Each ``Watch()`` also builds its own ``ApiClient``
on the library's global default configuration. So this module calls the generated list functions itself
with ``watch=True`` and ``_preload_content=False`` (the urllib3 response, unread), splits the stream into
lines and ``json.loads`` them: the same bytes, no model round trip, and every event type seen as it is.
benchmarks/watch.py measures the difference.

Lists use the same functions with ``_preload_content=False`` and ``json.loads`` on the body. Items of a
list carry no ``kind``/``apiVersion`` on a real API server; they are filled in so a listed object and a
watched one look the same to consumers (the rollout logic dispatches on ``kind``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from console.errors import OpsConsoleError

__all__ = ["KINDS", "KindSpec", "RawWatch", "WatchExpired", "cut_response", "list_objects"]

Obj = dict[str, Any]


class WatchExpired(OpsConsoleError):
    """The server answered 410 Gone: the resourceVersion is too old to resume from; list again."""


@dataclass(frozen=True)
class KindSpec:
    """How to list and watch one kind with the generated client."""

    name: str  # resource name, used as the Change.kind
    kind: str  # the object's kind, filled into listed items
    api_version: str
    api: type  # CoreV1Api or AppsV1Api
    list_all: str  # cluster-wide list function (all namespaces, or the cluster-scoped list)
    list_namespaced: str | None  # None for cluster-scoped kinds

    def function(self, api_client: client.ApiClient, namespace: str | None) -> tuple[Callable[..., Any], tuple[str, ...]]:
        """The list function to call and its positional arguments."""
        api = self.api(api_client)
        if namespace and self.list_namespaced:
            return getattr(api, self.list_namespaced), (namespace,)
        return getattr(api, self.list_all), ()


KINDS: dict[str, KindSpec] = {s.name: s for s in (
    KindSpec("pods", "Pod", "v1", client.CoreV1Api, "list_pod_for_all_namespaces", "list_namespaced_pod"),
    KindSpec("nodes", "Node", "v1", client.CoreV1Api, "list_node", None),
    KindSpec("deployments", "Deployment", "apps/v1", client.AppsV1Api, "list_deployment_for_all_namespaces", "list_namespaced_deployment"),
    KindSpec("statefulsets", "StatefulSet", "apps/v1", client.AppsV1Api, "list_stateful_set_for_all_namespaces",
             "list_namespaced_stateful_set"),
    KindSpec("daemonsets", "DaemonSet", "apps/v1", client.AppsV1Api, "list_daemon_set_for_all_namespaces", "list_namespaced_daemon_set"),
    KindSpec("replicasets", "ReplicaSet", "apps/v1", client.AppsV1Api, "list_replica_set_for_all_namespaces", "list_namespaced_replica_set"),
    KindSpec("events", "Event", "v1", client.CoreV1Api, "list_event_for_all_namespaces", "list_namespaced_event"),
)}


def _close(resp: Any) -> None:
    resp.close()
    resp.release_conn()


def list_objects(api_client: client.ApiClient, spec: KindSpec, namespace: str | None, *, timeout: tuple[float, float],
                 page_size: int | None = None, on_response: Callable[[Any], None] | None = None) -> tuple[list[Obj], str]:
    """Every object of the kind (following ``continue`` pages) and the list's resourceVersion.

    ``on_response`` is told each open response (and None after it), so a stopping loop can cut it.
    """
    fn, args = spec.function(api_client, namespace)
    items: list[Obj] = []
    rv = ""
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeout}
        if page_size:
            kwargs["limit"] = page_size
        if token:
            kwargs["_continue"] = token
        resp = fn(*args, **kwargs)
        if on_response:
            on_response(resp)
        try:
            body = json.loads(resp.data)
        finally:
            if on_response:
                on_response(None)
            _close(resp)
        md = body.get("metadata") or {}
        if not rv:
            rv = str(md.get("resourceVersion") or "")
        for item in body.get("items") or ():
            item.setdefault("kind", spec.kind)
            item.setdefault("apiVersion", spec.api_version)
            items.append(item)
        token = md.get("continue") or None
        if not token:
            return items, rv


class RawWatch:
    """One watch request, iterated as decoded event dicts; ``stop()`` from another thread cuts it at once.

    Iteration yields ``{"type": ..., "object": {...}}`` for ADDED, MODIFIED, DELETED and BOOKMARK; an ERROR
    event raises ``WatchExpired`` (code 410) or ``ApiException`` (any other code). The stream ends when the
    server closes it (its ``timeoutSeconds``); a cut connection raises urllib3's ProtocolError and a silent
    one ReadTimeoutError after the read timeout.
    """

    def __init__(self, api_client: client.ApiClient, spec: KindSpec, namespace: str | None, *, resource_version: str,
                 server_timeout: int, timeout: tuple[float, float], bookmarks: bool = True) -> None:
        self._fn, self._args = spec.function(api_client, namespace)
        self._kwargs: dict[str, Any] = {
            "watch": True, "resource_version": resource_version, "allow_watch_bookmarks": bookmarks,
            "timeout_seconds": server_timeout, "_request_timeout": timeout, "_preload_content": False,
        }
        self._resp: Any = None
        self._lock = threading.Lock()
        self._stopped = False

    def open(self) -> None:
        """Send the request; returns when the server has answered with its headers (the watch is live)."""
        resp = self._fn(*self._args, **self._kwargs)
        with self._lock:
            self._resp = resp
            stopped = self._stopped
        if stopped:
            self.stop()

    def events(self) -> Iterator[Obj]:
        """Decoded events until the server ends the stream; call ``open()`` first."""
        resp = self._resp
        if resp is None:
            raise RuntimeError("RawWatch.events() before open()")
        buf = b""
        try:
            for chunk in resp.stream(None, decode_content=False):
                buf += chunk
                if b"\n" not in chunk:
                    continue
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    if ev.get("type") == "ERROR":
                        raise _error(ev.get("object") or {})
                    yield ev
                if self._stopped:
                    return
        finally:
            with self._lock:
                self._resp = None
            _close(resp)

    def stop(self) -> None:
        """Wake a reader blocked on the socket: shut the socket down (the read then fails or ends)."""
        with self._lock:
            self._stopped = True
            resp = self._resp
        if resp is not None:
            cut_response(resp)


def _error(status: Obj) -> Exception:
    code = int(status.get("code") or 0)
    reason = f"{status.get('reason', '')}: {status.get('message', '')}".strip(": ")
    if code == 410:
        return WatchExpired(reason or "resource version too old")
    return ApiException(status=code or 500, reason=reason or "watch error event")


def cut_response(resp: Any) -> None:
    """Shut down the socket under an open urllib3 response (used to interrupt a list in progress)."""
    sock = getattr(getattr(resp, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: nothing to interrupt
            sock.shutdown(socket.SHUT_RDWR)

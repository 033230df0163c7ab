"""List and watch calls returning the API's JSON as plain dicts, over either transport, and the kinds they serve.

Two transports carry the same requests: ``HttpTransport`` (console/cluster/raw_http.py: the standard library's
``http.client``, used whenever the kubeconfig's auth is one it handles, because it needs none of the official
client's start-up time) and ``ClientTransport`` here (the official client, for everything else: interactive
exec plugins, auth providers, proxies). Both raise the same things, so the watch loop handles one set: ``ApiStatusError``
for an answer that is not 200, ``WatchExpired`` for 410 Gone, ``ValueError`` for a body that is not JSON, and
``OSError`` / ``http.client.HTTPException`` / urllib3's ``HTTPError`` when the connection fails.

Why not ``kubernetes.watch.Watch``: with the default ``deserialize=True`` it builds a pydantic model of every
event (v37) that the console would only turn back into a dict, and with ``deserialize=False`` it neither
tracks the resourceVersion nor survives an ERROR event (it looks for a ``raw_object`` key that only the
deserialising path adds, so a 410 becomes a KeyError). Each ``Watch()`` also builds its own ``ApiClient``
on the library's global default configuration. So ``ClientTransport`` calls the generated list functions
itself with ``watch=True`` and ``_preload_content=False`` (the urllib3 response, unread), splits the stream
into lines and ``json.loads`` them: the same bytes, no model round trip, and every event type seen as it is.
benchmarks/watch.py measures the difference.

Items of a list carry no ``kind``/``apiVersion`` on a real API server; they are filled in so a listed object
and a watched one look the same to consumers (the rollout logic dispatches on ``kind``). The kubernetes
package is imported only by ``ClientTransport``, when one is built: it takes most of a second to load.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from console.errors import OpsConsoleError

__all__ = ["KINDS", "ApiStatusError", "ClientTransport", "KindSpec", "RawWatch", "Transport", "WatchExpired", "WatchStream",
           "as_transport", "cut_response", "list_objects"]

Obj = dict[str, Any]
# Told each page of a list as it arrives: (the page's items, True for the first page of the list).
PageSink = Callable[[list[Obj], bool], None]


class WatchExpired(OpsConsoleError):
    """The server answered 410 Gone: the resourceVersion is too old to resume from; list again."""


class ApiStatusError(OpsConsoleError):
    """The API server answered with an HTTP status other than 200 (``body``: its Status JSON, when it sent one)."""

    def __init__(self, status: int, reason: str, body: str = "") -> None:
        super().__init__(f"{status} {reason}".strip())
        self.status = status
        self.reason = reason
        self.body = body


@dataclass(frozen=True)
class KindSpec:
    """How to list and watch one kind: its REST path, and the generated client's names for the same calls."""

    name: str  # resource name, used as the Change.kind and in the URL
    kind: str  # the object's kind, filled into listed items
    api_version: str  # "v1" (the core group, under /api) or "group/version" (under /apis)
    api: str  # the generated client's class: "CoreV1Api" or "AppsV1Api"
    list_all: str  # cluster-wide list function (all namespaces, or the cluster-scoped list)
    list_namespaced: str | None  # None for cluster-scoped kinds

    def path(self, namespace: str | None) -> str:
        """The collection's URL path, e.g. ``/api/v1/namespaces/web/pods`` or ``/apis/apps/v1/deployments``."""
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if namespace and self.list_namespaced:
            return f"{root}/namespaces/{namespace}/{self.name}"
        return f"{root}/{self.name}"

    def function(self, api_client: Any, namespace: str | None) -> tuple[Callable[..., Any], tuple[str, ...]]:
        """The generated client's list function to call and its positional arguments."""
        from kubernetes import client  # only the client transport gets here: see the module docstring

        api = getattr(client, self.api)(api_client)
        if namespace and self.list_namespaced:
            return getattr(api, self.list_namespaced), (namespace,)
        return getattr(api, self.list_all), ()


KINDS: dict[str, KindSpec] = {s.name: s for s in (
    KindSpec("pods", "Pod", "v1", "CoreV1Api", "list_pod_for_all_namespaces", "list_namespaced_pod"),
    KindSpec("nodes", "Node", "v1", "CoreV1Api", "list_node", None),
    KindSpec("deployments", "Deployment", "apps/v1", "AppsV1Api", "list_deployment_for_all_namespaces", "list_namespaced_deployment"),
    KindSpec("statefulsets", "StatefulSet", "apps/v1", "AppsV1Api", "list_stateful_set_for_all_namespaces",
             "list_namespaced_stateful_set"),
    KindSpec("daemonsets", "DaemonSet", "apps/v1", "AppsV1Api", "list_daemon_set_for_all_namespaces", "list_namespaced_daemon_set"),
    KindSpec("replicasets", "ReplicaSet", "apps/v1", "AppsV1Api", "list_replica_set_for_all_namespaces", "list_namespaced_replica_set"),
    KindSpec("events", "Event", "v1", "CoreV1Api", "list_event_for_all_namespaces", "list_namespaced_event"),
)}


class WatchStream(Protocol):
    """One watch request: ``open()`` sends it, ``events()`` yields decoded events, ``stop()`` cuts it from any thread."""

    def open(self) -> None: ...
    def events(self) -> Iterator[Obj]: ...
    def stop(self) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """Lists and watches of one API server; see the module docstring for what both implementations raise."""

    def list(self, spec: KindSpec, namespace: str | None, *, timeout: tuple[float, float], page_size: int | None = None,
             on_response: Callable[[Any], None] | None = None, on_page: PageSink | None = None) -> tuple[list[Obj], str]: ...

    def watch(self, spec: KindSpec, namespace: str | None, *, resource_version: str, server_timeout: int,
              timeout: tuple[float, float]) -> WatchStream: ...


# Pages after a list's first are this many times bigger: the first page puts rows on screen early, and the rest
# come in few pages, since each one the dashboard shows costs it a frame (benchmarks/panels.py measures both).
LATER_PAGES = 10


def page_limit(page_size: int | None, first: bool) -> int | None:
    """The ``limit`` of a list request: ``page_size`` for the first page, ``LATER_PAGES`` times it for the others."""
    if not page_size:
        return None
    return page_size if first else page_size * LATER_PAGES


def as_transport(api: Any) -> Transport:
    """``api`` itself when it is a transport, else the official client's ``ApiClient`` wrapped in ``ClientTransport``."""
    return api if isinstance(api, Transport) else ClientTransport(api)


def fill_kind(items: list[Obj], spec: KindSpec) -> list[Obj]:
    """Give listed items the ``kind``/``apiVersion`` a watched object carries (a real server leaves them out), and
    drop their ``managedFields`` (see ``without_managed_fields``)."""
    for item in items:
        item.setdefault("kind", spec.kind)
        item.setdefault("apiVersion", spec.api_version)
        without_managed_fields(item)
    return items


def without_managed_fields(obj: Any) -> Any:
    """``obj`` without ``metadata.managedFields``: on a real cluster often a third of a pod's JSON, shown by no
    panel or detail view (kubectl hides it too unless asked), so the caches of a big cluster do not keep it."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def _close(resp: Any) -> None:
    resp.close()
    resp.release_conn()


class ClientTransport:
    """Lists and watches through the official client's ``ApiClient`` (any auth its kubeconfig loader handles)."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    def list(self, spec: KindSpec, namespace: str | None, *, timeout: tuple[float, float], page_size: int | None = None,
             on_response: Callable[[Any], None] | None = None, on_page: PageSink | None = None) -> tuple[list[Obj], str]:
        with _translated():
            return list_objects(self.api_client, spec, namespace, timeout=timeout, page_size=page_size, on_response=on_response,
                                on_page=on_page)

    def watch(self, spec: KindSpec, namespace: str | None, *, resource_version: str, server_timeout: int,
              timeout: tuple[float, float]) -> WatchStream:
        return RawWatch(self.api_client, spec, namespace, resource_version=resource_version, server_timeout=server_timeout,
                        timeout=timeout)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """The official client's ApiException as the ``ApiStatusError`` both transports raise."""
    from kubernetes.client.exceptions import ApiException

    try:
        yield
    except ApiException as exc:
        body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body or "")
        raise ApiStatusError(int(exc.status or 0), str(exc.reason or ""), body) from None


def list_objects(api_client: Any, spec: KindSpec, namespace: str | None, *, timeout: tuple[float, float],
                 page_size: int | None = None, on_response: Callable[[Any], None] | None = None,
                 on_page: PageSink | None = None) -> tuple[list[Obj], str]:
    """Every object of the kind through the official client (following ``continue`` pages) and the list's resourceVersion.

    ``on_response`` is told each open response (and None after it), so a stopping loop can cut it; ``on_page``
    each page's items as they arrive. Raises the client's ``ApiException`` (``ClientTransport`` translates it).
    """
    fn, args = spec.function(api_client, namespace)
    items: list[Obj] = []
    rv = ""
    token: str | None = None
    first = True
    while True:
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeout}
        limit = page_limit(page_size, first)
        if limit:
            kwargs["limit"] = limit
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
        page = fill_kind(list(body.get("items") or ()), spec)
        if on_page:
            on_page(page, first)
        first = False
        items += page
        token = md.get("continue") or None
        if not token:
            return items, rv


class RawWatch:
    """One watch request through the official client, iterated as decoded event dicts; ``stop()`` from another
    thread cuts it at once.

    Iteration yields ``{"type": ..., "object": {...}}`` for ADDED, MODIFIED, DELETED and BOOKMARK; an ERROR
    event raises ``WatchExpired`` (code 410) or ``ApiStatusError`` (any other code). The stream ends when the
    server closes it (its ``timeoutSeconds``); a cut connection raises urllib3's ProtocolError and a silent
    one ReadTimeoutError after the read timeout.
    """

    def __init__(self, api_client: Any, spec: KindSpec, namespace: str | None, *, resource_version: str,
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
        with _translated():
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
        try:
            yield from stream_events(resp.stream(None, decode_content=False), lambda: self._stopped)
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


# A watch event is a JSON document of its own, so ``json.loads`` gives each one fresh copies of every key
# ("metadata", "resourceVersion", "containerStatuses", ...), where a list's objects share one copy per key. A pod
# replaced by an event then held some 3.5 KB more than the pod it replaced: +180 MB once every pod of a
# 50,000-pod cluster had changed. Interned keys cost some 10% more decoding and keep the cache at the list's size.
_EVENT_DECODER = json.JSONDecoder(object_pairs_hook=lambda pairs: {sys.intern(k): v for k, v in pairs})


def decode_event(line: bytes) -> Any:
    """One watch event's JSON, its objects' keys shared with every other event's (see ``_EVENT_DECODER``), without
    the object's ``managedFields``."""
    event = _EVENT_DECODER.decode(line.decode("utf-8"))
    if isinstance(event, dict):
        without_managed_fields(event.get("object"))
    return event


def stream_events(chunks: Iterable[bytes], stopped: Callable[[], bool]) -> Iterator[Obj]:
    """The events of a watch response's body, read as ``chunks`` of bytes: one JSON object a line, decoded by
    ``decode_event``; an ERROR event raises (``watch_error``), anything but an object is a ``ValueError``. Returns at
    the end of the body, or after the chunk during which ``stopped()`` became true."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        if b"\n" not in chunk:
            continue
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            ev = decode_event(line)
            if not isinstance(ev, dict):
                raise ValueError("a watch event that is not a JSON object")
            if ev.get("type") == "ERROR":
                raise watch_error(ev.get("object") or {})
            yield ev
        if stopped():
            return


def watch_error(status: Obj) -> Exception:
    """The exception an ERROR event of a watch stands for (its object is a Status)."""
    code = int(status.get("code") or 0)
    reason = f"{status.get('reason', '')}: {status.get('message', '')}".strip(": ")
    if code == 410:
        return WatchExpired(reason or "resource version too old")
    return ApiStatusError(code or 500, reason or "watch error event")


def cut_response(resp: Any) -> None:
    """Shut down the socket under an open urllib3 response or ``http.client`` connection (to interrupt a read)."""
    sock = getattr(resp, "sock", None) or getattr(getattr(resp, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: nothing to interrupt
            sock.shutdown(socket.SHUT_RDWR)

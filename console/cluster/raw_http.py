"""Lists and watches over the standard library's ``http.client``: the live dashboard's transport when the
kubeconfig's auth is one ``raw_endpoint`` handles.

Same requests and the same answers as the official client's (console/cluster/watch_stream.py), without loading
it: that takes most of a second, and on a big cluster the first list is the dashboard's critical path. One
connection per list (its pages share it) and one per watch; each is cut from another thread by shutting its
socket down, which ends a blocked read at once.

- timeouts: ``(connect, read)`` as the official client takes them; the read timeout is the socket's, so a
  silent dead connection ends in ``TimeoutError`` rather than hanging.
- errors: a status other than 200 raises ``ApiStatusError`` with the body; a body or event that is not JSON
  ``ValueError``; a refused, reset or short connection ``OSError`` / ``http.client.HTTPException``.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from console.cluster.raw_endpoint import RawEndpoint
from console.cluster.watch_stream import (
    ApiStatusError,
    KindSpec,
    PageSink,
    WatchStream,
    cut_response,
    fill_kind,
    page_limit,
    stream_events,
)

__all__ = ["HttpTransport", "HttpWatch"]

Obj = dict[str, Any]
READ_SIZE = 1 << 16


def _open(conn: http.client.HTTPConnection, timeout: tuple[float, float]) -> None:
    """Connect within the connect timeout, then let each read wait up to the read timeout."""
    conn.timeout = timeout[0]
    conn.connect()
    if conn.sock is not None:
        conn.sock.settimeout(timeout[1])


class _HttpsConnection(http.client.HTTPConnection):
    """``HTTPSConnection`` whose TLS context is asked for at each connect: a credential plugin's client certificate
    may have been replaced since the connection object was made (a page's reconnect, a retry after 401)."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, timeout: float, context_of: Callable[[], ssl.SSLContext | None]) -> None:
        super().__init__(host, port, timeout=timeout)
        self._context_of = context_of

    def connect(self) -> None:
        super().connect()
        ctx = self._context_of() or ssl.create_default_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.host)


class HttpTransport:
    """Lists and watches of one endpoint through ``http.client``; thread-safe (nothing is shared between calls)."""

    def __init__(self, endpoint: RawEndpoint) -> None:
        self.endpoint = endpoint

    def connect(self, timeout: tuple[float, float]) -> http.client.HTTPConnection:
        """A connected connection whose socket then waits at most the read timeout."""
        ep = self.endpoint
        conn: http.client.HTTPConnection
        ep.credential()  # as kubectl: no credential, no connection (a plugin's failure, not the server's, is the reason)
        if ep.scheme == "https":
            # The plugin's credential (kept, or run again when stale) decides the client certificate of each connect.
            conn = _HttpsConnection(ep.host, ep.port, timeout[0], lambda: ep.tls_context(ep.credential()))
        else:
            conn = http.client.HTTPConnection(ep.host, ep.port, timeout=timeout[0])
        try:
            _open(conn, timeout)
        except BaseException:
            conn.close()
            raise
        return conn

    def get(self, conn: http.client.HTTPConnection, path: str, query: dict[str, str],
            timeout: tuple[float, float] | None = None) -> http.client.HTTPResponse:
        """Send one GET on ``conn``; the response when it is 200, else ``ApiStatusError`` with the body.

        A connection the server closed after its last answer is opened again first (with ``timeout``). With a
        credential plugin, a 401 makes it run once more (unless another request just did) and the GET is sent
        again, once, on a new connection (a new client certificate needs a new handshake).
        """
        return self.send(conn, "GET", path, query, timeout)

    def send(self, conn: http.client.HTTPConnection, method: str, path: str, query: dict[str, str],
             timeout: tuple[float, float] | None = None, body: object = None,
             ok: tuple[int, ...] = (200,)) -> http.client.HTTPResponse:
        """Send one request on ``conn``, ``body`` (if any) as JSON; the response when its status is in ``ok``, else
        ``ApiStatusError`` with the body. Reopening and the plugin's 401 retry as for ``get``."""
        ep = self.endpoint
        if conn.sock is None and timeout is not None:
            _open(conn, timeout)
        url = ep.base_path + path + ("?" + urllib.parse.urlencode(query) if query else "")
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        credential = ep.credential()

        def headers() -> dict[str, str]:
            out = ep.request_headers(credential)
            if payload is not None:
                out["Content-Type"] = "application/json"
            return out

        # One buffer for the headers and the body (http.client joins them when the body is bytes): a body sent in
        # a second segment would wait on the server's delayed ACK of the first.
        conn.request(method, url, body=payload, headers=headers())
        resp = conn.getresponse()
        if resp.status == 401 and credential is not None and ep.exec_auth is not None:
            resp.read()
            credential = ep.exec_auth.refresh(credential)
            conn.close()
            _open(conn, timeout or (conn.timeout or 30.0, conn.timeout or 30.0))
            conn.request(method, url, body=payload, headers=headers())
            resp = conn.getresponse()
        if resp.status not in ok:
            text = resp.read().decode("utf-8", "replace")
            raise ApiStatusError(resp.status, resp.reason, text)
        return resp

    def list(self, spec: KindSpec, namespace: str | None, *, timeout: tuple[float, float], page_size: int | None = None,
             on_response: Callable[[Any], None] | None = None, on_page: PageSink | None = None) -> tuple[list[Obj], str]:
        """Every object of the kind (following ``continue`` pages) and the list's resourceVersion.

        ``on_response`` is told the open connection (and None after it), so a stopping loop can cut it;
        ``on_page`` each page's items as they arrive (True for the first page).
        """
        path = spec.path(namespace)
        items: list[Obj] = []
        rv = ""
        token = ""
        first = True
        conn = self.connect(timeout)
        if on_response:
            on_response(conn)
        try:
            while True:
                query: dict[str, str] = {}
                limit = page_limit(page_size, first)
                if limit:
                    query["limit"] = str(limit)
                if token:
                    query["continue"] = token
                resp = self.get(conn, path, query, timeout)
                body = json.loads(resp.read())
                if not isinstance(body, dict):
                    raise ValueError(f"a list of {spec.name} that is not a JSON object")
                md = body.get("metadata") or {}
                if first:
                    rv = str(md.get("resourceVersion") or "")
                page = fill_kind(list(body.get("items") or ()), spec)
                if on_page:
                    on_page(page, first)
                first = False
                items += page
                token = str(md.get("continue") or "")
                if not token:
                    return items, rv
        finally:
            if on_response:
                on_response(None)
            conn.close()

    def watch(self, spec: KindSpec, namespace: str | None, *, resource_version: str, server_timeout: int,
              timeout: tuple[float, float]) -> WatchStream:
        return HttpWatch(self, spec.path(namespace), {
            "watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
            "timeoutSeconds": str(int(server_timeout))}, timeout)


class HttpWatch:
    """One watch request, iterated as decoded event dicts; ``stop()`` from another thread cuts it at once.

    Yields ``{"type": ..., "object": {...}}`` for ADDED, MODIFIED, DELETED and BOOKMARK; an ERROR event raises
    ``WatchExpired`` (code 410) or ``ApiStatusError``. The stream ends when the server closes it.
    """

    def __init__(self, transport: HttpTransport, path: str, query: dict[str, str], timeout: tuple[float, float]) -> None:
        self._transport, self._path, self._query, self._timeout = transport, path, query, timeout
        self._conn: http.client.HTTPConnection | None = None
        self._resp: http.client.HTTPResponse | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def open(self) -> None:
        """Connect and send the request; returns when the server has answered 200 (the watch is live)."""
        conn = self._transport.connect(self._timeout)
        with self._lock:
            self._conn = conn
            stopped = self._stopped
        if stopped:
            self.stop()
        try:
            self._resp = self._transport.get(conn, self._path, self._query, self._timeout)
        except BaseException:
            self._close()
            raise
        if self._stopped:  # a retry after 401 connects again: a stop meanwhile cut the old socket, not this one
            self.stop()

    def events(self) -> Iterator[Obj]:
        """Decoded events until the server ends the stream; call ``open()`` first."""
        resp = self._resp
        if resp is None:
            raise RuntimeError("HttpWatch.events() before open()")
        try:
            yield from stream_events(iter(partial(resp.read1, READ_SIZE), b""), lambda: self._stopped)
        finally:
            self._close()

    def _close(self) -> None:
        with self._lock:
            conn, self._conn, self._resp = self._conn, None, None
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        """Wake a reader blocked on the socket: shut the socket down (the read then fails or ends)."""
        with self._lock:
            self._stopped = True
            conn = self._conn
        if conn is not None:
            cut_response(conn)

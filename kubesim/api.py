"""HTTP front of the rehearsal cluster: routing, discovery, verbs, Tables and chunked watch streams.

Paths are the Kubernetes ones (``/api/v1/namespaces/web/pods``, ``/apis/apps/v1/...``); a second cluster
is served under ``/clusters/<name>/...`` (a kubeconfig server URL may carry a path). Watches are HTTP/1.1
chunked responses with one JSON event per line, ended after ``timeoutSeconds``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from kubesim import logs, openapi, protobuf, resources, tables
from kubesim.errors import ANONYMOUS, ApiError, BadRequest, Gone, MethodNotAllowed, NotFound, UnsupportedMediaType
from kubesim.resources import Resource
from kubesim.selectors import match_fields, match_labels, parse_fields, parse_labels
from kubesim.store import WatchEvent
from kubesim.verbs import Verbs

if TYPE_CHECKING:
    from kubesim.cluster import SimCluster
    from kubesim.server import SimHTTPServer

Obj = dict[str, Any]
log = logging.getLogger("kubesim.api")
BOOKMARK_EVERY = 1.0  # real seconds of quiet before a BOOKMARK is sent to watchers that allow them
DEFAULT_WATCH_TIMEOUT = 1800.0


class Route:
    """A parsed resource path."""

    def __init__(self, res: Resource, namespace: str | None, name: str | None, sub: str) -> None:
        self.res, self.namespace, self.name, self.sub = res, namespace, name, sub


def parse_route(parts: list[str]) -> Route | None:
    """``parts`` after the group/version prefix; None when it names no resource of ours."""
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    ns: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and resources.lookup(group, version, rest[2]):
        ns, rest = rest[1], rest[2:]
    if not rest:
        return None
    res = resources.lookup(group, version, rest[0])
    if res is None or len(rest) > 3:
        return None
    if res.namespaced is False and ns is not None:
        return None
    return Route(res, ns, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else "")


class ApiHandler(BaseHTTPRequestHandler):
    """One connection of the rehearsal API server."""

    protocol_version = "HTTP/1.1"
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("OPSCONSOLE_SIM_ACCESS_LOG"):
            log.info("%s %s", self.address_string(), format % args)

    def setup(self) -> None:
        super().setup()
        # As a real API server's sockets (Go sets TCP_NODELAY on every connection): an answer goes out as headers,
        # then body, in two writes, and without this the body waits for the client's delayed ACK of the headers,
        # some 40 ms on every answer of a kept-alive connection after its first few.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    # ----- responses -------------------------------------------------------------------------------------
    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, obj: Any) -> None:
        self._send(code, json.dumps(obj, separators=(",", ":")).encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _start_stream(self, ctype: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        """Cut the connection without ending the stream: what a dropped network looks like."""
        self.close_connection = True
        with contextlib.suppress(OSError):  # already closed
            self.connection.shutdown(socket.SHUT_RDWR)

    # ----- dispatch --------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.server.down:
            self._abort()
            return
        url = urlsplit(self.path)
        q = dict(parse_qsl(url.query, keep_blank_values=True))
        parts = [p for p in url.path.split("/") if p]
        cluster = self.server.default
        if parts[:1] == ["clusters"] and len(parts) >= 2:
            found = self.server.clusters.get(parts[1])
            if found is None:
                self._json(404, NotFound(f"no cluster {parts[1]!r}").status())
                return
            cluster, parts = found, parts[2:]
        if body and "protobuf" in (self.headers.get("Content-Type") or ""):
            # kubectl's typed clients send built-in kinds as protobuf and never fall back to JSON
            try:
                body = json.dumps(protobuf.decode(body)).encode()
            except protobuf.ProtobufError as e:
                self._json(415, UnsupportedMediaType(str(e)).status())
                return
        if cluster.faults.latency_ms:
            time.sleep(cluster.faults.latency_ms / 1000)
        try:
            self._route(cluster, method, parts, q, body)
        except ApiError as e:
            self._json(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except (json.JSONDecodeError, ValueError) as e:
            self._json(400, BadRequest(f"the server could not parse the request: {e}").status())

    def _route(self, cluster: SimCluster, method: str, parts: list[str], q: dict[str, str], body: bytes) -> None:
        path = "/" + "/".join(parts)
        if method == "GET":
            if path == "/version":
                return self._json(200, resources.SERVER_VERSION)
            if path == "/kubesim/clock":
                # How fast simulated time runs, so a client can scale its own waits to it (the console's rehearsals).
                return self._json(200, {"speed": cluster.clock.speed, "now": cluster.clock.now()})
            if path in ("/healthz", "/livez", "/readyz"):
                return self._send(200, b"ok", "text/plain")
            if path == "/api":
                return self._json(200, resources.api_versions(f"127.0.0.1:{self.server.server_port}"))
            if path == "/apis":
                return self._json(200, resources.api_group_list())
            if path == "/openapi/v3":
                return self._json(200, openapi.root())
            if parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
                gv = ("", parts[3]) if parts[2] == "api" else (parts[3], parts[4] if len(parts) == 5 else "")
                doc = openapi.group_version(*gv)
                if doc is not None:
                    return self._json(200, doc)
            if len(parts) == 2 and parts[0] == "apis" and (g := resources.api_group(parts[1])):
                return self._json(200, g)
            if (len(parts) == 2 and parts[0] == "api") or (len(parts) == 3 and parts[0] == "apis"):
                group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
                rl = resources.resource_list(group, version)
                if rl is not None:
                    return self._json(200, rl)
        route = parse_route(parts)
        if route is None:
            raise NotFound("the server could not find the requested resource")
        return self._resource(cluster, method, route, q, body)

    # ----- resources -------------------------------------------------------------------------------------
    def _user(self) -> str:
        """Who asks: the rehearsal cluster takes a bearer token as the user's name (no token: anonymous)."""
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else ANONYMOUS

    def _wants_table(self) -> bool:
        return "as=Table" in (self.headers.get("Accept") or "")

    def _resource(self, cluster: SimCluster, method: str, r: Route, q: dict[str, str], body: bytes) -> None:
        verbs = Verbs(cluster)
        ns = r.namespace or ""
        dry = bool(q.get("dryRun"))
        verb = {"GET": "get" if r.name else ("watch" if q.get("watch") in ("true", "1") else "list"), "HEAD": "get",
                "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        verbs.check_allowed(r.res, verb, r.namespace, self._user())
        now = cluster.clock.now()
        if r.name is None:
            if method == "GET" and verb == "watch":
                return self._watch(cluster, r, q)
            if method in ("GET", "HEAD"):
                items, rv, cont = verbs.list(r.res, r.namespace, q)
                if self._wants_table():
                    return self._json(200, tables.table(r.res.name, items, now, resource_version=rv, cont=cont,
                                                        full_object=q.get("includeObject") == "Object"))
                return self._json(200, verbs.list_object(r.res, items, rv, cont))
            if method == "POST":
                created = verbs.create(r.res, ns, self._body(body), dry_run=dry)
                return self._json(201, created)
            raise MethodNotAllowed(f"{method} is not supported on a collection")
        if r.sub == "":
            if method in ("GET", "HEAD"):
                obj = verbs.get(r.res, ns, r.name)
                if self._wants_table():
                    return self._json(200, tables.table(r.res.name, [obj], now, resource_version=obj["metadata"]["resourceVersion"]))
                return self._json(200, obj)
            if method == "PUT":
                obj, is_new = verbs.put(r.res, ns, r.name, self._body(body), dry_run=dry)
                return self._json(201 if is_new else 200, obj)
            if method == "PATCH":
                return self._json(200, verbs.patch(r.res, ns, r.name, body, self.headers.get("Content-Type", ""), dry_run=dry))
            if method == "DELETE":
                return self._json(200, verbs.delete(r.res, ns, r.name, q, self._body(body) if body else None))
        if r.sub not in r.res.subresources:
            raise NotFound("the server could not find the requested resource")
        if r.sub == "status":
            if method == "GET":
                return self._json(200, verbs.get(r.res, ns, r.name))
            if method == "PUT":
                return self._json(200, verbs.update(r.res, ns, r.name, self._body(body), "status", dry_run=dry))
            if method == "PATCH":
                return self._json(200, verbs.patch(r.res, ns, r.name, body, self.headers.get("Content-Type", ""), "status", dry_run=dry))
        if r.sub == "scale":
            if method == "GET":
                return self._json(200, verbs.scale(r.res, ns, r.name))
            if method in ("PUT", "PATCH"):
                ctype = None if method == "PUT" else self.headers.get("Content-Type", "")
                return self._json(200, verbs.write_scale(r.res, ns, r.name, body, ctype, dry_run=dry))
        if r.sub == "eviction" and method == "POST":
            return self._json(201, verbs.evict(ns, r.name, self._body(body)))
        if r.sub == "log" and method == "GET":
            return self._log(cluster, verbs, ns, r.name, q)
        raise MethodNotAllowed(f"{method} is not supported on {r.res.name}/{r.sub}")

    def _body(self, body: bytes) -> Obj:
        try:
            obj = json.loads(body or b"{}")
        except json.JSONDecodeError as e:
            raise BadRequest(f"the body of the request is not valid JSON: {e}") from e
        if not isinstance(obj, dict):
            raise BadRequest("the body of the request must be an object")
        return obj

    # ----- logs ------------------------------------------------------------------------------------------
    def _log(self, cluster: SimCluster, verbs: Verbs, ns: str, name: str, q: dict[str, str]) -> None:
        lines, pod, container = verbs.log(ns, name, q)
        text = "".join(line + "\n" for line in lines).encode()
        if q.get("follow") != "true":
            self._send(200, text, "text/plain")
            return
        self._start_stream("text/plain")
        if text:
            self._chunk(text)
        seen = len(logs.pod_log(pod, container, cluster.clock.now()))
        while not self.server.stopping.is_set() and not self.server.down:
            self.server.stopping.wait(0.5)
            current = cluster.store.peek("pods", ns, name)
            if current is None:
                break
            try:
                now_lines = logs.pod_log(current, container, cluster.clock.now())
            except logs.NotStarted:
                break
            if len(now_lines) > seen:
                self._chunk("".join(line + "\n" for line in now_lines[seen:]).encode())
            seen = len(now_lines)
        self._end_stream()

    # ----- watch -----------------------------------------------------------------------------------------
    def _watch(self, cluster: SimCluster, r: Route, q: dict[str, str]) -> None:
        store = cluster.store
        rv_text = q.get("resourceVersion") or ""
        since = None if rv_text in ("", "0") else int(rv_text)
        table = self._wants_table()
        try:
            if since is not None and cluster.faults.take_expire():
                raise Gone(f"too old resource version: {since} ({store.resource_version})")
            w, backlog = store.watch(r.res.name, since)
        except Gone as e:
            self._start_stream()
            self._chunk(json.dumps({"type": "ERROR", "object": e.status()}).encode() + b"\n")
            return self._end_stream()
        timeout = float(q.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
        deadline = time.monotonic() + timeout
        bookmarks = q.get("allowWatchBookmarks") == "true"
        labels, fields = parse_labels(q.get("labelSelector")), parse_fields(q.get("fieldSelector"))
        plain = not labels and not fields and not r.namespace and not table
        first = [True]

        def match(o: Obj | None) -> bool:
            if o is None:
                return False
            if r.namespace and o["metadata"].get("namespace") != r.namespace:
                return False
            return match_labels(labels, o["metadata"].get("labels")) and (not fields or match_fields(fields, o))

        def line(ev: WatchEvent) -> bytes | None:
            if ev.type == "BOOKMARK":
                if not bookmarks:
                    return None
                obj: Obj = {"kind": r.res.kind, "apiVersion": r.res.api_version, "metadata": ev.obj["metadata"]}
                return json.dumps({"type": "BOOKMARK", "object": obj}).encode() + b"\n"
            if plain:
                return ev.encoded()
            type_ = ev.type
            if type_ == "MODIFIED":
                now_in, was_in = match(ev.obj), match(ev.prev)
                if not now_in and not was_in:
                    return None
                type_ = "MODIFIED" if now_in and was_in else ("ADDED" if now_in else "DELETED")
            elif not match(ev.obj):
                return None
            obj = ev.obj
            if table:
                obj = tables.table(r.res.name, [ev.obj], cluster.clock.now(), resource_version=str(ev.rv), headers=first[0])
                first[0] = False
            return json.dumps({"type": type_, "object": obj}, separators=(",", ":")).encode() + b"\n"

        try:
            self._start_stream()
            for ev in backlog:
                data = line(ev)
                if data:
                    self._chunk(data)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    ev2 = w.queue.get(timeout=min(left, BOOKMARK_EVERY))
                except queue.Empty:
                    if bookmarks:
                        store.bookmark(w)
                    continue
                # take what else is already queued too: one write for a burst instead of one per event
                batch, closed = [ev2], False
                while len(batch) < 512:
                    try:
                        batch.append(w.queue.get_nowait())
                    except queue.Empty:
                        break
                out = []
                for item in batch:
                    if item is None:  # closed: a drop fault, a backlog overflow or shutdown
                        closed = True
                        break
                    data = line(item)
                    if data:
                        out.append(data)
                if out:
                    self._chunk(b"".join(out))
                if closed:
                    if w.dropped:
                        self._abort()
                        return None
                    break
            self._end_stream()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            store.unwatch(w)

"""The change locks (the console's Leases) over plain HTTP: listed for the dashboard's banner, and read and written
for a change's lock (``HttpLeases``).

``console.cluster.lease.list_locks`` does the same through the official client; the dashboard asks this one
when its context takes the plain-HTTP transport, so showing the banner does not load the client (most of a
second of CPU, spent while the first lists are being drawn). Same request, same ``LockStatus`` list, and
failures as ``KubeError``s saying the same as lease.py's (the banner shows their text as its tooltip).

``HttpLeases`` is the ``LeaseApi`` a change's ``ChangeLock`` uses on such a context: the same reads, creates and
updates as the official client's, with the same answers (404 and 409 for the lock to judge, the rest as its
errors), so the start checks and takes the lock without the client (its construction and its models) in the way.
"""

from __future__ import annotations

import http.client
import json
import select
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from console.cluster.exec_credential import ExecCredentialError
from console.cluster.kubeconfig import KubeError
from console.cluster.lease import LeaseConflict, LeaseMissing, LockUnreachable, api_refusal, no_answer
from console.cluster.lease_record import SELECTOR, LockStatus, lock_statuses
from console.cluster.raw_http import HttpTransport
from console.cluster.reachability import connection_reason
from console.cluster.watch_stream import ApiStatusError

__all__ = ["HttpLeases", "LeasesRefused", "LeasesUnreachable", "list_locks_http"]

LEASES = "/apis/coordination.k8s.io/v1/leases"
IDLE_KEPT = 2  # kept-alive connections held for the next call (one per lease's renewals is plenty)


class LeasesUnreachable(KubeError):
    """The API server did not answer the list of Leases, or answered with an error other than a refusal."""


class LeasesRefused(KubeError):
    """The API server refused to list Leases (401 or 403)."""


def _message(exc: ApiStatusError) -> str:
    try:
        status = json.loads(exc.body or "")
    except ValueError:
        return exc.reason
    return str(status.get("message") or exc.reason) if isinstance(status, dict) else exc.reason


def list_locks_http(transport: HttpTransport, now: float | None = None, *, request_timeout_s: float = 10.0) -> list[LockStatus]:
    """Every opsconsole lock in every namespace, as ``lease.list_locks`` gives them."""
    timeout = (min(2.0, request_timeout_s), request_timeout_s)
    try:
        conn = transport.connect(timeout)
        try:
            body = json.loads(transport.get(conn, LEASES, {"labelSelector": SELECTOR}).read())
        finally:
            conn.close()
    except ApiStatusError as exc:
        if exc.status in (401, 403):
            raise LeasesRefused(f"the API refused to list Leases: {exc.status} {_message(exc)}") from None
        raise LeasesUnreachable(f"the API failed to list Leases: {exc.status} {_message(exc)}") from None
    except (http.client.HTTPException, OSError) as exc:
        raise LeasesUnreachable(f"the API server did not answer a list of Leases: {connection_reason(exc)}") from None
    except ValueError:
        raise LeasesUnreachable("the API server's list of Leases is not JSON") from None
    items = body.get("items") if isinstance(body, dict) else None
    return lock_statuses(list(items or ()), time.time() if now is None else now)


def _lease_path(namespace: str, name: str = "") -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{urllib.parse.quote(namespace, safe='')}/leases"
    return f"{base}/{urllib.parse.quote(name, safe='')}" if name else base


def _closed_by_server(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection was closed by the server meanwhile (readable while idle: at its end)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class HttpLeases:
    """A ``LeaseApi`` over ``http.client`` for one endpoint: kept-alive connections, one request on each at a time.

    A connection is reused only when it is still open at our end and the server has not closed it (checked before
    each reuse, as urllib3 does): a request is never sent twice, so a write is never repeated behind the lock's back.
    """

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport
        self._idle: list[http.client.HTTPConnection] = []
        self._mutex = threading.Lock()

    def read_lease(self, namespace: str, name: str, timeout: tuple[float, float]) -> dict[str, Any]:
        return self._call("GET", _lease_path(namespace, name), None, "read", f"{namespace}/{name}", timeout)

    def create_lease(self, namespace: str, body: Mapping[str, Any], timeout: tuple[float, float]) -> dict[str, Any]:
        name = str((body.get("metadata") or {}).get("name", ""))
        return self._call("POST", _lease_path(namespace), dict(body), "create", f"{namespace}/{name}", timeout)

    def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any],
                      timeout: tuple[float, float]) -> dict[str, Any]:
        return self._call("PUT", _lease_path(namespace, name), dict(body), "update", f"{namespace}/{name}", timeout)

    def close(self) -> None:
        with self._mutex:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _connection(self, timeout: tuple[float, float]) -> http.client.HTTPConnection:
        while True:
            with self._mutex:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self.transport.connect(timeout)
            if not _closed_by_server(conn):
                if conn.sock is not None:
                    conn.sock.settimeout(timeout[1])  # this call's read timeout, not the one it was opened with
                return conn
            conn.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None, doing: str, where: str,
              timeout: tuple[float, float]) -> dict[str, Any]:
        conn: http.client.HTTPConnection | None = None
        keep = False
        try:
            conn = self._connection(timeout)
            resp = self.transport.send(conn, method, path, {}, timeout, body, ok=(200, 201))
            answer = json.loads(resp.read())
            if not isinstance(answer, dict):
                raise ValueError("not a JSON object")
            with self._mutex:
                keep = not resp.will_close and len(self._idle) < IDLE_KEPT
                if keep:
                    self._idle.append(conn)
            return answer
        except ApiStatusError as exc:
            if exc.status == 404:
                raise LeaseMissing() from None
            if exc.status == 409:
                raise LeaseConflict() from None
            raise api_refusal(exc.status, _message(exc), doing, where) from None
        except ExecCredentialError as exc:
            raise LockUnreachable(f"no credential to {doing} lease {where}: {exc}") from None
        except (http.client.HTTPException, OSError) as exc:
            raise no_answer(connection_reason(exc), doing, where) from None
        except ValueError:
            raise LockUnreachable(f"the API server's answer for lease {where} is not a JSON object") from None
        finally:
            if conn is not None and not keep:
                conn.close()

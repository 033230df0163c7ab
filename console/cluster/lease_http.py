"""The change locks (the console's Leases) listed over plain HTTP, for the dashboard's banner.

``console.cluster.lease.list_locks`` does the same through the official client; the dashboard asks this one
when its context takes the plain-HTTP transport, so showing the banner does not load the client (most of a
second of CPU, spent while the first lists are being drawn). Same request, same ``LockStatus`` list, and
failures as ``KubeError``s saying the same as lease.py's (the banner shows their text as its tooltip).
"""

from __future__ import annotations

import http.client
import json
import time

from console.cluster.kubeconfig import KubeError
from console.cluster.lease_record import SELECTOR, LockStatus, lock_statuses
from console.cluster.raw_http import HttpTransport
from console.cluster.reachability import connection_reason
from console.cluster.watch_stream import ApiStatusError

__all__ = ["LeasesRefused", "LeasesUnreachable", "list_locks_http"]

LEASES = "/apis/coordination.k8s.io/v1/leases"


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

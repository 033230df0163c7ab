"""The rehearsal server's connections behave as a real API server's: no Nagle delay on its answers.

An answer goes out as two writes (headers, then body); with Nagle's algorithm on, the body waits for the client's
delayed ACK of the headers on a kept-alive connection, which a Go API server never makes its clients wait for.
"""

from __future__ import annotations

import http.client
import socket
from urllib.parse import urlsplit

from kubesim.testing import RunningCluster


def test_each_connection_has_nagle_off(rehearsal_cluster: RunningCluster) -> None:
    url = urlsplit(rehearsal_cluster.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=10)
    try:
        for _ in range(3):  # kept alive: the same connection answers each
            conn.request("GET", "/version")
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
        server = rehearsal_cluster.host._server
        assert server is not None
        with server._conns_lock:
            conns = list(server._conns)
        assert conns, "the kept-alive connection is tracked by the server"
        assert all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in conns)
    finally:
        conn.close()

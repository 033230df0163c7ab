"""The rehearsal API server process-side: an HTTP server hosting one or more clusters, with outages.

``SimHost`` owns the listening socket. An outage closes it and cuts every open connection, so clients see
"connection refused" exactly as with a real API server going away, and re-opens the same port afterwards.
A fault thread applies the timed fault (cutting every watch every N seconds).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer

from kubesim.api import ApiHandler
from kubesim.cluster import SimCluster


class SimHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its clusters and its open connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], clusters: dict[str, SimCluster], default: SimCluster,
                 stopping: threading.Event) -> None:
        self.clusters = clusters
        self.default = default
        self.stopping = stopping
        self.down = False
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, ApiHandler)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def cut_connections(self) -> int:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):  # already closed by its client
                c.shutdown(socket.SHUT_RDWR)
        return len(conns)


class SimHost:
    """Serves clusters on 127.0.0.1; the first is at the root, the others under /clusters/<name>."""

    def __init__(self, clusters: list[SimCluster], *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not clusters:
            raise ValueError("at least one cluster")
        self.clusters = {c.name: c for c in clusters}
        self.default = clusters[0]
        self.host = host
        self.port = port
        self._stopping = threading.Event()
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._fault_thread: threading.Thread | None = None
        self.outages = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, cluster: str) -> str:
        return self.url if cluster == self.default.name else f"{self.url}/clusters/{cluster}"

    def _serve(self) -> None:
        server = SimHTTPServer((self.host, self.port), self.clusters, self.default, self._stopping)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="sim-http", daemon=True)
        self._thread.start()

    def start(self) -> None:
        """Start controllers, the HTTP server and the fault thread."""
        for c in self.clusters.values():
            c.start()
        self._serve()
        self._fault_thread = threading.Thread(target=self._faults, name="sim-faults", daemon=True)
        self._fault_thread.start()

    def _close_server(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.down = True
        server.shutdown()
        server.server_close()
        for c in self.clusters.values():
            c.store.close_watches(dropped=True)
        server.cut_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def go_down(self) -> None:
        """Become unreachable now: the port refuses connections and open ones are cut."""
        with self._lock:
            self.outages += 1
            self._close_server()

    def come_back(self) -> None:
        """Listen again on the same port."""
        with self._lock:
            if self._server is None and not self._stopping.is_set():
                self._serve()

    def outage(self, seconds: float) -> None:
        """Unreachable for ``seconds`` (real time), then back, without blocking the caller."""
        self.go_down()
        timer = threading.Timer(seconds, self.come_back)
        timer.daemon = True
        timer.start()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def _faults(self) -> None:
        waited = 0.0
        while not self._stopping.wait(0.1):
            every = self.default.faults.drop_watches_every
            if not every:
                waited = 0.0
                continue
            waited += 0.1
            if waited >= every:
                waited = 0.0
                for c in self.clusters.values():
                    c.store.close_watches(dropped=True)

    def stop(self) -> None:
        """Stop everything; open watches end cleanly first."""
        self._stopping.set()
        for c in self.clusters.values():
            c.store.close_watches()
        with self._lock:
            self._close_server()
        for c in self.clusters.values():
            c.stop()
        if self._fault_thread is not None:
            self._fault_thread.join(timeout=2)

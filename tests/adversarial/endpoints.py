"""web's health endpoint as a smoke test sees it, served for real on a local port."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HealthEndpoint:
    """Answers 503 ``{"status": "starting"}`` to the first ``warmup`` requests (a build warming up), then 200 ok."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.requests = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with endpoint._lock:
                    endpoint.requests += 1
                    warming = endpoint.requests <= endpoint.warmup
                body = json.dumps({"status": "starting" if warming else "ok"}).encode()
                self.send_response(503 if warming else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return  # the smoke test's output is the record of these requests

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, name="health-endpoint", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def __enter__(self) -> HealthEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

"""``opsconsole serve``: the reviewer and the follower in a browser, read-only, behind a token.

textual-serve runs one app process per browser session and relays its terminal over a websocket to xterm.js; it
has no authentication of its own. ``ReadOnlyServer`` keeps its relay (``AppService``, its page and its scripts) and
puts a gate in front of every handler, HTTP and websocket alike: a request must carry the token generated at start,
as ``?token=`` (the URL printed at start) or as the cookie the first such request sets, or it is refused with 403. A
websocket must also come from a page of this server (its Origin), so another site open in the same browser cannot
drive a session with the cookie. Routes:

    /?token=T                    the record store (read-only reviewer)
    /follow/CHG-ID?token=T       one change, followed live
    /ws/review, /ws/follow/ID    the sessions' websockets (opened by the page)

The apps themselves are ``screens.served`` in processes of their own: this module never imports the UI. At most
``--max-sessions`` of them run at once; a page or websocket beyond that is refused with 503 and a sentence saying why.
Binding to anything but a loopback address needs ``allow_remote``, and is said out loud: the traffic is plain HTTP.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import itertools
import logging
import os
import secrets
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server

from console.errors import OpsConsoleError
from console.journal.store import ID_RE

COOKIE = "opsconsole_token"
log = logging.getLogger("opsconsole.serve")


class ServeError(OpsConsoleError):
    """The server cannot start as asked (a non-loopback address without --allow-remote, a port in use)."""


def new_token() -> str:
    """A random token for one server run: 32 bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_host(host: str, *, allow_remote: bool) -> str | None:
    """Refuse a non-loopback address unless allowed; when allowed, the warning to print (None on loopback)."""
    if is_loopback(host):
        return None
    if not allow_remote:
        raise ServeError(f"--host {host} is not a loopback address: the record store would be served to the network; "
                         "add --allow-remote to mean it")
    return (f"warning: serving on {host}: anyone who can reach this port and has the token reads the record store, "
            "over plain HTTP (put TLS in front for anything but a trusted network)")


def token_ok(request: web.Request, token: str) -> bool:
    """The request carries the token, as ``?token=`` or as the cookie; compared in constant time."""
    given = request.query.get("token") or request.cookies.get(COOKIE) or ""
    return hmac.compare_digest(given.encode(), token.encode())


def same_origin(request: web.Request) -> bool:
    """A websocket's Origin (sent by browsers) names this server; a request with none is not from a page."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Browser sessions open at once, by default: each is an app process (about 100 MB), so a few reviewers and followers
# fit, and a page left reloading in a loop does not take the machine down with it.
MAX_SESSIONS = 8


class ReadOnlyServer(Server):
    """textual-serve's server with a token gate, two views, and a session command chosen per route."""

    def __init__(self, *, records_dir: Path, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
                 access_log: Path | None = None, python: str = sys.executable, max_sessions: int = MAX_SESSIONS) -> None:
        super().__init__(command="", host=host, port=port, title="opsconsole")
        self.records_dir = Path(records_dir).resolve()
        self.token = token or new_token()
        self.access_log = Path(access_log).resolve() if access_log else None
        self.python = python
        self._sessions = itertools.count(1)
        self._sockets: set[web.WebSocketResponse] = set()
        self.max_sessions = max_sessions

    # -- the gate ---------------------------------------------------------------------------------------------

    @web.middleware
    async def gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not token_ok(request, self.token):
            raise web.HTTPForbidden(text="opsconsole serve: this URL needs the token printed when the server started\n")
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if upgrade and not same_origin(request):
            raise web.HTTPForbidden(text="opsconsole serve: a websocket from another site's page is refused\n")
        response = await handler(request)
        if "token" in request.query and not response.prepared:
            # The page's scripts, styles and websocket carry the cookie; the URL with the token is needed once.
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return response

    # -- routes -----------------------------------------------------------------------------------------------

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.gate])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes([
            web.get("/", self.review_page, name="index"),
            web.get("/follow/{change_id}", self.follow_page, name="follow"),
            web.get("/ws/review", self.review_socket, name="websocket"),
            web.get("/ws/follow/{change_id}", self.follow_socket, name="follow-websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, name="static"),
        ])
        app.on_shutdown.append(self._close_sockets)
        return app

    async def _close_sockets(self, app: web.Application) -> None:
        # Stopping waits for every handler; a session's handler returns once its websocket closes (and its app stops).
        for socket in list(self._sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"opsconsole serve stopped")

    def _page(self, request: web.Request, socket_path: str, name: str) -> web.Response:
        # URLs from the address the browser used (not the bound one: 0.0.0.0 is no address to connect to).
        scheme = "wss" if request.secure else "ws"
        context: dict[str, Any] = {
            "font_size": 16,
            "app_websocket_url": f"{scheme}://{request.host}{socket_path}",
            "config": {"static": {"url": f"{request.scheme}://{request.host}/static/"}},
            "application": {"name": name},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    @staticmethod
    def _change_id(request: web.Request) -> str:
        change_id = request.match_info["change_id"]
        if not ID_RE.match(change_id):
            raise web.HTTPNotFound(text=f"{change_id!r} is not a change ID (CHG-YYYY-NNNN)\n")
        return change_id

    def _room(self) -> None:
        """Refuse (503, said in words) a page or session beyond ``max_sessions``: each session is an app process of
        its own, and a page left reloading, or many people opening the same link, must not exhaust the machine."""
        if len(self._sockets) >= self.max_sessions:
            raise web.HTTPServiceUnavailable(
                text=f"opsconsole serve: {len(self._sockets)} browser sessions are open, the most this server takes "
                     f"(--max-sessions {self.max_sessions}); close one and reload\n")

    async def review_page(self, request: web.Request) -> web.Response:
        self._room()
        return self._page(request, "/ws/review", f"opsconsole review · {self.records_dir.name} (read-only)")

    async def follow_page(self, request: web.Request) -> web.Response:
        change_id = self._change_id(request)
        self._room()
        return self._page(request, f"/ws/follow/{change_id}", f"opsconsole follow {change_id} (read-only)")

    def session_command(self, view: str, change_id: str | None = None) -> str:
        """The shell command of one browser session's app (textual-serve starts it with a shell)."""
        argv = [self.python, "-m", "screens.served", view, *([change_id] if change_id else []),
                "--records-dir", str(self.records_dir), "--session", str(next(self._sessions)), "--server-pid", str(os.getpid())]
        if self.access_log is not None:
            argv += ["--access-log", str(self.access_log)]
        return shlex.join(argv)

    async def review_socket(self, request: web.Request) -> web.WebSocketResponse:
        return await self._session(request, self.session_command("review"))

    async def follow_socket(self, request: web.Request) -> web.WebSocketResponse:
        return await self._session(request, self.session_command("follow", self._change_id(request)))

    async def _session(self, request: web.Request, command: str) -> web.WebSocketResponse:
        """textual-serve's websocket handler, with the command given per route rather than one per server."""
        self._room()  # checked again here: the page may have been loaded while there was room
        websocket = web.WebSocketResponse(heartbeat=15)
        width = _int(request.query.get("width"), 80)
        height = _int(request.query.get("height"), 24)
        app_service: AppService | None = None

        async def close() -> None:
            await websocket.close()

        self._sockets.add(websocket)
        try:
            await websocket.prepare(request)
            app_service = AppService(command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                                     close=close, download_manager=self.download_manager, debug=False)
            await app_service.start(width, height)
            await self._process_messages(websocket, app_service)
        except asyncio.CancelledError:
            await websocket.close()
            raise
        finally:
            self._sockets.discard(websocket)
            if app_service is not None:
                await app_service.stop()
        return websocket

    # -- running ----------------------------------------------------------------------------------------------

    def urls(self, port: int) -> tuple[str, str]:
        host = f"[{self.host}]" if ":" in self.host else self.host
        base = f"http://{host}:{port}"
        return f"{base}/?token={self.token}", f"{base}/follow/CHG-YYYY-NNNN?token={self.token}"

    async def run(self, ready: Callable[[int], None]) -> None:
        """Serve until SIGINT or SIGTERM; ``ready(port)`` is called once the socket listens."""
        app = await self._make_app()
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            site = web.TCPSite(runner, self.host, self.port)
            try:
                await site.start()
            except OSError as exc:
                raise ServeError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
            ready(int(runner.addresses[0][1]))
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await runner.cleanup()  # closes the websockets, which stops each session's app


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def serve(*, records_dir: Path, host: str, port: int, allow_remote: bool, access_log: Path | None,
          out: Callable[[str], None], err: Callable[[str], None], max_sessions: int = MAX_SESSIONS) -> int:
    """Run the server until interrupted, printing where it listens (with the token) once it does."""
    warning = check_host(host, allow_remote=allow_remote)
    if not Path(records_dir).is_dir():
        raise ServeError(f"{records_dir}: no record store here (use --records-dir or OPSCONSOLE_RECORDS)")
    if max_sessions < 1:
        raise ServeError(f"--max-sessions {max_sessions}: a server needs room for one session at least")
    server = ReadOnlyServer(records_dir=records_dir, host=host, port=port, access_log=access_log, max_sessions=max_sessions)
    if warning:
        err(warning)

    def ready(bound: int) -> None:
        review, follow = server.urls(bound)
        out(f"serving {server.records_dir} read-only; Ctrl-C stops")
        out(f"review: {review}")
        out(f"follow: {follow}")

    asyncio.run(server.run(ready))
    return 0

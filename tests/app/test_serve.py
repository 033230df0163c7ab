"""``opsconsole serve``'s gate: every request, page, script or websocket, needs the token printed at start."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from tests.support.serve import Served, start_serve, stop


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the gate's tests (they only send requests), on an empty store."""
    proc = start_serve(tmp_path_factory.mktemp("served-records"))
    try:
        yield Served(proc)
    finally:
        stop(proc)


async def status(session: aiohttp.ClientSession, url: str, **kw) -> int:
    async with session.get(url, **kw) as response:
        return response.status


async def ws_status(session: aiohttp.ClientSession, url: str, **kw) -> int:
    try:
        async with session.ws_connect(url, **kw):
            return 101
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status


async def test_nothing_is_served_without_the_token(served: Served) -> None:
    base = served.base
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as anon:
        for path in ("/", "/static/js/textual.js", "/follow/CHG-2026-0001", "/download/x", "/?token=wrong"):
            assert await status(anon, base + path) == 403, path
        assert await ws_status(anon, base.replace("http", "ws") + "/ws/review") == 403
        assert await ws_status(anon, base.replace("http", "ws") + "/ws/follow/CHG-2026-0001?token=wrong") == 403
        assert anon.cookie_jar.filter_cookies(URL(base)).get("opsconsole_token") is None


async def test_the_token_opens_the_page_and_its_cookie_the_rest(served: Served) -> None:
    # unsafe=True: aiohttp's jar otherwise keeps no cookie from an IP address, as a browser does.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(served.review) as page:
            assert page.status == 200
            html = await page.text()
        assert f'data-session-websocket-url="ws://{served.base[7:]}/ws/review"' in html
        assert browser.cookie_jar.filter_cookies(URL(served.base))["opsconsole_token"].value == served.token
        # The page's own requests carry no token in their URLs: the cookie lets them through.
        assert await status(browser, served.base + "/static/js/textual.js") == 200
        assert await status(browser, served.base + "/follow/not-an-id") == 404
        # A websocket opened by another site's page, with the cookie the browser would send along, is refused.
        foreign = await ws_status(browser, served.base.replace("http", "ws") + "/ws/review", headers={"Origin": "http://evil.example"})
        assert foreign == 403


def test_a_network_address_needs_allow_remote(records_dir: Path) -> None:
    refused = start_serve(records_dir, "--host", "0.0.0.0")
    try:
        _, err = refused.communicate(timeout=60)
    finally:
        stop(refused)
    assert refused.returncode == 1
    assert err.strip() == ("opsconsole: --host 0.0.0.0 is not a loopback address: the record store would be served to the network; "
                           "add --allow-remote to mean it")
    allowed = start_serve(records_dir, "--host", "0.0.0.0", "--allow-remote")
    try:
        assert Served(allowed).review.startswith("http://0.0.0.0:")
    finally:
        stop(allowed)
    assert allowed.stderr is not None
    assert allowed.stderr.read().startswith("warning: serving on 0.0.0.0: anyone who can reach this port and has the token")


async def test_a_follow_session_runs_over_the_websocket(records_dir: Path, tmp_path: Path) -> None:
    from console.journal.store import RecordStore
    from tests.support.review_records import web_success

    ref = web_success(RecordStore(records_dir))
    access = tmp_path / "access.jsonl"
    proc = start_serve(records_dir, "--access-log", str(access))
    try:
        served = Served(proc)
        url = f"{served.base.replace('http', 'ws')}/ws/follow/{ref.change_id}?token={served.token}&width=100&height=30"
        async with aiohttp.ClientSession() as client, client.ws_connect(url) as socket:
            received = 0
            deadline = time.monotonic() + 60
            # The session's app draws (bytes arrive) and, the change being closed, goes from following it to its record.
            while not (received and access.exists() and '"view": "record"' in access.read_text()):
                assert time.monotonic() < deadline, f"no follow session: {received} bytes, log {access.read_text() if access.exists() else '-'}"
                try:
                    message = await socket.receive(timeout=1)
                except TimeoutError:
                    continue
                if message.type == aiohttp.WSMsgType.BINARY:
                    received += len(message.data)
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise AssertionError(f"the session ended: {message}")
        views = [json.loads(line) for line in access.read_text().splitlines()]
        assert [(v["view"], v.get("change_id")) for v in views] == [("follow", ref.change_id), ("record", ref.change_id)]
    finally:
        stop(proc)


async def test_stopping_the_server_closes_each_session_and_ends_its_app(records_dir: Path) -> None:
    import psutil

    proc = start_serve(records_dir)
    apps: list[psutil.Process] = []
    try:
        served = Served(proc)
        async with aiohttp.ClientSession() as client, client.ws_connect(
                f"{served.base.replace('http', 'ws')}/ws/review?token={served.token}") as socket:
            first = await socket.receive(timeout=60)
            assert first.type == aiohttp.WSMsgType.BINARY  # the session's app is drawing
            apps = psutil.Process(proc.pid).children(recursive=True)
            assert apps
            proc.terminate()
            # The session is told the server is going away (rather than left open until a shutdown timeout).
            while (message := await socket.receive(timeout=60)).type == aiohttp.WSMsgType.BINARY:
                pass
            assert (message.type, message.data, message.extra) == (aiohttp.WSMsgType.CLOSE, 1001, "opsconsole serve stopped")
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(apps, timeout=30)
        assert alive == []  # no session's app outlives the server
    finally:
        stop(proc)
        for app in apps:  # a session left behind is this test's to end
            with contextlib.suppress(psutil.NoSuchProcess):
                app.kill()


async def test_a_session_does_not_outlive_a_server_killed_outright(records_dir: Path) -> None:
    import psutil

    proc = start_serve(records_dir)
    apps: list[psutil.Process] = []
    try:
        served = Served(proc)
        async with aiohttp.ClientSession() as client, client.ws_connect(
                f"{served.base.replace('http', 'ws')}/ws/review?token={served.token}") as socket:
            assert (await socket.receive(timeout=60)).type == aiohttp.WSMsgType.BINARY
            apps = psutil.Process(proc.pid).children(recursive=True)
            assert apps
            proc.kill()  # SIGKILL: the server cannot stop its sessions itself
            proc.wait(timeout=30)
            _, alive = psutil.wait_procs(apps, timeout=60)
            assert alive == []
    finally:
        stop(proc)
        for app in apps:  # a session left behind is this test's to end
            with contextlib.suppress(psutil.NoSuchProcess):
                app.kill()


async def test_sessions_beyond_the_cap_are_refused_until_one_closes(records_dir: Path) -> None:
    proc = start_serve(records_dir, "--max-sessions", "1")
    try:
        served = Served(proc)
        socket_url = f"{served.base.replace('http', 'ws')}/ws/review?token={served.token}"
        async with aiohttp.ClientSession() as client:
            async with client.ws_connect(socket_url) as first:
                assert (await first.receive(timeout=60)).type == aiohttp.WSMsgType.BINARY  # its app is drawing
                assert await ws_status(client, socket_url) == 503
                async with client.get(served.review) as page:
                    assert page.status == 503
                    assert await page.text() == ("opsconsole serve: 1 browser sessions are open, the most this server "
                                                 "takes (--max-sessions 1); close one and reload\n")
            # Closed: the server lets its session go (its app stopped), and the next one is taken.
            deadline = time.monotonic() + 60
            while (code := await ws_status(client, socket_url)) == 503:
                assert time.monotonic() < deadline, "the closed session was never let go"
            assert code == 101
    finally:
        stop(proc)


def test_a_cap_below_one_is_refused(records_dir: Path) -> None:
    refused = start_serve(records_dir, "--max-sessions", "0")
    try:
        _, err = refused.communicate(timeout=60)
    finally:
        stop(refused)
    assert refused.returncode == 1
    assert err.strip() == "opsconsole: --max-sessions 0: a server needs room for one session at least"

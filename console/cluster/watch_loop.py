"""One kind's list-then-watch loop, in its own thread: the only place the blocking list and watch calls run.

The calls go through a transport (console/cluster/watch_stream.py: plain HTTP, or the official client), both
raising the same errors. The loop lists (state ``syncing``), hands the whole set on as a RESYNC, then
watches from the list's resourceVersion with bookmarks, a server ``timeoutSeconds`` and a client read
timeout longer than it, so a silent dead connection ends in a read timeout instead of hanging (official
client issues 1148 and 1402). The first list of a loop with a page size is handed on page by page instead
(a RESYNC of the first page, then each later object ADDED), so a big kind's first rows show early; the
watch then goes on from that same list's version: nothing is listed twice.

- The server ends the stream (its timeout): watch again at once from the last version seen (after a short
  pause if it ended within a second, so a server that closes every watch at once is not hammered).
- The connection drops or the server is unreachable: state ``reconnecting`` (its ``since`` is the first
  failure of the run, so the UI can say for how long), back off with jitter (0.2 s doubling to 5 s), resume
  from the last version seen, bookmarks included, so nothing is delivered twice.
- 410 Gone (an HTTP 410 or an ERROR event with code 410): list again and emit a RESYNC with the full new
  set; the consumer replaces the kind, so no duplicate and no ghost survives the relist.
- 403: state ``forbidden`` (the other kinds go on); asked again every ``forbidden_retry_s``, relisting when
  access comes back because events were missed meanwhile.
- Anything else the server refuses: state ``error`` with its message, retried with the capped backoff.

Changes go to ``sink`` (a deque's ``append``: thread-safe and never blocking); the loop keeps its own copy
of the kind for ``snapshot()``. ``request_stop()`` sets an event and cuts the open connection, so the
thread ends within a moment even in the middle of a blocking read.
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from console.cluster.exec_credential import ExecCredentialError
from console.cluster.reachability import connection_reason
from console.cluster.watch_changes import ERROR, FORBIDDEN, LIVE, RECONNECTING, STOPPED, SYNCING, Change, WatchStatus, object_key
from console.cluster.watch_stream import ApiStatusError, KindSpec, WatchExpired, WatchStream, as_transport, cut_response

__all__ = ["KindLoop", "backoff_delay"]

Obj = dict[str, Any]
# What a dropped, refused or silent connection raises from inside http.client (and urllib3: see connection_errors).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (http.client.HTTPException, OSError)
QUICK_END_S = 1.0  # a watch the server ends sooner than this, with no error, is followed by a short pause


def backoff_delay(failures: int, base: float, cap: float, rnd: random.Random) -> float:
    """Seconds to wait before attempt number ``failures`` (1 = the first retry): doubling, capped, jittered.

    The jitter (between half and all of the step) keeps many consoles, or the seven loops of one console,
    from hammering an API server that has just come back all in the same instant.
    """
    step: float = min(cap, base * (2 ** max(0, failures - 1)))
    return step * rnd.uniform(0.5, 1.0)


def connection_errors() -> tuple[type[BaseException], ...]:
    """``CONNECTION_ERRORS`` and, once it is loaded, urllib3's ``HTTPError`` (what the official client raises).

    urllib3 is not imported here for start-up time: the plain-HTTP transport never loads it, and an exception
    of a module that is not loaded cannot be raised.
    """
    urllib3 = sys.modules.get("urllib3")
    if urllib3 is None:
        return CONNECTION_ERRORS
    return (urllib3.exceptions.HTTPError, *CONNECTION_ERRORS)


def _describe(exc: BaseException) -> str:
    """A few words for the status line: the API's status, or why the connection failed (no exception text)."""
    if isinstance(exc, ApiStatusError):
        return f"{exc.status} {exc.reason}".strip()
    return connection_reason(exc)


class KindLoop:
    """List, then watch, one kind in a daemon thread; see the module docstring for the state machine.

    ``api`` is a transport (console/cluster/watch_stream.py) or the official client's ``ApiClient``.
    """

    def __init__(self, api: Any, spec: KindSpec, namespace: str | None, sink: Callable[[Change], None], *,
                 server_timeout_s: int, read_timeout_s: float, connect_timeout_s: float, list_timeout_s: float,
                 backoff: tuple[float, float], forbidden_retry_s: float, clock: Callable[[], float],
                 page_size: int | None = None, seed: int | None = None) -> None:
        self.spec = spec
        self.namespace = namespace if spec.list_namespaced else None
        self._transport = as_transport(api)
        self._sink = sink
        self._server_timeout = int(server_timeout_s)
        self._watch_timeout = (connect_timeout_s, read_timeout_s)
        self._list_timeout = (connect_timeout_s, list_timeout_s)
        self._backoff = backoff
        self._forbidden_retry = forbidden_retry_s
        self._clock = clock
        self._page_size = page_size
        self._rnd = random.Random(seed)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._cache: dict[str, Obj] = {}
        self._rv = ""
        self._state, self._since, self._message = SYNCING, clock(), ""
        self._synced = False
        self._relists = self._drops = 0
        self._failures = 0
        self._watch: WatchStream | None = None
        self._list_resp: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{spec.name}", daemon=True)

    # ----- control, from any thread ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to end and cut whatever it is blocked on."""
        self._stop.set()
        with self._lock:
            w, resp = self._watch, self._list_resp
        if w is not None:
            w.stop()
        if resp is not None:
            cut_response(resp)

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True when the thread has ended."""
        if self._thread.is_alive():
            self._thread.join(max(0.0, timeout))
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> WatchStatus:
        with self._lock:
            return WatchStatus(self.spec.name, self._state, self._since, self._message, self._rv, self._synced,
                               self._relists, self._drops)

    def snapshot(self) -> list[Obj]:
        with self._lock:
            return list(self._cache.values())

    # ----- the thread ------------------------------------------------------------------------------------
    def _enter(self, state: str, message: str = "") -> None:
        # ``since`` moves only when the state changes: repeated failures keep the age of the first one.
        with self._lock:
            if state != self._state:
                self._state, self._since = state, self._clock()
            self._message = message

    def _run(self) -> None:
        need_list = True
        crashed = False
        try:
            while not self._stop.is_set():
                try:
                    if need_list:
                        self._list()
                        need_list = False
                    self._watch_once()
                except (WatchExpired, ApiStatusError) as exc:
                    if self._stop.is_set():
                        break
                    status = exc.status if isinstance(exc, ApiStatusError) else 410
                    if status == 410:
                        need_list = True  # the version is gone: only a fresh list can tell what exists now
                        self._pause_if_repeating()
                    elif status == 403:
                        need_list = True  # changes made while we could not see them are lost: list again
                        self._enter(FORBIDDEN, f"forbidden: {_message_of(exc)}")
                        self._stop.wait(self._forbidden_retry)
                    elif status == 429 or status >= 500:
                        self._fail(RECONNECTING, _describe(exc))
                    else:
                        self._fail(ERROR, f"{_describe(exc)}: {_message_of(exc)}".rstrip(": "))
                except connection_errors() as exc:
                    if self._stop.is_set():
                        break
                    self._fail(RECONNECTING, _describe(exc))
                except ExecCredentialError as exc:  # no credential to connect with (as kubectl: "unable to connect")
                    if self._stop.is_set():
                        break
                    self._fail(RECONNECTING, exc.reason.rstrip("."))  # shown beside the context's name, sentence going on
                except ValueError as exc:  # a body or event line that is not JSON: the stream cannot be trusted
                    if self._stop.is_set():
                        break
                    need_list = True
                    self._fail(ERROR, f"unreadable answer from the server: {exc}")
        except BaseException as exc:
            # A defect, not a cluster condition: show it on the status line and let the thread's excepthook report it.
            crashed = True
            self._enter(ERROR, f"watch loop stopped by an internal error: {exc!r}")
            raise
        finally:
            if not crashed:
                self._enter(STOPPED)

    def _fail(self, state: str, message: str) -> None:
        self._failures += 1
        self._enter(state, message)
        self._stop.wait(backoff_delay(self._failures, *self._backoff, self._rnd))

    def _pause_if_repeating(self) -> None:
        # A server that answers 410 to a version it has just listed would otherwise spin the loop.
        self._failures += 1
        if self._failures > 1:
            self._stop.wait(backoff_delay(self._failures - 1, *self._backoff, self._rnd))

    def _set_list_resp(self, resp: Any) -> None:
        with self._lock:
            self._list_resp = resp
        if resp is not None and self._stop.is_set():
            cut_response(resp)

    def _list(self) -> None:
        self._enter(SYNCING)
        # The first list is shown page by page (a RESYNC of the first page, then each later object ADDED), so
        # rows appear while a big list is still arriving; a relist replaces the kind in one RESYNC at its end,
        # so rows that still exist never vanish and come back.
        shown = not self._synced and self._page_size is not None
        on_page = self._show_page if shown else None
        items, rv = self._transport.list(self.spec, self.namespace, timeout=self._list_timeout, page_size=self._page_size,
                                         on_response=self._set_list_resp, on_page=on_page)
        if self._stop.is_set():
            return
        cache = {object_key(o): o for o in items}
        with self._lock:
            self._cache = cache
            self._rv = rv
            if self._synced:
                self._relists += 1
            self._synced = True
        # Shown page by page, a key listed twice across pages (changed mid-list) still settles on the final set.
        if not shown or len(cache) != len(items):
            self._sink(Change(self.spec.name, "RESYNC", "", None, tuple(cache.values())))

    def _show_page(self, page: list[Obj], first: bool) -> None:
        if self._stop.is_set():
            return
        name = self.spec.name
        if first:
            self._sink(Change(name, "RESYNC", "", None, tuple(page)))
            return
        sink = self._sink
        for obj in page:
            sink(Change(name, "ADDED", object_key(obj), obj))

    def _watch_once(self) -> None:
        w = self._transport.watch(self.spec, self.namespace, resource_version=self._rv, server_timeout=self._server_timeout,
                                  timeout=self._watch_timeout)
        with self._lock:
            self._watch = w
        if self._stop.is_set():
            return
        opened = False
        try:
            w.open()
            opened = True
            started = time.monotonic()
            self._failures = 0
            self._enter(LIVE)
            self._consume(w)
            if time.monotonic() - started < QUICK_END_S and not self._stop.is_set():
                # The server ended the stream at once: pause a moment so a server doing that every time
                # is not asked again in a tight loop (a normal end comes after server_timeout_s).
                self._stop.wait(backoff_delay(1, *self._backoff, self._rnd))
        except connection_errors():
            if opened and not self._stop.is_set():  # a live watch broke (not a refused reconnect, not our stop)
                with self._lock:
                    self._drops += 1
            raise
        finally:
            with self._lock:
                self._watch = None

    def _consume(self, w: WatchStream) -> None:
        name, sink, lock, cache = self.spec.name, self._sink, self._lock, self._cache
        for ev in w.events():
            obj = ev.get("object") or {}
            typ = ev.get("type", "")
            rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            if typ == "BOOKMARK":
                if rv:
                    self._rv = rv
                continue
            key = object_key(obj)
            with lock:
                if typ == "DELETED":
                    cache.pop(key, None)
                else:
                    cache[key] = obj
                if rv:
                    self._rv = rv
            sink(Change(name, typ, key, obj))
            if self._stop.is_set():
                return


def _message_of(exc: BaseException) -> str:
    """The ``message`` of a Kubernetes Status body, when the exception carries one."""
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
        except (ValueError, TypeError):
            return str(body)[:200]
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    return str(getattr(exc, "reason", "") or "")

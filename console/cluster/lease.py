"""The lock a cluster holds while a change runs: a ``coordination.k8s.io/v1`` Lease, taken and kept with the API.

``ChangeLock`` acquires a Lease for one change, renews it from a daemon thread every few seconds, and releases
it at the end. Safety comes from the API server, not from this process: every write that takes or renews the
lease is an update carrying the ``resourceVersion`` that was read, so of two consoles racing for it one gets
409 Conflict and reads again. A console that dies simply stops renewing, and the lease expires
``leaseDurationSeconds`` after its last renewal; then anyone may take it.

Expiry is judged from the lease's ``renewTime`` and this machine's clock, so consoles whose clocks disagree by
more than a few seconds see expiry early or late by that much (client-go avoids this by timing from when it
observed the last change; a lock held for a whole change cares more about a readable record than about that).

Renewal failures go to a callback, each with a kind: ``lost`` (someone else holds the lease now, or it was
deleted), ``unreachable`` (the API did not answer, or answered with an error of its own) and ``forbidden``
(401/403). Lost ends the renewals; the others keep trying, since the server may come back before the lease
runs out. The bodies and the expiry rule are pure functions in ``lease_record``.

The API calls go through a ``LeaseApi``: ``console.cluster.lease_http.HttpLeases`` (plain HTTP, for the contexts
whose auth ``raw_endpoint`` handles: the start then does not wait for the official client) or ``ClientLeases``
over the official client's ``ApiClient`` (what a ``ChangeLock`` given an ``ApiClient`` uses). The client is
imported only by the latter, where it is used.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from console.cluster.kubeconfig import KubeError
from console.cluster.lease_record import (
    SELECTOR,
    Claim,
    LeaseView,
    LockStatus,
    claimed,
    holder_identity,
    lock_statuses,
    new_lease,
    released,
    renewed,
    view,
)
from console.errors import OpsConsoleError

if TYPE_CHECKING:  # the official client is imported where it is used (ClientLeases): most of a second to load
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

__all__ = [
    "UNREAD",
    "Acquired",
    "ChangeLock",
    "ClientLeases",
    "FailureKind",
    "LeaseApi",
    "LeaseConflict",
    "LeaseMissing",
    "LockError",
    "LockForbidden",
    "LockHeld",
    "LockLost",
    "LockUnreachable",
    "RenewalFailure",
    "Unread",
    "lease_body",
    "list_locks",
    "read_lock",
]

log = logging.getLogger(__name__)
FailureKind = Literal["lost", "unreachable", "forbidden"]
ATTEMPTS = 5  # reads and writes in one acquire before giving up on a lease that keeps changing under us


class LockError(KubeError):
    """The change lock could not be taken, kept or given back."""


class LockHeld(LockError):
    """Someone else holds a live lease: names the holder, its change and step, and when its claim runs out."""

    def __init__(self, lease: LeaseView, now: float) -> None:
        self.lease = lease
        expires = lease.expires_at
        left = f"; it runs out in {max(0.0, expires - now):.0f}s unless renewed" if expires is not None else ""
        super().__init__(f"lease {lease.namespace}/{lease.name} is held by {lease.describe()}{left}.")


class LockLost(LockError):
    """The lease we held is someone else's now (``holder``), or was deleted (``holder`` is "")."""

    def __init__(self, message: str, holder: str = "", lease: LeaseView | None = None) -> None:
        super().__init__(message)
        self.holder = holder
        self.lease = lease


class LockUnreachable(LockError):
    """The API server did not answer, or answered with an error other than a refusal."""


class LockForbidden(LockError):
    """The API server refused us (401 or 403): the credentials may not read or write Leases there."""


@dataclass(frozen=True)
class RenewalFailure:
    """One failed renewal, as the callback receives it."""

    kind: FailureKind
    message: str
    holder: str = ""  # for "lost": who holds the lease now ("" when it was deleted)
    lease_expired: bool = False  # our last successful renewal is older than the lease's duration
    lease: LeaseView | None = None  # for "lost": the lease as it is now (its take-over reason, if any)


@dataclass(frozen=True)
class Acquired:
    """The lease as we wrote it on acquiring, and the holder whose expired (or broken) claim we replaced."""

    lease: LeaseView
    displaced: LeaseView | None


class _MicroTime(datetime):
    """A datetime that the client serialises with six fractional digits, the only MicroTime form the API parses.

    The client writes datetimes with ``isoformat()``, which drops the fraction of a whole second; the API server
    then refuses the body with 400. Leases read back from the server are re-sent on every renewal, so every
    MicroTime in a body goes out through this class.
    """

    def isoformat(self, sep: str = "T", timespec: str = "microseconds") -> str:
        return super().isoformat(sep, "microseconds")

    @classmethod
    def of(cls, t: datetime) -> _MicroTime:
        return cls(t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond, tzinfo=t.tzinfo)


class Unread:
    """No read of the lease made beforehand (``ChangeLock.acquire``'s ``seen``): the acquire reads it itself."""


UNREAD = Unread()


@dataclass(frozen=True)
class _Target:
    namespace: str
    name: str
    claim: Claim


class LeaseMissing(OpsConsoleError):
    """404 from the API (a ``LeaseApi``'s answer: its caller decides what a missing lease means)."""


class LeaseConflict(OpsConsoleError):
    """409 from the API: AlreadyExists on create, Conflict on a stale update (a ``LeaseApi``'s answer)."""


def api_refusal(status: int, message: str, doing: str, where: str) -> LockError:
    """The lock's error for an API answer other than 404 and 409: refused (401, 403), or failed."""
    if status in (401, 403):
        return LockForbidden(f"the API refused to {doing} lease {where}: {status} {message}")
    return LockUnreachable(f"the API failed to {doing} lease {where}: {status} {message}")


def no_answer(reason: object, doing: str, where: str) -> LockUnreachable:
    """The lock's error for a request the API server did not answer (refused, cut or silent connection)."""
    return LockUnreachable(f"the API server did not answer while trying to {doing} lease {where}: {reason}")


@runtime_checkable
class LeaseApi(Protocol):
    """The Lease calls a ``ChangeLock`` makes, bodies in and out as the API's JSON (dicts).

    Each raises ``LeaseMissing`` on 404, ``LeaseConflict`` on 409, and ``api_refusal`` / ``no_answer`` (a
    ``LockForbidden`` or ``LockUnreachable``) otherwise; ``timeout`` is (connect, read) seconds. Safe to call from
    several threads (each lease's renewals run on a thread of their own).
    """

    def read_lease(self, namespace: str, name: str, timeout: tuple[float, float]) -> dict[str, Any]: ...

    def create_lease(self, namespace: str, body: Mapping[str, Any], timeout: tuple[float, float]) -> dict[str, Any]: ...

    def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any],
                      timeout: tuple[float, float]) -> dict[str, Any]: ...

    def close(self) -> None: ...


class ClientLeases:
    """A ``LeaseApi`` over the official client's ``ApiClient`` (for auth only that client handles)."""

    def __init__(self, api: client.ApiClient) -> None:
        from kubernetes import client as k8s

        self.api = api
        self._coord = k8s.CoordinationV1Api(api)

    def read_lease(self, namespace: str, name: str, timeout: tuple[float, float]) -> dict[str, Any]:
        with _client_errors("read", f"{namespace}/{name}"):
            return self._json(self._coord.read_namespaced_lease(name, namespace, _request_timeout=timeout))

    def create_lease(self, namespace: str, body: Mapping[str, Any], timeout: tuple[float, float]) -> dict[str, Any]:
        with _client_errors("create", f"{namespace}/{(body.get('metadata') or {}).get('name', '')}"):
            return self._json(self._coord.create_namespaced_lease(namespace, _model(body), _request_timeout=timeout))

    def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any],
                      timeout: tuple[float, float]) -> dict[str, Any]:
        with _client_errors("update", f"{namespace}/{name}"):
            return self._json(self._coord.replace_namespaced_lease(name, namespace, _model(body), _request_timeout=timeout))

    def close(self) -> None:
        self.api.close()

    def _json(self, model: Any) -> dict[str, Any]:
        out: dict[str, Any] = self.api.sanitize_for_serialization(model)
        return out


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What a refused, cut or silent connection raises from inside urllib3 and http.client."""
    import urllib3

    return (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


@contextmanager
def _client_errors(doing: str, where: str) -> Iterator[None]:
    """Turn the official client's failures into a ``LeaseApi``'s."""
    from kubernetes.client.exceptions import ApiException

    try:
        yield
    except ApiException as e:
        if e.status == 404:
            raise LeaseMissing() from None
        if e.status == 409:
            raise LeaseConflict() from None
        raise api_refusal(e.status or 0, _message(e), doing, where) from None
    except _connection_errors() as e:
        raise no_answer(getattr(e, "reason", None) or e, doing, where) from None


class ChangeLock:
    """A change's hold on one Lease: acquire, renew (from a daemon thread), take over, release.

    ``on_failure`` is called from the renewal thread with a ``RenewalFailure``; keep it short (post a message).
    ``on_renewed`` is called from it after each renewal that succeeded (how a holder learns the API is back).
    ``renew_every_s`` defaults to a third of the lease's duration; ``request_timeout_s`` bounds each API call.
    """

    def __init__(self, api: client.ApiClient | LeaseApi, *, on_failure: Callable[[RenewalFailure], None] | None = None,
                 on_renewed: Callable[[LeaseView], None] | None = None,
                 host: str | None = None, renew_every_s: float | None = None, request_timeout_s: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        # An ApiClient (the callers that hold one already) is used through the official client's Lease calls.
        self._leases: LeaseApi = api if isinstance(api, LeaseApi) else ClientLeases(api)
        self._on_failure = on_failure
        self._on_renewed = on_renewed
        self.host = host or socket.gethostname()
        self._renew_every_s = renew_every_s
        self._timeout = (min(2.0, request_timeout_s), request_timeout_s)
        self._clock = clock
        self._mutex = threading.Lock()  # one API conversation at a time: renewals, set_step, release
        self._target: _Target | None = None
        self._held: dict[str, Any] | None = None  # the lease as last written by us
        self._last_renewed: float | None = None
        self._at = ("", "")  # the step and where it stands ("3 of 7"): one tuple, replaced whole without the mutex
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ----- state ---------------------------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        """Whether we hold the lease, as far as our last conversation with the API knows."""
        return self._held is not None

    @property
    def identity(self) -> str:
        """``operator@host CHG-ID`` of the last acquire ("" before one)."""
        return self._target.claim.identity if self._target else ""

    @property
    def lease(self) -> LeaseView | None:
        """The lease as we last wrote it, or None when we do not hold it."""
        held = self._held
        return view(held) if held is not None else None

    # ----- taking the lock -----------------------------------------------------------------------------------
    def acquire(self, name: str, namespace: str, operator: str, change_id: str, step: str, duration_s: int = 15,
                *, scope: str = "", seen: dict[str, Any] | Unread | None = UNREAD) -> Acquired:
        """Take the lease ``namespace/name`` for a change, creating it or taking it once it has expired.

        Raises LockHeld when someone else holds it live (``take_over`` is the break-glass way past that),
        LockUnreachable or LockForbidden when the API cannot be used. The same identity (operator, host and
        change) takes its own lease back at once: that is a change resumed after its console stopped.
        Starts the renewal thread.

        ``seen`` is the lease as a read just before found it (None: there was none), to write over without reading it
        again: one round trip fewer. That read may be stale by now; the write is judged by the API all the same (an
        update at a version since replaced, or a create of a lease since created, is a 409), and then the lease is
        read again and judged again.
        """
        if not name or not namespace:
            raise ValueError(f"a change lock needs a lease name and a namespace (got {name!r} in {namespace!r})")
        claim = Claim(holder_identity(operator, self.host, change_id), operator, self.host, change_id, step, duration_s, scope)
        with self._mutex:
            if self._held is not None:
                raise LockError(f"this lock already holds lease {self._where()}; release it first.")
            self._target, self._at = _Target(namespace, name, claim), (step, "")

            def take_unless_live(current: dict[str, Any], now: float) -> dict[str, Any]:
                before = view(current)
                if before.holder != claim.identity and not before.is_expired(now):
                    raise LockHeld(before, now)
                return claimed(current, claim, now)

            displaced = self._take(take_unless_live, seen=seen)
            self._start_renewing()
            return Acquired(self._view(), displaced)

    def take_over(self, reason: str) -> LeaseView | None:
        """Break glass: take the lease of the last ``acquire`` even though someone holds it live.

        Records the displaced holder and the reason in annotations and counts a transition; returns the
        lease as it was before (None when it no longer existed). The displaced console learns it on its next
        renewal (kind ``lost``). Starts the renewal thread.
        """
        if not reason.strip():
            raise ValueError("a take-over needs a reason: it is recorded on the lease for whoever held it")
        with self._mutex:
            target = self._target
            if target is None:
                raise LockError("nothing to take over: acquire names the lease, and take_over follows a refusal.")
            if self._held is not None:
                raise LockError(f"this lock already holds lease {self._where()}.")
            displaced = self._take(lambda current, now: claimed(current, target.claim, now, reason=reason.strip()), every_holder=True)
            self._start_renewing()
            return displaced

    def _take(self, update: Callable[[dict[str, Any], float], dict[str, Any]], *, every_holder: bool = False,
              seen: dict[str, Any] | Unread | None = UNREAD) -> LeaseView | None:
        """Create the lease, or write ``update(current, now)`` over the version read; retry when beaten to it.

        Returns the holder replaced (with ``every_holder`` even our own identity's earlier claim is reported).
        ``seen``: the first attempt's read, made already (see ``acquire``).
        """
        target = self._target
        assert target is not None
        for _ in range(ATTEMPTS):
            now = self._clock()
            given, seen = seen, UNREAD  # a read made beforehand serves the first attempt only
            try:
                if isinstance(given, Unread):
                    current = self._read()
                elif given is None:
                    raise LeaseMissing()
                else:
                    current = given
            except LeaseMissing:
                try:
                    self._hold(self._create(new_lease(target.namespace, target.name, target.claim, now)), now)
                    return None
                except LeaseConflict:
                    continue  # created by someone else meanwhile: read theirs
            try:
                body = update(current, now)
            except LockHeld:
                if isinstance(given, Unread):
                    raise
                continue  # a refusal rests on the lease as the API has it now, not on the read made beforehand
            try:
                self._hold(self._replace(body), now)
            except LeaseConflict:
                continue  # someone wrote it since we read it: read again and judge again
            before = view(current)
            mine = before.holder == target.claim.identity
            return before if before.holder and (every_holder or not mine) else None
        raise LockUnreachable(f"lease {self._where()} kept changing under us ({ATTEMPTS} attempts); try again.")

    # ----- keeping it --------------------------------------------------------------------------------------------
    def set_step(self, step: str, progress: str = "") -> None:
        """Record the step the change is on (and where it stands, "3 of 7"); the renewal thread writes it at once."""
        # Not under the mutex: a renewal waiting on a silent API holds it, and the change must not wait for that.
        self._at = (step, progress)
        self._wake.set()

    def renew(self) -> LeaseView:
        """Renew now (the renewal thread calls this); raises LockLost, LockUnreachable or LockForbidden."""
        with self._mutex:
            held = self._held
            if held is None:
                raise LockError(f"lease {self._where()} is not held; acquire it first.")
            now = self._clock()
            try:
                self._hold(self._replace(renewed(held, *self._at_now(now))), now)
                return self._view()
            except LeaseMissing:
                self._held = None
                raise LockLost(f"lease {self._where()} was deleted while we held it.") from None
            except LeaseConflict:
                pass
            # Someone wrote the lease since our last renewal. If it still names us (a label or annotation
            # edited by hand) renew on top of that; if it names someone else, it is theirs.
            try:
                current = self._read()
            except LeaseMissing:
                self._held = None
                raise LockLost(f"lease {self._where()} was deleted while we held it.") from None
            now_view = view(current)
            if now_view.holder != view(held).holder or now_view.uid != view(held).uid:
                self._held = None
                raise LockLost(f"lease {self._where()} is held by {now_view.describe()} now.", now_view.holder, now_view)
            try:
                self._hold(self._replace(renewed(current, *self._at_now(now))), now)
            except (LeaseMissing, LeaseConflict):
                raise LockUnreachable(f"lease {self._where()} changed again while renewing; will retry.") from None
            return self._view()

    def _at_now(self, now: float) -> tuple[str, float, str]:
        step, progress = self._at
        return step, now, progress

    # ----- giving it back ------------------------------------------------------------------------------------
    def release(self) -> bool:
        """Stop renewing and give the lease back if it is still the one we hold; False when it was not ours any more.

        Given back as client-go gives a lease back: an update (at the version we hold, so a lease someone else
        has taken meanwhile is never touched) that clears the holder and leaves the annotations naming who held
        it last. Raises LockUnreachable or LockForbidden when the API cannot be used (the lease then expires by
        itself ``leaseDurationSeconds`` after our last renewal).
        """
        self._stop_renewing()
        with self._mutex:
            held = self._held
            if held is None:
                return False
            try:
                self._replace(released(held, self._clock()))
            except (LeaseMissing, LeaseConflict):
                return False
            finally:
                self._held = None
            return True

    # ----- the renewal thread ------------------------------------------------------------------------------------
    def _start_renewing(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping = False
        self._wake.clear()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{self._where()}", daemon=True)
        self._thread.start()

    def _stop_renewing(self) -> None:
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._timeout[1] + 5)

    def _renew_loop(self) -> None:
        target = self._target
        assert target is not None
        every = self._renew_every_s or max(0.5, target.claim.duration_s / 3)
        while True:
            self._wake.wait(every)
            self._wake.clear()
            if self._stopping or self._held is None:
                return
            try:
                lease = self.renew()
            except LockLost as e:
                self._report(RenewalFailure("lost", str(e), e.holder, self._expired(), e.lease))
                return
            except LockForbidden as e:
                self._report(RenewalFailure("forbidden", str(e), lease_expired=self._expired()))
            except LockError as e:  # unreachable, or the lease moving under us twice in one renewal
                self._report(RenewalFailure("unreachable", str(e), lease_expired=self._expired()))
            else:
                self._renewal_done(lease)

    def _report(self, failure: RenewalFailure) -> None:
        if self._on_failure is None:
            return
        try:
            self._on_failure(failure)
        except Exception:  # a failing listener must not end the renewals that keep the lock
            log.exception("the lock's failure callback raised on %s", failure)

    def _renewal_done(self, lease: LeaseView) -> None:
        if self._on_renewed is None:
            return
        try:
            self._on_renewed(lease)
        except Exception:  # as for failures: a failing listener must not end the renewals
            log.exception("the lock's renewal callback raised")

    def _expired(self) -> bool:
        target, last = self._target, self._last_renewed
        return target is not None and last is not None and self._clock() >= last + target.claim.duration_s

    # ----- API calls ---------------------------------------------------------------------------------------------
    def _where(self) -> str:
        t = self._target
        return f"{t.namespace}/{t.name}" if t else "(none)"

    def _view(self) -> LeaseView:
        assert self._held is not None
        return view(self._held)

    def _hold(self, written: dict[str, Any], now: float) -> None:
        self._held, self._last_renewed = written, now

    def _read(self) -> dict[str, Any]:
        t = self._target
        assert t is not None
        return self._leases.read_lease(t.namespace, t.name, self._timeout)

    def _create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        t = self._target
        assert t is not None
        return self._leases.create_lease(t.namespace, body, self._timeout)

    def _replace(self, body: Mapping[str, Any]) -> dict[str, Any]:
        t = self._target
        assert t is not None
        return self._leases.replace_lease(t.namespace, t.name, body, self._timeout)


def _model(body: Mapping[str, Any]) -> client.V1Lease:
    """The typed body for the client, its MicroTimes kept at six fractional digits."""
    from kubernetes import client as k8s

    lease = k8s.V1Lease.model_validate(dict(body))
    spec = lease.spec
    if spec is not None:
        if spec.acquire_time is not None:
            spec.acquire_time = _MicroTime.of(spec.acquire_time)
        if spec.renew_time is not None:
            spec.renew_time = _MicroTime.of(spec.renew_time)
    return lease


def _message(e: ApiException) -> str:
    """The Status message of an API error, else its HTTP reason."""
    try:
        status = json.loads(e.body or "")
    except (ValueError, TypeError):
        return str(e.reason or "")
    return str(status.get("message") or e.reason or "") if isinstance(status, dict) else str(e.reason or "")


def list_locks(api: client.ApiClient, now: float | None = None, *, request_timeout_s: float = 10.0) -> list[LockStatus]:
    """Every opsconsole lock in every namespace: holder, change, step, times, and whether it had expired at ``now``."""
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    coord = k8s.CoordinationV1Api(api)
    try:
        timeout = (min(2.0, request_timeout_s), request_timeout_s)
        leases = coord.list_lease_for_all_namespaces(label_selector=SELECTOR, _request_timeout=timeout)
    except ApiException as e:
        if e.status in (401, 403):
            raise LockForbidden(f"the API refused to list Leases: {e.status} {_message(e)}") from None
        raise LockUnreachable(f"the API failed to list Leases: {e.status} {_message(e)}") from None
    except _connection_errors() as e:
        raise LockUnreachable(f"the API server did not answer a list of Leases: {getattr(e, 'reason', None) or e}") from None
    items = [api.sanitize_for_serialization(item) for item in leases.items]
    return lock_statuses(items, time.time() if now is None else now)


def lease_body(api: LeaseApi, namespace: str, name: str, *, request_timeout_s: float = 5.0) -> dict[str, Any] | None:
    """The lease ``namespace/name`` as the API has it (None when there is none): what ``ChangeLock.acquire`` may be
    given as ``seen``; raises LockForbidden or LockUnreachable."""
    try:
        return api.read_lease(namespace, name, (min(2.0, request_timeout_s), request_timeout_s))
    except LeaseMissing:
        return None
    except LeaseConflict:  # no read answers 409; said as any other unexpected answer
        raise LockUnreachable(f"the API failed to read lease {namespace}/{name}: 409") from None


def read_lock(api: client.ApiClient | LeaseApi, namespace: str, name: str, *,
              request_timeout_s: float = 5.0) -> LeaseView | None:
    """The lease ``namespace/name`` as it is now, held or not (None when there is none); nothing is written."""
    timeout = (min(2.0, request_timeout_s), request_timeout_s)
    if isinstance(api, LeaseApi):
        body = lease_body(api, namespace, name, request_timeout_s=request_timeout_s)
        return None if body is None else view(body)
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    coord = k8s.CoordinationV1Api(api)
    try:
        lease = coord.read_namespaced_lease(name, namespace, _request_timeout=timeout)
    except ApiException as e:
        if e.status == 404:
            return None
        if e.status in (401, 403):
            raise LockForbidden(f"the API refused to read lease {namespace}/{name}: {e.status} {_message(e)}") from None
        raise LockUnreachable(f"the API failed to read lease {namespace}/{name}: {e.status} {_message(e)}") from None
    except _connection_errors() as e:
        raise LockUnreachable(f"the API server did not answer a read of lease {namespace}/{name}: "
                              f"{getattr(e, 'reason', None) or e}") from None
    return view(api.sanitize_for_serialization(lease))

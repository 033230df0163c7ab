"""The lock a cluster holds for a change: the session's side of the ``coordination.k8s.io/v1`` Lease.

While a change that acts on a cluster runs, its console holds a Lease there (``console.cluster.lease``): one in
policy's namespace for the whole cluster, or one in each namespace the change touches (``[lock] scope``). This
module decides what the change does with it: take it at start (refusing, in one sentence naming the holder, its
change and its step, when another console holds it live, unless the start breaks glass); take it back on resume,
recording who held it while the console was stopped; say at each step where the change stands; and, before
every step that changes something, make sure the lock is still ours: a renewal the API did not answer pauses the
change until one succeeds, and a lock someone else took stops it.

Renewal failures arrive on the lock's own thread; they are recorded (through the session's one writer) as they
happen, once per change of state, so the record shows when the console learned of them.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from console.config import Lock as LockPolicy
from console.config import Policy
from console.engine.admission import SessionError
from console.engine.clusterwait import touches_cluster
from console.engine.kubecontext import PinnedKubeconfig
from console.engine.lock_rules import change_namespaces, held_sentence, lock_targets, step_progress
from console.engine.state import State
from console.errors import OpsConsoleError
from console.journal import events as ev
from console.journal.journal import Event
from console.runbook.models import Runbook

if TYPE_CHECKING:  # the cluster client is imported when a change first takes a lock: start-up cost
    from console.cluster.lease import ChangeLock, LeaseApi, RenewalFailure
    from console.cluster.lease_record import LeaseView

__all__ = ["ClusterLock", "LockHeldElsewhere", "LockRefused", "LockStopped", "for_change"]

log = logging.getLogger(__name__)
Recorder = Callable[[str, dict[str, Any]], object]
LeaseState = Literal["pending", "held", "unreachable", "lost"]  # pending: not taken yet, the API did not answer
WAIT_POLL_S = 0.2  # how often a paused step looks at the cancel flag while it waits for a renewal


class LockRefused(SessionError):
    """The change may not take the cluster's lock; ``events`` are what the change records before refusing
    (a resumed change's record of who took its lock while it was stopped)."""

    def __init__(self, message: str, events: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        super().__init__(message)
        self.events = list(events)


class LockHeldElsewhere(LockRefused):
    """Refused because another console holds the lock live: the one refusal a break-glass takeover answers.

    ``lease`` is the holder's Lease as read, ``context`` the kube context and ``now`` when it was read, so a caller
    can word the refusal for where the operator is (the message itself is the command line's).
    """

    def __init__(self, lease: LeaseView, context: str, now: float,
                 events: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        super().__init__(held_sentence(lease, context, now), events)
        self.lease = lease
        self.context = context
        self.now = now

    def worded(self, take_over: str) -> str:
        """The same refusal, with ``take_over`` saying how the takeover is asked for (a form, not a flag); what the
        start added to the message since (why the refusal could not be recorded) is kept."""
        said, now_said = held_sentence(self.lease, self.context, self.now), str(self)
        added = now_said[len(said):] if now_said.startswith(said) else ""
        return held_sentence(self.lease, self.context, self.now, take_over=take_over) + added


def load_lock_modules() -> None:
    """Import the modules the lock talks to the API with over plain HTTP (some 12 ms of imports on first use).

    A start form calls it in the background while the operator fills the form in, so the start's lock check does not
    pay for them after ctrl+s; most contexts take this path (see ``ClusterLock._client``).
    """
    import console.cluster.lease
    import console.cluster.lease_http  # noqa: F401


def load_client_library() -> None:
    """Import the kubernetes client the lock falls back to where plain HTTP cannot go (some 0.3 s of imports on
    first use): a context whose auth only the client handles (an auth provider, an interactive plugin, a proxy).

    A start form calls it in the background while the operator fills the form in (after what a start needs on every
    context); nothing else in the console loads the library before then (the panels speak plain HTTP).
    """
    import kubernetes.client
    import kubernetes.config  # noqa: F401


class LockStopped(SessionError):
    """A mutating step may not run: the lock is someone else's now, or the wait for a renewal was cancelled."""


def for_change(policy: Policy, runbook: Runbook, kube: PinnedKubeconfig | None, *, operator: str, values: dict[str, str],
               runbook_dir: Path) -> ClusterLock | None:
    """The lock a change holds, or None when it acts on no cluster (no kubectl, rollout or observe step)."""
    if kube is None or not touches_cluster(runbook):
        return None
    return ClusterLock(policy.lock, kubeconfig=kube.path, context=kube.context, operator=operator,
                       namespaces=change_namespaces(runbook, values, runbook_dir))


@dataclass
class _Held:
    namespace: str
    name: str
    lock: ChangeLock
    state: LeaseState = "held"

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"


class ClusterLock:
    """The Leases one change holds on its cluster, and what their renewals say about going on.

    ``acquire`` takes them (returning the events to record); ``attach`` gives the session's writer for what the
    renewal threads learn later; ``before_mutating_step`` blocks or refuses as the leases' state demands;
    ``release`` gives them back.
    """

    def __init__(self, policy: LockPolicy, *, kubeconfig: Path, context: str, operator: str,
                 namespaces: Sequence[str], host: str | None = None, clock: Callable[[], float] = time.time,
                 request_timeout_s: float = 5.0) -> None:
        self.policy = policy
        self.context = context
        self.operator = operator
        self.change_id = ""  # known once the change exists (acquire)
        self.host = host or socket.gethostname()
        self.targets = lock_targets(policy, namespaces)
        self._kubeconfig = kubeconfig
        self._clock = clock
        self._timeout = request_timeout_s
        self._api: LeaseApi | None = None
        self._held: list[_Held] = []
        self._cond = threading.Condition()
        self._record: Recorder | None = None
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._paused = False
        self._stopping = False  # release has begun
        self._closed = False  # released: nothing more is recorded
        self._step = ""
        self._break_glass: tuple[str, str] | None = None
        self._history: Sequence[Event] = ()
        self._seen: dict[tuple[str, str], dict[str, Any] | None] = {}  # check_free's reads, for acquire to write over

    # -- taking it -----------------------------------------------------------------------------------------

    def _client(self) -> LeaseApi:
        """The Lease calls of this context: plain HTTP where its auth allows (``raw_endpoint``), as the panels' watch
        does; else the official client."""
        if self._api is None:
            from console.cluster.kubeconfig import KubeconfigError, merge_kubeconfigs
            from console.cluster.lease_http import HttpLeases
            from console.cluster.raw_endpoint import RawUnsupported, endpoint_for
            from console.cluster.raw_http import HttpTransport

            try:
                merged, _present = merge_kubeconfigs([self._kubeconfig])
                self._api = HttpLeases(HttpTransport(endpoint_for(merged, self.context)))
                return self._api
            except (RawUnsupported, KubeconfigError):
                pass  # the official client handles it, or says in its own words why it cannot
            from kubernetes import client, config

            from console.cluster.lease import ClientLeases

            configuration = client.Configuration()
            config.load_kube_config(config_file=str(self._kubeconfig), context=self.context, client_configuration=configuration,
                                    persist_config=False)
            # No retries inside a call: the renewal loop is the retry, and a start against a silent API must not
            # wait for three of them before it can say so.
            configuration.retries = 0
            self._api = ClientLeases(client.ApiClient(configuration))
        return self._api

    def check_free(self) -> None:
        """Refuse now, before anything is written, when another console holds a live lock here (the start's check;
        ``acquire`` decides again with the API's own guarantee, writing over what this read: one round trip fewer)."""
        from console.cluster.lease import LockForbidden, LockUnreachable, lease_body
        from console.cluster.lease_record import view

        now = self._clock()
        for ns, name in self.targets:
            try:
                body = lease_body(self._client(), ns, name, request_timeout_s=self._timeout)
            except LockForbidden as e:
                raise LockRefused(self._api_sentence(e, ns)) from None
            except LockUnreachable:
                continue  # not a refusal: the change starts, and pauses before changing anything until it has the lock
            lease = None if body is None else view(body)
            if lease is not None and lease.holder and not lease.is_expired(now):
                raise LockHeldElsewhere(lease, self.context, now)
            self._seen[(ns, name)] = body

    def acquire(self, change_id: str, *, step: str = "", break_glass: tuple[str, str] | None = None,
                history: Sequence[Event] = ()) -> list[tuple[str, dict[str, Any]]]:
        """Take every lease; returns the events to record. Raises LockRefused (with the events a refusal records).

        ``break_glass`` (reason, approver) takes a lease another console holds live. ``history`` is a resumed
        change's journal: a lease it held when its console stopped is compared with the lease as it is now, and
        whoever held it meanwhile is recorded; a lease still held for this very change (its console was killed,
        or another operator resumes it) is taken back at once. A lease the API does not answer for is recorded
        as unreachable and taken by a retrying thread; until then the change pauses before its mutating steps.
        """
        from console.cluster.lease import ChangeLock, LockUnreachable

        self.change_id, self._step, self._break_glass, self._history = change_id, step, break_glass, history
        events: list[tuple[str, dict[str, Any]]] = []
        for ns, name in self.targets:
            where = f"{ns}/{name}"
            lock = ChangeLock(
                self._client(), host=self.host, renew_every_s=self.policy.renew_every_s, request_timeout_s=self._timeout,
                clock=self._clock, on_failure=partial(self._failed, where), on_renewed=partial(self._renewed, where),
            )
            held = _Held(ns, name, lock)
            try:
                events += self._take(held)
            except LockUnreachable as e:
                held.state = "pending"
                events.append((ev.LOCK_UNREACHABLE, {"lease": where, "message": str(e), "lease_expired": False}))
            except LockRefused as refused:
                self.release()
                refused.events = events + refused.events
                raise
            with self._cond:
                self._held.append(held)
        if any(h.state == "pending" for h in self._held):
            threading.Thread(target=self._retry_pending, name=f"lock-retry-{change_id}", daemon=True).start()
        return events

    def _take(self, held: _Held) -> list[tuple[str, dict[str, Any]]]:
        """Take one lease; the events to record. Raises LockRefused, or LockUnreachable when the API does not answer."""
        from console.cluster.lease import UNREAD, LockForbidden, LockHeld

        ns, name, lock, where = held.namespace, held.name, held.lock, held.where
        seen = self._seen.pop((ns, name), UNREAD)  # the start's check read it: not read again
        resumed = bool(self._history)
        events: list[tuple[str, dict[str, Any]]] = []
        try:
            if resumed:
                events += self._lost_while_stopped(ns, name, self._history)
            try:
                got = lock.acquire(name, ns, self.operator, self.change_id, self._step, self.policy.duration_s,
                                   scope="cluster" if self.policy.scope == "cluster" else "namespace", seen=seen)
                displaced, took_over = got.displaced, False
            except LockHeld as e:
                ours = {x.data.get("holder") for x in self._history if x.type == ev.LOCK_ACQUIRED and x.data.get("lease") == where}
                if e.lease.holder in ours:
                    # Held by an earlier session of this very change (its record says so): its console was killed,
                    # or another operator resumes it. The store lets one session drive a change at a time, and the
                    # lease follows the change. (Not the change ID alone: two stores may each have a CHG-…-0001.)
                    displaced, took_over = lock.take_over(f"{self.change_id} resumed by {self.operator}@{self.host}"), False
                elif self._break_glass is None:
                    raise LockHeldElsewhere(e.lease, self.context, self._clock(), events) from None
                else:
                    reason, approver = self._break_glass
                    displaced, took_over = lock.take_over(reason), True
                    events.append((ev.BREAKGLASS_RECORDED, {
                        "reason": reason, "approver": approver,
                        "what": f"took over the cluster lock {where} held live by {e.lease.describe()}",
                    }))
        except LockForbidden as e:
            raise LockRefused(self._api_sentence(e, ns), events) from None
        written = lock.lease
        assert written is not None
        now = self._clock()
        events.append((ev.LOCK_ACQUIRED, {
            "lease": where, "holder": written.holder, "scope": self.policy.scope, "duration_s": self.policy.duration_s,
            "acquired": _iso(written.acquired), "transitions": written.transitions, "uid": written.uid,
            "resumed": resumed, "break_glass": took_over,
            "displaced": None if displaced is None else {
                "holder": displaced.holder, "change": displaced.change, "step": displaced.step,
                "expired": displaced.is_expired(now),
            },
        }))
        return events

    def _retry_pending(self) -> None:
        """Take the leases the API did not answer for at start, as soon as it does (a thread of its own)."""
        from console.cluster.lease import LockUnreachable

        every = self.policy.renew_every_s or max(0.5, self.policy.duration_s / 3)
        while True:
            with self._cond:
                pending = [h for h in self._held if h.state == "pending"]
                if self._stopping or not pending:
                    return
                self._cond.wait(every)
                if self._stopping:
                    return
            for held in pending:
                try:
                    events = self._take(held)
                except LockUnreachable:
                    continue
                except LockRefused as refused:  # someone took it meanwhile (or Leases are refused): the change stops
                    with self._cond:
                        held.state = "lost"
                        self._cond.notify_all()
                    for type_, data in refused.events:
                        self._emit(type_, data)
                    self._emit(ev.LOCK_LOST, {"lease": held.where, "holder": "", "detected": "renewal",
                                              "message": f"the lock could not be taken once the API answered: {refused}"})
                    continue
                with self._cond:
                    closed = self._stopping
                    held.state = "held"
                    self._cond.notify_all()
                if closed:  # the change let go while this take was under way: give back what it just took
                    self._give_back(held)
                    return
                for type_, data in events:
                    self._emit(type_, data)

    def _lost_while_stopped(self, ns: str, name: str, history: Sequence[Event]) -> list[tuple[str, dict[str, Any]]]:
        """A resumed change whose console stopped while it held ``ns/name``: who had the lease since, if anyone."""
        from console.cluster.lease import read_lock

        where = f"{ns}/{name}"
        held: dict[str, Any] | None = None
        for e in history:
            if e.data.get("lease") != where:
                continue
            if e.type == ev.LOCK_ACQUIRED:
                held = e.data
            elif e.type in (ev.LOCK_RELEASED, ev.LOCK_LOST):
                held = None
        if held is None:
            return []  # released on leaving, or already recorded as lost: nothing happened unseen
        now_view = read_lock(self._client(), ns, name, request_timeout_s=self._timeout)
        if now_view is not None and now_view.uid == held.get("uid") and now_view.holder == held.get("holder") \
                and now_view.transitions == held.get("transitions"):
            return []  # still ours, untouched (expired or not): taken back below
        if now_view is None:
            return [(ev.LOCK_LOST, {
                "lease": where, "holder": "", "detected": "resume",
                "message": f"lease {where}, held by this change when its console stopped, was deleted meanwhile",
            })]
        other = now_view.last_holder
        state = "holds it" if now_view.holder and not now_view.is_expired(self._clock()) else "held it last"
        taken = ""
        if now_view.previous_holder == held.get("holder"):
            taken = " and took it from this change" + (f" by break-glass ({now_view.takeover_reason})" if now_view.takeover_reason else
                                                       " after it expired")
        return [(ev.LOCK_LOST, {
            "lease": where, "holder": other, "change": now_view.change, "step": now_view.step,
            "reason": now_view.takeover_reason if now_view.previous_holder == held.get("holder") else "",
            "detected": "resume",
            "message": (f"while this change's console was stopped, {other or 'another console'} {state}{taken} "
                        f"({now_view.transitions - int(held.get('transitions') or 0)} transition(s) since)"),
        })]

    def _api_sentence(self, e: Exception, ns: str) -> str:
        from console.cluster.lease import LockForbidden

        if isinstance(e, LockForbidden):
            return (f"context {self.context} does not let {self.operator} use Leases (coordination.k8s.io) in namespace "
                    f"{ns}, which the change lock needs: grant get, create and update on leases there ({e})")
        return f"context {self.context}: the change lock cannot be taken ({e})"

    # -- keeping it ----------------------------------------------------------------------------------------

    def attach(self, record: Recorder) -> None:
        """From now on, what the renewals learn is recorded with ``record`` (the session's writer)."""
        with self._cond:
            self._record = record
            pending, self._pending = self._pending, []
        for type_, data in pending:
            record(type_, data)

    def _emit(self, type_: str, data: dict[str, Any]) -> None:
        with self._cond:
            if self._closed:
                log.info("not recorded (the change has let go of its lock): %s %s", type_, data)
                return
            record = self._record
            if record is None:
                self._pending.append((type_, data))
                return
        record(type_, data)

    def _failed(self, where: str, failure: RenewalFailure) -> None:
        with self._cond:
            held = next((h for h in self._held if h.where == where), None)
            before = held.state if held else "held"
            if held is not None:
                held.state = "lost" if failure.kind == "lost" else "unreachable"
            self._cond.notify_all()
        if failure.kind == "lost":
            lease = failure.lease
            self._emit(ev.LOCK_LOST, {
                "lease": where, "holder": failure.holder, "change": lease.change if lease else "",
                "step": lease.step if lease else "", "reason": lease.takeover_reason if lease else "",
                "detected": "renewal", "message": failure.message,
            })
        elif before == "held":
            self._emit(ev.LOCK_UNREACHABLE, {"lease": where, "message": failure.message, "lease_expired": failure.lease_expired})

    def _renewed(self, where: str, _lease: LeaseView | None = None) -> None:
        with self._cond:
            held = next((h for h in self._held if h.where == where), None)
            if held is None or held.state != "unreachable":
                return
            held.state = "held"
            self._cond.notify_all()
        self._emit(ev.LOCK_RESTORED, {"lease": where})

    def on_event(self, event: Event, state: State) -> None:
        """The session's listener: a step that starts is written on the leases (what banners show)."""
        if event.type != ev.STEP_STARTED or event.data.get("section") == ev.EVIDENCE_SECTION:
            return
        progress = step_progress(state, event)
        for h in list(self._held):
            h.lock.set_step(str(event.data.get("step_id", "")), progress)

    def status(self) -> LeaseState:
        """The worst state among the leases: lost, unreachable, or held."""
        with self._cond:
            states = {h.state for h in self._held}
        return "lost" if "lost" in states else "unreachable" if states & {"unreachable", "pending"} else "held"

    def before_mutating_step(self, step_id: str, cancel: threading.Event) -> None:
        """Return when every lease is ours and renewing; wait (recording the pause once) while one is unreachable;
        raise LockStopped when one is lost or ``cancel`` is set while waiting."""
        while True:
            with self._cond:
                lost = next((h for h in self._held if h.state == "lost"), None)
                unreachable = next((h for h in self._held if h.state in ("unreachable", "pending")), None)
                first_pause = unreachable is not None and not self._paused
                if unreachable is None:
                    self._paused = False
            if lost is not None:
                raise LockStopped(f"step {step_id} was not run: the change lock {lost.where} is no longer this change's "
                                  "(see the record); leave the change and settle with whoever holds it")
            if unreachable is None:
                return
            if first_pause:
                self._paused = True
                self._emit(ev.LOCK_PAUSED, {
                    "step_id": step_id,
                    "message": (f"paused before step {step_id}: the change lock {unreachable.where} cannot be renewed "
                                "(the API server does not answer); the step runs once a renewal succeeds"),
                })
            if cancel.is_set():
                raise LockStopped(f"step {step_id} was not run: stopped while waiting for the change lock to be renewed")
            with self._cond:
                self._cond.wait(WAIT_POLL_S)

    # -- giving it back ------------------------------------------------------------------------------------

    def _give_back(self, held: _Held) -> None:
        from console.cluster.lease import LockError

        try:
            held.lock.release()
        except LockError as e:
            log.warning("the change lock %s was not released: %s", held.where, e)

    def release(self, *, record: bool = False) -> None:
        """Give every lease back (each renewal thread ends); with ``record``, each release is recorded first."""
        from console.cluster.lease import LockError

        with self._cond:
            every, self._stopping = list(self._held), True  # a take under way now gives its lease straight back
            self._cond.notify_all()
        for h in every:
            try:
                ok = h.lock.release()
            except LockError as e:  # the API cannot be used: the lease expires by itself after its duration
                log.warning("the change lock %s was not released: %s", h.where, e)
                ok = False
            if record and h.state in ("held", "unreachable"):
                try:
                    self._emit(ev.LOCK_RELEASED, {"lease": h.where, "released": ok})
                except OpsConsoleError as e:  # a journal that cannot take it must not keep the lock held
                    log.warning("the release of %s was not recorded: %s", h.where, e)
        with self._cond:
            self._held = []
            self._closed = True
            self._cond.notify_all()
        if self._api is not None:
            self._api.close()
            self._api = None


def _iso(epoch: float | None) -> str | None:
    from console.cluster.lease_record import micro_time

    return None if epoch is None else micro_time(epoch)

"""The list-then-watch loops over the plain-HTTP transport (console/cluster/raw_http.py), against the rehearsal cluster.

The scenarios of test_watch.py run again here with ``make_watch`` building each ``ClusterWatch`` on an
``HttpTransport`` (what ``opsconsole watch`` uses for a kubeconfig like the rehearsal cluster's); the checks
still compare with fresh lists through the official client, an independent reader. Also here: what only this
transport does (the first list shown page by page, a list cut before its answer has begun).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from console.cluster.kube import KubeAccess
from console.cluster.raw_http import HttpTransport
from console.cluster.watch import Change, ClusterCache, ClusterWatch
from kubesim.testing import RunningCluster
from tests.cluster.conftest import WatchFactory, all_live, converged
from tests.cluster.test_watch import (  # the same scenarios, collected here again with this module's make_watch
    HeldAnswers,
    test_expired_version_relists_once_without_duplicates,
    test_forbidden_kind_shows_forbidden_while_others_stay_live,
    test_list_then_watch_follows_scaling,
    test_one_namespace,
    test_outage_reconnects_with_age_and_recovers,
    test_relist_after_compaction_leaves_no_ghosts,
    test_silent_server_is_cut_by_the_read_timeout,
    test_stop_is_prompt,
)

__all__ = [
    "test_expired_version_relists_once_without_duplicates",
    "test_forbidden_kind_shows_forbidden_while_others_stay_live",
    "test_list_then_watch_follows_scaling",
    "test_one_namespace",
    "test_outage_reconnects_with_age_and_recovers",
    "test_relist_after_compaction_leaves_no_ghosts",
    "test_silent_server_is_cut_by_the_read_timeout",
    "test_stop_is_prompt",
]


@pytest.fixture
def transport(kube: KubeAccess) -> HttpTransport:
    chosen = kube.transport_for("rehearsal")
    assert isinstance(chosen, HttpTransport)  # the rehearsal kubeconfig (plain http, anonymous) takes the fast path
    return chosen


@pytest.fixture
def make_watch(transport: HttpTransport) -> Iterator[WatchFactory]:
    made: list[ClusterWatch] = []

    def make(**kw: Any) -> ClusterWatch:
        kw.setdefault("server_timeout_s", 5)
        kw.setdefault("read_timeout_s", 8)
        kw.setdefault("backoff", (0.05, 0.5))
        cw = ClusterWatch(kw.pop("api_client", transport), **kw)
        made.append(cw)
        return cw
    yield make
    for cw in made:
        cw.stop()


def test_first_list_arrives_page_by_page_then_follows_changes(rehearsal: RunningCluster, api: Any,
                                                               make_watch: WatchFactory) -> None:
    """With a page size, the first list is a RESYNC of its first page and the rest ADDED; the cache ends equal."""
    rc = rehearsal
    pods = rc.store.list("pods")
    assert len(pods) > 3
    cw = make_watch(kinds=("pods",), page_size=2)
    log: list[Change] = []
    cache = ClusterCache()
    cw.start()
    rc.wait_for(lambda: all_live(cw) and converged(cw, cache, api, log=log), what="pods synced")
    assert log[0].type == "RESYNC" and len(log[0].objects) == 2
    added = [c for c in log[1:] if c.type == "ADDED"]
    assert len(added) >= len(pods) - 2
    assert not any(c.type == "RESYNC" for c in log[1:])  # no second full set: nothing listed twice
    assert cw.statuses()["pods"].relists == 0


def test_stop_cuts_a_list_whose_answer_has_not_begun(rehearsal: RunningCluster, make_watch: WatchFactory,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain HTTP holds the connection from before the request is sent, so stop() ends even a loop still waiting."""
    import kubesim.api

    answers = HeldAnswers()
    monkeypatch.setattr(kubesim.api, "time", answers)
    rehearsal.faults.latency_ms = 1
    cw = make_watch(list_timeout_s=300)
    try:
        cw.start()
        rehearsal.wait_for(lambda: answers.held >= len(cw.kinds), what="every loop's first request held by the server")
        stopper = threading.Thread(target=cw.stop, kwargs={"timeout": 30.0}, daemon=True)
        stopper.start()
        stopper.join(60)  # a deadline for a stop that never returns, not a measure
        assert not stopper.is_alive()
        assert not cw.running  # every loop ended while the server still held its answer
        assert {s.state for s in cw.statuses().values()} == {"stopped"}
    finally:
        rehearsal.faults.latency_ms = 0
        answers.release.set()

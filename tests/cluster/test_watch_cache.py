"""The consumer-side cache and the reconnect backoff: pure, no cluster."""

from __future__ import annotations

import random

from console.cluster.watch import Change, ClusterCache, WatchStatus, backoff_delay, object_key


def pod(name: str, rv: int, ns: str = "web") -> dict:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)}}


def ev(typ: str, obj: dict, kind: str = "pods") -> Change:
    return Change(kind, typ, object_key(obj), obj)


def resync(*objs: dict, kind: str = "pods") -> Change:
    return Change(kind, "RESYNC", "", None, tuple(objs))


def test_keys() -> None:
    assert object_key(pod("a", 1)) == "web/a"
    assert object_key({"metadata": {"name": "node-1"}}) == "node-1"


def test_changes_apply_in_order_and_report_what_moved() -> None:
    cache = ClusterCache()
    d = cache.apply([resync(pod("a", 1), pod("b", 2)), ev("ADDED", pod("c", 3)), ev("MODIFIED", pod("a", 4)), ev("DELETED", pod("b", 2))])
    assert cache.versions("pods") == {"web/a": "4", "web/c": "3"}
    assert d["pods"].resynced and d["pods"].upserted == {"web/a", "web/c"} and d["pods"].deleted == {"web/b"}
    d = cache.apply([ev("ADDED", pod("b", 5)), ev("DELETED", pod("b", 5)), ev("MODIFIED", pod("c", 6))])
    assert not d["pods"].resynced and d["pods"].upserted == {"web/c"} and d["pods"].deleted == {"web/b"}
    assert cache.get("pods", "web/c")["metadata"]["resourceVersion"] == "6"


def test_resync_replaces_the_kind_no_ghosts_no_duplicates() -> None:
    cache = ClusterCache()
    cache.apply([resync(pod("a", 1), pod("b", 2)), resync(pod("x", 1), kind="nodes")])
    # A relist after 410: b vanished while we were away, d appeared, a changed.
    d = cache.apply([resync(pod("a", 7), pod("d", 8))])
    assert cache.versions("pods") == {"web/a": "7", "web/d": "8"}
    assert d["pods"].deleted == {"web/b"} and d["pods"].upserted == {"web/a", "web/d"}
    assert cache.count("nodes") == 1 and "nodes" not in d  # other kinds untouched
    cache.clear("pods")
    assert cache.objects("pods") == [] and cache.kinds() == ["nodes"]
    cache.clear()
    assert cache.kinds() == []


def test_modified_for_an_unknown_key_is_an_upsert_and_deleting_the_unknown_is_harmless() -> None:
    cache = ClusterCache()
    cache.apply([ev("MODIFIED", pod("a", 1)), ev("DELETED", pod("zz", 2))])
    assert cache.keys("pods") == {"web/a"}


def test_status_age() -> None:
    st = WatchStatus("pods", "reconnecting", since=100.0, message="connection refused")
    assert st.age(142.5) == 42.5 and st.age(90.0) == 0.0


def test_backoff_doubles_to_the_cap_with_jitter() -> None:
    rnd = random.Random(1)
    steps = [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    for attempt, step in enumerate(steps, start=1):
        delays = [backoff_delay(attempt, 0.2, 5.0, rnd) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > step / 4  # really jittered, not a constant

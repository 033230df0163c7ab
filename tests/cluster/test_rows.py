"""Table tests for the pure row renderers over fixture objects (k9s style: object in, row out)."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.cluster.rollout import UnsupportedKindError
from console.cluster.rows import (
    DeferredPodRow,
    EventRow,
    PodRow,
    event_row,
    human_duration,
    node_row,
    parse_time,
    pod_row,
    pod_status,
    rollout_row,
    since,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


PODS = _load("pods.json")
NODES = _load("nodes.json")
EVENTS = _load("events.json")
NOW = parse_time(PODS["now"])


# --- HumanDuration: every branch of apimachinery's function ------------------------------------

@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-5), "<invalid>"),
        (timedelta(seconds=-2), "<invalid>"),
        (timedelta(seconds=-1.5), "0s"),       # within the 2 s clock-skew allowance
        (timedelta(seconds=-0.5), "0s"),       # int() truncates toward zero, like Go
        (timedelta(0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(seconds=119.9), "119s"),
        (timedelta(seconds=120), "2m"),
        (timedelta(seconds=150), "2m30s"),
        (timedelta(minutes=9, seconds=59), "9m59s"),
        (timedelta(minutes=10), "10m"),
        (timedelta(minutes=10, seconds=30), "10m"),
        (timedelta(minutes=179), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=3, minutes=5), "3h5m"),
        (timedelta(hours=7, minutes=59), "7h59m"),
        (timedelta(hours=8, minutes=30), "8h"),
        (timedelta(hours=47, minutes=59), "47h"),
        (timedelta(hours=48), "2d"),
        (timedelta(days=2, hours=4), "2d4h"),
        (timedelta(days=7, hours=23), "7d23h"),
        (timedelta(days=8), "8d"),
        (timedelta(days=729), "729d"),
        (timedelta(days=730), "2y"),
        (timedelta(days=731), "2y1d"),
        (timedelta(days=365 * 8 - 1), "7y364d"),
        (timedelta(days=365 * 8), "8y"),
        (timedelta(days=365 * 20 + 100), "20y"),
    ],
)
def test_human_duration(delta: timedelta, text: str) -> None:
    assert human_duration(delta) == text


def test_parse_time_forms() -> None:
    assert parse_time("2026-11-21T12:00:00Z") == datetime(2026, 11, 21, 12, tzinfo=UTC)
    assert parse_time("2026-11-21T12:00:00.123456Z") == datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC)
    assert parse_time(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time(None) is None
    assert parse_time("") is None
    assert parse_time("0001-01-01T00:00:00Z") is None  # Go's zero time
    assert parse_time("not a time") is None
    assert since(None, NOW) == "<unknown>"
    assert since("2026-11-21T11:59:15Z", NOW) == "45s"


# --- pods ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", PODS["cases"], ids=[c["case"] for c in PODS["cases"]])
def test_pod_row_matches_kubectl(case: dict) -> None:
    row = pod_row(case["pod"], NOW)
    got = {k: getattr(row, k) for k in case["expect"]}
    assert got == case["expect"]
    meta = case["pod"]["metadata"]
    assert row.key == f"{meta['namespace']}/{meta['name']}"
    assert row.labels == meta["labels"]


def test_pod_row_is_frozen_and_hashable() -> None:
    row = pod_row(PODS["cases"][0]["pod"], NOW)
    with pytest.raises(FrozenInstanceError):
        row.status = "x"  # type: ignore[misc]
    assert hash(row) == hash(pod_row(PODS["cases"][0]["pod"], NOW))


@pytest.mark.parametrize("case", PODS["cases"], ids=[c["case"] for c in PODS["cases"]])
def test_deferred_pod_row_renders_on_first_use_and_equals_pod_row(case: dict) -> None:
    deferred = DeferredPodRow(case["pod"], NOW)
    full = pod_row(case["pod"], NOW)
    # The key and name (what a name-sorted table reads of every row) come without rendering.
    assert (deferred.key, deferred.namespace, deferred.name) == (full.key, full.namespace, full.name)
    assert not deferred.rendered
    assert {k: getattr(deferred, k) for k in case["expect"]} == case["expect"]
    assert deferred.rendered and deferred.labels == full.labels and deferred.severity == full.severity
    assert deferred == full and DeferredPodRow(case["pod"], NOW) == deferred
    assert hash(deferred) == hash(full)
    if full.created_at is not None:
        assert DeferredPodRow(case["pod"], NOW + timedelta(days=3)) != deferred  # the age differs
    with pytest.raises(AttributeError):
        _ = deferred.no_such_field


def test_pod_row_age_moves_with_now_only() -> None:
    pod = PODS["cases"][0]["pod"]
    assert pod_row(pod, NOW).age == "120m"  # kubectl keeps minutes up to 3h
    assert pod_row(pod, NOW + timedelta(days=3)).age == "3d2h"


def test_pod_status_on_empty_object() -> None:
    st = pod_status({})
    assert (st.ready, st.total, st.reason, st.restarts, st.last_restart) == (0, 0, "", 0, None)
    row = pod_row({}, NOW)
    assert (row.key, row.ready, row.node, row.ip, row.age) == ("/", "0/0", "<none>", "<none>", "<unknown>")


def test_pod_sort_key_age_puts_youngest_first() -> None:
    young = pod_row(PODS["cases"][0]["pod"], NOW)
    old = next(pod_row(c["pod"], NOW) for c in PODS["cases"] if c["case"] == "old-pod-age")
    key = PodRow.SORT_KEYS["age"]
    assert key(young) < key(old)


# --- nodes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", NODES["cases"], ids=[c["case"] for c in NODES["cases"]])
def test_node_row_matches_kubectl(case: dict) -> None:
    row = node_row(case["node"], parse_time(NODES["now"]), pod_count=case.get("pod_count", 0))
    expect = dict(case["expect"])
    if "pressure" in expect:
        expect["pressure"] = tuple(expect["pressure"])
    assert {k: getattr(row, k) for k in expect} == expect


# --- events --------------------------------------------------------------------------------------

def test_event_rows_match_kubectl_columns() -> None:
    now = parse_time(EVENTS["now"])
    rows = {r.key: r for r in (event_row(e, now) for e in EVENTS["events"])}
    for key, expect in EVENTS["expect"].items():
        assert {k: getattr(rows[key], k) for k in expect} == expect, key


def test_event_sort_key_puts_warnings_first_then_newest() -> None:
    now = parse_time(EVENTS["now"])
    rows = sorted((event_row(e, now) for e in EVENTS["events"]), key=lambda r: r.sort_key)
    assert [r.key for r in rows] == EVENTS["order"]


def test_event_without_uid_or_times() -> None:
    row = event_row({"metadata": {"namespace": "web", "name": "e1"}, "type": "Warning",
                     "involvedObject": {"kind": "Namespace"}}, NOW)
    assert isinstance(row, EventRow)
    assert (row.key, row.object, row.count, row.last_seen, row.first_seen) == ("web/e1", "namespace/", 1, "<unknown>",
                                                                                "<unknown>")
    assert row.sort_key[0] == 0 and row.sort_key[1] == float("inf")


def test_event_row_from_events_k8s_io_v1() -> None:
    obj = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
           "metadata": {"name": "x.1", "namespace": "web", "uid": "u1"},
           "regarding": {"kind": "Pod", "name": "web-1"}, "note": "Started container app",
           "reason": "Started", "type": "Normal", "eventTime": "2026-11-21T11:59:00.000000Z",
           "reportingController": "kubelet", "reportingInstance": "worker-1", "deprecatedCount": 2}
    row = event_row(obj, NOW)
    assert (row.object, row.message, row.count, row.last_seen, row.source) == (
        "pod/web-1", "Started container app", 2, "60s", "kubelet, worker-1")


# --- rollouts ------------------------------------------------------------------------------------

def test_rollout_row_carries_rollout_status() -> None:
    deploy = json.loads((FIXTURES / "workloads.json").read_text())["deployment_progressing"]
    row = rollout_row(deploy)
    assert row.key == "web/Deployment/web"
    assert (row.kind, row.namespace, row.name, row.desired, row.updated, row.ready, row.available) == (
        "Deployment", "web", "web", 3, 1, 3, 3)
    assert row.revision == "7"
    assert row.images == ("registry.example/web:1.5.0", "registry.example/proxy:2.1")
    assert row.state == "progressing" and row.severity == "warn"
    assert row.message == 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...'
    assert row.ready_text == "3/3"
    assert 0.0 < row.progress < 1.0


def test_rollout_row_rejects_other_kinds() -> None:
    with pytest.raises(UnsupportedKindError, match="no status viewer has been implemented for ReplicaSet.apps"):
        rollout_row({"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": {"name": "x"}})


def test_pure_cluster_modules_import_no_io_or_ui() -> None:
    """Import the pure modules in a fresh interpreter and check nothing with IO, threads or UI came along."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import console.cluster.rows, console.cluster.rollout, console.cluster.triggers, console.cluster.selectors, console.cluster.row_index\n"
        "import console.cluster.pod_counts\n"
        "bad = {'kubernetes', 'textual', 'screens', 'subprocess', 'socket', 'threading', 'asyncio', 'urllib3'}\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in bad)))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

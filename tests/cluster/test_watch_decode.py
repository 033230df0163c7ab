"""Watch events decode with shared keys, so a cache refreshed by events stays the size of the list it started as."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from console.cluster.watch_stream import decode_event

POD = {"type": "MODIFIED", "object": {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop",
       "labels": {"app": "web"}, "resourceVersion": "12"}, "status": {"phase": "Running",
       "containerStatuses": [{"name": "web", "ready": True, "restartCount": 3}]}}}


def keys_of(obj: object) -> list[str]:
    if isinstance(obj, dict):
        return [k for key, value in obj.items() for k in (key, *keys_of(value))]
    if isinstance(obj, list):
        return [k for value in obj for k in keys_of(value)]
    return []


def test_two_events_decode_to_equal_objects_whose_keys_are_the_same_strings() -> None:
    line = json.dumps(POD).encode()
    first, second = decode_event(line), decode_event(line)
    assert first == second == json.loads(line)
    for a, b in zip(keys_of(first), keys_of(second), strict=True):
        assert a is b, f"key {a!r} decoded twice as two strings"


def test_events_kept_by_a_cache_hold_less_than_plain_json_loads() -> None:
    lines = [json.dumps({**POD, "object": {**POD["object"], "metadata": {**POD["object"]["metadata"], "name": f"web-{i}"}}}).encode()
             for i in range(500)]

    def held(decode: object) -> int:
        tracemalloc.start()
        kept = [decode(line) for line in lines]  # type: ignore[operator]
        size, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(kept) == len(lines)
        return size

    assert held(decode_event) < 0.85 * held(json.loads)


@pytest.mark.parametrize("line", [b"{", b"[1, 2", b"\xff\xfe"])
def test_a_garbled_event_is_a_value_error_as_before(line: bytes) -> None:
    with pytest.raises(ValueError):
        decode_event(line)


MANAGED = [{"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]


def test_watched_and_listed_objects_are_kept_without_managed_fields() -> None:
    from console.cluster.watch_stream import KINDS, fill_kind

    event = {**POD, "object": {**POD["object"], "metadata": {**POD["object"]["metadata"], "managedFields": MANAGED}}}
    decoded = decode_event(json.dumps(event).encode())
    assert "managedFields" not in decoded["object"]["metadata"]
    assert decoded["object"]["metadata"]["name"] == "web-1"
    listed = fill_kind([json.loads(json.dumps(event["object"]))], KINDS["pods"])
    assert "managedFields" not in listed[0]["metadata"] and listed[0]["metadata"]["labels"] == {"app": "web"}
    # An ERROR event's Status and a bookmark carry no object of their own kind: left as they are.
    assert decode_event(b'{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}')["type"] == "BOOKMARK"


def test_a_watch_body_is_read_as_events_across_chunk_boundaries_and_checked() -> None:
    from console.cluster.watch_stream import ApiStatusError, WatchExpired, stream_events

    body = (json.dumps(POD) + "\n\n" + json.dumps({**POD, "type": "DELETED"}) + "\n").encode()
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]  # lines cut anywhere, blank lines between
    assert [ev["type"] for ev in stream_events(chunks, lambda: False)] == ["MODIFIED", "DELETED"]
    # Stopped: no chunk after the one during which the stop came is read.
    seen = list(stream_events([json.dumps(POD).encode() + b"\n", json.dumps(POD).encode() + b"\n"], lambda: True))
    assert len(seen) == 1
    with pytest.raises(ValueError, match="not a JSON object"):
        list(stream_events([b"[1, 2]\n"], lambda: False))
    for code, raised in ((410, WatchExpired), (403, ApiStatusError)):
        error = {"type": "ERROR", "object": {"kind": "Status", "code": code, "reason": "R", "message": "m"}}
        with pytest.raises(raised):
            list(stream_events([json.dumps(error).encode() + b"\n"], lambda: False))

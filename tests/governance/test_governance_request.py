"""The start request: canonical bytes, redacted secrets, strict reading, and naming the first difference."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from console.governance import request as requests
from tests.support.approvers import CREATED, NONCE, assert_one_sentence, make_request, request_fields


def test_the_bytes_are_canonical_json() -> None:
    data = make_request()
    obj = json.loads(data)
    assert data == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert list(obj) == sorted(obj)
    assert obj["format"] == "opsconsole-start-request/1"
    assert obj["runbook"] == {"id": "web-config-restart", "sha256": "a" * 64}
    assert obj["created_at"] == "2026-11-21T22:00:00.000000Z"
    assert obj["from"] == "1.4.2" and obj["to"] == "1.5.0"
    assert obj["plan"][1] == {"section": "steps", "step_id": "restart", "kind": "command",
                              "command": "kubectl rollout restart deployment/web -n web", "namespace": "web",
                              "target": "deployment/web"}
    assert obj["preflight"]["kubectl"] == "v1.32.0"


def test_the_same_request_built_twice_is_the_same_bytes_and_digest() -> None:
    # Mapping order, a tuple for a list and a non-UTC zone must not change the bytes.
    a = requests.build(**request_fields())
    fields = request_fields(parameters={"token": "s3cr3t-value", "replicas": "3", "namespace": "web"},
                            plan=tuple(request_fields()["plan"]),
                            created_at=CREATED.astimezone(timezone(timedelta(hours=2))))
    b = requests.build(**fields)
    assert requests.to_bytes(a) == requests.to_bytes(b)
    assert requests.digest(a) == requests.digest(requests.to_bytes(b)) == hashlib.sha256(requests.to_bytes(a)).hexdigest()


def test_non_ascii_text_is_kept_as_utf8() -> None:
    data = make_request(preflight={"note": "Größe ✓"})
    assert "Größe ✓".encode() in data
    assert requests.from_bytes(data).preflight == {"note": "Größe ✓"}


def test_round_trip() -> None:
    built = requests.build(**request_fields())
    again = requests.from_bytes(requests.to_bytes(built))
    assert again == built
    assert again.created_at == CREATED


def test_secret_parameters_are_redacted() -> None:
    data = make_request()
    assert json.loads(data)["parameters"] == {"namespace": "web", "replicas": "3", "token": "[REDACTED]"}
    assert b"s3cr3t-value" not in data


def test_a_secret_showing_elsewhere_is_refused_naming_where() -> None:
    plan = request_fields()["plan"]
    leaky = [*plan[:1], requests.PlanEntry("steps", "login", "command", "curl -H 'X-Token: s3cr3t-value' x", "web")]
    with pytest.raises(requests.RequestError) as err:
        requests.build(**request_fields(plan=leaky))
    assert str(err.value) == "the secret parameter 'token' appears in plan[1].command; redact it before the request is built"
    with pytest.raises(requests.RequestError, match=r"appears in preflight\.env"):
        requests.build(**request_fields(preflight={"env": "TOKEN=s3cr3t-value"}))


def test_a_secret_that_json_escapes_is_still_found() -> None:
    secret = 'pa"ss\\word'
    params = {"namespace": "web", "replicas": "3", "token": secret}
    with pytest.raises(requests.RequestError, match="appears in preflight.echo"):
        requests.build(**request_fields(parameters=params, preflight={"echo": f"x {secret} y"}))


@pytest.mark.parametrize(("override", "message"), [
    ({"change_id": ""}, "the start request's change_id must be non-empty text"),
    ({"runbook_sha256": "XYZ"}, "the start request's runbook.sha256 must be a SHA-256 as 64 lowercase hex digits"),
    ({"policy_sha256": "A" * 64}, "the start request's policy_sha256 must be a SHA-256 as 64 lowercase hex digits"),
    ({"nonce": "abc"}, "the start request's nonce must be 32 to 128 lowercase hex digits"),
    ({"created_at": datetime(2026, 11, 21, 22, 0)}, "the start request's created_at must be a timezone-aware datetime"),
    ({"preflight": {"x": float("nan")}}, "the start request cannot be written as JSON: Out of range float values are not JSON compliant"),
    ({"parameters": {"replicas": 3}}, "the start request's parameters.replicas must be text, not int"),
    ({"plan": [{"section": "steps"}]}, "the start request's plan[0] lacks 'step_id'"),
])
def test_build_refuses_bad_fields_in_one_sentence(override: dict, message: str) -> None:
    with pytest.raises(requests.RequestError) as err:
        requests.build(**request_fields(**override))
    assert str(err.value).startswith(message)
    assert_one_sentence(str(err.value) + ".")


@pytest.mark.parametrize(("data", "message"), [
    (b"\xff", "the start request is not UTF-8 (byte 0)"),
    (b"{", "the start request is not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    (b"[]", "the start request must be a JSON object"),
])
def test_from_bytes_refuses_what_is_not_a_request(data: bytes, message: str) -> None:
    with pytest.raises(requests.RequestError) as err:
        requests.from_bytes(data)
    assert str(err.value) == message


def test_from_bytes_refuses_a_request_that_is_not_canonical() -> None:
    obj = json.loads(make_request())
    spaced = json.dumps(obj, sort_keys=True).encode()
    with pytest.raises(requests.RequestError, match="not in canonical form"):
        requests.from_bytes(spaced)
    obj["created_at"] = "2026-11-21T22:00:00.5Z"
    with pytest.raises(requests.RequestError, match="not in canonical form"):
        requests.from_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


def test_from_bytes_refuses_missing_and_unknown_fields() -> None:
    obj = json.loads(make_request())
    del obj["policy_sha256"]
    with pytest.raises(requests.RequestError, match="^the start request lacks 'policy_sha256'$"):
        requests.from_bytes(requests.canonical(obj))
    obj = json.loads(make_request())
    obj["approved"] = True
    with pytest.raises(requests.RequestError, match="^the start request has an unknown field 'approved'$"):
        requests.from_bytes(requests.canonical(obj))
    obj = json.loads(make_request())
    obj["format"] = "opsconsole-start-request/2"
    with pytest.raises(requests.RequestError, match="format is 'opsconsole-start-request/2'"):
        requests.from_bytes(requests.canonical(obj))


def test_the_digest_covers_every_field() -> None:
    base = requests.digest(make_request())
    changes = [
        {"change_id": "CHG-2026-0043"}, {"runbook_id": "other"}, {"runbook_sha256": "c" * 64},
        {"parameters": {"namespace": "web", "replicas": "4", "token": "s3cr3t-value"}}, {"operator": "carol"},
        {"environment": "staging"}, {"context": "stage-1"}, {"from_version": "1.4.1"}, {"to_version": "1.5.1"},
        {"policy_sha256": "d" * 64}, {"plan": request_fields()["plan"][:2]}, {"preflight": {}},
        {"nonce": "ab" * 16}, {"created_at": CREATED.replace(second=1)},
    ]
    digests = {requests.digest(make_request(**change)) for change in changes}
    assert base not in digests and len(digests) == len(changes)


def test_first_difference_follows_the_field_order() -> None:
    current = requests.build(**request_fields())
    signed = requests.build(**request_fields(change_id="CHG-1", context="other", nonce="ab" * 16))
    diff = requests.first_difference(signed, current)
    assert diff == requests.Difference("change_id", "'CHG-1'", "'CHG-2026-0042'")
    assert requests.first_difference(current, current) is None


def test_first_difference_reaches_into_lists_and_notes_absence() -> None:
    current = requests.build(**request_fields())
    shorter = requests.build(**request_fields(plan=request_fields()["plan"][:2]))
    diff = requests.first_difference(shorter, current)
    assert diff is not None and diff.path == "plan[2]" and diff.signed == "absent"
    extra = requests.build(**request_fields(parameters={"namespace": "web", "replicas": "3", "token": "t0k3n", "x": "1"}))
    diff = requests.first_difference(extra, current)
    assert diff is not None and (diff.path, diff.signed, diff.current) == ("parameters.x", "'1'", "absent")


def test_nonce_helper_is_not_needed_for_a_pure_build() -> None:
    # The nonce is the caller's: the same arguments give the same request, so tests and replays are exact.
    assert make_request() == make_request()
    assert json.loads(make_request())["nonce"] == NONCE

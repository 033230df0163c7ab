"""Leases (coordination.k8s.io/v1) on the rehearsal cluster, as the real API server serves them.

Driven three ways: raw HTTP (to see the exact Status objects), the real kubectl (discovery, its columns, YAML)
and the official client's ``CoordinationV1Api`` (typed models, watch). What matters most is optimistic
concurrency: an update carrying a stale ``resourceVersion`` is refused with 409 Conflict, which is what makes
two contenders for a lock safe.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from kubesim.testing import RunningCluster

KUBECTL = shutil.which("kubectl")
KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]
LEASES = "/apis/coordination.k8s.io/v1/namespaces/web/leases"
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")


def _http(rc: RunningCluster, method: str, path: str, body: Any = None, *,
          ctype: str = "application/json", token: str | None = None) -> tuple[int, dict[str, Any]]:
    """One request to the rehearsal API; (status code, decoded JSON body) whatever the code."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": ctype, "Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(rc.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _lease(name: str, holder: str | None = "alice", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
                            "spec": {"leaseDurationSeconds": 15, "renewTime": "2026-11-21T10:00:00.123456Z", **spec}}
    if holder is not None:
        body["spec"]["holderIdentity"] = holder
    return body


def _rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


@pytest.fixture
def coord(rehearsal_cluster: RunningCluster) -> Iterator[client.CoordinationV1Api]:
    api = config.new_client_from_config(config_file=str(rehearsal_cluster.kubeconfig), context="rehearsal")
    yield client.CoordinationV1Api(api)
    api.close()


# ----- discovery -------------------------------------------------------------------------------------------
def test_discovery_serves_the_coordination_group(rehearsal_cluster: RunningCluster) -> None:
    code, groups = _http(rehearsal_cluster, "GET", "/apis")
    assert code == 200
    coordination = next(g for g in groups["groups"] if g["name"] == "coordination.k8s.io")
    assert coordination["preferredVersion"] == {"groupVersion": "coordination.k8s.io/v1", "version": "v1"}
    code, group = _http(rehearsal_cluster, "GET", "/apis/coordination.k8s.io")
    assert code == 200 and group["kind"] == "APIGroup" and group["name"] == "coordination.k8s.io"
    code, rl = _http(rehearsal_cluster, "GET", "/apis/coordination.k8s.io/v1")
    assert code == 200 and rl["kind"] == "APIResourceList" and rl["groupVersion"] == "coordination.k8s.io/v1"
    (leases,) = rl["resources"]
    assert leases == {"name": "leases", "singularName": "lease", "namespaced": True, "kind": "Lease",
                      "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}
    code, _ = _http(rehearsal_cluster, "GET", "/apis/coordination.k8s.io/v2")
    assert code == 404


@needs_kubectl
def test_kubectl_api_resources_knows_leases(kubectl: KubectlRunner) -> None:
    rows = _rows(kubectl("api-resources", "--api-group=coordination.k8s.io").stdout)
    assert rows[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert rows[1] == ["leases", "coordination.k8s.io/v1", "true", "Lease"]


# ----- kubectl -----------------------------------------------------------------------------------------------
@needs_kubectl
def test_kubectl_get_leases_prints_holder_and_age(kubectl: KubectlRunner, rehearsal_cluster: RunningCluster) -> None:
    for body in (_lease("web-change", "alice@ops-1 CHG-2026-0042"), _lease("idle", None)):
        proc = subprocess.run([KUBECTL, "create", "-n", "web", "-f", "-"], input=json.dumps(body), env=rehearsal_cluster.env(),
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"lease.coordination.k8s.io/{body['metadata']['name']} created"
    lines = kubectl("get", "leases", "-n", "web").stdout.splitlines()
    assert re.split(r"\s+", lines[0].strip()) == ["NAME", "HOLDER", "AGE"]
    holder_at = lines[0].index("HOLDER")
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"idle", "web-change"}
    assert rows["web-change"][holder_at:].startswith("alice@ops-1 CHG-2026-0042")
    assert rows["idle"][holder_at:holder_at + 10].strip() == ""  # a Lease nobody holds prints an empty HOLDER
    assert all(re.fullmatch(r"\d+s", line.split()[-1]) for line in rows.values())
    # all namespaces: the NAMESPACE column comes first, as for every namespaced kind
    assert _rows(kubectl("get", "leases", "-A").stdout)[0] == ["NAMESPACE", "NAME", "HOLDER", "AGE"]


@needs_kubectl
def test_kubectl_get_lease_yaml_patch_and_delete(kubectl: KubectlRunner, rehearsal_cluster: RunningCluster) -> None:
    code, created = _http(rehearsal_cluster, "POST", LEASES, _lease("web-change", leaseTransitions=2))
    assert code == 201
    doc = yaml.safe_load(kubectl("get", "lease", "web-change", "-n", "web", "-o", "yaml").stdout)
    assert doc["apiVersion"] == "coordination.k8s.io/v1" and doc["kind"] == "Lease"
    assert doc["metadata"]["namespace"] == "web" and doc["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert doc["spec"] == {"holderIdentity": "alice", "leaseDurationSeconds": 15, "leaseTransitions": 2,
                           "renewTime": "2026-11-21T10:00:00.123456Z"}
    out = kubectl("patch", "lease", "web-change", "-n", "web", "-p", '{"spec":{"holderIdentity":"bob"}}').stdout
    assert out.strip() == "lease.coordination.k8s.io/web-change patched"
    assert rehearsal_cluster.get("leases", "web", "web-change")["spec"]["holderIdentity"] == "bob"
    assert kubectl("delete", "lease", "web-change", "-n", "web").stdout.strip() == 'lease.coordination.k8s.io "web-change" deleted'
    gone = kubectl("get", "lease", "web-change", "-n", "web", check=False)
    assert gone.returncode == 1
    assert 'Error from server (NotFound): leases.coordination.k8s.io "web-change" not found' in gone.stderr


# ----- writes and their errors (raw HTTP: the exact Status objects) -------------------------------------------
def test_create_of_an_existing_name_is_409_already_exists(rehearsal_cluster: RunningCluster) -> None:
    assert _http(rehearsal_cluster, "POST", LEASES, _lease("web-change"))[0] == 201
    code, status = _http(rehearsal_cluster, "POST", LEASES, _lease("web-change", "bob"))
    assert code == 409
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": 'leases.coordination.k8s.io "web-change" already exists', "reason": "AlreadyExists",
                      "details": {"name": "web-change", "group": "coordination.k8s.io", "kind": "leases"}, "code": 409}
    assert rehearsal_cluster.get("leases", "web", "web-change")["spec"]["holderIdentity"] == "alice"


def test_update_with_a_stale_resource_version_is_409_conflict(rehearsal_cluster: RunningCluster) -> None:
    rc = rehearsal_cluster
    _, first = _http(rc, "POST", LEASES, _lease("web-change"))
    mine, theirs = json.loads(json.dumps(first)), json.loads(json.dumps(first))
    theirs["spec"]["holderIdentity"] = "bob"
    code, won = _http(rc, "PUT", f"{LEASES}/web-change", theirs)
    assert code == 200 and int(won["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    mine["spec"]["holderIdentity"] = "carol"  # still carrying the version it read before bob's write
    code, status = _http(rc, "PUT", f"{LEASES}/web-change", mine)
    assert code == 409
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": 'Operation cannot be fulfilled on leases.coordination.k8s.io "web-change": the object has '
                                 "been modified; please apply your changes to the latest version and try again",
                      "reason": "Conflict", "details": {"name": "web-change", "group": "coordination.k8s.io", "kind": "leases"},
                      "code": 409}
    assert rc.get("leases", "web", "web-change")["spec"]["holderIdentity"] == "bob"
    # the same write on the version just read goes through
    mine["metadata"]["resourceVersion"] = won["metadata"]["resourceVersion"]
    assert _http(rc, "PUT", f"{LEASES}/web-change", mine)[0] == 200
    assert rc.get("leases", "web", "web-change")["spec"]["holderIdentity"] == "carol"


def test_update_without_a_resource_version_is_refused(rehearsal_cluster: RunningCluster) -> None:
    """Leases allow no unconditional update: a PUT must say which version it replaces."""
    _http(rehearsal_cluster, "POST", LEASES, _lease("web-change"))
    code, status = _http(rehearsal_cluster, "PUT", f"{LEASES}/web-change", _lease("web-change", "bob"))
    assert code == 422 and status["reason"] == "Invalid"
    assert status["message"] == ('leases.coordination.k8s.io "web-change" is invalid: metadata.resourceVersion: '
                                 "Invalid value: 0x0: must be specified for an update")
    assert status["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
                                            "message": "Invalid value: 0x0: must be specified for an update"}]
    assert rehearsal_cluster.get("leases", "web", "web-change")["spec"]["holderIdentity"] == "alice"


def test_put_creates_a_missing_lease_unless_it_names_a_uid(rehearsal_cluster: RunningCluster) -> None:
    rc = rehearsal_cluster
    code, made = _http(rc, "PUT", f"{LEASES}/fresh", _lease("fresh"))
    assert code == 201 and made["metadata"]["uid"] and rc.get("leases", "web", "fresh") is not None
    # a writer that read the lease before it was deleted carries its uid: it must not bring it back
    stale = json.loads(json.dumps(made))
    assert _http(rc, "DELETE", f"{LEASES}/fresh")[0] == 200
    code, status = _http(rc, "PUT", f"{LEASES}/fresh", stale)
    assert code == 409 and status["reason"] == "Conflict"
    assert f"Precondition failed: UID in precondition: {made['metadata']['uid']}, UID in object meta: " in status["message"]
    assert rc.get("leases", "web", "fresh") is None


def test_patch_carrying_a_stale_resource_version_is_409(rehearsal_cluster: RunningCluster) -> None:
    rc = rehearsal_cluster
    _, first = _http(rc, "POST", LEASES, _lease("web-change"))
    rv = first["metadata"]["resourceVersion"]
    code, patched = _http(rc, "PATCH", f"{LEASES}/web-change", {"metadata": {"resourceVersion": rv}, "spec": {"holderIdentity": "bob"}},
                          ctype="application/merge-patch+json")
    assert code == 200 and patched["spec"]["holderIdentity"] == "bob"
    code, status = _http(rc, "PATCH", f"{LEASES}/web-change", {"metadata": {"resourceVersion": rv}, "spec": {"holderIdentity": "carol"}},
                         ctype="application/merge-patch+json")
    assert code == 409 and status["reason"] == "Conflict"
    # a patch that names no version applies to whatever is there
    code, patched = _http(rc, "PATCH", f"{LEASES}/web-change", {"spec": {"leaseTransitions": 1}}, ctype="application/merge-patch+json")
    assert code == 200 and patched["spec"] == {**first["spec"], "holderIdentity": "bob", "leaseTransitions": 1}


def test_delete_honours_preconditions(rehearsal_cluster: RunningCluster) -> None:
    rc = rehearsal_cluster
    _, first = _http(rc, "POST", LEASES, _lease("web-change"))
    _, second = _http(rc, "PUT", f"{LEASES}/web-change", {**first, "spec": {**first["spec"], "holderIdentity": "bob"}})
    code, status = _http(rc, "DELETE", f"{LEASES}/web-change",
                         {"kind": "DeleteOptions", "apiVersion": "v1",
                          "preconditions": {"resourceVersion": first["metadata"]["resourceVersion"]}})
    assert code == 409 and status["reason"] == "Conflict"
    assert (f"Precondition failed: ResourceVersion in precondition: {first['metadata']['resourceVersion']}, "
            f"ResourceVersion in object meta: {second['metadata']['resourceVersion']}") in status["message"]
    assert rc.get("leases", "web", "web-change") is not None
    code, status = _http(rc, "DELETE", f"{LEASES}/web-change",
                         {"preconditions": {"resourceVersion": second["metadata"]["resourceVersion"], "uid": first["metadata"]["uid"]}})
    assert code == 200 and status["status"] == "Success" and rc.get("leases", "web", "web-change") is None


def test_micro_times_are_parsed_as_the_api_server_parses_them(rehearsal_cluster: RunningCluster) -> None:
    rc = rehearsal_cluster
    # six fractional digits and any offset: stored in UTC
    code, made = _http(rc, "POST", LEASES, _lease("a", renewTime="2026-11-21T12:00:00.000001+02:00",
                                                  acquireTime="2026-11-21T10:00:00.500000Z"))
    assert code == 201
    assert made["spec"]["renewTime"] == "2026-11-21T10:00:00.000001Z" and made["spec"]["acquireTime"] == "2026-11-21T10:00:00.500000Z"
    # what Python's isoformat() writes for a whole second is not a MicroTime
    code, status = _http(rc, "POST", LEASES, _lease("b", renewTime="2026-11-21T10:00:00+00:00"))
    assert code == 400 and status["reason"] == "BadRequest"
    assert status["message"] == ('Lease in version "v1" cannot be handled as a Lease: parsing time "2026-11-21T10:00:00+00:00" as '
                                 '"2006-01-02T15:04:05.000000Z07:00": cannot parse "+00:00" as ".000000"')
    code, status = _http(rc, "POST", LEASES, _lease("c", leaseDurationSeconds="15"))
    assert code == 400
    assert "cannot unmarshal string into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32" in status["message"]
    assert rc.get("leases", "web", "b") is None and rc.get("leases", "web", "c") is None


def test_lease_spec_is_validated(rehearsal_cluster: RunningCluster) -> None:
    code, status = _http(rehearsal_cluster, "POST", LEASES, _lease("bad", leaseDurationSeconds=0, leaseTransitions=-1))
    assert code == 422 and status["reason"] == "Invalid"
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.leaseDurationSeconds", "spec.leaseTransitions"]
    assert status["message"] == ('Lease.coordination.k8s.io "bad" is invalid: [spec.leaseDurationSeconds: Invalid value: 0: must be '
                                 "greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0]")


def test_forbidden_fault_answers_403_for_leases(rehearsal_cluster: RunningCluster) -> None:
    rehearsal_cluster.faults.forbid("leases")
    code, status = _http(rehearsal_cluster, "GET", LEASES)
    assert code == 403 and status["reason"] == "Forbidden"
    assert status["message"] == ('leases.coordination.k8s.io is forbidden: User "system:anonymous" cannot list resource "leases" '
                                 'in API group "coordination.k8s.io" in the namespace "web"')
    rehearsal_cluster.faults.allow("leases")
    assert _http(rehearsal_cluster, "GET", LEASES)[0] == 200


def test_forbidden_for_one_user_answers_403_to_that_users_token_only(rehearsal_cluster: RunningCluster) -> None:
    rehearsal_cluster.faults.forbid("leases", user="bob")
    code, status = _http(rehearsal_cluster, "GET", LEASES, token="bob")
    assert code == 403 and status["message"] == (
        'leases.coordination.k8s.io is forbidden: User "bob" cannot list resource "leases" in API group "coordination.k8s.io" '
        'in the namespace "web"')
    assert _http(rehearsal_cluster, "GET", LEASES)[0] == 200  # anonymous
    assert _http(rehearsal_cluster, "GET", LEASES, token="alice")[0] == 200
    assert _http(rehearsal_cluster, "GET", "/api/v1/namespaces/web/pods", token="bob")[0] == 200  # the rest is bob's
    rehearsal_cluster.faults.allow("leases", user="bob")
    assert _http(rehearsal_cluster, "GET", LEASES, token="bob")[0] == 200


# ----- the official client -----------------------------------------------------------------------------------
def test_official_client_round_trip_and_conflict(coord: client.CoordinationV1Api) -> None:
    made = coord.create_namespaced_lease("web", client.V1Lease(
        metadata=client.V1ObjectMeta(name="web-change", annotations={"opsconsole.io/change": "CHG-1"}),
        spec=client.V1LeaseSpec(holder_identity="alice", lease_duration_seconds=15)))
    assert made.spec.holder_identity == "alice" and made.metadata.annotations == {"opsconsole.io/change": "CHG-1"}
    read = coord.read_namespaced_lease("web-change", "web")
    read.spec.holder_identity = "bob"
    replaced = coord.replace_namespaced_lease("web-change", "web", read)
    assert replaced.spec.holder_identity == "bob" and replaced.metadata.resource_version != made.metadata.resource_version
    made.spec.holder_identity = "carol"
    with pytest.raises(ApiException) as e:
        coord.replace_namespaced_lease("web-change", "web", made)
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "Conflict"
    with pytest.raises(ApiException) as e:
        coord.create_namespaced_lease("web", {"metadata": {"name": "web-change"}})
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "AlreadyExists"
    everywhere = coord.list_lease_for_all_namespaces()
    assert [(i.metadata.namespace, i.metadata.name) for i in everywhere.items] == [("web", "web-change")]
    assert everywhere.kind == "LeaseList" and everywhere.api_version == "coordination.k8s.io/v1"
    coord.delete_namespaced_lease("web-change", "web")
    assert coord.list_namespaced_lease("web").items == []


def test_official_client_watch_sees_changes_in_order(coord: client.CoordinationV1Api) -> None:
    start = coord.list_namespaced_lease("web").metadata.resource_version
    made = coord.create_namespaced_lease("web", {"metadata": {"name": "web-change"}, "spec": {"holderIdentity": "alice"}})
    made.spec.holder_identity = "bob"
    coord.replace_namespaced_lease("web-change", "web", made)
    coord.delete_namespaced_lease("web-change", "web")
    seen: list[tuple[str, str | None]] = []
    w = watch.Watch()
    for ev in w.stream(coord.list_namespaced_lease, "web", resource_version=start, timeout_seconds=5):
        seen.append((ev["type"], ev["object"].spec.holder_identity))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "alice"), ("MODIFIED", "bob"), ("DELETED", "bob")]

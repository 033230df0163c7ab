"""The official ``kubernetes`` client against the rehearsal cluster: list+watch semantics, errors, models."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from kubesim.testing import RunningCluster


@pytest.fixture
def api(rehearsal_cluster: RunningCluster) -> Iterator[client.ApiClient]:
    c = config.new_client_from_config(config_file=str(rehearsal_cluster.kubeconfig), context="rehearsal")
    yield c
    c.close()


def _restart(apps: client.AppsV1Api, name: str = "web", ns: str = "web") -> None:
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": time.strftime("%Y-%m-%dT%H:%M:%S%z")}}}}}
    apps.patch_namespaced_deployment(name, ns, body)


def _settled(rc: RunningCluster, ns: str = "web", name: str = "web") -> bool:
    d = rc.get("deployments", ns, name)
    st = d["status"]
    pods = rc.store.list("pods", ns)
    return (st.get("observedGeneration") == d["metadata"]["generation"] and st.get("updatedReplicas") == d["spec"]["replicas"]
            and st.get("availableReplicas") == d["spec"]["replicas"] and st.get("replicas") == d["spec"]["replicas"]
            and len(pods) == d["spec"]["replicas"])


class Collector:
    """A list+watch loop like the console's: resumes from the last version after drops, relists on 410."""

    def __init__(self, core: client.CoreV1Api, ns: str) -> None:
        self.core, self.ns = core, ns
        self.events: list[tuple[str, str, str]] = []  # (type, name, resourceVersion)
        self.list_rv = ""
        self.rv = ""
        self.drops = self.relists = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def relist(self) -> None:
        lst = self.core.list_namespaced_pod(self.ns)
        self.rv = lst.metadata.resource_version
        if not self.list_rv:
            self.list_rv = self.rv

    def run(self) -> None:
        self.relist()
        while not self.stop.is_set():
            w = watch.Watch()
            try:
                for ev in w.stream(self.core.list_namespaced_pod, self.ns, resource_version=self.rv, allow_watch_bookmarks=True,
                                   timeout_seconds=5, _request_timeout=(2, 10)):
                    if ev["type"] != "BOOKMARK":
                        md = ev["raw_object"]["metadata"]
                        self.events.append((ev["type"], md["name"], md["resourceVersion"]))
                    self.rv = w.resource_version
                    if self.stop.is_set():
                        break
            except ApiException as e:
                if e.status != 410:
                    raise
                self.relists += 1
                self.relist()
            except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError):
                self.drops += 1


def _truth(rc: RunningCluster, since: str, ns: str = "web") -> list[tuple[str, str, str]]:
    return [(e.type, e.obj["metadata"]["name"], e.obj["metadata"]["resourceVersion"])
            for e in rc.store.history_since(int(since), "pods") if e.obj["metadata"].get("namespace") == ns]


def test_list_then_watch_sees_every_change_once(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    rc = rehearsal_cluster
    col = Collector(client.CoreV1Api(api), "web")
    col.thread.start()
    rc.wait_for(lambda: col.list_rv, what="initial list")
    _restart(client.AppsV1Api(api))
    rc.wait_for(lambda: _settled(rc), what="rollout settled", timeout=30)
    truth = _truth(rc, col.list_rv)
    rc.wait_for(lambda: len(col.events) >= len(truth), what="watcher caught up")
    col.stop.set()
    assert len(truth) > 10
    assert col.events == truth  # in order, nothing missing, nothing twice
    assert {t for t, _, _ in truth} == {"ADDED", "MODIFIED", "DELETED"}


def test_dropped_watches_resume_without_loss(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    rc = rehearsal_cluster
    rc.faults.drop_watches_every = 0.3
    col = Collector(client.CoreV1Api(api), "web")
    col.thread.start()
    rc.wait_for(lambda: col.list_rv, what="initial list")
    _restart(client.AppsV1Api(api))
    rc.wait_for(lambda: _settled(rc), what="rollout settled", timeout=30)
    _restart(client.AppsV1Api(api))
    rc.wait_for(lambda: _settled(rc) and col.drops >= 3, what="second rollout and drops", timeout=30)
    truth = _truth(rc, col.list_rv)
    rc.wait_for(lambda: len(col.events) >= len(truth), what="watcher caught up")
    col.stop.set()
    assert col.relists == 0
    assert col.events == truth


def test_too_old_version_gets_410_and_relist_recovers(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    rc = rehearsal_cluster
    core = client.CoreV1Api(api)
    old_rv = core.list_namespaced_pod("web").metadata.resource_version
    _restart(client.AppsV1Api(api))
    rc.wait_for(lambda: _settled(rc), what="rollout settled", timeout=30)
    rc.store.compact()
    with pytest.raises(ApiException) as err:
        for _ in watch.Watch().stream(core.list_namespaced_pod, "web", resource_version=old_rv, _request_timeout=(2, 10)):
            pass
    assert err.value.status == 410
    # raw stream shows the real shape: an ERROR event carrying an Expired Status
    resp = core.list_namespaced_pod("web", watch=True, resource_version=old_rv, _preload_content=False, _request_timeout=(2, 10))
    ev = json.loads(resp.data.decode().splitlines()[0])
    assert ev["type"] == "ERROR" and ev["object"]["code"] == 410 and ev["object"]["reason"] == "Expired"
    # relist and watch again from the fresh version: works
    col = Collector(core, "web")
    col.thread.start()
    rc.wait_for(lambda: col.list_rv, what="relist")
    core.delete_namespaced_pod(rc.store.list("pods", "web")[0]["metadata"]["name"], "web")
    rc.wait_for(lambda: any(t == "DELETED" for t, _, _ in col.events), what="deletion seen after relist")
    col.stop.set()


def test_expire_fault_forces_relist(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    rc = rehearsal_cluster
    rc.faults.expire_watches(1)
    col = Collector(client.CoreV1Api(api), "web")
    col.thread.start()
    rc.wait_for(lambda: col.relists == 1, what="a relist after the injected 410")
    _restart(client.AppsV1Api(api))
    rc.wait_for(lambda: _settled(rc), what="rollout settled", timeout=30)
    rc.wait_for(lambda: any(t == "DELETED" for t, _, _ in col.events), what="changes after relist")
    col.stop.set()


def test_bookmarks_and_timeout(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map("web").metadata.resource_version
    start = time.monotonic()
    # Reading to the end returns only because the server ends the stream: its bookmarks keep the read timeout away.
    resp = core.list_namespaced_config_map("web", watch=True, resource_version=rv, allow_watch_bookmarks=True,
                                           timeout_seconds=2, _preload_content=False, _request_timeout=(2, 10))
    lines = [json.loads(x) for x in resp.data.decode().splitlines() if x]
    # Held open for the whole timeout (a lower bound, which a busy machine only makes longer); how soon after it the
    # stream ends is a figure in benchmarks/promptness.py.
    assert time.monotonic() - start >= 1.9
    assert lines and all(e["type"] == "BOOKMARK" for e in lines)
    assert int(lines[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv)


def test_models_deserialize_strictly(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    pods = core.list_pod_for_all_namespaces()
    assert len(pods.items) == 10 and all(p.status.container_statuses[0].ready for p in pods.items)
    nodes = core.list_node()
    assert [n.status.node_info.kubelet_version for n in nodes.items] == ["v1.32.4"] * 3
    assert core.list_event_for_all_namespaces().items[0].involved_object.name
    assert core.list_namespaced_persistent_volume_claim("data").items[0].status.capacity["storage"] == "10Gi"
    assert core.list_namespaced_service("web").items[0].spec.cluster_ip.startswith("10.96.")
    assert core.read_namespaced_secret("web-credentials", "web").data["API_TOKEN"]
    d = apps.read_namespaced_deployment("web", "web")
    assert {c.type: c.reason for c in d.status.conditions} == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    sts = apps.read_namespaced_stateful_set("postgres", "data")
    assert sts.status.current_revision == sts.status.update_revision
    ds = apps.read_namespaced_daemon_set("node-exporter", "kube-system")
    assert ds.status.desired_number_scheduled == ds.status.number_available == 3
    assert apps.read_namespaced_deployment_scale("web", "web").status.selector == "app=web"


def _status(e: ApiException) -> dict[str, Any]:
    return json.loads(e.body)


def test_errors_are_status_objects(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    with pytest.raises(ApiException) as e:
        apps.read_namespaced_deployment("nope", "web")
    assert e.value.status == 404 and _status(e.value)["reason"] == "NotFound" and _status(e.value)["kind"] == "Status"
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("web", {"metadata": {"name": "web-config"}})
    assert e.value.status == 409 and _status(e.value)["reason"] == "AlreadyExists"
    cm = core.read_namespaced_config_map("web-config", "web")
    core.patch_namespaced_config_map("web-config", "web", {"data": {"LOG_LEVEL": "debug"}})
    stale = {"metadata": {"name": "web-config", "resourceVersion": cm.metadata.resource_version}, "data": {"X": "1"}}
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("web-config", "web", stale)
    assert e.value.status == 409 and _status(e.value)["reason"] == "Conflict"
    with pytest.raises(ApiException) as e:
        apps.patch_namespaced_deployment("web", "web", {"spec": {"replicas": -1}})
    body = _status(e.value)
    assert e.value.status == 422 and body["reason"] == "Invalid" and body["details"]["causes"][0]["field"] == "spec.replicas"
    rehearsal_cluster.faults.forbid("configmaps")
    with pytest.raises(ApiException) as e:
        core.list_namespaced_config_map("web")
    assert e.value.status == 403 and _status(e.value)["reason"] == "Forbidden"
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}})
    assert e.value.status in (403, 404)


def test_selectors_and_paging(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    names = lambda **kw: sorted(p.metadata.name for p in core.list_pod_for_all_namespaces(**kw).items)  # noqa: E731
    assert len(names(label_selector="app=web")) == 3
    assert len(names(label_selector="app in (web,postgres)")) == 5
    assert len(names(label_selector="app notin (web,postgres)")) == 5
    assert len(names(label_selector="app!=web")) == 7
    assert len(names(label_selector="k8s-app")) == 2
    assert len(names(label_selector="!app")) == 2
    assert names(field_selector="metadata.name=postgres-0") == ["postgres-0"]
    assert len(names(field_selector="metadata.namespace=kube-system")) == 5
    node = rehearsal_cluster.store.list("pods", "web")[0]["spec"]["nodeName"]
    assert all(p.spec.node_name == node for p in core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items)
    assert len(names(field_selector="status.phase=Running")) == 10
    assert names(field_selector="status.phase!=Running") == []
    seen, token = [], None
    while True:
        page = core.list_pod_for_all_namespaces(limit=3, _continue=token)
        seen += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert sorted(seen) == names() and len(seen) == 10


def test_logs_eviction_and_crashloop(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    rc = rehearsal_cluster
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    pod = rc.store.list("pods", "web")[0]["metadata"]["name"]
    text = core.read_namespaced_pod_log(pod, "web", tail_lines=3)
    assert len(text.splitlines()) == 3
    core.create_namespaced_pod_eviction(pod, "web", {"metadata": {"name": pod, "namespace": "web"}})
    assert rc.get("pods", "web", pod)["metadata"]["deletionTimestamp"]
    rc.wait_for(lambda: rc.get("pods", "web", pod) is None, what="evicted pod gone")
    rc.wait_for(lambda: _settled(rc), what="replacement ready")
    apps.patch_namespaced_deployment("web", "web", {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.local/web:1.5.0-crash"}]}}}})

    def crashing() -> bool:
        return any(p["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 2 for p in rc.store.list("pods", "web"))
    rc.wait_for(crashing, what="restarts rising", timeout=30)
    from kubesim.tables import pod_status
    states = {pod_status(p)[0] for p in rc.store.list("pods", "web")}
    assert "CrashLoopBackOff" in states or "Running" in states
    crash = next(p for p in rc.store.list("pods", "web") if p["spec"]["containers"][0]["image"].endswith("crash"))
    prev = core.read_namespaced_pod_log(crash["metadata"]["name"], "web", previous=True)
    assert "FATAL" in prev


def test_pvc_resize(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    rc = rehearsal_cluster
    core = client.CoreV1Api(api)
    core.patch_namespaced_persistent_volume_claim("data-postgres-0", "data", {"spec": {"resources": {"requests": {"storage": "20Gi"}}}})
    rc.wait_for(lambda: rc.get("persistentvolumeclaims", "data", "data-postgres-0")["status"]["capacity"]["storage"] == "20Gi",
                what="capacity follows the request")
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_persistent_volume_claim("data-postgres-0", "data", {"spec": {"resources": {"requests": {"storage": "5Gi"}}}})
    assert e.value.status == 422


def test_outage_refuses_then_recovers(rehearsal_cluster: RunningCluster, api: client.ApiClient) -> None:
    rc = rehearsal_cluster
    core = client.CoreV1Api(api)
    rc.host.go_down()
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.list_namespace(_request_timeout=(1, 2))
    rc.host.come_back()
    assert len(core.list_namespace().items) == 7


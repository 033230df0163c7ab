"""The dashboard against the rehearsal cluster: real watches, real kubectl, keys pressed through the pilot."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes import client
from textual.color import Color

from console.cluster.kube import KubeAccess
from console.cluster.watch_changes import Change
from console.config import Environment, Policy
from kubesim.kubelet import Timings
from kubesim.testing import RunningCluster, running_cluster
from screens.cluster import ClusterApp
from screens.widgets.cluster_view import ClusterView
from screens.widgets.object_detail import ObjectDetailScreen
from tests.support.screen import screen_text
from tests.support.wait import wait_on

KUBECTL = shutil.which("kubectl")
SIZE = (120, 40)


@pytest.fixture
def rc() -> Iterator[RunningCluster]:
    """The default scenario at 10x: a 3-replica rollout takes a few ticks of the 10 Hz refresh."""
    with running_cluster("default", speed=10.0, timings=Timings()) as handle:
        yield handle


@pytest.fixture
def kube(rc: RunningCluster) -> Iterator[KubeAccess]:
    access = KubeAccess(rc.kubeconfig)
    yield access
    access.close()


def kubectl(rc: RunningCluster, *args: str) -> str:
    if KUBECTL is None:
        pytest.skip("kubectl not on PATH")
    proc = subprocess.run([KUBECTL, "--request-timeout=10s", *args], env=rc.env(), capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def view_of(app: ClusterApp) -> ClusterView:
    return app.cluster_screen.view


async def started(app: ClusterApp, pilot: Any) -> ClusterView:
    view = view_of(app)
    await wait_on(pilot, lambda: view.handle is not None and len(view.pods.table.index) >= 10
                  and len(view.rollouts.table.index) == 4, timeout=60, what="the first list of pods and rollouts")
    return view


@pytest.fixture
async def running(kube: KubeAccess) -> AsyncIterator[tuple[ClusterApp, Any]]:
    app = ClusterApp(kube=kube, policy=Policy(), namespace=None)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        yield app, pilot


async def test_rollout_restart_shows_progressing_then_complete(rc: RunningCluster, kube: KubeAccess,
                                                               running: tuple[ClusterApp, Any]) -> None:
    app, pilot = running
    view = view_of(app)
    before = view.rollouts.table.index.get("web/Deployment/web")
    assert before.state == "complete" and before.revision == "1"
    # The rehearsal clock stands still while the rollout is looked at: its new pods are created but never get ready,
    # so the dashboard cannot miss the rollout in progress however slowly it is drawn.
    rc.set_speed(0)
    apps = client.AppsV1Api(kube.client_for(rc.context))
    apps.patch_namespaced_deployment("web", "web", {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}}}})
    seen: list[str] = []

    def state() -> str:
        row = view.rollouts.table.index.get("web/Deployment/web")
        if not seen or seen[-1] != row.state:
            seen.append(row.state)
        return row.state

    # Progressing starts with the controller yet to see the new spec, then the rollout itself.
    await wait_on(pilot, lambda: state() == "progressing" and "Waiting for deployment \"web\" rollout to finish"
                     in view.rollouts.table.index.get("web/Deployment/web").message, what="web's rollout in progress", interval=0.02)
    await wait_on(pilot, lambda: "Waiting for deployment \"web\" rollout to finish" in screen_text(app), what="the rollout on screen")
    rc.set_speed(10.0)
    await wait_on(pilot, lambda: state() == "complete" and view.rollouts.table.index.get("web/Deployment/web").revision == "2",
                     what="web to complete at revision 2", interval=0.02)
    assert seen == ["complete", "progressing", "complete"]
    text = screen_text(app)
    assert 'deployment "web" successfully rolled out' in text


async def test_bad_image_shows_failed_rollout_and_image_pull_backoff(rc: RunningCluster, kube: KubeAccess,
                                                                     running: tuple[ClusterApp, Any]) -> None:
    app, pilot = running
    view = view_of(app)
    apps = client.AppsV1Api(kube.client_for(rc.context))
    apps.patch_namespaced_deployment("web", "web", {"spec": {"progressDeadlineSeconds": 20, "template": {"spec": {
        "containers": [{"name": "web", "image": "registry.local/web:1.5.0-bad"}]}}}})
    row = await wait_on(pilot, lambda: (r := view.rollouts.table.index.get("web/Deployment/web")).state == "failed" and r,
                           what="web to fail its progress deadline", timeout=30)
    assert row.message == 'deployment "web" exceeded its progress deadline'
    assert row.severity == "error"
    pulls = await wait_on(pilot, lambda: [k for k in view.pods.table.index.visible_keys()
                                             if view.pods.table.index.get(k).status in ("ImagePullBackOff", "ErrImagePull")],
                             what="a pod in ImagePullBackOff")
    assert all(view.pods.table.index.get(k).severity == "error" for k in pulls)
    # On screen: the failed rollout is red, and the pod's reason is written out.
    await wait_on(pilot, lambda: "ImagePullBackOff" in screen_text(app) or "ErrImagePull" in screen_text(app),
                     what="the pull failure on screen")
    assert "exceeded its progress deadline" in screen_text(app)
    table = view.rollouts.table
    line = table.visible_rows().index(view.rollouts.table.index.get("web/Deployment/web"))
    strip = table.render_line(line + 1)
    error_colour = table.get_component_rich_style("live-table--error", partial=True).color
    name_seg = next(seg for seg in strip if seg.text.strip() == "web" and seg.style is not None)
    assert name_seg.style.color == error_colour
    # The events panel names objects as kubectl does: the kind in lower case (pod/web-…, not Pod/web-…).
    events = view.events.table.index
    pod_rows = await wait_on(pilot, lambda: [events.get(k) for k in events.visible_keys()
                                             if events.get(k).object.lower().startswith("pod/web-")],
                             what="an event about a web pod")
    objects = {r.object for r in pod_rows}
    assert all(o.startswith("pod/web-") for o in objects), objects
    listed = kubectl(rc, "get", "events", "-n", "web", "--no-headers", "-o", "custom-columns=OBJECT:.involvedObject.name")
    assert {o.split("/", 1)[1] for o in objects} <= set(listed.split())
    await wait_on(pilot, lambda: "pod/web-" in screen_text(app), what="a pod event on screen")


async def test_cordon_shows_scheduling_disabled(rc: RunningCluster, running: tuple[ClusterApp, Any]) -> None:
    app, pilot = running
    view = view_of(app)
    assert view.nodes.table.index.get("node-2").status == "Ready"
    assert "node/node-2 cordoned" in kubectl(rc, "cordon", "node-2")
    await wait_on(pilot, lambda: view.nodes.table.index.get("node-2").status == "Ready,SchedulingDisabled",
                     what="node-2 to show SchedulingDisabled")
    await wait_on(pilot, lambda: "Ready,SchedulingDisabled" in screen_text(app), what="SchedulingDisabled on screen")
    assert view.nodes.table.index.get("node-2").severity == "warn"
    # The pod count per node comes from the watched pods.
    expected = sum(1 for p in rc.store.list("pods") if p["spec"].get("nodeName") == "node-2")
    assert view.nodes.table.index.get("node-2").pods == expected


async def test_filter_and_sort_by_keys(running: tuple[ClusterApp, Any]) -> None:
    app, pilot = running
    view = view_of(app)
    pods = view.pods
    await pilot.press("2")
    assert app.focused is pods.table
    total = len(pods.table.index)
    await pilot.press("slash", *"web", "enter")
    names = [pods.table.index.get(k).name for k in pods.table.index.visible_keys()]
    assert names and all("web" in n for n in names) and len(names) == 3
    assert f"Pods [3/{total}]" in screen_text(app)
    await pilot.press("slash", "ctrl+a", "ctrl+k", *"!web", "enter")
    assert pods.table.index.visible_count == total - 3
    await pilot.press("slash", "ctrl+a", "ctrl+k", *"-l app=postgres", "enter")
    assert sorted(pods.table.index.get(k).name for k in pods.table.index.visible_keys()) == ["postgres-0", "postgres-1"]
    # The table filters as one types; a selector that does not parse is refused with a message, the box stays
    # open and marked, and the last filter that parsed ("-l app", typed on the way) stays in force.
    await pilot.press("slash", "ctrl+a", "ctrl+k", *"-l app in", "enter")
    await wait_on(pilot, lambda: any("selector" in str(n.message) for n in app._notifications),
                     what="the selector error notification")
    box = pods.query_one(".panel-filter")
    assert box.display and box.has_class("-bad-selector")
    assert pods.table.index.filter_text == "-l app"
    labelled = sum(1 for o in pods.cache.objects("pods") if "app" in (o["metadata"].get("labels") or {}))
    assert pods.table.index.visible_count == labelled < total  # coredns is labelled k8s-app
    await pilot.press("escape")  # closes the box
    await pilot.press("escape")  # clears the filter
    assert pods.table.index.visible_count == total
    # Sort: cycle to NODE, then reverse it.
    for _ in range(len(pods.COLUMNS)):
        if pods.table.sort_key == "node":
            break
        await pilot.press("s")
    assert pods.table.sort_key == "node"
    nodes = [r.node for r in pods.table.visible_rows()]
    assert nodes == sorted(nodes)
    await pilot.press("S")
    nodes = [r.node for r in pods.table.visible_rows()]
    assert nodes == sorted(nodes, reverse=True)
    assert "NODE▼" in screen_text(app)


async def test_enter_shows_yaml_and_pod_logs(running: tuple[ClusterApp, Any]) -> None:
    app, pilot = running
    view = view_of(app)
    await pilot.press("2")
    assert view.pods.table.move_cursor_to_key("data/postgres-0")
    await pilot.press("enter")
    detail = await wait_on(pilot, lambda: isinstance(app.screen, ObjectDetailScreen) and app.screen,
                              what="the details screen")
    assert "name: postgres-0" in detail.query_one("#detail-yaml-text").text
    assert "kind: Pod" in detail.query_one("#detail-yaml-text").text
    await wait_on(pilot, lambda: detail.logs_text is not None or detail.logs_error, what="the log tail")
    assert detail.logs_error is None, detail.logs_error
    assert detail.logs_text.strip()
    tabs = detail.query_one("#detail-tabs")
    await pilot.press("l")
    assert tabs.active == "detail-logs"
    assert detail.logs_text.splitlines()[-1] in screen_text(app)
    await pilot.press("y")
    assert tabs.active == "detail-yaml"
    await pilot.press("escape")
    await wait_on(pilot, lambda: app.screen is app.cluster_screen, what="back to the dashboard")


async def test_context_switch_shows_the_other_clusters_objects(running: tuple[ClusterApp, Any]) -> None:
    app, pilot = running
    view = view_of(app)
    assert "context rehearsal " in screen_text(app)
    await pilot.press("c")
    await wait_on(pilot, lambda: app.screen.__class__.__name__ == "ContextPicker", what="the context picker")
    await pilot.press("down", "enter")
    await wait_on(pilot, lambda: view.context == "rehearsal-b" and view.nodes.table.index.get("staging-node-1") is not None,
                     what="the other context's nodes")
    await wait_on(pilot, lambda: {view.pods.table.index.get(k).namespace for k in view.pods.table.index.visible_keys()}
                     == {"staging"}, what="only the other cluster's pods")
    assert view.nodes.table.index.get("node-1") is None
    assert "context rehearsal-b" in screen_text(app)
    # Namespace switch in the new context: the picker takes a typed name.
    await pilot.press("n")
    await wait_on(pilot, lambda: app.screen.__class__.__name__ == "NamespacePicker", what="the namespace picker")
    await pilot.press("ctrl+a", "ctrl+k", *"kube-system", "enter")
    await wait_on(pilot, lambda: view.namespace == "kube-system" and "namespace kube-system" in screen_text(app),
                     what="the namespace in the header")


async def test_production_context_gets_a_red_frame(kube: KubeAccess) -> None:
    policy = Policy(environments={"production": Environment(contexts=["rehearsal"], production=True),
                                  "staging": Environment(contexts=["rehearsal-b"])})
    app = ClusterApp(kube=kube, policy=policy, namespace=None)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = app.cluster_screen
        assert screen.has_class("-production")
        assert screen.styles.border_top[0] == "heavy"
        assert screen.styles.border_top[1] == Color.parse(app.theme_variables["error"])
        assert "PRODUCTION" in screen_text(app)
        screen.switch("rehearsal-b", None)
        await pilot.pause()
        assert not screen.has_class("-production")
        assert "PRODUCTION" not in screen_text(app) and "STAGING" in screen_text(app)


async def test_watch_state_and_data_age_when_not_live(rc: RunningCluster, running: tuple[ClusterApp, Any]) -> None:
    app, pilot = running
    view = view_of(app)
    # Live first (the app is shared with the module's other tests: one may have left the watch relisting).
    await wait_on(pilot, lambda: "● live" in str(view.pods.border_title), what="the pods panel live")
    # Down until the test brings it back, not for a fixed time: a busy machine cannot make the badges come too late.
    rc.host.go_down()
    await wait_on(pilot, lambda: "reconnecting" in str(view.pods.border_title), what="the reconnecting badge")
    await wait_on(pilot, lambda: "old" in str(view.pods.border_title), what="the data's age")
    assert "data " in screen_text(app)
    rc.host.come_back()
    await wait_on(pilot, lambda: "● live" in str(view.pods.border_title), what="live again", timeout=30)


async def test_a_failing_panel_does_not_take_the_dashboard_down(running: tuple[ClusterApp, Any]) -> None:
    app, pilot = running
    view = view_of(app)
    # A workload kind no rollout renderer knows arrives under a watched kind.
    odd = {"kind": "CronJob", "apiVersion": "batch/v1", "metadata": {"name": "odd", "namespace": "web"}}
    view.apply_changes([Change("deployments", "ADDED", "web/odd", odd)])
    await pilot.pause()
    assert view.rollouts.has_class("-error")
    assert "UnsupportedKindError" in str(view.rollouts.border_title)
    assert any("Rollouts" in str(n.message) for n in app._notifications)
    # The other panels keep working.
    before = len(view.pods.table.index)
    assert before >= 10 and not view.pods.has_class("-error")
    assert app.is_running

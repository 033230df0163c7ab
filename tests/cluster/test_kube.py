"""Cluster access: kubeconfig discovery and merging, contexts, cached per-context clients, and its errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes import client

from console.cluster.kube import (
    ContextInfo,
    KubeAccess,
    KubeconfigError,
    NoSuchContext,
    ServerUnreachable,
    kubeconfig_paths,
)
from kubesim import kubeconfig as simkc
from kubesim.testing import RunningCluster


def _node_names(api: client.ApiClient) -> list[str]:
    return sorted(n.metadata.name for n in client.CoreV1Api(api).list_node().items)


def test_contexts_and_current(rehearsal: RunningCluster, kube: KubeAccess) -> None:
    assert kube.contexts() == [
        ContextInfo("rehearsal", "rehearsal", "rehearsal", "default", rehearsal.host.url_for("rehearsal")),
        ContextInfo("rehearsal-b", "rehearsal-b", "rehearsal", "staging", rehearsal.host.url_for("b")),
    ]
    assert kube.current_context == kube.file_current_context == "rehearsal"
    assert kube.current_namespace == "default"
    assert kube.server_version() == "v1.32.4"


def test_switching_context_gives_the_other_clusters_client(rehearsal: RunningCluster, kube: KubeAccess) -> None:
    default_host = client.Configuration.get_default_copy().host
    main = kube.client_for()
    assert _node_names(main) == ["node-1", "node-2", "node-3"]
    other = kube.switch_context("rehearsal-b")
    assert kube.current_context == "rehearsal-b" and kube.current_namespace == "staging"
    assert _node_names(other) == ["staging-node-1"]
    assert [d.metadata.name for d in client.AppsV1Api(other).list_namespaced_deployment("staging").items] == ["web"]
    assert kube.client_for("rehearsal-b") is other and kube.client_for("rehearsal") is main  # one client per context
    kube.switch_namespace("kube-system")
    assert kube.current_namespace == "kube-system"
    kube.switch_namespace(None)
    assert kube.current_namespace == "staging"
    # The client library's global default was never touched: another cluster's client cannot leak into it.
    assert client.Configuration.get_default_copy().host == default_host
    assert rehearsal.url not in default_host
    assert _node_names(kube.client_for("rehearsal")) == ["node-1", "node-2", "node-3"]


def _write(path: Path, contexts: list[tuple[str, str, str]], current: str) -> Path:
    return simkc.write(path, [simkc.ContextSpec(*c) for c in contexts], current)


def test_kubeconfig_colon_list_merges_as_kubectl(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", [("prod", "https://prod.example:6443", "web")], "prod")
    b = _write(tmp_path / "b", [("prod", "https://elsewhere:6443", "other"), ("stage", "https://stage.example:6443", "web")], "stage")
    kube = KubeAccess(environ={"KUBECONFIG": os.pathsep.join([str(tmp_path / "missing"), str(a), str(b)])})
    assert [(c.name, c.server, c.namespace) for c in kube.contexts()] == [
        ("prod", "https://prod.example:6443", "web"),  # the first file to define a name wins
        ("stage", "https://stage.example:6443", "web"),
    ]
    assert kube.current_context == "prod"  # the first file that sets current-context decides
    assert [p.name for p in kube.paths] == ["missing", "a", "b"]
    # An explicit --kubeconfig wins over KUBECONFIG.
    only_b = KubeAccess(b, environ={"KUBECONFIG": str(a)})
    assert only_b.current_context == "stage" and [c.name for c in only_b.contexts()] == ["prod", "stage"]
    assert kubeconfig_paths(environ={}) == [Path("~/.kube/config").expanduser()]


def test_missing_context_is_one_sentence(kube: KubeAccess) -> None:
    with pytest.raises(NoSuchContext) as err:
        kube.client_for("production")
    assert str(err.value).startswith("context 'production' is not in the kubeconfig")
    assert "rehearsal, rehearsal-b" in str(err.value) and str(err.value).endswith(".")
    with pytest.raises(NoSuchContext):
        kube.switch_context("production")
    assert kube.current_context == "rehearsal"  # a failed switch changes nothing


@pytest.mark.parametrize("content, expected", [
    ("clusters: [oops\n", "is not valid YAML at line"),
    ("- just\n- a list\n", "expected a mapping"),
    (b"\xff\xfe not text", "is not UTF-8"),
    ("contexts: {a: 1}\n", "contexts must be a list"),
])
def test_unreadable_kubeconfig(tmp_path: Path, content: str | bytes, expected: str) -> None:
    path = tmp_path / "config"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(KubeconfigError, match=expected) as err:
        KubeAccess(path)
    assert str(path) in str(err.value)


def test_no_kubeconfig_and_a_directory(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="no kubeconfig found"):
        KubeAccess(tmp_path / "nothing-here")
    with pytest.raises(KubeconfigError, match="cannot be read"):
        KubeAccess(tmp_path)  # a directory exists but is not a file


def test_context_without_a_cluster_entry(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("current-context: lost\ncontexts:\n- name: lost\n  context: {cluster: gone, user: nobody}\n")
    kube = KubeAccess(path)
    assert kube.contexts() == [ContextInfo("lost", "gone", "nobody", "default", "")]
    with pytest.raises(KubeconfigError, match="context 'lost' cannot be used"):
        kube.client_for()


def test_unreachable_server(rehearsal: RunningCluster, kube: KubeAccess) -> None:
    rehearsal.host.go_down()
    with pytest.raises(ServerUnreachable) as err:
        kube.server_version(timeout=1.0)
    assert "context 'rehearsal'" in str(err.value) and rehearsal.url in str(err.value)
    rehearsal.host.come_back()
    assert kube.server_version() == "v1.32.4"

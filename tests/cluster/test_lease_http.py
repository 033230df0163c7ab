"""The change locks listed over plain HTTP (the dashboard banner's path) say what the official client's list says.

A real ``ChangeLock`` holds a Lease on the rehearsal cluster; ``KubeAccess.list_locks`` (plain HTTP there) and
``lease.list_locks`` (the official client) must give the same ``LockStatus`` list. A server that refuses or
does not answer is a ``KubeError`` with one sentence, as the banner expects.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cluster.kube import KubeAccess
from console.cluster.kubeconfig import KubeError
from console.cluster.lease import ChangeLock, list_locks
from console.cluster.lease_http import LeasesRefused, LeasesUnreachable, list_locks_http
from console.cluster.raw_http import HttpTransport
from kubesim.testing import RunningCluster
from tests.cluster.tls_api import make_pki, tls_api


def test_the_same_locks_as_the_official_client(rehearsal: RunningCluster, kube: KubeAccess) -> None:
    api = kube.client_for("rehearsal")
    lock = ChangeLock(api, host="ops-1", renew_every_s=5)
    lock.acquire("web-change", "web", "alice", "CHG-1", "restart", duration_s=30)
    try:
        assert isinstance(kube.transport_for("rehearsal"), HttpTransport)
        now = 1e10  # one instant for both, so "expired" is decided alike
        through_http = list_locks_http(kube.transport_for("rehearsal"), now)  # type: ignore[arg-type]
        through_client = list_locks(api, now)
        assert through_http == through_client
        assert [(s.lease.change, s.lease.operator, s.lease.step) for s in through_http] == [("CHG-1", "alice", "restart")]
        assert [s.lease.change for s in kube.list_locks("rehearsal")] == ["CHG-1"]
    finally:
        lock.release()
    assert kube.list_locks("rehearsal") == []


def test_a_refusing_or_silent_server_is_one_sentence(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with tls_api(pki) as api:
        def kube_for(mode: str, server: str | None = None) -> KubeAccess:
            path = tmp_path / f"kubeconfig-{mode}"
            path.write_text(json.dumps({
                "apiVersion": "v1", "kind": "Config", "current-context": "c",
                "clusters": [{"name": "k", "cluster": {"server": server or api.url(mode), "certificate-authority": str(pki.ca)}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
            return KubeAccess(path)

        with pytest.raises(LeasesRefused, match="refused to list Leases: 403 pods is forbidden"):
            kube_for("forbidden").list_locks("c", request_timeout_s=1.0)
        with pytest.raises(LeasesUnreachable, match="did not answer a list of Leases: timed out"):
            kube_for("silent").list_locks("c", request_timeout_s=1.0)
        with pytest.raises(LeasesUnreachable, match="not JSON"):
            kube_for("garbled").list_locks("c", request_timeout_s=1.0)
        with pytest.raises(KubeError, match="did not answer a list of Leases: connection refused"):
            kube_for("refused", "https://127.0.0.1:1").list_locks("c", request_timeout_s=1.0)

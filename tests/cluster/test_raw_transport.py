"""Which kubeconfigs the plain-HTTP transport takes, and that each auth form it takes works against a real TLS server.

``tls_api`` is an HTTPS server with a CA made for the test that checks client certificates and the
``Authorization`` header; the rehearsal cluster (plain HTTP, any token) could not tell a wrong credential
from a right one. What the transport leaves to the official client (exec plugins, auth providers, proxies) is
checked to take that path, and the exec case lists through it for real. A failing server ends in the same
watch status, word for word, through either transport.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.cluster.kube import KubeAccess
from console.cluster.kubeconfig import KubeconfigError, merge_kubeconfigs
from console.cluster.raw_endpoint import RawUnsupported, endpoint_for
from console.cluster.raw_http import HttpTransport
from console.cluster.watch import ClusterWatch
from console.cluster.watch_stream import KINDS, ApiStatusError, ClientTransport
from tests.cluster.tls_api import PODS, SLOW_PAGE_S, Pki, TlsApi, make_pki, tls_api
from tests.support.wait import wait_for

TIMEOUT = (5.0, 10.0)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": cluster}], "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "web"}}],
    }))
    return path


def transport_of(path: Path) -> Any:
    kube = KubeAccess(path)
    try:
        return kube.transport_for("c")
    finally:
        kube.close()


def list_pods(path: Path) -> list[dict[str, Any]]:
    transport = transport_of(path)
    assert isinstance(transport, HttpTransport)
    items, rv = transport.list(KINDS["pods"], None, timeout=TIMEOUT)
    assert rv == "10"
    return items


# ----- each auth form against the TLS server ---------------------------------------------------------------------


def test_ca_file_client_certificate_files_and_token(pki: Pki, tmp_path: Path) -> None:
    with tls_api(pki, authorization="Bearer s3cret", client_cert=True) as api:
        # Relative paths are read from the kubeconfig's own directory, as kubectl does.
        (tmp_path / "certs").mkdir()
        for p in (pki.ca, pki.client_cert, pki.client_key):
            (tmp_path / "certs" / p.name).write_bytes(p.read_bytes())
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "certificate-authority": "certs/ca.crt"},
                              {"client-certificate": "certs/client.crt", "client-key": "certs/client.key", "token": "s3cret"})
        items = list_pods(kc)
    assert [i["metadata"]["name"] for i in items] == [p["metadata"]["name"] for p in PODS]
    assert {(i["kind"], i["apiVersion"]) for i in items} == {("Pod", "v1")}  # filled in, as a watched object has them


def test_inline_ca_and_client_certificate_data(pki: Pki, tmp_path: Path) -> None:
    with tls_api(pki, client_cert=True) as api:
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "certificate-authority-data": _b64(pki.ca)},
                              {"client-certificate-data": _b64(pki.client_cert), "client-key-data": _b64(pki.client_key)})
        assert len(list_pods(kc)) == len(PODS)


def test_client_key_data_is_written_only_while_it_is_loaded(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_cert_chain`` reads files: the key goes to a private 0600 file that is gone once loaded."""
    seen: list[tuple[str, int, int]] = []
    real = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        seen.append((str(keyfile), os.stat(keyfile).st_mode & 0o777, os.stat(os.path.dirname(keyfile)).st_mode & 0o777))
        real(self, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": "https://127.0.0.1:1", "certificate-authority-data": _b64(pki.ca)},
                          {"client-certificate-data": _b64(pki.client_cert), "client-key-data": _b64(pki.client_key)})
    transport_of(kc)
    assert len(seen) == 1
    key_file, mode, dir_mode = seen[0]
    assert (mode, dir_mode) == (0o600, 0o700)
    assert not os.path.exists(key_file) and not os.path.exists(os.path.dirname(key_file))


def test_insecure_skip_tls_verify_and_token_file(pki: Pki, tmp_path: Path) -> None:
    with tls_api(pki, authorization="Bearer from-a-file") as api:
        (tmp_path / "token").write_text("from-a-file\n")
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "insecure-skip-tls-verify": True},
                              {"tokenFile": "token"})
        assert len(list_pods(kc)) == len(PODS)


def test_a_rotated_token_file_is_read_again(pki: Pki, tmp_path: Path) -> None:
    with tls_api(pki, authorization="Bearer first") as api:
        (tmp_path / "token").write_text("first\n")
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "certificate-authority": str(pki.ca)},
                              {"tokenFile": str(tmp_path / "token")})
        transport = transport_of(kc)
        assert len(transport.list(KINDS["pods"], None, timeout=TIMEOUT)[0]) == len(PODS)
        api.authorization = "Bearer second"
        (tmp_path / "token").write_text("second\n")
        assert len(transport.list(KINDS["pods"], None, timeout=TIMEOUT)[0]) == len(PODS)


def test_basic_auth(pki: Pki, tmp_path: Path) -> None:
    expected = "Basic " + base64.b64encode(b"alice:pa55").decode()
    with tls_api(pki, authorization=expected) as api:
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "certificate-authority": str(pki.ca)},
                              {"username": "alice", "password": "pa55"})
        assert len(list_pods(kc)) == len(PODS)


def test_a_wrong_credential_and_an_unknown_ca_are_refused(pki: Pki, tmp_path: Path) -> None:
    with tls_api(pki, authorization="Bearer s3cret") as api:
        wrong = write_kubeconfig(tmp_path / "wrong", {"server": api.url("ok"), "certificate-authority": str(pki.ca)},
                                 {"token": "guess"})
        with pytest.raises(ApiStatusError) as refused:
            list_pods(wrong)
        assert refused.value.status == 401
        untrusted = write_kubeconfig(tmp_path / "untrusted", {"server": api.url("ok")}, {"token": "s3cret"})  # system roots
        with pytest.raises(ssl.SSLCertVerificationError):
            list_pods(untrusted)


def test_a_server_that_closes_after_each_page(pki: Pki, tmp_path: Path) -> None:
    """The pages of one list share a connection; one the server closes is opened again for the next page, whose
    answer may then take as long as the read timeout allows (not just the connect timeout)."""
    with tls_api(pki) as api:
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("closing"), "certificate-authority": str(pki.ca)}, {})
        transport = transport_of(kc)
        pages: list[int] = []
        items, rv = transport.list(KINDS["pods"], None, timeout=(SLOW_PAGE_S / 3, 10.0), page_size=1,
                                   on_page=lambda p, first: pages.append(len(p)))
    assert ([i["metadata"]["name"] for i in items], rv) == ([p["metadata"]["name"] for p in PODS], "10")
    assert pages == [1, 2] and api.requests == ["closing", "closing"]  # the first page small, the later ones bigger


def test_watch_over_tls_resumes_from_the_list(pki: Pki, tmp_path: Path) -> None:
    """A ClusterWatch on the TLS server: listed, then live on a watch from the list's version."""
    with tls_api(pki, authorization="Bearer s3cret", client_cert=True) as api:
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "certificate-authority": str(pki.ca)},
                              {"client-certificate": str(pki.client_cert), "client-key": str(pki.client_key), "token": "s3cret"})
        cw = ClusterWatch(transport_of(kc), kinds=("pods",), server_timeout_s=5, read_timeout_s=8, backoff=(0.05, 0.2))
        cw.start()
        try:
            wait_for(lambda: cw.statuses()["pods"].resource_version == "11", what="the watch's bookmark")
            assert {o["metadata"]["name"] for o in cw.snapshot("pods")} == {p["metadata"]["name"] for p in PODS}
        finally:
            cw.stop()


# ----- what is left to the official client -----------------------------------------------------------------------


@pytest.mark.parametrize(("cluster", "user", "why"), [
    ({}, {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "cloud-login"}}, "uses exec"),
    ({}, {"auth-provider": {"name": "oidc", "config": {"id-token": "x"}}}, "uses auth-provider"),
    ({"proxy-url": "http://proxy:3128"}, {}, "sets proxy-url"),
    ({"tls-server-name": "api.internal"}, {}, "sets tls-server-name"),
])
def test_what_the_plain_transport_leaves_to_the_client(cluster: dict[str, Any], user: dict[str, Any], why: str,
                                                       tmp_path: Path) -> None:
    kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": "https://127.0.0.1:1", **cluster}, user)
    config, _ = merge_kubeconfigs([kc])
    with pytest.raises(RawUnsupported, match=why):
        endpoint_for(config, "c", environ={})


def test_a_proxy_in_the_environment_unless_no_proxy_names_the_server(tmp_path: Path) -> None:
    kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": "https://api.example.internal:6443"}, {"token": "t"})
    config, _ = merge_kubeconfigs([kc])
    with pytest.raises(RawUnsupported, match="proxy"):
        endpoint_for(config, "c", environ={"HTTPS_PROXY": "http://proxy:3128"})
    ep = endpoint_for(config, "c", environ={"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "localhost,.internal"})
    assert (ep.host, ep.port, ep.headers["Authorization"]) == ("api.example.internal", 6443, "Bearer t")


@pytest.mark.parametrize(("cluster", "user", "says"), [
    ({"certificate-authority-data": "not base64!"}, {}, "certificate-authority-data is not base64"),
    ({"certificate-authority": "missing-ca.crt"}, {}, "missing-ca.crt cannot be read"),
    ({}, {"client-certificate": "/nonexistent/client.crt", "client-key": "/nonexistent/client.key"}, "client.crt cannot be read"),
    ({"server": "ftp://x"}, {}, "no usable server URL"),
])
def test_a_kubeconfig_no_client_could_use_is_one_sentence(cluster: dict[str, Any], user: dict[str, Any], says: str,
                                                          tmp_path: Path) -> None:
    kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": "https://127.0.0.1:1", **cluster}, user)
    config, _ = merge_kubeconfigs([kc])
    with pytest.raises(KubeconfigError, match=says):
        endpoint_for(config, "c", environ={})


def test_an_exec_plugin_lists_through_the_official_client(pki: Pki, tmp_path: Path) -> None:
    """The fallback is taken and works: the plugin's token reaches the server through the official client."""
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": "from-the-plugin"}}
    with tls_api(pki, authorization="Bearer from-the-plugin") as api:
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "certificate-authority": str(pki.ca)},
                              {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                                        "args": ["-c", f"print({json.dumps(json.dumps(credential))})"]}})
        kube = KubeAccess(kc)
        try:
            transport = kube.transport_for("c")
            assert isinstance(transport, ClientTransport)
            items, rv = transport.list(KINDS["pods"], None, timeout=TIMEOUT)
        finally:
            kube.close()
    assert (len(items), rv) == (len(PODS), "10")


# ----- a failing server: the same status through either transport -------------------------------------------------


@pytest.fixture(scope="module")
def failing_api(pki: Pki) -> Iterator[TlsApi]:
    with tls_api(pki) as api:
        yield api


def _settled_status(transport: Any) -> tuple[str, str]:
    cw = ClusterWatch(transport, kinds=("pods",), server_timeout_s=1, read_timeout_s=1.5, connect_timeout_s=1.0,
                      list_timeout_s=0.4, backoff=(5.0, 5.0), forbidden_retry_s=5.0)
    cw.start()
    try:
        wait_for(lambda: cw.statuses()["pods"].state not in ("syncing", "stopped"), what="the list's failure")
        status = cw.statuses()["pods"]
        return status.state, status.message
    finally:
        cw.stop()


@pytest.mark.parametrize(("mode", "state", "says"), [
    ("unauthorized", "error", "401 Unauthorized"),
    ("forbidden", "forbidden", 'forbidden: pods is forbidden: User "alice"'),
    ("garbled", "error", "unreadable answer from the server"),
    ("silent", "reconnecting", "timed out"),
    ("refused", "reconnecting", "connection refused"),
])
def test_a_failing_server_shows_the_same_status_through_either_transport(failing_api: TlsApi, pki: Pki, tmp_path: Path,
                                                                         mode: str, state: str, says: str) -> None:
    server = "https://127.0.0.1:1" if mode == "refused" else failing_api.url(mode)
    kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": server, "certificate-authority": str(pki.ca)}, {"token": "t"})
    kube = KubeAccess(kc)
    try:
        raw = kube.transport_for("c")
        assert isinstance(raw, HttpTransport)
        through_raw = _settled_status(raw)
        through_client = _settled_status(ClientTransport(kube.client_for("c")))
    finally:
        kube.close()
    assert through_raw == through_client
    assert through_raw[0] == state and says in through_raw[1], through_raw

"""Which kubeconfigs the plain-HTTP transport takes, and that each auth form it takes works against a real TLS server.

``tls_api`` is an HTTPS server with a CA made for the test that checks client certificates and the
``Authorization`` header; the rehearsal cluster (plain HTTP, any token) could not tell a wrong credential
from a right one. Exec credential plugins are real executables written for each test (Python, counting their
runs in a file beside them). What the transport leaves to the official client (auth providers, interactive
plugins, proxies) is checked to take that path, and an interactive plugin lists through it for real. A failing
server ends in the same watch status, word for word, through either transport.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.cluster.exec_credential import FAILURE_HOLD_S, REFRESH_BEFORE_S, ExecAuth, ExecCredentialError, plugin_from
from console.cluster.kube import KubeAccess
from console.cluster.kubeconfig import KubeconfigError, merge_kubeconfigs
from console.cluster.raw_endpoint import RawEndpoint, RawUnsupported, endpoint_for
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


# ----- exec credential plugins, over plain HTTPS -------------------------------------------------------------------

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
# Each plugin counts its runs in ``runs`` beside it and keeps what it was given (argv, environment) in seen-N.json.
PREAMBLE = """\
import json, os, sys, pathlib
here = pathlib.Path(__file__).resolve().parent
runs = here / "runs"
n = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(n))
(here / f"seen-{n}.json").write_text(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ)}))
"""


def write_plugin(folder: Path, body: str) -> Path:
    """A real executable (Python, no shell) in ``folder``: the preamble, then ``body``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plugin"
    path.write_text(f"#!{sys.executable}\n{PREAMBLE}{textwrap.dedent(body)}")
    path.chmod(0o755)
    return path


def printing(status: dict[str, Any], api_version: str = V1) -> str:
    """A plugin body printing an ExecCredential with ``status``."""
    doc = {"apiVersion": api_version, "kind": "ExecCredential", "status": status}
    return f"print({json.dumps(json.dumps(doc))})\n"


def runs(folder: Path) -> int:
    return int((folder / "runs").read_text()) if (folder / "runs").exists() else 0


def seen(folder: Path, n: int = 1) -> dict[str, Any]:
    return dict(json.loads((folder / f"seen-{n}.json").read_text()))


def exec_user(command: str, api_version: str = V1, **more: Any) -> dict[str, Any]:
    return {"exec": {"apiVersion": api_version, "command": command, "interactiveMode": "IfAvailable", **more}}


def exec_endpoint(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> RawEndpoint:
    kc = write_kubeconfig(tmp_path / "kubeconfig", cluster or {"server": "https://127.0.0.1:1"}, user)
    config, _ = merge_kubeconfigs([kc])
    return endpoint_for(config, "c")


def test_an_exec_plugin_token_lists_over_plain_https(pki: Pki, tmp_path: Path) -> None:
    """The plugin's token reaches the server over the plain transport; the plugin got its args, its env and
    KUBERNETES_EXEC_INFO, was found from the kubeconfig's directory, and its credential (no expiry) is kept."""
    bin_dir = tmp_path / "bin"
    write_plugin(bin_dir, printing({"token": "from-the-plugin"}, V1BETA1))
    with tls_api(pki, authorization="Bearer from-the-plugin") as api:
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "certificate-authority": str(pki.ca)},
                              exec_user("bin/plugin", V1BETA1, args=["--region", "eu-west-1"],
                                        env=[{"name": "PLUGIN_GREETING", "value": "hello there"}]))
        transport = transport_of(kc)
        assert isinstance(transport, HttpTransport)
        for _ in range(2):
            items, rv = transport.list(KINDS["pods"], None, timeout=TIMEOUT)
            assert (len(items), rv) == (len(PODS), "10")
    assert runs(bin_dir) == 1
    given = seen(bin_dir)
    assert given["argv"] == ["--region", "eu-west-1"]
    assert given["env"]["PLUGIN_GREETING"] == "hello there"
    assert given["env"]["PATH"] == os.environ["PATH"]  # added to the console's environment, not replacing it
    assert json.loads(given["env"]["KUBERNETES_EXEC_INFO"]) == {"apiVersion": V1BETA1, "kind": "ExecCredential",
                                                                 "spec": {"interactive": False}}


def test_an_exec_plugin_on_path_with_cluster_info(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare command is looked up on PATH; ``provideClusterInfo`` puts the server and its CA into the request."""
    bin_dir = tmp_path / "path-bin"
    write_plugin(bin_dir, printing({"token": "t"}))
    (bin_dir / "plugin").rename(bin_dir / "cloud-login")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    ep = exec_endpoint(tmp_path, exec_user("cloud-login", provideClusterInfo=True),
                       {"server": "https://api.example:6443/base", "certificate-authority": str(pki.ca)})
    credential = ep.credential()
    assert ep.request_headers(credential)["Authorization"] == "Bearer t"
    assert "Bearer" not in repr(credential) and "'t'" not in repr(credential)  # the token is never in a repr (or log)
    info = json.loads(seen(bin_dir)["env"]["KUBERNETES_EXEC_INFO"])
    cluster = info["spec"].pop("cluster")
    assert info == {"apiVersion": V1, "kind": "ExecCredential", "spec": {"interactive": False}}
    assert cluster["server"] == "https://api.example:6443/base"
    assert base64.b64decode(cluster["certificate-authority-data"]) == pki.ca.read_bytes()


def test_an_exec_plugin_client_certificate(pki: Pki, tmp_path: Path) -> None:
    """A plugin giving a client certificate and key (PEM): the server, which demands one, lists."""
    write_plugin(tmp_path / "bin", printing({"clientCertificateData": pki.client_cert.read_text(),
                                             "clientKeyData": pki.client_key.read_text()}))
    with tls_api(pki, client_cert=True) as api:
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "certificate-authority": str(pki.ca)},
                              exec_user(str(tmp_path / "bin" / "plugin")))
        assert len(list_pods(kc)) == len(PODS)


def test_a_token_in_the_kubeconfig_wins_over_exec(tmp_path: Path) -> None:
    """As client-go: a user with a token (or basic auth, or a certificate) does not run its exec plugin."""
    ep = exec_endpoint(tmp_path, {**exec_user(str(tmp_path / "never-run")), "token": "static"})
    assert ep.exec_auth is None and ep.request_headers(ep.credential())["Authorization"] == "Bearer static"


def test_an_expired_credential_is_fetched_again_an_unexpired_one_is_not(tmp_path: Path) -> None:
    past, future = tmp_path / "past", tmp_path / "future"
    write_plugin(past, printing({"token": "t", "expirationTimestamp": "2000-01-01T00:00:00Z"}))
    write_plugin(future, printing({"token": "t", "expirationTimestamp": "2999-01-01T00:00:00Z"}))
    for folder in (past, future):
        ep = exec_endpoint(folder, exec_user(str(folder / "plugin")))
        for _ in range(3):
            assert ep.credential() is not None
    assert (runs(past), runs(future)) == (3, 1)


def test_a_credential_is_fetched_again_a_little_before_it_expires(tmp_path: Path) -> None:
    """With an injected clock: kept while well within its time, asked for again shortly before its end."""
    write_plugin(tmp_path, printing({"token": "t", "expirationTimestamp": "2030-01-01T12:00:00Z"}))
    end = datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.UTC).timestamp()
    now = [end - 3600.0]
    plugin = plugin_from(exec_user(str(tmp_path / "plugin"))["exec"], None, "context 'c'")
    auth = ExecAuth(plugin, "c", clock=lambda: now[0])
    first = auth.credential()
    assert (first.expires, auth.credential() is first, runs(tmp_path)) == (end, True, 1)
    now[0] = end - REFRESH_BEFORE_S / 2
    assert auth.credential() is not first and runs(tmp_path) == 2


def test_a_401_makes_the_plugin_run_once_more(pki: Pki, tmp_path: Path) -> None:
    """The plugin's Nth run gives token tN: the server wants t2, so the first answer (401) brings one refresh and
    one retry; a server that refuses the new token too gets the 401 after that single retry."""
    write_plugin(tmp_path / "bin", 'print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", '
                                   '"kind": "ExecCredential", "status": {"token": f"t{n}"}}))\n')
    with tls_api(pki, authorization="Bearer t2") as api:
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "certificate-authority": str(pki.ca)},
                              exec_user(str(tmp_path / "bin" / "plugin")))
        transport = transport_of(kc)
        assert len(transport.list(KINDS["pods"], None, timeout=TIMEOUT)[0]) == len(PODS)
        assert (runs(tmp_path / "bin"), api.requests) == (2, ["ok", "ok"])
        api.authorization = "Bearer never"
        with pytest.raises(ApiStatusError) as refused:
            transport.list(KINDS["pods"], None, timeout=TIMEOUT)
    assert refused.value.status == 401 and runs(tmp_path / "bin") == 3


def test_concurrent_requests_share_one_run(tmp_path: Path) -> None:
    """The dashboard's watch loops start together: one run of the plugin serves them all."""
    write_plugin(tmp_path, "import time; time.sleep(0.3)\n" + printing({"token": "t"}))
    ep = exec_endpoint(tmp_path, exec_user(str(tmp_path / "plugin")))
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(ep.request_headers(ep.credential())["Authorization"]))
               for _ in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert (got, runs(tmp_path)) == (["Bearer t"] * 7, 1)


@pytest.mark.parametrize(("body", "says"), [
    ('sys.stderr.write("the SSO session has expired; run cloud login\\n"); sys.exit(3)\n',
     "failed with exit status 3: the SSO session has expired; run cloud login"),
    ('print("{not json")\n', "printed something that is not JSON"),
    (printing({"token": "SECRET-TOKEN"}, V1BETA1), f"not the ExecCredential of {V1}"),
    ('print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "Status", "status": {"token": "SECRET-TOKEN"}}))\n',
     "printed a Status of"),
    (printing({"clientCertificateData": "SECRET-CERT"}), "a client certificate or key without the other"),
    (printing({"token": "SECRET-TOKEN", "clientCertificateData": "-----BEGIN CERTIFICATE-----\nSECRET\n",
               "clientKeyData": "-----BEGIN PRIVATE KEY-----\nSECRET\n"}), "client certificate or key that cannot be used"),
    (printing({}), "neither a token nor a client certificate"),
])
def test_a_failing_plugin_is_one_sentence(tmp_path: Path, body: str, says: str) -> None:
    write_plugin(tmp_path, body)
    ep = exec_endpoint(tmp_path, exec_user(str(tmp_path / "plugin")))
    with pytest.raises(ExecCredentialError) as failed:
        ep.credential()
    message = str(failed.value)
    assert message.startswith(f"context 'c': the credential plugin {tmp_path / 'plugin'} ") and says in message, message
    assert "SECRET" not in message and "\n" not in message


def test_a_missing_plugin_names_its_install_hint(tmp_path: Path) -> None:
    hint = "cloud-login is needed for this cluster.\nInstall it with: pipx install cloud-login"
    ep = exec_endpoint(tmp_path, exec_user("cloud-login-not-installed", installHint=hint))
    with pytest.raises(ExecCredentialError, match=r"^context 'c': the credential plugin cloud-login-not-installed cannot be "
                       r"run: cloud-login-not-installed is not found on PATH\. cloud-login is needed for this cluster\. "
                       r"Install it with: pipx install cloud-login$"):
        ep.credential()
    missing = exec_endpoint(tmp_path, exec_user("bin/missing"))
    with pytest.raises(ExecCredentialError, match=f"{tmp_path / 'bin' / 'missing'} is not found"):
        missing.credential()


def test_a_plugin_that_does_not_answer_is_killed(tmp_path: Path) -> None:
    """Run without a terminal and with a time limit: a plugin waiting for a login ends in a sentence, its
    children with it."""
    write_plugin(tmp_path, """\
        import subprocess, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        (here / "child").write_text(str(child.pid))
        time.sleep(60)
    """)
    plugin = plugin_from(exec_user(str(tmp_path / "plugin"))["exec"], None, "context 'c'")
    with pytest.raises(ExecCredentialError, match="gave no credential within 0.5 s"):
        ExecAuth(plugin, "c", timeout_s=0.5).credential()
    child = int((tmp_path / "child").read_text())
    wait_for(lambda: not _alive(child), what="the plugin's child killed with it")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie (killed, not yet reaped by its parent's parent) is gone too
        return f.read().split(")")[-1].split()[0] != "Z"


def test_a_plugin_still_running_when_the_console_exits_is_ended_with_it(tmp_path: Path) -> None:
    """The watch's threads are daemons: an interpreter that exits mid-run takes the plugin's session with it."""
    write_plugin(tmp_path, """\
        import time
        (here / "pid").write_text(str(os.getpid()))
        time.sleep(60)
    """)
    console = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""\
        import pathlib, threading, time
        from console.cluster.exec_credential import ExecAuth, ExecCredentialError, plugin_from
        plugin = plugin_from({{"command": {str(tmp_path / "plugin")!r}, "apiVersion": "{V1}"}}, None, "context 'c'")
        threading.Thread(target=ExecAuth(plugin, "c").credential, daemon=True).start()
        while not pathlib.Path({str(tmp_path / "pid")!r}).exists():
            time.sleep(0.02)
    """)], env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert console.wait(30) == 0
    plugin_pid = int((tmp_path / "pid").read_text())
    wait_for(lambda: not _alive(plugin_pid), what="the plugin ended with the console")


def test_a_failure_is_the_answer_for_a_while(tmp_path: Path) -> None:
    """Loops retrying within seconds of each other share one failed run; later the plugin is run again."""
    write_plugin(tmp_path, "sys.exit(1)\n")
    now = [1000.0]
    auth = ExecAuth(plugin_from(exec_user(str(tmp_path / "plugin"))["exec"], None, "context 'c'"), "c", clock=lambda: now[0])
    for _ in range(3):
        with pytest.raises(ExecCredentialError, match="exit status 1"):
            auth.credential()
    assert runs(tmp_path) == 1
    now[0] += FAILURE_HOLD_S + 1
    with pytest.raises(ExecCredentialError):
        auth.credential()
    assert runs(tmp_path) == 2


def test_a_failing_plugin_shows_in_the_watch_status(tmp_path: Path) -> None:
    """Through the dashboard's watch: the sentence as the reason it is reconnecting (shown as "cannot reach ...:
    <sentence>"), the loop alive and retrying, nothing crashed."""
    kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": "https://127.0.0.1:1"},
                          exec_user("cloud-login-not-installed", installHint="Install cloud-login."))
    state, message = _settled_status(transport_of(kc))
    assert state == "reconnecting"
    assert message == ("the credential plugin cloud-login-not-installed cannot be run: "  # the status names the context
                       "cloud-login-not-installed is not found on PATH. Install cloud-login")


# ----- what is left to the official client -----------------------------------------------------------------------


@pytest.mark.parametrize(("cluster", "user", "why"), [
    ({}, {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "cloud-login", "interactiveMode": "Always"}},
     "must be interactive"),
    ({}, {"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "cloud-login"}},
     "exec plugin of client.authentication.k8s.io/v1alpha1"),
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


def test_an_interactive_exec_plugin_lists_through_the_official_client(pki: Pki, tmp_path: Path) -> None:
    """``interactiveMode: Always`` is left to the official client (it runs the plugin before the dashboard takes the
    terminal), and that fallback works: the plugin's token reaches the server through it."""
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": "from-the-plugin"}}
    with tls_api(pki, authorization="Bearer from-the-plugin") as api:
        kc = write_kubeconfig(tmp_path / "kubeconfig", {"server": api.url("ok"), "certificate-authority": str(pki.ca)},
                              {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                                        "interactiveMode": "Always",
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

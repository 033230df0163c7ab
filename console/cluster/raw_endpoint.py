"""A kubeconfig context as what a plain HTTP client needs: the server's URL, a TLS context and the request headers.

The live dashboard lists and watches through the standard library (console/cluster/raw_http.py) so that it can
start listing before the official client has loaded (most of a second). That is only sound for the auth this
module understands; for anything else ``endpoint_for`` raises ``RawUnsupported`` and the caller uses the
official client, which handles it. Handled, as kubectl reads them:

- cluster: ``server`` (``https://`` or ``http://``), ``certificate-authority`` (a file; relative paths are read
  from the kubeconfig file's directory), ``certificate-authority-data`` (base64 PEM),
  ``insecure-skip-tls-verify``; with no CA given, the system's trusted roots.
- user: ``client-certificate`` / ``client-key`` (files) and their ``-data`` variants (base64 PEM, written to a
  private 0600 file in a private directory only for the moment ``load_cert_chain`` reads it), ``token``,
  ``tokenFile`` (read again for each request, so a rotated token is picked up), ``username`` / ``password``
  (basic auth), an ``exec`` credential plugin (v1 or v1beta1; console/cluster/exec_credential.py runs it, at
  the first request rather than here, and again when its credential expires or is refused), or nothing at all
  (anonymous). As in client-go, ``exec`` is not run when the user also gives a token, basic auth or a
  client certificate: those are sent instead.

Not handled, so left to the official client: ``auth-provider`` (OIDC, gcp, azure), an ``exec`` plugin with
``interactiveMode: Always`` (the dashboard owns the terminal when the plain path would run it; the official
client runs it while loading, before the dashboard starts) or an ``apiVersion`` other than v1/v1beta1,
``tls-server-name``, ``proxy-url``, and a proxy named by ``HTTPS_PROXY`` / ``HTTP_PROXY`` that applies to the
server (the client is given the proxy by neither, but it is the safe side).
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.cluster.exec_credential import API_VERSIONS, INTERACTIVE_MODES, ExecAuth, ExecCredential, ca_data, plugin_from
from console.cluster.kubeconfig import KubeconfigError, entry_path
from console.errors import OpsConsoleError

__all__ = ["RawEndpoint", "RawUnsupported", "endpoint_for"]

_UNSUPPORTED_USER = ("auth-provider",)
_UNSUPPORTED_CLUSTER = ("tls-server-name", "proxy-url")


class RawUnsupported(OpsConsoleError):
    """The context needs something only the official client does (an auth provider, an interactive plugin, a proxy)."""


@dataclass(frozen=True)
class RawEndpoint:
    """Where and how to send requests for one context."""

    scheme: str  # "https" or "http"
    host: str
    port: int
    base_path: str  # the server URL's path, without a trailing slash ("" for most servers)
    ssl_context: ssl.SSLContext | None  # None for http
    headers: Mapping[str, str] = field(default_factory=dict)
    server: str = ""  # the URL as the kubeconfig writes it, for messages
    token_file: Path | None = None  # read again for each request: such tokens are rotated (as kubectl re-reads it)
    exec_auth: ExecAuth | None = None  # the user's credential plugin, run when a request needs its credential

    def credential(self) -> ExecCredential | None:
        """The credential plugin's credential for the next request (running it when none is fresh), or None
        without one; raises ``ExecCredentialError`` when the plugin cannot give one."""
        return None if self.exec_auth is None else self.exec_auth.credential()

    def request_headers(self, credential: ExecCredential | None = None) -> dict[str, str]:
        """The headers of one request; a ``tokenFile``'s token as the file says now (kept from before if it cannot
        be read for a moment: a rotation replaces the file), or the plugin's ``credential`` token."""
        headers = dict(self.headers)
        if self.token_file is not None:
            try:
                token = self.token_file.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                token = ""
            if token:
                headers["Authorization"] = f"Bearer {token}"
        if credential is not None and credential.token:
            headers["Authorization"] = f"Bearer {credential.token}"
        return headers

    def tls_context(self, credential: ExecCredential | None = None) -> ssl.SSLContext | None:
        """The TLS context of a new connection: the plugin's client certificate's when it gave one."""
        if credential is not None and credential.ssl_context is not None:
            return credential.ssl_context
        return self.ssl_context


def _b64(value: Any, what: str, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError(f"{where}: {what} is not base64.") from None


def _read(path: Path, what: str, where: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KubeconfigError(f"{where}: {what} {path} cannot be read: {exc.strerror or exc}.") from None


def _proxied(scheme: str, host: str, environ: Mapping[str, str]) -> bool:
    """True when the environment names a proxy that applies to ``host`` (``NO_PROXY`` names and domains honoured)."""
    names = (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY")
    if not any(environ.get(n) for n in names):
        return False
    for entry in (environ.get("no_proxy") or environ.get("NO_PROXY") or "").split(","):
        entry = entry.strip().lower().lstrip(".")
        if entry == "*" or (entry and (host.lower() == entry or host.lower().endswith("." + entry))):
            return False
    return True


def _load_client_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes, where: str) -> None:
    """``load_cert_chain`` reads files only: write the PEMs to a private directory, load them, delete them at once."""
    with tempfile.TemporaryDirectory(prefix="opsconsole-tls-") as tmp:  # mode 0700
        paths = []
        for name, data in (("cert.pem", cert), ("key.pem", key)):
            path = os.path.join(tmp, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            paths.append(path)
        try:
            ctx.load_cert_chain(paths[0], paths[1])
        except (ssl.SSLError, OSError) as exc:
            raise KubeconfigError(f"{where}: the client certificate or key cannot be used: {exc}.") from None


def _tls_context(cluster: Mapping[str, Any], origin: Path | None, where: str) -> ssl.SSLContext:
    """A new TLS context trusting what the cluster entry says (no client certificate yet)."""
    ctx = ssl.create_default_context()
    if cluster.get("insecure-skip-tls-verify"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        if cluster.get("certificate-authority-data"):
            ca = _b64(cluster["certificate-authority-data"], "certificate-authority-data", where)
            ctx.load_verify_locations(cadata=ca.decode("ascii", "replace"))
        elif cluster.get("certificate-authority"):
            ca_path = entry_path(cluster["certificate-authority"], origin)
            _read(ca_path, "certificate-authority", where)  # one sentence when it cannot be read
            ctx.load_verify_locations(cafile=str(ca_path))
    except ssl.SSLError as exc:
        raise KubeconfigError(f"{where}: the cluster's certificate authority cannot be used: {exc}.") from None
    return ctx


def _exec_cluster(cluster: Mapping[str, Any], server: str, origin: Path | None, where: str) -> dict[str, Any]:
    """``spec.cluster`` of the plugin's request (``provideClusterInfo``), as client-go fills it."""
    info: dict[str, Any] = {"server": server}
    if cluster.get("certificate-authority-data"):
        info["certificate-authority-data"] = ca_data(_b64(cluster["certificate-authority-data"], "certificate-authority-data",
                                                          where))
    elif cluster.get("certificate-authority"):
        info["certificate-authority-data"] = ca_data(_read(entry_path(cluster["certificate-authority"], origin),
                                                           "certificate-authority", where))
    if cluster.get("insecure-skip-tls-verify"):
        info["insecure-skip-tls-verify"] = True
    for ext in cluster.get("extensions") or ():
        if isinstance(ext, Mapping) and ext.get("name") == "client.authentication.k8s.io/exec":
            info["config"] = ext.get("extension")
    return info


def endpoint_for(config: Mapping[str, Any], context: str, *, environ: Mapping[str, str] | None = None) -> RawEndpoint:
    """The endpoint of ``context`` in a merged kubeconfig (console.cluster.kubeconfig.merge_kubeconfigs).

    Raises ``RawUnsupported`` for what only the official client handles, ``KubeconfigError`` for a kubeconfig
    that no client could use (a missing server, a CA file that cannot be read, data that is not base64, an
    exec plugin without a command). An exec plugin is not run here: see ``RawEndpoint.credential``.
    """
    env = os.environ if environ is None else environ
    ctx = config["contexts"].get(context) or {}
    cluster_name, user_name = str(ctx.get("cluster") or ""), str(ctx.get("user") or "")
    cluster = config["clusters"].get(cluster_name) or {}
    user = config["users"].get(user_name) or {}
    origins = config.get("origins") or {}
    c_origin = (origins.get("clusters") or {}).get(cluster_name)
    u_origin = (origins.get("users") or {}).get(user_name)
    where = f"context {context!r}"
    for field_name in _UNSUPPORTED_USER:
        if user.get(field_name):
            raise RawUnsupported(f"{where}: user {user_name!r} uses {field_name}")
    for field_name in _UNSUPPORTED_CLUSTER:
        if cluster.get(field_name):
            raise RawUnsupported(f"{where}: cluster {cluster_name!r} sets {field_name}")
    server = str(cluster.get("server") or "")
    url = urllib.parse.urlsplit(server)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise KubeconfigError(f"{where}: cluster {cluster_name!r} has no usable server URL ({server or 'none'}).")
    if _proxied(url.scheme, url.hostname, env):
        raise RawUnsupported(f"{where}: a proxy applies to {url.hostname}")
    port = url.port or (443 if url.scheme == "https" else 80)

    headers: dict[str, str] = {"Accept": "application/json", "User-Agent": "opsconsole"}
    token = user.get("token")
    token_file = None
    if not token and user.get("tokenFile"):
        token_file = entry_path(user["tokenFile"], u_origin)
        token = _read(token_file, "tokenFile", where).decode("utf-8", "replace").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user.get("username") or user.get("password"):
        pair = f"{user.get('username') or ''}:{user.get('password') or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()

    ssl_ctx: ssl.SSLContext | None = None
    has_cert = False
    if url.scheme == "https":
        ssl_ctx = _tls_context(cluster, c_origin, where)
        cert: bytes | None = None
        key: bytes | None = None
        if user.get("client-certificate-data"):
            cert = _b64(user["client-certificate-data"], "client-certificate-data", where)
        elif user.get("client-certificate"):
            cert = _read(entry_path(user["client-certificate"], u_origin), "client-certificate", where)
        if user.get("client-key-data"):
            key = _b64(user["client-key-data"], "client-key-data", where)
        elif user.get("client-key"):
            key = _read(entry_path(user["client-key"], u_origin), "client-key", where)
        if cert is not None and key is not None:
            _load_client_cert(ssl_ctx, cert, key, where)
            has_cert = True
        elif cert is not None or key is not None:
            raise KubeconfigError(f"{where}: user {user_name!r} gives a client certificate or key without the other.")

    exec_auth = None
    if user.get("exec") and not (token or token_file or "Authorization" in headers or has_cert):
        exec_auth = _exec_auth(user["exec"], context, user_name, cluster, server, url.scheme, c_origin, u_origin, env, where)
    return RawEndpoint(url.scheme, url.hostname, port, url.path.rstrip("/"), ssl_ctx, headers, server, token_file, exec_auth)


def _exec_auth(spec: Any, context: str, user_name: str, cluster: Mapping[str, Any], server: str, scheme: str,
               c_origin: Path | None, u_origin: Path | None, env: Mapping[str, str], where: str) -> ExecAuth:
    plugin = plugin_from(spec, u_origin, where)
    if plugin.api_version not in API_VERSIONS:
        raise RawUnsupported(f"{where}: user {user_name!r} uses an exec plugin of {plugin.api_version or 'no apiVersion'}")
    if plugin.interactive_mode not in INTERACTIVE_MODES:
        raise RawUnsupported(f"{where}: user {user_name!r} uses an exec plugin of interactiveMode {plugin.interactive_mode}")
    if plugin.interactive_mode == "Always":
        # The plain path runs the plugin from the watch's threads while the dashboard owns the terminal, so it could
        # never prompt; the official client runs it while loading, before the dashboard starts.
        raise RawUnsupported(f"{where}: user {user_name!r} uses an exec plugin that must be interactive (interactiveMode Always)")

    def tls_for(cert: bytes, key: bytes) -> ssl.SSLContext:
        tls = _tls_context(cluster, c_origin, where)
        _load_client_cert(tls, cert, key, where)
        return tls

    info = _exec_cluster(cluster, server, c_origin, where) if plugin.provide_cluster_info else None
    return ExecAuth(plugin, context, cluster=info, tls_for=tls_for if scheme == "https" else None, environ=env)

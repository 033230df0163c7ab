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
  (basic auth), or nothing at all (anonymous).

Not handled, so left to the official client: ``exec`` credential plugins, ``auth-provider`` (OIDC, gcp,
azure), ``tls-server-name``, ``proxy-url``, and a proxy named by ``HTTPS_PROXY`` / ``HTTP_PROXY`` that applies
to the server (the client is given the proxy by neither, but it is the safe side).
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

from console.cluster.kubeconfig import KubeconfigError
from console.errors import OpsConsoleError

__all__ = ["RawEndpoint", "RawUnsupported", "endpoint_for"]

_UNSUPPORTED_USER = ("exec", "auth-provider")
_UNSUPPORTED_CLUSTER = ("tls-server-name", "proxy-url")


class RawUnsupported(OpsConsoleError):
    """The context needs something only the official client does (an exec plugin, an auth provider, a proxy)."""


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

    def request_headers(self) -> dict[str, str]:
        """The headers of one request; a ``tokenFile``'s token as the file says now (kept from before if it cannot
        be read for a moment: a rotation replaces the file)."""
        headers = dict(self.headers)
        if self.token_file is not None:
            try:
                token = self.token_file.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                token = ""
            if token:
                headers["Authorization"] = f"Bearer {token}"
        return headers


def _b64(value: Any, what: str, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError(f"{where}: {what} is not base64.") from None


def _path(value: Any, origin: Path | None) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() or origin is None else origin.parent / p


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


def endpoint_for(config: Mapping[str, Any], context: str, *, environ: Mapping[str, str] | None = None) -> RawEndpoint:
    """The endpoint of ``context`` in a merged kubeconfig (console.cluster.kubeconfig.merge_kubeconfigs).

    Raises ``RawUnsupported`` for what only the official client handles, ``KubeconfigError`` for a kubeconfig
    that no client could use (a missing server, a CA file that cannot be read, data that is not base64).
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
        token_file = _path(user["tokenFile"], u_origin)
        token = _read(token_file, "tokenFile", where).decode("utf-8", "replace").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user.get("username") or user.get("password"):
        pair = f"{user.get('username') or ''}:{user.get('password') or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()

    ssl_ctx: ssl.SSLContext | None = None
    if url.scheme == "https":
        ssl_ctx = ssl.create_default_context()
        if cluster.get("insecure-skip-tls-verify"):
            ssl_ctx.check_hostname = False
            ssl_ctx.verify_mode = ssl.CERT_NONE
        else:
            try:
                if cluster.get("certificate-authority-data"):
                    ca = _b64(cluster["certificate-authority-data"], "certificate-authority-data", where)
                    ssl_ctx.load_verify_locations(cadata=ca.decode("ascii", "replace"))
                elif cluster.get("certificate-authority"):
                    ca_path = _path(cluster["certificate-authority"], c_origin)
                    _read(ca_path, "certificate-authority", where)  # one sentence when it cannot be read
                    ssl_ctx.load_verify_locations(cafile=str(ca_path))
            except ssl.SSLError as exc:
                raise KubeconfigError(f"{where}: the cluster's certificate authority cannot be used: {exc}.") from None
        cert: bytes | None = None
        key: bytes | None = None
        if user.get("client-certificate-data"):
            cert = _b64(user["client-certificate-data"], "client-certificate-data", where)
        elif user.get("client-certificate"):
            cert = _read(_path(user["client-certificate"], u_origin), "client-certificate", where)
        if user.get("client-key-data"):
            key = _b64(user["client-key-data"], "client-key-data", where)
        elif user.get("client-key"):
            key = _read(_path(user["client-key"], u_origin), "client-key", where)
        if cert is not None and key is not None:
            _load_client_cert(ssl_ctx, cert, key, where)
        elif cert is not None or key is not None:
            raise KubeconfigError(f"{where}: user {user_name!r} gives a client certificate or key without the other.")
    return RawEndpoint(url.scheme, url.hostname, port, url.path.rstrip("/"), ssl_ctx, headers, server, token_file)

"""Cluster access: the operator's kubeconfig, its contexts, and one API client per context.

Where the kubeconfig comes from follows kubectl: an explicit ``--kubeconfig`` path, else the ``KUBECONFIG``
list (``:``-separated; the first file to name a cluster, user or context wins, and the first file that sets
``current-context`` decides it), else ``~/.kube/config``. Clients are built with
``config.new_client_from_config(config_file=..., context=...)``, which returns an independent ``ApiClient``
and never touches the client library's global default configuration: the console talks to several
clusters at once and a change pins its own context, so nothing here may change what "the" cluster is.

Switching context or namespace at run time is just asking for another client or using another namespace;
``KubeAccess`` keeps the operator's current choice and caches one client per context.

The kubernetes package is imported only when a client is first built (it takes most of a second to load):
``transport_for`` gives the live watch a plain-HTTP transport without it whenever the context's auth allows
(console/cluster/raw_endpoint.py says which), so ``opsconsole watch`` starts listing before it has loaded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.cluster.kubeconfig import KubeconfigError, KubeError, kubeconfig_paths
from console.cluster.kubeconfig import merge_kubeconfigs as _merge

if TYPE_CHECKING:  # imported where used, for start-up time (see the module docstring)
    from kubernetes import client

    from console.cluster.lease_record import LockStatus
    from console.cluster.watch_stream import Transport

__all__ = [
    "ContextInfo",
    "KubeAccess",
    "KubeError",
    "KubeconfigError",
    "NoSuchContext",
    "ServerUnreachable",
    "kubeconfig_paths",
]


class NoSuchContext(KubeError):
    """The context asked for is not defined by the kubeconfig."""


class ServerUnreachable(KubeError):
    """The context's API server did not answer (refused, timed out, or not an API server)."""


@dataclass(frozen=True)
class ContextInfo:
    """One kubeconfig context as a menu shows it."""

    name: str
    cluster: str
    user: str
    namespace: str  # the context's default namespace ("default" when it sets none, as kubectl does)
    server: str  # the cluster's API server URL ("" when the cluster entry is missing)


class KubeAccess:
    """The operator's kubeconfig: its contexts, the current choice, and a cached ``ApiClient`` per context.

    Thread-safe: the watch threads and the UI may ask for clients at the same time.
    """

    def __init__(self, kubeconfig: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None) -> None:
        self.paths = kubeconfig_paths(kubeconfig, environ=environ)
        self._lock = threading.Lock()
        self._clients: dict[str, client.ApiClient] = {}
        self._transports: dict[str, Transport] = {}
        self._config, self._present = _merge(self.paths)
        self._context: str | None = self._config["current-context"] or None
        self._namespace: str | None = None  # None: the context's own default

    # ----- what the kubeconfig says ----------------------------------------------------------------------
    def contexts(self) -> list[ContextInfo]:
        """Every context, in file order (the first file's first)."""
        return [self._info(name) for name in self._config["contexts"]]

    def context(self, name: str) -> ContextInfo:
        """One context; NoSuchContext when the kubeconfig does not define it."""
        if name not in self._config["contexts"]:
            have = ", ".join(self._config["contexts"]) or "none"
            raise NoSuchContext(f"context {name!r} is not in the kubeconfig ({', '.join(map(str, self._present))}; it has: {have}).")
        return self._info(name)

    def _info(self, name: str) -> ContextInfo:
        ctx = self._config["contexts"][name] or {}
        cluster_name = str(ctx.get("cluster") or "")
        cluster = self._config["clusters"].get(cluster_name) or {}
        return ContextInfo(name=name, cluster=cluster_name, user=str(ctx.get("user") or ""),
                           namespace=str(ctx.get("namespace") or "default"), server=str(cluster.get("server") or ""))

    @property
    def file_current_context(self) -> str | None:
        """The kubeconfig's ``current-context`` (what kubectl would use), or None when unset."""
        return self._config["current-context"] or None

    # ----- the operator's run-time choice ----------------------------------------------------------------
    @property
    def current_context(self) -> str:
        """The context in use now; starts as the kubeconfig's current context."""
        if self._context is None:
            raise NoSuchContext(f"the kubeconfig ({', '.join(map(str, self._present))}) sets no current-context; choose one.")
        return self._context

    @property
    def current_namespace(self) -> str:
        """The namespace in use now: the one switched to, else the current context's default."""
        return self._namespace or self.context(self.current_context).namespace

    def switch_context(self, name: str, namespace: str | None = None) -> client.ApiClient:
        """Use ``name`` from now on (and its default namespace unless one is given); returns its client."""
        self.context(name)
        self._context, self._namespace = name, namespace
        return self.client_for(name)

    def switch_namespace(self, namespace: str | None) -> None:
        """Use ``namespace`` in the current context (None: back to the context's default)."""
        self._namespace = namespace or None

    # ----- clients ---------------------------------------------------------------------------------------
    def client_for(self, context: str | None = None) -> client.ApiClient:
        """The cached ``ApiClient`` of ``context`` (default: the current one), built on first use."""
        name = context or self.current_context
        with self._lock:
            cached = self._clients.get(name)
            if cached is not None:
                return cached
            self.context(name)
            from kubernetes import config
            from kubernetes.config.config_exception import ConfigException

            try:
                api: client.ApiClient = config.new_client_from_config(config_file=os.pathsep.join(map(str, self._present)), context=name,
                                                    persist_config=False)
            except ConfigException as exc:
                raise KubeconfigError(f"context {name!r} cannot be used: {exc}.") from None
            except OSError as exc:
                raise KubeconfigError(f"context {name!r} refers to a file that cannot be read: {exc}.") from None
            self._clients[name] = api
            return api

    def transport_for(self, context: str | None = None) -> Transport:
        """What the live watch of ``context`` lists and watches through: plain HTTP when ``raw_endpoint`` handles
        the context's auth, else the official client (``ClientTransport`` over ``client_for``)."""
        from console.cluster.raw_endpoint import RawUnsupported, endpoint_for
        from console.cluster.raw_http import HttpTransport
        from console.cluster.watch_stream import ClientTransport

        name = context or self.current_context
        self.context(name)
        with self._lock:
            cached = self._transports.get(name)
        if cached is not None:
            return cached
        transport: Transport
        try:
            transport = HttpTransport(endpoint_for(self._config, name))
        except RawUnsupported:
            transport = ClientTransport(self.client_for(name))
        with self._lock:
            return self._transports.setdefault(name, transport)

    def list_locks(self, context: str | None = None, *, request_timeout_s: float = 10.0) -> list[LockStatus]:
        """The change locks held on ``context``'s cluster, through its watch transport (plain HTTP when it can be:
        the dashboard's banner then does not load the official client); raises the lock modules' KubeErrors."""
        from console.cluster.raw_http import HttpTransport

        transport = self.transport_for(context)
        if isinstance(transport, HttpTransport):
            from console.cluster.lease_http import list_locks_http

            return list_locks_http(transport, request_timeout_s=request_timeout_s)
        from console.cluster.lease import list_locks

        return list_locks(self.client_for(context), request_timeout_s=request_timeout_s)

    def server_version(self, context: str | None = None, *, timeout: float = 5.0) -> str:
        """Ask the context's server for ``/version``; ServerUnreachable when it does not answer."""
        import urllib3
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        name = context or self.current_context
        api = self.client_for(name)
        server = self._info(name).server
        try:
            info = client.VersionApi(api).get_code(_request_timeout=(timeout, timeout))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ServerUnreachable(f"the API server of context {name!r} ({server}) is unreachable: {reason}.") from None
        except ApiException as exc:
            raise ServerUnreachable(f"the API server of context {name!r} ({server}) answered {exc.status} {exc.reason}.") from None
        return str(info.git_version)

    def close(self) -> None:
        """Close every cached client (their connection pools)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for api in clients:
            api.close()

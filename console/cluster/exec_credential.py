"""A kubeconfig user's ``exec`` credential plugin, run as client-go runs it, for the plain-HTTP transport.

The plugin (``aws eks get-token``, ``gke-gcloud-auth-plugin``, ``kubelogin`` ...) is a program that prints an
``ExecCredential`` (``client.authentication.k8s.io/v1`` or ``v1beta1``) holding a bearer token or a client
certificate and key, and perhaps when they expire. As client-go does it:

- ``command`` with a path separator and relative is found from the kubeconfig file's directory, else on ``$PATH``;
  ``args`` follow it; ``env`` (name/value pairs) is added to the console's environment; ``KUBERNETES_EXEC_INFO``
  holds the request (``spec.interactive`` and, with ``provideClusterInfo``, ``spec.cluster``).
- The credential is kept until its ``expirationTimestamp`` (asked again a little before), or for good when it
  names none; a 401 answer forces one new run (``ExecAuth.refresh``), unless another request already did.
- Never interactive: the dashboard owns the terminal, so the plugin gets no stdin, runs in a session of its own
  (no controlling terminal to prompt on) and is killed with its children after ``RUN_TIMEOUT_S``, or when
  the console exits while it runs. Its stderr is
  kept for the error sentence rather than drawn over the screen. ``interactiveMode: Always`` is therefore left
  to the official client (raw_endpoint.py), which runs the plugin before the dashboard takes the terminal.
- Concurrent requests share one run (the dashboard's seven watch loops start together), and a failed run is
  the answer for ``FAILURE_HOLD_S`` so retrying loops do not start the plugin over and over.

A failure is ``ExecCredentialError``: one sentence naming the context and the plugin (and the plugin's
``installHint`` when the command is missing). The token and key never appear in a message or a repr.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime
import json
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.cluster.kubeconfig import KubeconfigError, KubeError, entry_path

__all__ = ["API_VERSIONS", "INTERACTIVE_MODES", "ExecAuth", "ExecCredential", "ExecCredentialError", "ExecPlugin", "ca_data",
           "exec_info", "parse_credential", "plugin_from", "run_plugin"]

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
RUN_TIMEOUT_S = 30.0  # a plugin may be slow (an SSO round trip); never longer than this
REFRESH_BEFORE_S = 10.0  # a credential about to expire is asked for again this long before
FAILURE_HOLD_S = 10.0  # a failed run is the answer for this long (the loops retry within seconds of each other)
STDERR_TAIL = 300  # characters of the plugin's stderr kept for the error sentence


class ExecCredentialError(KubeError):
    """The credential plugin could not give a credential: missing, failed, timed out or printed something unusable.

    ``reason`` is the sentence without the context's name, for where the context is already shown (the
    dashboard's status line)."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason if reason is not None else message


@dataclass(frozen=True)
class ExecPlugin:
    """A user's ``exec`` section, checked: what to run and how."""

    command: str  # as the kubeconfig writes it, for messages
    path: str  # absolute when the command has a path separator, else the bare name to look up on PATH
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = API_VERSIONS[0]
    install_hint: str = ""
    provide_cluster_info: bool = False
    interactive_mode: str = "IfAvailable"


@dataclass(frozen=True)
class ExecCredential:
    """What the plugin printed: a token and/or a client certificate and key (PEM), and when they expire."""

    token: str = field(default="", repr=False)
    cert_pem: bytes = field(default=b"", repr=False)
    key_pem: bytes = field(default=b"", repr=False)
    expires: float | None = None  # seconds since the epoch; None: until a 401 says otherwise
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)  # with the certificate loaded


def plugin_from(spec: Any, origin: Path | None, where: str) -> ExecPlugin:
    """The ``exec`` section of a user, checked (``KubeconfigError`` for one no client could run)."""
    if not isinstance(spec, Mapping) or not spec.get("command"):
        raise KubeconfigError(f"{where}: the exec credential plugin names no command.")
    command = str(spec["command"])
    path = command
    if os.sep in command or (os.altsep and os.altsep in command):
        path = str(entry_path(command, origin))
    args = spec.get("args") or []
    if not isinstance(args, list):
        raise KubeconfigError(f"{where}: the exec credential plugin's args are not a list.")
    env: list[tuple[str, str]] = []
    for entry in spec.get("env") or []:
        if not isinstance(entry, Mapping) or not entry.get("name"):
            raise KubeconfigError(f"{where}: the exec credential plugin's env has an entry without a name.")
        env.append((str(entry["name"]), str(entry.get("value") or "")))
    return ExecPlugin(command, path, tuple(str(a) for a in args), tuple(env), str(spec.get("apiVersion") or ""),
                      str(spec.get("installHint") or ""), bool(spec.get("provideClusterInfo")),
                      str(spec.get("interactiveMode") or "IfAvailable"))


def exec_info(plugin: ExecPlugin, cluster: Mapping[str, Any] | None) -> str:
    """``KUBERNETES_EXEC_INFO``: the ExecCredential request (never interactive; the cluster when asked for)."""
    spec: dict[str, Any] = {"interactive": False}
    if plugin.provide_cluster_info and cluster is not None:
        spec["cluster"] = dict(cluster)
    return json.dumps({"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": spec}, separators=(",", ":"))


def _timestamp(value: Any, what: str) -> float:
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ExecCredentialError(f"{what} gave an expirationTimestamp that is not a time ({str(value)[:40]!r}).") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def parse_credential(stdout: bytes, plugin: ExecPlugin, what: str) -> ExecCredential:
    """The plugin's output as a credential; ``ExecCredentialError`` (never quoting the output) when unusable."""
    try:
        doc = json.loads(stdout)
    except ValueError as exc:  # the message gives the position only, never the text
        raise ExecCredentialError(f"{what} printed something that is not JSON ({exc}).") from None
    if not isinstance(doc, dict):
        raise ExecCredentialError(f"{what} printed JSON that is not an ExecCredential object.")
    kind, version = doc.get("kind"), doc.get("apiVersion")
    if kind != "ExecCredential" or version != plugin.api_version:
        raise ExecCredentialError(f"{what} printed a {str(kind)[:40]} of {str(version)[:60]}, "
                                  f"not the ExecCredential of {plugin.api_version} the kubeconfig asks for.")
    status = doc.get("status")
    if not isinstance(status, dict):
        raise ExecCredentialError(f"{what} printed an ExecCredential without a status.")
    token = str(status.get("token") or "")
    cert = str(status.get("clientCertificateData") or "").encode()
    key = str(status.get("clientKeyData") or "").encode()
    if bool(cert) != bool(key):
        raise ExecCredentialError(f"{what} gave a client certificate or key without the other.")
    if not token and not cert:
        raise ExecCredentialError(f"{what} gave neither a token nor a client certificate and key.")
    expires = status.get("expirationTimestamp")
    return ExecCredential(token, cert, key, None if expires in (None, "") else _timestamp(expires, what))


# Plugins running now, by process group: the console may end while one runs (its thread is a daemon), and a plugin
# in a session of its own would not be told; atexit ends them with it.
_RUNNING: set[int] = set()
_RUNNING_LOCK = threading.Lock()


def _kill_group(pgid: int) -> None:
    """SIGKILL a plugin's whole session: it holds whatever the plugin started too (a browser helper, a child
    waiting on input)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # it has just ended
        os.killpg(pgid, signal.SIGKILL)


@atexit.register
def _kill_running() -> None:
    with _RUNNING_LOCK:
        groups = list(_RUNNING)
    for pgid in groups:
        _kill_group(pgid)


def _tail(stderr: bytes) -> str:
    text = " ".join(stderr.decode("utf-8", "replace").split())
    return text if len(text) <= STDERR_TAIL else "…" + text[-STDERR_TAIL:]


def run_plugin(plugin: ExecPlugin, info: str, environ: Mapping[str, str], what: str, *,
               timeout_s: float = RUN_TIMEOUT_S) -> bytes:
    """Run the plugin once, non-interactively, without a shell; its stdout, or ``ExecCredentialError``."""
    env = {**environ, **dict(plugin.env), "KUBERNETES_EXEC_INFO": info}
    hint = f" {' '.join(plugin.install_hint.split())}" if plugin.install_hint else ""
    exe = plugin.path if os.sep in plugin.path else shutil.which(plugin.path, path=env.get("PATH", os.defpath))
    if exe is None or not os.path.exists(exe):
        where = f"{plugin.path} is not found" if os.sep in plugin.path else f"{plugin.command} is not found on PATH"
        raise ExecCredentialError(f"{what} cannot be run: {where}.{hint}")
    try:
        proc = subprocess.Popen([exe, *plugin.args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
    except OSError as exc:
        missing = hint if isinstance(exc, FileNotFoundError) else ""
        raise ExecCredentialError(f"{what} cannot be run: {(exc.strerror or str(exc)).lower()}.{missing}") from None
    with _RUNNING_LOCK:
        _RUNNING.add(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        try:
            proc.communicate(timeout=2.0)
        except subprocess.TimeoutExpired:  # something outside its group still holds the pipes: stop reading them
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            proc.wait()
        raise ExecCredentialError(f"{what} gave no credential within {timeout_s:g} s (it is run without a terminal, "
                                  "so it cannot ask for a login here).") from None
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc.pid)
    if proc.returncode != 0:
        said = _tail(err)
        raise ExecCredentialError(f"{what} failed with exit status {proc.returncode}{': ' + said if said else ''}.")
    return out


class ExecAuth:
    """One context's plugin and its current credential, shared by every request of the endpoint (thread-safe)."""

    def __init__(self, plugin: ExecPlugin, context: str, *, cluster: Mapping[str, Any] | None = None,
                 tls_for: Callable[[bytes, bytes], ssl.SSLContext] | None = None,
                 environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time,
                 timeout_s: float = RUN_TIMEOUT_S) -> None:
        self.plugin = plugin
        self.context = context
        self.what = f"the credential plugin {plugin.command}"
        self._info = exec_info(plugin, cluster)
        self._tls_for = tls_for
        self._environ = environ
        self._clock = clock
        self._timeout_s = timeout_s
        self._cond = threading.Condition()
        self._cached: ExecCredential | None = None
        self._failure: tuple[ExecCredentialError, float] | None = None
        self._running = False
        self._runs = 0

    def __repr__(self) -> str:
        return f"ExecAuth({self.plugin.command!r})"

    def _fresh(self, cred: ExecCredential) -> bool:
        return cred.expires is None or self._clock() < cred.expires - REFRESH_BEFORE_S

    def credential(self) -> ExecCredential:
        """The credential to send now: the kept one while it is fresh, else one new run of the plugin."""
        with self._cond:
            while True:
                if self._cached is not None and self._fresh(self._cached):
                    return self._cached
                if self._failure is not None and self._clock() < self._failure[1] + FAILURE_HOLD_S:
                    raise self._failure[0]
                if not self._running:
                    break
                runs = self._runs
                while self._runs == runs:
                    self._cond.wait()
                # The run waited for is the answer, even a credential already near its end (no second run for it).
                if self._failure is not None:
                    raise self._failure[0]
                if self._cached is not None:
                    return self._cached
            self._running = True
        try:
            cred = self._run()
        except ExecCredentialError as exc:
            with self._cond:
                self._cached, self._failure = None, (exc, self._clock())
                self._running, self._runs = False, self._runs + 1
                self._cond.notify_all()
            raise
        except BaseException:
            with self._cond:
                self._running, self._runs = False, self._runs + 1
                self._cond.notify_all()
            raise
        with self._cond:
            self._cached, self._failure = cred, None
            self._running, self._runs = False, self._runs + 1
            self._cond.notify_all()
        return cred

    def refresh(self, stale: ExecCredential) -> ExecCredential:
        """After a 401 to ``stale``: run the plugin again, unless another request has already replaced it."""
        with self._cond:
            if self._cached is stale:
                self._cached = None
        return self.credential()

    def _run(self) -> ExecCredential:
        try:
            return self._run_plugin()
        except ExecCredentialError as exc:
            raise ExecCredentialError(f"context {self.context!r}: {exc}", reason=str(exc)) from None

    def _run_plugin(self) -> ExecCredential:
        environ = os.environ if self._environ is None else self._environ
        out = run_plugin(self.plugin, self._info, environ, self.what, timeout_s=self._timeout_s)
        cred = parse_credential(out, self.plugin, self.what)
        if cred.cert_pem and self._tls_for is not None:
            try:
                ctx = self._tls_for(cred.cert_pem, cred.key_pem)
            except KubeconfigError:
                raise ExecCredentialError(f"{self.what} gave a client certificate or key that cannot be used.") from None
            cred = ExecCredential(cred.token, cred.cert_pem, cred.key_pem, cred.expires, ctx)
        return cred


def ca_data(pem: bytes) -> str:
    """A CA bundle as ``certificate-authority-data`` is written in ``spec.cluster`` (base64)."""
    return base64.b64encode(pem).decode("ascii")

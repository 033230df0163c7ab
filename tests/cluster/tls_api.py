"""A small HTTPS API server for the plain-HTTP transport's TLS and auth tests, with a CA made for the test.

The rehearsal cluster serves plain HTTP and takes any bearer token as a user name, so what a real API server
checks (its certificate, a client certificate, a token or a password) is tested here: ``TlsApi`` serves a pod
list under ``https://127.0.0.1:PORT/<mode>``, verifying the client's certificate against the test CA and the
``Authorization`` header against the one it was given. ``mode`` is how it answers:

- ``ok``: the list (three pods, resourceVersion 10); a watch is a bookmark, then the end of the stream;
- ``unauthorized`` / ``forbidden``: 401 / 403 with a Kubernetes Status body;
- ``garbled``: 200 with a body that is not JSON;
- ``closing``: the list in pages (``limit``/``continue``), closing the connection after each, the later pages
  answered after ``SLOW_PAGE_S``;
- ``silent``: reads the request and never answers (until the server stops).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SLOW_PAGE_S = 0.6
PODS = [{"metadata": {"name": f"p{i}", "namespace": "web", "resourceVersion": str(i + 1)}, "spec": {}, "status": {}}
        for i in range(3)]


@dataclass(frozen=True)
class Pki:
    """PEM files of a test CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def make_pki(folder: Path) -> Pki:
    """Write a CA and two certificates it signs into ``folder``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("test-ca")).issuer_name(_name("test-ca"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    pki = Pki(folder / "ca.crt", folder / "server.crt", folder / "server.key", folder / "client.crt", folder / "client.key")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cn, cert_path, key_path, server in (("127.0.0.1", pki.server_cert, pki.server_key, True),
                                            ("alice", pki.client_cert, pki.client_key, False)):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                         else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                            critical=False)
        cert_path.write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
    return pki


class TlsApi:
    """The server (see the module docstring); ``requests`` counts what it answered, by mode."""

    def __init__(self, pki: Pki, *, authorization: str | None, client_cert: bool) -> None:
        self.authorization = authorization
        self.requests: list[str] = []
        self.release = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet: the tests read api.requests
                return

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _status(self, code: int, reason: str, message: str) -> None:
                self._send(code, json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                                             "reason": reason, "code": code}).encode())

            def _page_and_close(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                start = int(query.get("continue", ["0"])[0])
                if start:
                    time.sleep(SLOW_PAGE_S)  # later pages answer slowly: longer than a connect timeout, within a read's
                end = start + int(query.get("limit", [str(len(PODS))])[0])
                md = {"resourceVersion": "10", **({"continue": str(end)} if end < len(PODS) else {})}
                body = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": md, "items": PODS[start:end]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def do_GET(self) -> None:
                mode = self.path.split("/")[1]
                api.requests.append(mode)
                if api.authorization is not None and self.headers.get("Authorization") != api.authorization:
                    return self._status(401, "Unauthorized", "Unauthorized")
                if mode == "unauthorized":
                    return self._status(401, "Unauthorized", "Unauthorized")
                if mode == "forbidden":
                    return self._status(403, "Forbidden", 'pods is forbidden: User "alice" cannot list resource "pods"')
                if mode == "garbled":
                    return self._send(200, b"{this is not json")
                if mode == "closing":
                    return self._page_and_close()
                if mode == "silent":
                    api.release.wait(30)
                    return None
                if "watch=true" in self.path:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    line = json.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "11"}}}).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(line), line))
                    return None
                return self._send(200, json.dumps({"kind": "PodList", "apiVersion": "v1",
                                                   "metadata": {"resourceVersion": "10"}, "items": PODS}).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.server_cert, pki.server_key)
        if client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(pki.ca)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="tls-api", daemon=True)

    def url(self, mode: str) -> str:
        return f"https://127.0.0.1:{self.port}/{mode}"


@contextmanager
def tls_api(pki: Pki, *, authorization: str | None = None, client_cert: bool = False) -> Iterator[TlsApi]:
    """Serve ``TlsApi`` in a thread; shut it down (and release silent answers) afterwards."""
    api = TlsApi(pki, authorization=authorization, client_cert=client_cert)
    api.thread.start()
    try:
        yield api
    finally:
        api.release.set()
        api.httpd.shutdown()
        api.httpd.server_close()

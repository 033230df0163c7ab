"""Why a cluster's API server could not be reached, said as an operator reads it (pure: an exception in, words out).

The Kubernetes client hands a refused connection up as urllib3's ``MaxRetryError`` wrapping a
``NewConnectionError`` wrapping the socket's ``ConnectionRefusedError``; its text
(``HTTPSConnection(host='127.0.0.1', port=1): Failed to establish a new connection: [Errno 111] Connection
refused``) names Python classes, not the problem. ``connection_reason`` walks the chain to the cause and says it
in a few words (``connection refused``, ``timed out``, ``host name not found``, ``TLS handshake failed``);
``unreachable_sentence`` makes the one sentence the dashboard shows.
"""

from __future__ import annotations

import os
import re
import socket
import ssl

__all__ = ["connection_reason", "unreachable_sentence"]

_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\"\)\]]+)")


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (urllib3's ``reason``, then ``__cause__``/``__context__``), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not c for c in chain):
        chain.append(current)
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (current.__cause__ or current.__context__)
    return chain


def connection_reason(exc: BaseException) -> str:
    """A few words saying why a connection failed, with no class names, addresses of objects or errno numbers."""
    chain = _causes(exc)
    for cause in reversed(chain):  # the innermost cause is the one that says what happened
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"its TLS certificate was not accepted ({cause.verify_message or 'verification failed'})"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, TimeoutError | socket.timeout):
            return "timed out"
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
    for cause in chain:
        name = type(cause).__name__
        if "Timeout" in name:
            return "timed out"
        found = _ERRNO_TEXT.search(str(cause))
        if found:
            return found.group(1).strip().lower()
        if name in ("ProtocolError", "RemoteDisconnected", "IncompleteRead"):
            return "the connection was closed mid-answer"
    return "no answer from the server"


def unreachable_sentence(*, server: str, context: str, reason: str, seconds: float) -> str:
    """``cannot reach https://… (context kind-x): connection refused; retrying, unreachable for 12s``."""
    where = server or "the API server"
    return f"cannot reach {where} (context {context}): {reason}; retrying, unreachable for {int(max(0.0, seconds))}s"

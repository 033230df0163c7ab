"""Why a server could not be reached, in a few words, from the real errors the client raises."""

from __future__ import annotations

import socket

import pytest
import urllib3

from console.cluster.reachability import connection_reason, unreachable_sentence


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on leaving: nothing listens there


def test_a_refused_connection_through_urllib3_says_connection_refused() -> None:
    pool = urllib3.PoolManager(retries=urllib3.Retry(0, connect=0))
    with pytest.raises(urllib3.exceptions.HTTPError) as caught:
        pool.request("GET", f"http://127.0.0.1:{closed_port()}/api")
    assert "Errno" in str(caught.value)  # the raw text the dashboard once showed
    assert connection_reason(caught.value) == "connection refused"


def test_an_unknown_host_and_a_timeout() -> None:
    with pytest.raises(OSError) as caught:
        socket.getaddrinfo("no-such-host.invalid", 443)
    assert connection_reason(caught.value) == "host name not found"
    assert connection_reason(TimeoutError("timed out")) == "timed out"
    assert connection_reason(ValueError("odd")) == "no answer from the server"


def test_the_sentence() -> None:
    assert unreachable_sentence(server="https://127.0.0.1:1", context="kind-x", reason="connection refused", seconds=12.7) == (
        "cannot reach https://127.0.0.1:1 (context kind-x): connection refused; retrying, unreachable for 12s")

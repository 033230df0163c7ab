"""Fixtures for the Terraform tests: the node-pool configuration, a line collector, and an offline guard.

Every Terraform run here must work without network. The node pool uses ``terraform_data`` only (the built-in
provider), and runs happen with HTTP(S)_PROXY pointed at a closed local port, so any attempt to reach a
registry fails loudly instead of quietly succeeding on a connected machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.tfhelpers import OFFLINE_ENV, Lines


@pytest.fixture
def lines() -> Lines:
    """A fresh collector to pass as ``on_line``."""
    return Lines()


@pytest.fixture(scope="module")
def offline_environ() -> Iterator[None]:
    """Point the proxies at a dead port for a whole module (the embedded engine's workers inherit os.environ)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in OFFLINE_ENV.items():
            mp.setenv(key, value)
        yield

"""The team of approvers, made once per session (ssh-keygen makes an ed25519 key in milliseconds, five of them add up)."""

from __future__ import annotations

import pytest

from tests.support.approvers import Team, make_team


@pytest.fixture(scope="session")
def team(tmp_path_factory: pytest.TempPathFactory) -> Team:
    return make_team(tmp_path_factory.mktemp("team"))

"""Shared fixtures: every test gets its own records directory and never touches the repository's records/.

``make test`` runs the suite in parallel processes (pytest-xdist), then the tests marked ``serial`` alone; another
copy of the suite may be running on the same machine. So a test:

- waits for a state, polling with a deadline (a screen mounted, a line printed, an event in the journal), never
  for a time, and asserts no upper bound on how long anything took (such figures belong in benchmarks/); the waits
  are ``tests.support.wait`` (``wait_for`` from plain code, ``wait_on`` through a Textual pilot), and whatever else
  tests share lives in ``tests/support/`` too;
- sets no time limit of its own (Hypothesis runs with no deadline and no too-slow check here);
- writes only under ``tmp_path`` (no fixed /tmp paths, nothing in the repository), starts servers on free ports
  (``running_cluster()`` does), and changes the environment or the working directory only with ``monkeypatch``;
- is marked ``@pytest.mark.serial`` if it still cannot share the machine (a real terminal driven at a person's
  pace, a figure taken as a test), and ``@pytest.mark.slow`` if it takes more than a few seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]

# Property tests are not timed either: Hypothesis's per-example deadline and its too-slow health check are
# wall-clock limits that a busy machine trips. (A test's own @settings replaces the list of health checks it names.)
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


@pytest.fixture
def records_dir(tmp_path: Path) -> Path:
    """An empty record store for one test."""
    d = tmp_path / "records"
    d.mkdir()
    return d


# The rehearsal contexts policy knows by default, on a server that is never there: for runbooks that run only
# local commands, where a kube context is still required to start a change.
DEAD_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: rehearsal, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: u, user: {}}]
contexts:
  - {name: rehearsal, context: {cluster: rehearsal, user: u}}
  - {name: rehearsal-b, context: {cluster: rehearsal, user: u}}
current-context: rehearsal
"""


@pytest.fixture
def dead_kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig with the rehearsal contexts pointing at a closed localhost port."""
    path = tmp_path / "kubeconfig"
    path.write_text(DEAD_KUBECONFIG)
    return path


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep tests away from the user's kubeconfig, config directory, record store and saved plans."""
    monkeypatch.setenv("OPSCONSOLE_RECORDS", str(tmp_path / "records-default"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    # Saved Terraform plans are kept outside the record, in a private directory of the user's: here, the test's own.
    monkeypatch.setenv("OPSCONSOLE_PLANS_DIR", str(tmp_path / "plans"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("OPSCONSOLE_CONFIG", raising=False)
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

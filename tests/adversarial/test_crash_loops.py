"""Each adversarial runbook killed three times mid-change (SIGKILL, whole process tree) and resumed by another operator.

The kill moments are states of the journal drawn with a fixed seed: the first is the confirmation of the runbook's
first mutating step (the console reads the cluster between that confirmation and the step's start, the widest window
in which a confirmation is on disk and its step has not run); the other two are later step confirmations, step
starts or event counts. After each kill ``records verify`` runs (a torn last line is legitimate and is recovered on
resume), and the change is resumed with ``opsconsole resume ID --plain --answers FILE --operator NEXT`` until it
closes. Then, over the whole journal: no step that passed ran again; every mutating step that started was confirmed
in its own session by that session's operator after its previous start; nothing was lost; the record verifies; and
the cluster is in the state the outcome implies.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kubesim.testing import RunningCluster

from .cluster_state import settled, snapshot
from .crashloop import ANSWERS, Console, choose_points, crash_loop, load
from .endpoints import HealthEndpoint
from .journal_audit import audit
from .rehearsal import trail

SEED = 20261121
KILLS = 3
RUNBOOKS = ["layered-cache-dependency", "gated-web-release", "web-workers-config", "emergency-web-capacity", "web-canary-stages"]
pytestmark = [pytest.mark.kubectl, pytest.mark.slow]


@pytest.fixture
def window_s() -> float:
    # The kills come at journal states (one at an observe window's start comes as it is written, whatever the
    # window's length) and no fault acts inside a window: each window has only to pass, so a second of it is enough.
    return 1.0


@pytest.mark.parametrize("runbook_id", RUNBOOKS)
def test_killed_three_times_and_resumed_by_others(runbook_id: str, console: Console, runbooks: Path,
                                                    cluster: RunningCluster, health: HealthEndpoint) -> None:
    path = runbooks / f"{runbook_id}.yaml"
    runbook = load(path)
    points = choose_points(random.Random(f"{runbook_id}/{SEED}"), runbook, KILLS, stale_confirmation_first=True)
    extra = ["--param", f"health_url={health.url}"] if runbook_id == "gated-web-release" else []
    before = snapshot(cluster)
    loop = crash_loop(console, path, ANSWERS / f"{runbook_id}.yaml", points, run_extra=extra)
    where = f"kill points {[str(p) for p in points]}, kills {loop.kills}, sessions {loop.sessions}\n" + trail(loop)
    assert loop.closed and loop.outcome == "success", where
    assert len(loop.kills) == KILLS, where
    assert loop.verify_failures == [], where
    operators = [s.operator for s in loop.sessions]
    assert len(set(operators)) == len(operators) == KILLS + 1
    verified = console("records", "verify", loop.change_id)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    found = audit(loop.events, runbook, loop.sessions, console.journal().parent)
    print(f"{runbook_id}: {len(loop.kills)} kills, {loop.torn} torn tails, {len(found.lost)} losses, "
          f"{found.reconfirmations} reconfirmations, {len(found.unconfirmed)} steps run without a confirmation of their own session")
    assert found.reruns == [], where
    assert found.unconfirmed == [], f"{found.describe()}\n{where}"
    assert found.lost == [], where
    assert settled(cluster, runbook_id, "success", before) == []

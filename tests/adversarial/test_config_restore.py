"""A configuration change restored from its backup when an automatic rollback condition is seen.

The runbook backs web-config up first (as the patch that puts it back), changes it, restarts web and watches. On the
rollback path a node goes NotReady during the observe window (the cluster's fault, injected through the API when the
journal shows the window has started): the console must start the rollback by itself and restore web-config from the
backup it took, byte for byte, then restart web onto it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.journal import events as ev
from kubesim.testing import RunningCluster

from .cluster_state import settled, snapshot
from .crashloop import Console
from .faults import node_not_ready, when_started
from .rehearsal import (
    assert_automatic_rollback,
    assert_closed,
    assert_order,
    assert_record_sound,
    assert_trigger_ended,
    one,
    rehearse,
    trail,
)

RUNBOOK = "web-workers-config"
pytestmark = pytest.mark.kubectl


def test_the_change_is_backed_up_first_and_applied(console: Console, runbooks: Path, cluster: RunningCluster) -> None:
    before = snapshot(cluster)
    loop = rehearse(console, runbooks, RUNBOOK)
    assert_closed(loop, "success")
    assert_order(loop, [
        (ev.STEP_STARTED, "backup-config"), (ev.ARTIFACT_SAVED, "backup-config"), (ev.STEP_FINISHED, "backup-config"),
        (ev.ARTIFACT_SAVED, "backup-deployment"), (ev.MANUAL_ANSWERED, "impact"),
        (ev.STEP_FINISHED, "change-validates"), (ev.STEP_FINISHED, "nodes-ready"), (ev.STEP_FINISHED, "web-settled"),
        (ev.STEP_CONFIRMED, "change-config"), (ev.STEP_STARTED, "change-config"), (ev.STEP_FINISHED, "change-config"),
        (ev.STEP_CONFIRMED, "restart"), (ev.STEP_FINISHED, "restart"), (ev.STEP_FINISHED, "wait-restart"),
        (ev.STEP_FINISHED, "watch"), (ev.STEP_FINISHED, "config-propagated"), (ev.CHANGE_CLOSED, None),
    ])
    assert not [e for e in loop.events if e.type == ev.ROLLBACK_STARTED], trail(loop)
    backup = one(loop, ev.ARTIFACT_SAVED, "backup-config").data
    assert backup["kind"] == "backup" and backup["file"]["path"] == "artifacts/backup-config.out"
    saved = json.loads((console.journal().parent / backup["file"]["path"]).read_text())
    assert saved == [{"op": "replace", "path": "/data", "value": before["web-config"]}]
    assert_record_sound(console, loop, runbooks / f"{RUNBOOK}.yaml")
    assert settled(cluster, RUNBOOK, "success", before) == []


def test_a_node_going_not_ready_restores_the_backup_automatically(console: Console, runbooks: Path,
                                                                   cluster: RunningCluster) -> None:
    before = snapshot(cluster)
    loop = rehearse(console, runbooks, RUNBOOK, on_events=when_started("watch", lambda: node_not_ready(cluster, "node-2")))
    assert_closed(loop, "rolled_back")
    assert_trigger_ended(loop, "watch", "node_not_ready")
    assert "node-2" in one(loop, ev.TRIGGER_FIRED).data["object"]
    assert_automatic_rollback(loop, "watch", ["restore-config", "restart-onto-backup", "wait-restored"], ["alice"])
    restore = one(loop, ev.STEP_STARTED, "restore-config").data
    assert restore["argv"][-2:] == ["--patch-file", f"{console.journal().parent.resolve()}/artifacts/backup-config.out"]
    assert one(loop, ev.CHANGE_CLOSED).data["suggested"] == "rolled_back"
    assert_record_sound(console, loop, runbooks / f"{RUNBOOK}.yaml")
    assert settled(cluster, RUNBOOK, "rolled_back", before) == []

"""``opsconsole locks``' table, from rows (pure): kubectl's ages and column layout."""

from __future__ import annotations

import pytest

from console.cluster.lease_record import Claim, LockStatus, claimed, renewed, view
from console.cluster.lease_table import COLUMNS, human_age, locks_table, status_row

T0 = 1_795_000_000.0


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (45.9, "45s"), (119, "119s"), (120, "2m"), (200, "3m20s"), (599, "9m59s"), (600, "10m"), (179 * 60, "179m"),
    (3 * 3600, "3h"), (5 * 3600 + 180, "5h3m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (72 * 3600, "3d"), (-5, "0s"),
])
def test_human_age_as_kubectl_prints_it(seconds: float, text: str) -> None:
    assert human_age(seconds) == text


def test_a_lock_as_a_row_and_a_table() -> None:
    lease = {"metadata": {"name": "opsconsole-change", "namespace": "default", "resourceVersion": "7", "uid": "u"}, "spec": {}}
    held = renewed(claimed(lease, Claim("alice@ops-1 CHG-1", "alice", "ops-1", "CHG-1", "", 15, "cluster"), T0), "restart", T0 + 50, "3 of 7")
    row = status_row(["rehearsal"], LockStatus(view(held), False), T0 + 53)
    assert (row["lease"], row["scope"], row["holder"], row["change"], row["step"]) == (
        "default/opsconsole-change", "cluster", "alice@ops-1 CHG-1", "CHG-1", "3 of 7 restart")
    assert (row["since_age"], row["renewed_age"], row["expired"]) == ("53s", "3s ago", False)
    lines = locks_table([row, {**row, "context": "rehearsal-b", "change": "", "step": "", "expired": True}])
    assert lines[0].split() == list(COLUMNS)
    # every column starts where its header does
    starts = [lines[0].index(c) for c in COLUMNS]
    assert [lines[1][s - 3:s] for s in starts[1:]] == ["   "] * (len(COLUMNS) - 1)
    assert lines[1].split()[-1] == "no" and lines[2].split()[-1] == "yes" and "<none>" in lines[2]

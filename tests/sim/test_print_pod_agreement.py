"""Two printPods, one answer: the console's (console.cluster.rows) and the rehearsal cluster's (kubesim).

The console derives pod READY, STATUS, RESTARTS and AGE with its own code; kubesim, which the real kubectl reads,
has a second port written separately from kubectl's source. Both are held here to kubectl's own expectations
from printers_test.go, pod for pod, so a wrong branch in either shows up as a disagreement with kubectl rather
than as two copies agreeing on the same mistake.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from console.cluster.rows import human_duration as console_human_duration
from console.cluster.rows import pod_row
from kubesim import tables
from kubesim.duration import human_duration as kubesim_human_duration
from kubesim.pod_printer import pod_status
from tests.support.kubectl_print_pod_cases import KUBECTL_CASES, NOW, SOURCE_CASES, TEST_PRINT_POD_WIDE, Case

NOW_EPOCH = NOW.timestamp()
CASES = KUBECTL_CASES + SOURCE_CASES


def _ids(cases: list[Case]) -> list[str]:
    return [c.source.split(":")[0] if c.source.startswith("Test") else c.source.split(": ")[1][:40] for c in cases]


def test_enough_of_kubectls_cases_are_ported() -> None:
    assert len(KUBECTL_CASES) >= 15
    assert len({c.source for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_kubesim_prints_what_kubectl_expects(case: Case) -> None:
    # The row kubectl receives in the Table, cell for cell.
    cells = tables.row("pods", case.pod, NOW_EPOCH)["cells"]
    assert cells[:5] == [case.pod["metadata"]["name"], case.ready, case.status, case.restarts, case.age], case.source


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_console_prints_what_kubectl_expects(case: Case) -> None:
    r = pod_row(case.pod, NOW)
    assert (r.name, r.ready, r.status, r.restarts_text, r.age) == (
        case.pod["metadata"]["name"], case.ready, case.status, case.restarts, case.age), case.source


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_the_two_agree_on_the_numbers(case: Case) -> None:
    # Beyond the printed cells: the restart count itself, which the console's triggers read.
    sim = pod_status(case.pod)
    con = pod_row(case.pod, NOW)
    assert sim.restarts == con.restarts
    assert f"{sim.ready}/{sim.total}" == con.ready == case.ready


@pytest.mark.parametrize("case", TEST_PRINT_POD_WIDE, ids=_ids(TEST_PRINT_POD_WIDE))
def test_wide_columns(case: Case) -> None:
    assert case.wide is not None
    cells = tables.row("pods", case.pod, NOW_EPOCH)["cells"]
    assert tuple(cells[5:]) == case.wide
    # The console's Pods panel shows IP and NODE of the wide set.
    r = pod_row(case.pod, NOW)
    assert (r.ip, r.node) == case.wide[:2]


# TestTranslateTimestampSince's cases (+2.1s, +1.9s, now, 30s, 5m, 100m, 2d, 90d, 10y ago), and one of each of
# HumanDuration's other forms (its thresholds at 2m, 10m, 3h, 8h, 48h, 8d, 2y, 8y).
DURATIONS = [
    (-2.1, "<invalid>"), (-1.9, "0s"), (0, "0s"), (30, "30s"), (119, "119s"), (120, "2m"), (300, "5m"), (301, "5m1s"),
    (6000, "100m"), (3 * 3600, "3h"), (3 * 3600 + 120, "3h2m"), (10 * 3600, "10h"), (2 * 86400, "2d"),
    (50 * 3600, "2d2h"), (90 * 86400, "90d"), (800 * 86400, "2y70d"), (10 * 365 * 86400, "10y"),
]


@pytest.mark.parametrize(("seconds", "text"), DURATIONS)
def test_human_duration_agrees(seconds: float, text: str) -> None:
    assert kubesim_human_duration(seconds) == text
    assert console_human_duration(timedelta(seconds=seconds)) == text

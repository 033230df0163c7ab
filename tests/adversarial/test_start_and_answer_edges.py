"""Two edges the crash loops and rehearsals ran into, each a promise the console once broke.

- A console killed between a change's first event (``change.created``) and its parameters, approvals and policy
  verdicts leaves a change that resumes on the runbook's default parameters, with none of them on record. The state
  is the one a SIGKILL right after the first append leaves: a console killed early, its journal cut back to its first
  line (a valid prefix of the hash chain) and the files the cut events named removed.
- An unattended run (``--answers``) whose typed word is refused asks again with the same answer, for ever, appending
  a refusal each time.

The console now keeps both: a change's opening events are written in one write and a record cut short of them is
refused on resume; a refused word ends an unattended run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from console.journal import events as ev

from .crashloop import ANSWERS, Console, KillPoint, crash_loop
from .rehearsal import trail

pytestmark = pytest.mark.kubectl


def cut_back_to_creation(console: Console) -> None:
    """Leave the record as a kill right after ``change.created`` was appended leaves it."""
    journal = console.journal()
    assert journal is not None
    first = journal.read_bytes().split(b"\n", 1)[0] + b"\n"
    with open(journal, "r+b") as handle:
        handle.truncate(len(first))
    for sub in ("outputs", "artifacts"):
        for path in (journal.parent / sub).glob("*"):
            if path.name != "runbook.yaml":  # named by change.created itself
                path.unlink()


def test_a_change_killed_before_its_parameters_were_recorded_never_runs_on_defaults(console: Console, runbooks: Path) -> None:
    answers = ANSWERS / "layered-cache-dependency-rollback.yaml"  # web_build 1.5.0-crash; the default is 1.5.0

    def on_record(events: list[dict[str, Any]]) -> None:
        types = [e["type"] for e in events]
        if ev.STEP_STARTED in types:
            before = types[: types.index(ev.STEP_STARTED)]
            assert ev.PARAMS_SET in before and ev.POLICY_CHECKED in before, (
                f"a step started with no parameters and no policy verdicts on record: {types[:8]}")

    loop = crash_loop(console, runbooks / "layered-cache-dependency.yaml", answers, [KillPoint("events", count=1)],
                      after_kill=lambda _n: cut_back_to_creation(console), on_events=on_record, deadline_s=90)
    assert loop.kills, trail(loop)
    types = [e.type for e in loop.events]
    if ev.STEP_STARTED not in types:
        return  # the console refused to resume a change it has no start for: a promise kept
    first_step = types.index(ev.STEP_STARTED)
    assert ev.PARAMS_SET in types[:first_step] and ev.POLICY_CHECKED in types[:first_step], (
        "steps ran with no parameters and no policy verdicts on record\n" + trail(loop))
    params = next(e for e in loop.events if e.type == ev.PARAMS_SET).data["params"]
    assert params["web_build"] == "1.5.0-crash", params


def test_a_refused_answer_stops_an_unattended_change(console: Console, runbooks: Path, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text((ANSWERS / "layered-cache-dependency.yaml").read_text().replace('roll-web: "1.5.0"', 'roll-web: "1.4.9"'))

    def refusals(events: list[dict[str, Any]]) -> None:
        n = sum(1 for e in events if e["type"] == ev.STEP_CONFIRMATION_REFUSED)
        assert n <= 3, f"the console was refused {n} times the same answer and still asks"

    loop = crash_loop(console, runbooks / "layered-cache-dependency.yaml", answers, [], on_events=refusals, deadline_s=90)
    assert not loop.closed and loop.exit_codes[-1] != 0, trail(loop)
    refused = [e for e in loop.events if e.type == ev.STEP_CONFIRMATION_REFUSED]
    assert [e.data["typed"] for e in refused] == ["1.4.9"]
    assert not [e for e in loop.events if e.type == ev.STEP_STARTED and e.data["step_id"] == "roll-web"]

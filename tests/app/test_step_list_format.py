"""The step list's view of retries and conditions: a retried step shows which attempt it is on, a skipped step its
reason; and the step screen's line for each try (pure: state in, text out)."""

from __future__ import annotations

from console.engine.state import fold
from console.journal import events as ev
from console.journal.journal import Event
from console.runbook.loader import load_runbook_text
from screens.widgets.step_list import render_steps, try_line

RUNBOOK = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata: {id: fmt, title: Format, component: web, from: "1", to: "2", risk: low, environments: [rehearsal], owners: [me]}
params:
  tier: {type: string, choices: [primary, replica], default: primary}
steps:
  - {id: promote, run: ["true", "{tier}"], when: {tier: primary}}
  - {id: health, kind: check, run: ["true"], retry: {attempts: 5, interval: 10s}}
"""


def _event(seq: int, type_: str, data: dict) -> Event:
    return Event(seq, f"2026-12-01T10:00:{seq:02d}.000000Z", type_, data, "", "")


def test_a_retried_step_shows_its_attempt_and_a_skipped_step_its_reason() -> None:
    runbook = load_runbook_text(RUNBOOK, "rb.yaml").runbook
    reason = "skipped: when tier is primary, and tier is replica"
    started = {"section": "step", "step_id": "health", "kind": "check", "command": "true", "attempt": 2,
               "retry": {"try": 2, "of": 5, "interval_s": 10}}
    state = fold(runbook, [
        _event(1, ev.STEP_SKIPPED, {"section": "step", "step_id": "promote", "reason": reason}),
        _event(2, ev.STEP_STARTED, {**started, "attempt": 1, "retry": {"try": 1, "of": 5, "interval_s": 10}}),
        _event(3, ev.STEP_FINISHED, {"section": "step", "step_id": "health", "status": "failed", "reason": "exit 1",
                                     "retrying": True}),
        _event(4, ev.STEP_STARTED, started),
    ])
    text = render_steps(runbook, state).plain
    assert f"↷ promote {reason}" in text
    assert "▶ health attempt 2 of 5" in text
    assert state.failure is None and state.phase == "running"
    assert try_line(ev.STEP_STARTED, started) == "Running … attempt 2 of 5"
    assert try_line(ev.STEP_FINISHED, {"reason": "exit 1", "retrying": True}) == (
        "That attempt failed (exit 1); trying again after the interval …")
    assert try_line(ev.STEP_FINISHED, {"reason": "exit 1"}) is None

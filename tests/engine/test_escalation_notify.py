"""Escalation you can act on: policy's notification command runs when a deadline passes, off the caller's
thread, and the record keeps what it printed (redacted) and how it ended; line mode shows the deadlines.
"""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from console.config import ConfigError, load_policy
from console.engine.linemode import LineDriver
from console.journal import events as ev

from .conftest import STAGING_POLICY, FakeClock, events_of, run_forward, runbook_doc, write_policy

BROKEN = runbook_doc(steps=[{"id": "broken", "run": ["sh", "-c", "exit 1"]}])


def pager(tmp_path: Path) -> Path:
    """A paging CLI stand-in: prints what it was asked to send, and a token a careless tool echoes back."""
    script = tmp_path / "pagerctl"
    script.write_text('#!/bin/sh\necho "paged: $*"\necho "PAGER_TOKEN=s3cr3t-pager-token-value" >&2\nexit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def policy_text(command: str) -> str:
    return STAGING_POLICY + f"""
[escalation.notify]
senior = ["{command}", "--change", "{{change_id}}", "--step", "{{step_id}}", "--by", "{{deadline}}"]
"""


def test_the_notify_command_runs_when_its_deadline_passes_and_is_recorded(start, clock: FakeClock, tmp_path: Path) -> None:
    s = start(BROKEN, clock=clock, policy_text=policy_text(str(pager(tmp_path))))
    run_forward(s, until="failure")
    clock.advance(minutes=6)
    assert s.check_escalations() == ["manual rollback"]  # no command for this level
    clock.advance(minutes=10)
    assert s.check_escalations() == ["senior engineer"]
    s.wait_for_notifications()
    [notified] = events_of(s, ev.ESCALATION_NOTIFIED)
    assert notified.data["level"] == "senior engineer" and notified.data["exit_code"] == 0
    assert notified.data["argv"][1:] == ["--change", s.change_id, "--step", "broken", "--by", "2026-11-18T12:15:00Z"]
    assert f"paged: --change {s.change_id} --step broken --by 2026-11-18T12:15:00Z" in notified.data["output"]
    assert "s3cr3t-pager-token-value" not in (s.ref.path / "journal.jsonl").read_text()
    s.choose("abort")
    s.close("aborted")
    md = (s.ref.path / "record.md").read_text()
    assert "senior engineer notified: `" in md and "(exit 0)" in md


def test_a_missing_notify_command_is_recorded_not_raised(start, clock: FakeClock, tmp_path: Path) -> None:
    s = start(BROKEN, clock=clock, policy_text=policy_text(str(tmp_path / "no-such-pager")))
    run_forward(s, until="failure")
    clock.advance(minutes=20)
    s.check_escalations()
    s.wait_for_notifications()
    [notified] = events_of(s, ev.ESCALATION_NOTIFIED)
    assert notified.data["exit_code"] is None and notified.data["error"].endswith("no-such-pager: no such command")


def test_line_mode_shows_the_escalation_deadlines_at_a_failure(start, clock: FakeClock, tmp_path: Path) -> None:
    s = start(BROKEN, clock=clock, policy_text=policy_text(str(pager(tmp_path))))
    out = io.StringIO()
    code = LineDriver(s, out=out, inp=io.StringIO("yes\nabort\n\n\n\n\n")).drive()
    text = out.getvalue()
    assert "escalation: manual rollback at 12:05:00Z, senior engineer at 12:15:00Z (notified by policy), leadership at 12:30:00Z" in text
    assert code == 1


@pytest.mark.parametrize(("body", "message"), [
    ('[escalation.notify]\nboss = ["page"]\n', "notify.boss: no such escalation level"),
    ('[escalation.notify]\nsenior = []\n', "notify.senior: give the command as a list, program first"),
    ('[escalation.notify]\nsenior = ["page", "{who}"]\n', "notify.senior: {who} is not one of {change_id}"),
])
def test_policy_refuses_a_notify_entry_it_cannot_run(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        load_policy(str(write_policy(tmp_path / "p.toml", body)))

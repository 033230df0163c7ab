"""Driving a change through the real console in child processes, killing it at chosen moments, and resuming it.

A ``Console`` runs ``python -m console.cli`` with a rehearsal's environment. ``crash_loop`` starts a change
(``run --plain --answers``), waits for the journal to reach a ``KillPoint`` (a number of events written by the
current session, or a step's ``step.confirmed`` or ``step.started``), stops the console and every process under it
with SIGKILL, runs ``records verify`` (in this process), and resumes as the next operator (``resume --plain --answers --operator``,
with ``--recover-torn-tail`` when the kill tore the last line), until the change is closed or the console ends
without closing it. Moments are states of the journal, never sleeps; every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from console.config import DAYS
from console.journal.journal import read_events
from console.runbook.loader import load_runbook
from console.runbook.models import Runbook

from .journal_audit import Session

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RUNBOOKS = HERE / "runbooks"
ANSWERS = HERE / "answers"
POLICY = HERE / "policy" / "adversarial.toml"
PY = sys.executable
OPERATORS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
POLL_S = 0.003


def rehearsal_params(runbook: Path, clock_speed: float, *, window_s: float = 2.0, rollout_timeout: str = "30s") -> list[str]:
    """``--param`` values for the runbook's duration parameters that make it a rehearsal, not a maintenance window:
    observe windows of ``window_s`` real seconds (declared times the rehearsal clock's speed, which the console
    divides them by on a rehearsal environment; pass 1 elsewhere) and rollout waits bounded by ``rollout_timeout`` (a
    rollout here takes a second or two; a scaled timeout keeps 30 s of real time). A rollout that never completes (a
    scaled-up Deployment with crash-looping pods is never past its progress deadline, as in Kubernetes) then fails
    within the test's time instead of the runbook's. The runbook itself is used as it is."""
    out: list[str] = []
    for name, param in load_runbook(runbook).runbook.params.items():
        if param.type == "duration":
            value = rollout_timeout if name.endswith("timeout") else f"{round(window_s * clock_speed)}s"
            out += ["--param", f"{name}={value}"]
    return out


def policy_text(now: datetime) -> str:
    """``policy/adversarial.toml`` with a high-risk change window whose only day is three days from ``now``: the
    window excludes the moment of the rehearsal (which is exempt, being a rehearsal) and of a staging start."""
    day = DAYS[(now + timedelta(days=3)).weekday()]
    return POLICY.read_text() + f'\n[windows.high]\ndays = ["{day}"]\nstart = "00:00"\nend = "24:00"\ntz = "UTC"\n'


@dataclass
class Console:
    """The CLI in child processes, on one record store, policy file and kubeconfig."""

    records: Path
    kubeconfig: Path
    policy: Path
    context: str = "rehearsal"
    logs: Path | None = None
    clock_speed: float = 1.0  # the rehearsal cluster's, which the console divides declared durations by
    window_s: float = 2.0  # each observe window's real length (rehearsal_params)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "OPSCONSOLE_RECORDS": str(self.records), "OPSCONSOLE_CONFIG": str(self.policy),
            "KUBECONFIG": str(self.kubeconfig), "PYTHONPATH": str(REPO),
        })
        return env

    def __call__(self, *args: str, timeout: float = 240, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PY, "-m", "console.cli", *args], cwd=REPO, env=self.env(), capture_output=True,
                              text=True, timeout=timeout, input=input)

    def verify(self, change_id: str) -> subprocess.CompletedProcess[str]:
        """``records verify CHANGE_ID`` through the CLI's own entry point in this process, for the check after each
        kill: the consoles under test are the child processes, and a fresh interpreter per kill would only add its
        start-up. (The tests run ``records verify`` in a child of its own at the end.)"""
        from console.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--records-dir", str(self.records), "records", "verify", change_id])
        return subprocess.CompletedProcess(["records", "verify", change_id], code, out.getvalue(), err.getvalue())

    def spawn(self, args: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        """A console in its own process group, its output into ``log``."""
        handle = open(log, "wb")  # noqa: SIM115  # the child writes to it after this returns; closed once it has the fd
        try:
            return subprocess.Popen([PY, "-m", "console.cli", *args], cwd=REPO, env=self.env(), stdin=subprocess.DEVNULL,
                                    stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            handle.close()

    def run_args(self, runbook: Path, answers: Path, *extra: str) -> list[str]:
        return ["run", str(runbook), "--plain", "--answers", str(answers), "--kubeconfig", str(self.kubeconfig),
                "--context", self.context, *rehearsal_params(runbook, self.clock_speed, window_s=self.window_s), *extra]

    def resume_args(self, change_id: str, answers: Path, operator: str, *extra: str) -> list[str]:
        return ["resume", change_id, "--plain", "--answers", str(answers), "--operator", operator,
                "--kubeconfig", str(self.kubeconfig), *extra]

    def journal(self) -> Path | None:
        found = sorted(self.records.glob("*/*/journal.jsonl"))
        return found[0] if found else None

    def events(self) -> list[Any]:
        path = self.journal()
        return read_events(path).events if path else []


class JournalTail:
    """Reads the complete lines a running console appends to a journal (a torn last line waits for its end)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.buffer = b""
        self.events: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        new = []
        for line in lines:
            if line.strip():
                try:
                    new.append(json.loads(line))
                except ValueError:
                    continue  # a torn line mended later by recovery; verify names it
        self.events.extend(new)
        return new


@dataclass(frozen=True)
class KillPoint:
    """A moment to kill at: ``events`` written by the session (``count``), or a step's ``confirmed``/``started``."""

    kind: str
    step_id: str = ""
    count: int = 0

    def reached(self, session_events: Sequence[dict[str, Any]]) -> bool:
        if self.kind == "events":
            return len(session_events) >= self.count
        wanted = "step.confirmed" if self.kind == "confirmed" else "step.started"
        return any(e["type"] == wanted and e["data"].get("step_id") == self.step_id for e in session_events)

    def __str__(self) -> str:
        return f"after {self.count} events" if self.kind == "events" else f"at {self.step_id} {self.kind}"


def kill_candidates(runbook: Runbook, *, until: str | None = None, rollback: Sequence[str] = ()) -> list[KillPoint]:
    """Every step moment a change reaches, in order: the forward plan (up to ``until``'s start, the step whose
    failure starts the rollback, when given), then the rollback steps of ``rollback`` in queue order."""
    points = []
    for section, steps in runbook.sections():
        if section == "rollback":
            continue
        for step in steps:
            if step.kind in ("approval", "manual"):
                continue
            if step.confirmation(section) != "none":
                points.append(KillPoint("confirmed", step.id))
            points.append(KillPoint("started", step.id))
            if step.id == until:
                break
        else:
            continue
        break
    for step_id in rollback:
        step = runbook.rollback_step(step_id)
        if step.confirmation("rollback") != "none":
            points.append(KillPoint("confirmed", step_id))
        points.append(KillPoint("started", step_id))
    return points


def first_mutating_confirmation(runbook: Runbook) -> KillPoint:
    """The confirmation of the first mutating step: the console reads the cluster between it and the step's start,
    which is the widest window in which a confirmation is on disk and its step has not started."""
    step = next(s for s in runbook.steps if s.is_mutating)
    return KillPoint("confirmed", step.id)


def choose_points(rng: random.Random, runbook: Runbook, kills: int, *, stale_confirmation_first: bool,
                  until: str | None = None, rollback: Sequence[str] = ()) -> list[KillPoint]:
    """``kills`` moments in the order a change reaches them, drawn with ``rng``; the last two moments are left out so
    every moment is reached before the change closes. One in three is an event count (1 to 5 events into a session)
    instead. ``until`` and ``rollback`` describe a rollback path (see ``kill_candidates``)."""
    candidates = kill_candidates(runbook, until=until, rollback=rollback)[:-2]
    chosen: list[KillPoint] = []
    start = 0
    if stale_confirmation_first:
        first = first_mutating_confirmation(runbook)
        chosen.append(first)
        start = candidates.index(first) + 1
    rest = kills - len(chosen)
    pool = list(range(start, len(candidates)))
    for index in sorted(rng.sample(pool, min(rest, len(pool)))):
        point = candidates[index]
        chosen.append(KillPoint("events", count=rng.randint(1, 5)) if rng.random() < 1 / 3 else point)
    return chosen


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the console's process group and the group of every process under it (steps run in their own).

    The console's group is stopped first so it starts nothing new while its descendants are listed."""
    import psutil

    try:
        os.killpg(proc.pid, signal.SIGSTOP)
    except ProcessLookupError:
        proc.wait()
        return
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    groups = {proc.pid}
    for child in descendants:
        try:
            groups.add(os.getpgid(child.pid))
        except ProcessLookupError:
            continue
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            continue
    proc.wait(timeout=30)


@dataclass
class Loop:
    """What a crash loop did: sessions, kills, verify results after each kill, exit codes and logs."""

    change_id: str = ""
    sessions: list[Session] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    torn: int = 0
    verify_failures: list[str] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return bool(self.events) and self.events[-1].type == "change.closed"

    @property
    def outcome(self) -> str | None:
        return self.events[-1].data.get("outcome") if self.closed else None

    def tail(self, lines: int = 25) -> str:
        """The end of the last console's output, for assertion messages."""
        if not self.logs:
            return ""
        text = self.logs[-1].read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def crash_loop(
    console: Console,
    runbook: Path,
    answers: Path,
    points: Sequence[KillPoint],
    *,
    run_extra: Sequence[str] = (),
    resume_extra: Sequence[str] = (),
    on_events: Callable[[list[dict[str, Any]]], None] | None = None,
    after_kill: Callable[[int], None] | None = None,
    deadline_s: float = 180.0,
    operators: Sequence[str] = OPERATORS,
) -> Loop:
    """Start the change, kill it at each point in turn, verify, resume as the next operator; until it closes.

    ``on_events`` sees the journal's events as they come (to inject a fault at a state); ``after_kill`` runs after
    each kill with its index, before the record is verified."""
    loop = Loop()
    first_operator = str(_answers(answers).get("operator") or operators[0])
    loop.sessions.append(Session(1, first_operator))
    args = console.run_args(runbook, answers, *run_extra)
    logs = console.logs or console.records.parent
    pending = list(points)
    tail: JournalTail | None = None
    boundary = 0
    for n in range(len(points) + 1):
        log = logs / f"console-{n}.log"
        loop.logs.append(log)
        proc = console.spawn(args, log)
        point = pending.pop(0) if pending else None
        killed = False
        try:
            end = time.monotonic() + deadline_s
            while proc.poll() is None:
                if tail is None and (path := console.journal()) is not None:
                    tail = JournalTail(path)
                if tail is not None:
                    new = tail.poll()
                    if new and on_events is not None:
                        on_events(tail.events)
                    mine = [e for e in tail.events if e["seq"] > boundary]
                    if point is not None and point.reached(mine):
                        kill_tree(proc)
                        killed = True
                        break
                if time.monotonic() > end:
                    raise AssertionError(f"the console ran past {deadline_s}s; its output ends:\n" + _tail(log))
                time.sleep(POLL_S)
        finally:
            if proc.poll() is None:
                kill_tree(proc)
        loop.exit_codes.append(proc.returncode)
        if tail is not None:
            tail.poll()
            if on_events is not None:
                on_events(tail.events)
        if not loop.change_id:
            path = console.journal()
            if path is None:
                break
            loop.change_id = _change_id(path)
        if not killed:
            break
        loop.kills.append(str(point))
        if after_kill is not None:
            after_kill(len(loop.kills) - 1)
        verified = console.verify(loop.change_id)
        torn = verified.returncode != 0 and "torn" in verified.stdout.lower()
        if verified.returncode != 0:
            if torn:
                loop.torn += 1
            else:
                loop.verify_failures.append(verified.stdout.strip() + verified.stderr.strip())
        events_now = console.events()
        if events_now and events_now[-1].type == "change.closed":
            break
        boundary = events_now[-1].seq if events_now else 0
        tail = None  # read again from the start: the next session's events are those after the boundary
        operator = operators[(len(loop.sessions)) % len(operators)]
        loop.sessions.append(Session(boundary + 1, operator))
        args = console.resume_args(loop.change_id, answers, operator, *resume_extra,
                                   *(["--recover-torn-tail"] if torn else []))
    loop.events = console.events()
    return loop


def _answers(path: Path) -> dict[str, Any]:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text()) or {}


def _change_id(journal: Path) -> str:
    match = re.search(r"(CHG-\d{4}-\d{4,})$", journal.parent.name)
    if match is None:
        raise AssertionError(f"{journal.parent}: no change ID in the record's directory name")
    return match.group(1)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def load(runbook: Path) -> Runbook:
    return load_runbook(runbook).runbook

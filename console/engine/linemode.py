"""Line mode: drive a change in a plain terminal (a dumb terminal, a flaky SSH link, a screen reader).

Each step is printed with its exact command, its confirmation is asked on stdin, its output streams with
timestamps, and a failure offers its choices as a prompt. ``--answers FILE`` answers every prompt from a YAML
file, for rehearsals and tests; the session refuses it anywhere but a rehearsal environment.
"""

from __future__ import annotations

import io
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from console.engine import policy as pol
from console.engine.answers_schema import validate_answers
from console.engine.runner import OutputLine
from console.engine.session import ChangeSession, SessionError
from console.engine.state import Next
from console.errors import OpsConsoleError
from console.journal import events as ev
from console.journal.journal import Event
from console.review.summary import parse_ts
from console.runbook.durations import format_duration


class AnswersError(OpsConsoleError, ValueError):
    """The answers file is missing an answer the change needs, or is malformed."""


@dataclass
class Answers:
    """Pre-written answers for an unattended rehearsal."""

    data: dict[str, Any] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    source: str = "<answers>"

    @classmethod
    def load(cls, path: Path) -> Answers:
        from ruamel.yaml import YAML

        try:
            data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise AnswersError(f"{path}: cannot read: {exc.strerror}") from None
        except Exception as exc:  # noqa: BLE001 - ruamel's YAML errors share no base class worth naming here
            raise AnswersError(f"{path}: invalid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise AnswersError(f"{path}: an answers file is a mapping (its format: opsconsole run --help; its schema: opsconsole schema --answers)")
        problems = validate_answers(data, str(path))
        if problems:
            raise AnswersError("\n".join(problems))
        return cls(data, {}, str(path))

    def has_more(self, section: str, step_id: str) -> bool:
        """Whether a list of answers for the step has one not yet used (a single answer never has another)."""
        entry = (self.data.get(section) or {}).get(step_id)
        return isinstance(entry, list) and self.used.get(f"{section}:{step_id}", 0) < len(entry)

    def take(self, section: str, step_id: str) -> Any:
        entry = (self.data.get(section) or {}).get(step_id)
        if entry is None:
            raise AnswersError(f"{self.source}: no {section} answer for step {step_id!r}")
        key = f"{section}:{step_id}"
        if isinstance(entry, list):
            i = self.used.get(key, 0)
            if i >= len(entry):
                raise AnswersError(f"{self.source}: ran out of {section} answers for step {step_id!r}")
            self.used[key] = i + 1
            return entry[i]
        return entry


class LineDriver:
    """Runs a session to the end (or until the operator stops), printing to ``out`` and reading ``inp``."""

    def __init__(self, session: ChangeSession, *, out: TextIO = sys.stdout, inp: TextIO = sys.stdin, answers: Answers | None = None) -> None:
        self.s = session
        self.out = out
        self.inp = inp
        self.answers = answers
        self._started = datetime.now(UTC)
        self._retry: dict[str, Any] = {}  # the retry data of the try running now

    # -- io ------------------------------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def ask(self, prompt: str) -> str:
        # A question is answered by what is typed after it is asked: an Enter pressed twice at the last prompt, or
        # keys hit while a step ran, must not answer a question nobody has read yet.
        _discard_typeahead(self.inp)
        self.out.write(prompt)
        self.out.flush()
        line = self.inp.readline()
        if not line:
            raise EOFError("end of input")
        return line.rstrip("\n")

    def _answer(self, section: str, step_id: str, prompt: str) -> Any:
        if self.answers is not None:
            value = self.answers.take(section, step_id)
            self.say(f"{prompt}{value if not isinstance(value, dict) else value.get('choice', value.get('answer', ''))}  (from answers)")
            return value
        return self.ask(prompt)

    # -- the loop ------------------------------------------------------------------------------------------

    def drive(self) -> int:
        s = self.s
        self.say(f"change {s.change_id}: {s.step_text(s.runbook.metadata.title)}")
        self.say(f"environment {s.environment}, context {s.context}, operator {s.operator}; record in {s.ref.path}")
        session_began = max((i for i, e in enumerate(s.events) if e.type in (ev.CHANGE_CREATED, ev.SESSION_RESUMED)), default=0)
        for event in s.events[session_began:]:
            self._lock_news(event)
        # What the lock's renewals learn arrives on their own thread, between prompts: said as it comes.
        s.event_listeners.append(self._lock_news)
        s.event_listeners.append(self._on_event)
        while True:
            nxt = s.next()
            handler: Callable[[Next], int | None] = getattr(self, f"_on_{nxt.kind}")
            result = handler(nxt)
            if result is not None:
                return result

    def _lock_news(self, event: Event) -> None:
        d = event.data
        if event.type == ev.LOCK_ACQUIRED:
            shown = d.get("displaced") or {}
            taken = f", taken from {shown.get('holder')}" + (" (expired)" if shown.get("expired") else " (break-glass)") if shown else ""
            self.say(f"cluster lock {d.get('lease')} held by {d.get('holder')}{taken}")
        elif event.type == ev.LOCK_LOST:
            self.say(f"   ! change lock lost: {d.get('message')}")
        elif event.type == ev.LOCK_UNREACHABLE:
            self.say(f"   ! the change lock could not be renewed: {d.get('message')}")
        elif event.type == ev.LOCK_PAUSED:
            self.say(f"   ! {d.get('message')}")
        elif event.type == ev.LOCK_RESTORED:
            self.say(f"   the change lock {d.get('lease')} is renewed again; the change goes on")
    def _on_event(self, event: Event) -> None:
        """Tries of a step with retry, skipped steps and scaled durations, as the session records them."""
        d = event.data
        if event.type == ev.STEP_SKIPPED:
            self.say("")
            self.say(f"== {d.get('section')} {d.get('step_id')}: {d.get('reason')}")
        elif event.type == ev.STEP_STARTED:
            retry = self._retry = d.get("retry") or {}
            if int(retry.get("try", 1)) > 1:
                self._started = datetime.now(UTC)
                self.say(f"   attempt {retry['try']} of {retry['of']} ...")
            timing = d.get("timing") or {}
            if timing.get("factor", 1) != 1 and int(retry.get("try", 1)) == 1:
                declared = ", ".join(f"{k.removesuffix('_s')} {format_duration(v)}" for k, v in timing["declared"].items())
                scaled = ", ".join(f"{format_duration(v)}" for v in timing["scaled"].values())
                self.say(f"   declared {declared}; the rehearsal clock runs at {timing['factor']:g}x, so {scaled}")
        elif event.type == ev.STEP_FINISHED and d.get("retrying"):
            r = self._retry
            self.say(f"   attempt {r.get('try')} of {r.get('of')} failed: {d.get('reason')}; "
                     f"trying again in {format_duration(r.get('interval_s') or 0)}")

    def _header(self, nxt: Next) -> None:
        s = self.s
        assert nxt.item is not None and nxt.step is not None
        total = len(s.state.forward)
        if nxt.item.section == "rollback":
            where = f"rollback {s.state.rollback_pos + 1}/{len(s.state.rollback_queue)}"
        else:
            where = f"{s.state.position + 1}/{total}"
        self.say("")
        self.say(f"== [{where}] {nxt.item.section} {nxt.step.id}: {s.step_text(nxt.step.title)}")
        if nxt.step.retry is not None:
            self.say(f"   tried up to {nxt.step.retry.attempts} times until it passes")
        if s.state.statuses.get(nxt.step.id) == "interrupted":
            self.say("   (this step was interrupted when the console stopped; it has not been marked done)")
        if nxt.step.explain:
            for line in s.step_text(nxt.step.explain).strip().splitlines():
                self.say(f"   {line}")
        command = s.command_for(nxt.item)
        if command:
            self.say(f"   $ {command}")

    def _on_confirm(self, nxt: Next) -> int | None:
        self._header(nxt)
        assert nxt.item is not None
        self._show_diff(nxt)
        if nxt.confirm == "typed":
            prompt = f"   type {nxt.word!r} to run this step: "
        else:
            prompt = "   run this step? [yes/no]: "
        answer = str(self._answer("confirm", nxt.item.step_id, prompt))
        if answer.strip().lower() in ("q", "quit", "no", "n") and nxt.confirm == "yes":
            return self._stop()
        if not self.s.confirm(answer):
            self.say(f"   refused: {answer!r} is not {nxt.word if nxt.confirm == 'typed' else 'yes'!r} (recorded)")
            if self.answers is not None and not self.answers.has_more("confirm", nxt.item.step_id):
                # An unattended run has no one to type the word again: the same answer would be refused for ever.
                self.say(f"stopped; the change stays open: opsconsole resume {self.s.change_id}")
                self.s.release()
                raise AnswersError(f"{self.answers.source}: the confirm answer for step {nxt.item.step_id!r} was refused "
                                   f"({answer!r}, recorded) and the file gives no other")
        return None

    def _show_diff(self, nxt: Next) -> None:
        """An apply or restore step's diff against the live objects, before its confirmation (recorded by the session)."""
        assert nxt.item is not None
        preview = self.s.diff(nxt.item)
        if preview is None:
            return
        if preview.problem and not preview.lines:
            self.say(f"   ! {preview.problem}")
            return
        self.say("   kubectl diff against the live objects:" if preview.lines else
                 "   kubectl diff: the live objects already match the manifest")
        for line in preview.lines:
            self.say(f"   | {line}")
        if preview.problem:
            self.say(f"   ! {preview.problem}")

    def _on_run(self, nxt: Next) -> int | None:
        if nxt.item and nxt.item.step_id not in self.s.state.confirmed:
            self._header(nxt)
        self.say("   running ...")
        previous = signal.getsignal(signal.SIGINT)

        def on_interrupt(signum: int, frame: Any) -> None:
            self.say("   cancelling the step (its whole process group) ...")
            self.s.cancel()

        in_main = _in_main_thread()
        if in_main:
            signal.signal(signal.SIGINT, on_interrupt)
        self._started = datetime.now(UTC)
        try:
            outcome = self.s.run(listeners=[self._print_line])
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
        verdict = "passed" if outcome.passed else f"FAILED: {outcome.reason}"
        code = "" if outcome.exit_code is None else f"exit {outcome.exit_code}, "
        self.say(f"   {code}{outcome.duration_s:.1f}s: {verdict}")
        return None

    def _print_line(self, line: OutputLine) -> None:
        # Wall-clock UTC, to the millisecond, as an operator's notes and other logs are kept.
        at = (self._started + timedelta(seconds=line.t)).strftime("%H:%M:%S.%f")[:-3]
        mark = "!" if line.stream == "stderr" else "|"
        self.say(f"   {at} {mark} {line.text}")

    def _on_manual(self, nxt: Next) -> int | None:
        self._header(nxt)
        assert nxt.step is not None and nxt.item is not None
        if nxt.step.instructions:
            for line in self.s.step_text(nxt.step.instructions).strip().splitlines():
                self.say(f"   > {line}")
        raw = self._answer("manual", nxt.item.step_id, "   done? [done/no] ")
        if isinstance(raw, dict):
            answer, note = str(raw.get("answer", "")), str(raw.get("note", ""))
        else:
            answer, note = str(raw).strip().lower(), ""
            if self.answers is None:
                note = self.ask("   note (optional): ")
        answer = {"yes": "done", "y": "done", "d": "done", "n": "no"}.get(answer, answer)
        if answer not in ("done", "no"):
            self.say("   answer done or no")
            return None
        self.s.answer_manual(answer, note)
        return None

    def _on_approval(self, nxt: Next) -> int | None:
        self._header(nxt)
        assert nxt.step is not None and nxt.item is not None
        if self.answers is not None:
            raw = self.answers.take("approve", nxt.item.step_id)
            name, role, ref = str(raw.get("name", "")), str(raw.get("role", nxt.step.role)), str(raw.get("reference", ""))
        else:
            name = self.ask(f"   approver's name ({nxt.step.role}): ")
            role, ref = nxt.step.role or "", self.ask("   reference (ticket): ")
        try:
            self.s.approve(name, role, ref)
        except SessionError as exc:
            self.say(f"   {exc}")
            if self.answers is not None:
                raise
        return None

    def _on_failure(self, nxt: Next) -> int | None:
        assert nxt.item is not None and nxt.step is not None
        self.s.check_escalations()
        self.say(f"!! {nxt.item.section} {nxt.item.step_id} failed: {nxt.reason}")
        failure = self.s.state.failure
        if failure is not None and self.answers is None:
            # The same deadlines the failure screen counts down, so a line-mode operator knows who to call when.
            due = pol.escalation_levels(self.s.policy, parse_ts(failure.at))
            notified = self.s.policy.escalation.notify
            self.say("   escalation: " + ", ".join(
                f"{lvl.level} at {lvl.due:%H:%M:%SZ}{' (notified by policy)' if lvl.key in notified else ''}" for lvl in due
            ))
        if nxt.auto_rollback and not self._answered_failure(nxt.item.step_id):
            return self._count_down(nxt)
        default = "rollback" if nxt.step.on_failure == "rollback" and "rollback" in nxt.options else None
        options = "/".join(o.upper() if o == default else o for o in nxt.options)
        raw = self._answer("failure", nxt.item.step_id, f"   what now? [{options}]: ")
        if isinstance(raw, dict):
            choice, reason, approver = str(raw.get("choice", "")), str(raw.get("reason", "")), str(raw.get("approver", ""))
        else:
            choice, reason, approver = str(raw).strip().lower() or (default or ""), "", ""
            if choice == "continue" and self.answers is None:
                self.say("   continuing past a failure is break-glass: it is recorded with your reason and the approver")
                reason = self.ask("   reason: ")
                approver = self.ask("   approved by: ")
        try:
            self.s.choose(choice, reason=reason, approver=approver)
        except SessionError as exc:
            self.say(f"   {exc}")
            if self.answers is not None:
                raise
        return None

    def _answered_failure(self, step_id: str) -> bool:
        """An answers file that names this failure decides it; the countdown is for everything else."""
        return self.answers is not None and (self.answers.data.get("failure") or {}).get(step_id) is not None

    def _count_down(self, nxt: Next) -> int | None:
        """Roll back by itself after the policy's countdown, unless the operator presses Enter to hold it."""
        countdown = 0 if self.answers is not None else self.s.rollback_countdown_s
        if countdown > 0:
            # Only an Enter pressed once the countdown is shown holds it: one typed before (a double Enter at the
            # step's confirmation) would turn the automatic rollback into one that waits for a person.
            _discard_typeahead(self.inp)
            self.say(f"   rolling back automatically in {countdown}s (on_failure: rollback); press Enter to hold")
            if _line_within(self.inp, countdown):
                self.s.hold_rollback()
                self.say("   held (recorded): choose what to do")
                return None
        self.s.auto_rollback(countdown_s=countdown)
        self.say("   rolling back (automatic, recorded)")
        return None

    def _on_finish_rollback(self, nxt: Next) -> int | None:
        self.s.finish_rollback()
        self.say("== rollback finished")
        return None

    def _on_close(self, nxt: Next) -> int | None:
        self.say("")
        self.say(f"== close-out: suggested outcome {nxt.suggested}")
        if self.answers is not None:
            raw = self.answers.data.get("close") or {}
            outcome = raw.get("outcome", "auto")
            outcome = nxt.suggested if outcome in (None, "auto") else outcome
            followups = list(raw.get("followups") or [])
            signoff = raw.get("signoff") or {}
            name, role = str(signoff.get("name", self.s.operator)), str(signoff.get("role", "operator"))
        else:
            outcome = self._ask_outcome(str(nxt.suggested))
            followups = [f for f in self.ask("   follow-ups (separate with ;): ").split(";") if f.strip()]
            name = self.ask(f"   signed off by [{self.s.operator}]: ").strip() or self.s.operator
            role = self.ask("   role [operator]: ").strip() or "operator"
        head = self.s.close(str(outcome), followups=followups, signoff_name=name, signoff_role=role)
        self.say(f"== {self.s.change_id} closed: {outcome}")
        self.say(f"   record: {self.s.ref.path / 'record.md'}")
        self.say(f"   final chain hash (keep it in the ticket): {head}")
        if self.s.shared:
            self.say(f"   team store: {self.s.shared}")
        return 0 if outcome == "success" else 1

    def _ask_outcome(self, suggested: str) -> str:
        """The outcome typed at close-out (Enter takes the suggested one); anything else is asked again."""
        from console.journal.events import OUTCOMES

        while True:
            outcome = self.ask(f"   outcome [{suggested}]: ").strip() or suggested
            if outcome in OUTCOMES:
                return outcome
            self.say(f"   {outcome!r} is not an outcome: {', '.join(OUTCOMES[:-1])} or {OUTCOMES[-1]}")

    def _on_done(self, nxt: Next) -> int | None:
        return 0 if nxt.suggested == "success" else 1

    def _stop(self) -> int:
        self.say(f"stopped; the change stays open: opsconsole resume {self.s.change_id}")
        self.s.release()
        return 1  # not done: the exit-code table's 1, like a failed or aborted change


def _discard_typeahead(inp: TextIO) -> None:
    """Throw away what was typed on a terminal and not read yet. Input that is no terminal (a pipe, a file) is a
    script written in advance, so it is left alone."""
    try:
        if not inp.isatty():
            return
        import termios

        termios.tcflush(inp.fileno(), termios.TCIFLUSH)
    except (OSError, ValueError, io.UnsupportedOperation):
        return  # no file descriptor to flush (a test's StringIO): nothing was typed ahead


def _line_within(inp: TextIO, seconds: float) -> bool:
    """Whether a line (Enter) arrives on ``inp`` within ``seconds``; it is read. Input that cannot be waited on
    (not a terminal or pipe) never holds: the countdown then simply runs out."""
    import select

    try:
        ready, _, _ = select.select([inp], [], [], seconds)
    except (OSError, ValueError, TypeError, io.UnsupportedOperation):
        time.sleep(seconds)
        return False
    # Enter holds; the end of the input (nobody there to hold it) lets the countdown run out.
    return bool(ready) and bool(inp.readline())


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

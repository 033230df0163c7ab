"""Fixtures for the stepper's pilot tests: the rehearsal cluster, a copy of the runbooks, a frozen clock, key drivers.

Every change in these tests is driven through the screens by key presses only; the helpers here press keys and
then poll what the screens (or the session under them) show, with a deadline, instead of sleeping and hoping.
"""

from __future__ import annotations

import asyncio
import shutil
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

from console.config import Policy
from kubesim.kubelet import Timings
from kubesim.testing import RunningCluster, running_cluster
from tests.support.wait import wait_on

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "runbooks"
# A Wednesday noon (UTC): inside every default window, and the same in every run.
FROZEN = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
# At 20x a pod is Ready about 0.15 s after it is scheduled, so rollouts finish in a second or two.
SPEED = 20.0
APPROVER = "sam"


class FrozenClock:
    """A clock that always says the same time unless the test moves it."""

    def __init__(self, now: datetime = FROZEN) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def frozen_clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def cluster() -> Iterator[RunningCluster]:
    """The default rehearsal scenario on a free port at 20x; stopped after the test."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH")
    with running_cluster("default", speed=SPEED, timings=Timings()) as rc:
        yield rc


def edit_runbook(path: Path, change: Callable[[Any], None]) -> None:
    """Load a runbook with comments kept, let ``change`` edit it in place, and write it back."""
    yaml = YAML()
    doc = yaml.load(path.read_text(encoding="utf-8"))
    change(doc)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.dump(doc, handle)


def step_of(doc: Any, step_id: str, section: str = "steps") -> Any:
    items = doc["rollback"]["steps"] if section == "rollback" else doc[section]
    return next(s for s in items if s["id"] == step_id)


@pytest.fixture
def runbooks_dir(tmp_path: Path) -> Path:
    """The shipped runbooks, copied, with the long waits shortened so a whole change takes seconds."""
    target = tmp_path / "runbooks"
    shutil.copytree(SHIPPED, target)

    def config_restart(doc: Any) -> None:
        step_of(doc, "watch")["duration"] = "20s"  # a second at the rehearsal clock's 20x

    def image_upgrade(doc: Any) -> None:
        # A bad image never becomes ready: the wait fails after this long instead of five minutes.
        step_of(doc, "wait")["timeout"] = "6s"

    edit_runbook(target / "web-config-restart.yaml", config_restart)
    edit_runbook(target / "web-image-upgrade.yaml", image_upgrade)
    return target


@pytest.fixture
def policy() -> Policy:
    return Policy()


# -- driving the screens ---------------------------------------------------------------------------------------


class StepperDriver:
    """Presses keys on a running OpsConsoleApp and waits (bounded) for the screens to answer."""

    def __init__(self, pilot: Any) -> None:
        self.pilot = pilot
        self.app = pilot.app

    async def wait(self, check: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition") -> Any:
        """``wait_on`` the pilot; a timeout says which screen is up and what it shows."""
        return await wait_on(self.pilot, check, what=what, timeout=timeout, describe=self.describe)

    def describe(self) -> str:
        screen = self.app.screen
        parts = [f"screen {type(screen).__name__}"]
        session = getattr(screen, "session", None)
        if session is not None:
            parts.append(f"next {session.next().kind}, statuses {session.state.statuses}")
        for wid in ("#step-prompt", "#step-status", "#start-error", "#start-verdicts", "#failure-prompt", "#closeout-result"):
            found = screen.query(wid)
            if found:
                parts.append(f"{wid}: {self.text(wid)!r}")
        notes = [n.message for n in self.app._notifications]
        if notes:
            parts.append(f"notifications {notes!r}")
        return "; ".join(parts)

    def text(self, selector: str) -> str:
        """The plain text a Static shows now."""
        widget = self.app.screen.query_one(selector)
        content = widget.render()
        return str(getattr(content, "plain", content))

    @property
    def session(self) -> Any:
        return self.app.screen.session

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)

    async def type(self, text: str) -> None:
        await self.pilot.press(*text)

    async def type_ahead(self, keys: list[str], *, rate: float = 30.0, burst: int = 10) -> None:
        """Send keys the way a terminal delivers a fast typist's keys to a busy console: ``burst`` keys in one read,
        ``rate`` keys a second on average, without waiting for the console to handle one before the next."""
        for start in range(0, len(keys), burst):
            group = keys[start:start + burst]
            for key in group:
                self.app._driver.send_message(key_event(self.app, key))
            await asyncio.sleep(len(group) / rate)

    async def focus_by_tab(self, widget_id: str, *, limit: int = 40) -> None:
        """Press tab until the widget with ``widget_id`` has the focus (as an operator would)."""
        for _ in range(limit):
            focused = self.app.focused
            if focused is not None and focused.id == widget_id:
                return
            await self.pilot.press("tab")
        raise AssertionError(f"{widget_id} never got the focus after {limit} tabs; focused: {self.app.focused}")

    async def open_runbook(self, runbook_id: str) -> None:
        """From Home: move the runbook table's cursor down to the runbook and press Enter."""
        from screens.home import HomeScreen, scan_runbooks

        await self.wait(lambda: isinstance(self.app.screen, HomeScreen), what="Home")
        ids = [e.id for e in scan_runbooks(self.app.runbooks_dir)]
        await self.press(*["down"] * ids.index(runbook_id), "enter")
        await self.wait(lambda: type(self.app.screen).__name__ == "StartScreen", what="the start form")

    async def fill(self, widget_id: str, text: str) -> None:
        """Tab to an Input, clear it and type ``text``."""
        await self.focus_by_tab(widget_id)
        await self.press("home", "ctrl+k")
        await self.type(text)

    async def start_change(self, runbook_id: str, *, params: dict[str, str] | None = None, approver: str = APPROVER) -> None:
        """Home → start form (parameters, the senior-engineer approval) → ctrl+s → the step screen."""
        await self.open_runbook(runbook_id)
        for name, value in (params or {}).items():
            await self.fill("param-" + "".join(c if c.isalnum() else "-" for c in name), value)
        await self.fill("appr-name-senior-engineer", approver)
        await self.press("ctrl+s")
        # The change has started once a screen of it is on top: the step screen, or already the failure screen a
        # failing gate opens over it, or the close-out (a slow poll may never see the step screen itself on top).
        await self.wait(lambda: getattr(self.app.screen, "session", None) is not None, what="the started change")

    async def until_next(self, kind: str, step_id: str | None = None, *, timeout: float = 30.0) -> Any:
        """Wait until the change asks for ``kind`` (of ``step_id``) and no step is running."""
        def ready() -> Any:
            screen = self.app.screen
            session = getattr(screen, "session", None)
            if session is None or getattr(screen, "running", False):
                return None
            nxt = session.next()
            if nxt.kind == kind and (step_id is None or (nxt.step is not None and nxt.step.id == step_id)):
                return nxt
            return None
        return await self.wait(ready, timeout=timeout, what=f"{kind} {step_id or ''}".strip())


def key_event(app: Any, key: str) -> events.Key:
    """The Key event a terminal driver posts for ``key`` (a character or a key name), as the pilot builds it."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        char: str | None = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    return event


@pytest.fixture
def driver_for() -> Callable[[Any], StepperDriver]:
    return StepperDriver

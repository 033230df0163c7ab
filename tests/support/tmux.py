"""A tmux server on a private socket, so a test drives the console in a real terminal without touching the
operator's own tmux: send keys in one burst, read the screen back, wait for a text to appear."""

from __future__ import annotations

import shutil
import subprocess

import psutil

from tests.support.wait import wait_for

TMUX = shutil.which("tmux")


class Tmux:
    """One tmux server on the socket named ``socket``; its session is called ``demo``."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        proc = subprocess.run([TMUX or "tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        if proc.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "demo")

    def keys(self, *keys: str) -> None:
        """Send keys in one burst (one write to the terminal): the console routes each where the ones before it
        left the focus, however fast they come."""
        self("send-keys", "-t", "demo", *keys)

    def processes(self) -> list[psutil.Process]:
        """The pane's process tree: the console and the rehearsal cluster it started (in a session of its own)."""
        pane = psutil.Process(int(self("display-message", "-p", "-t", "demo", "#{pane_pid}").strip()))
        return [pane, *pane.children(recursive=True)]

    def wait_for(self, text: str, *, timeout: float = 60.0) -> str:
        """The screen once it shows ``text``; past ``timeout``, fail with what it shows instead."""
        def shown() -> str | None:
            screen = self.screen()
            return screen if text in screen else None

        return wait_for(shown, timeout=timeout, interval=0.2, what=repr(text),
                        describe=lambda: "the screen shows:\n" + self.screen())

    def kill_server(self) -> None:
        subprocess.run([TMUX or "tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)

"""The README's "Your first change" names only keys and commands that exist: every key in it is bound on some
screen of the console (or is one Textual's own widgets answer), every ``opsconsole`` command in it parses, and
every ``make`` target is in the Makefile."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import shlex
from pathlib import Path

import pytest
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input

import screens
from console.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
NAMED = {"esc": "escape", "?": "question_mark", "/": "slash", "pageup": "pageup", "pagedown": "pagedown"}


def walkthrough() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Your first change")
    return text[start : text.index("\n## ", start + 1)]


def as_key(token: str) -> str | None:
    """The Textual key a README token names (``Ctrl+S`` -> ``ctrl+s``), or None when it is no key."""
    low = token.strip().lower()
    if low in NAMED:
        return NAMED[low]
    if re.fullmatch(r"[a-z]", token) or re.fullmatch(r"(ctrl|shift)\+[a-z]+|tab|enter|end|home|f\d+", low):
        return low
    return None


def bound_keys() -> set[str]:
    keys: set[str] = set()
    classes: list[type] = [App, Screen, DataTable, Input]
    for info in pkgutil.walk_packages(screens.__path__, "screens."):
        module = importlib.import_module(info.name)
        classes += [c for _n, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__]
    for cls in classes:
        for binding in getattr(cls, "BINDINGS", []):
            key = binding.key if isinstance(binding, Binding) else binding[0]
            keys.update(k.strip() for k in key.split(","))
    return keys


def test_every_key_in_the_walkthrough_is_bound() -> None:
    tokens = re.findall(r"`([^`]+)`", walkthrough())
    keys = {k for t in tokens if (k := as_key(t))}
    assert {"ctrl+s", "escape", "y", "n", "x", "l", "end", "pageup"} <= keys  # the section is the one read here
    missing = sorted(keys - bound_keys())
    assert not missing, f"README keys bound nowhere: {missing}"


def test_every_command_in_the_walkthrough_parses() -> None:
    section = walkthrough()
    commands = [t for t in re.findall(r"`([^`]+)`", section.replace("\n   ", " ")) if t.startswith("opsconsole ")]
    assert len(commands) >= 4, commands
    parser = build_parser()
    for command in commands:
        argv = shlex.split(command)[1:]
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README command does not parse: {command}")
    makefile = (REPO / "Makefile").read_text()
    for target in re.findall(r"`make (\w+)`", section):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target

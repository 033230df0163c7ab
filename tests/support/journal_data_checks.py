"""Checks that a journal's events agree with their models: shared by the unit tests and the engine tests' teardown.

``faithful_problems`` names every event of a journal whose data the writer's check would refuse, or whose model does
not give the data back byte for byte (``model_dump(exclude_unset=True)`` serialised canonically): together they say
that validating before writing changes nothing on disk, and that a typed reading loses or invents no field.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from console.journal.chain import Event, canonical
from console.journal.event_data import MODELS, EventDataError, check_data
from console.journal.journal import read_events


def event_problems(events: Iterable[Event], where: str) -> list[str]:
    problems = []
    for e in events:
        model = MODELS.get(e.type)
        if model is None:
            continue  # a type this version does not know is read as generic data, never checked
        try:
            check_data(e.type, e.data)
        except EventDataError as exc:
            problems.append(f"{where}: event {e.seq}: {exc}")
            continue
        dumped = canonical(model.model_validate(e.data).model_dump(mode="json", exclude_unset=True))
        if dumped != canonical(e.data):
            problems.append(f"{where}: event {e.seq} ({e.type}): the model gives back {dumped!r}, not {canonical(e.data)!r}")
    return problems


def faithful_problems(root: Path) -> tuple[list[str], set[str]]:
    """(problems, event types seen) over every journal under ``root`` (change journals and refused-start logs)."""
    problems: list[str] = []
    seen: set[str] = set()
    for path in sorted([*root.rglob("journal.jsonl"), *root.rglob("refused/*.jsonl")]):
        events = read_events(path).events  # up to a damaged line, as a reviewer reads it
        seen.update(e.type for e in events)
        problems += event_problems(events, str(path.relative_to(root)))
    return problems, seen

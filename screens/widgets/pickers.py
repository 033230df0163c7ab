"""Pickers the dashboard opens to switch what it shows: ``ContextPicker`` (a kubeconfig context, production ones
marked) and ``NamespacePicker`` (a namespace typed or picked, or all of them). Each is a modal that dismisses with
the choice, or None on escape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

__all__ = ["ContextPicker", "NamespacePicker"]


class ContextPicker(ModalScreen[str | None]):
    """Choose a kubeconfig context; production ones are marked."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel", tooltip="Keep the current context"),
    ]

    def __init__(self, contexts: Sequence[tuple[str, str]], current: str) -> None:
        super().__init__()
        self.contexts = contexts  # (name, label)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker"):
            yield Static("[b]Switch context[/b]  (enter to choose, escape to cancel)")
            options = [Option(label, id=name) for name, label in self.contexts]
            ol = OptionList(*options, id="context-options")
            yield ol

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        names = [n for n, _ in self.contexts]
        if self.current in names:
            ol.highlighted = names.index(self.current)
        ol.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NamespacePicker(ModalScreen[str | None]):
    """Choose a namespace: type one, or pick a known one; ``*`` (or an empty line) means all namespaces."""

    ALL = "*"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.ns_cancel", tooltip="Keep the current namespace"),
    ]

    def __init__(self, namespaces: Sequence[str], current: str | None) -> None:
        super().__init__()
        self.namespaces = list(namespaces)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker"):
            yield Static("[b]Switch namespace[/b]  (type a name or pick one; * for all)")
            yield Input(value=self.current or "", placeholder="namespace, or * for all", id="ns-input")
            yield OptionList(Option("all namespaces", id=self.ALL), *[Option(n, id=n) for n in self.namespaces],
                             id="ns-options")

    @on(Input.Submitted, "#ns-input")
    def _typed(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(self.ALL if value in ("", "*") else value)

    @on(OptionList.OptionSelected, "#ns-options")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

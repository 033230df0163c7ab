"""Form fields whose focus cannot be missed: a ``▶`` and the accent colour on the label of the focused field.

A compact input shows its focus only as a slightly different shade, which is easy to miss on a dim terminal at
night; a field typed into by mistake means a wrong approver or sign-off in the record. ``FieldLabel`` names one
field (by id) and ``mark_focused`` points every label on a screen at the field that has the focus now.
Inputs made here never select their text when they take the focus, so a key typed after Tab adds to a field
instead of replacing what it held.
"""

from __future__ import annotations

from textual import events
from textual.dom import DOMNode
from textual.widget import Widget
from textual.widgets import Input, Select, Static

MARK = "▶ "
NO_MARK = "  "


class FieldLabel(Static):
    """The label to the left of one form field; ``▶`` and bold accent while that field has the focus."""

    DEFAULT_CSS = """
    FieldLabel { width: 26; height: 1; }
    FieldLabel.-focused { color: $accent; text-style: bold; }
    """

    def __init__(self, text: str, *, field: str, id: str | None = None) -> None:
        super().__init__(NO_MARK + text, id=id, classes="form-label", markup=False)
        self.text = text
        self.field = field
        self.focused_field = False

    def mark(self, focused: bool) -> None:
        if focused == self.focused_field:
            return
        self.focused_field = focused
        self.set_class(focused, "-focused")
        self.update((MARK if focused else NO_MARK) + self.text)


class FormSelect(Select):
    """A compact Select for a form, which tolerates its screen being taken down while it mounts.

    Select fills its parts in when it mounts; when the app closes (or the screen goes) just as a form opens, its
    parts can be gone by then, and the query for them raised from inside the mount, ending the app with an error.
    """

    def __init__(self, options, *, value, id: str) -> None:
        super().__init__(options, value=value, allow_blank=False, compact=True, id=id)

    def _on_mount(self, event: events.Mount) -> None:
        if not (self.query("SelectCurrent #label") and self.query("SelectOverlay")):
            event.prevent_default()  # taken down already: nothing to fill in


def field_input(*, id: str, value: str = "", placeholder: str = "", password: bool = False) -> Input:
    """A compact form input that keeps its text when it takes the focus (no select-all)."""
    return Input(compact=True, value=value, placeholder=placeholder, password=password, id=id, select_on_focus=False)


def mark_focused(root: DOMNode, focused: Widget | None) -> None:
    """Mark the label of the field holding the focus (a field's descendant, e.g. a Select's inner part, counts)."""
    ids = set()
    node: DOMNode | None = focused
    while node is not None and node is not root:
        if node.id:
            ids.add(node.id)
        node = node.parent
    for label in root.query(FieldLabel):
        label.mark(label.field in ids)

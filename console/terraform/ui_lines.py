"""Terraform's ``-json`` UI stream read as the lines a person reads (pure: a line in, lines out).

With ``-json`` Terraform writes one JSON object per line (``{"@level", "@message", "type", ...}``); its human
output is, message for message, the ``@message`` (``terraform_data.node[0]: Plan to create``, the change summary
``Plan: 2 to add, 0 to change, 0 to destroy.``). A diagnostic's detail follows its message, indented, as the human
output prints it. Anything that is not such a message (text Terraform writes before the stream starts, the
console's own lines) is shown as it is.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["human_lines", "ui_message"]


def ui_message(line: str) -> dict[str, Any] | None:
    """The Terraform UI message a line holds, or None when it is not one."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("@message"), str):
        return None
    return message


def human_lines(line: str) -> list[str]:
    """What Terraform's human output shows for one line of its ``-json`` stream (the line itself when not JSON)."""
    message = ui_message(line)
    if message is None:
        return [line]
    out = message["@message"].splitlines() or [""]
    diagnostic = message.get("diagnostic")
    if message.get("type") == "diagnostic" and isinstance(diagnostic, dict):
        detail = diagnostic.get("detail")
        if isinstance(detail, str) and detail.strip():
            out += ["  " + d if d else "" for d in detail.strip().splitlines()]
    return out

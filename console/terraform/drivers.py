"""Choosing how Terraform runs: the operator's binary when there is one, the embedded engine otherwise.

Both drivers implement :class:`~console.terraform.base.TerraformDriver` and stream Terraform's ``-json`` UI
messages line by line. This module is the one the engine imports; the implementations live in ``binary.py``
and ``embedded.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from console.terraform.base import (
    LineSink,
    TerraformCommandFailed,
    TerraformDriver,
    TerraformError,
    TerraformUnavailable,
    TerraformWorkspaceMissing,
    TfResult,
    var_args,
)
from console.terraform.binary import BinaryDriver, binary_driver, find_binary
from console.terraform.embedded import EmbeddedDriver

__all__ = [
    "BinaryDriver",
    "EmbeddedDriver",
    "LineSink",
    "TerraformCommandFailed",
    "TerraformDriver",
    "TerraformError",
    "TerraformUnavailable",
    "TerraformWorkspaceMissing",
    "TfResult",
    "choose_driver",
    "find_binary",
    "var_args",
]

PREFERENCES = ("auto", "binary", "embedded")


def choose_driver(
    preference: str = "auto",
    *,
    env: Mapping[str, str] = os.environ,
    workspace: str = "default",
) -> TerraformDriver:
    """The driver a step asked for.

    ``auto``: the binary when ``terraform`` (else ``tofu``) is on ``env``'s PATH, because the operator's own
    version is what the team's state was written with; the embedded engine otherwise. ``binary`` or
    ``embedded``: that one, or :class:`TerraformUnavailable` saying why it cannot run.
    """
    if preference not in PREFERENCES:
        raise ValueError(f"unknown terraform driver {preference!r}; expected one of {', '.join(PREFERENCES)}")
    if preference == "binary" or (preference == "auto" and find_binary(env) is not None):
        return binary_driver(env, workspace)
    return EmbeddedDriver(workspace=workspace)

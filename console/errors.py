"""The one base class of the console's own errors.

Every exception class under ``console/`` derives from :class:`OpsConsoleError`, keeping the builtin base its callers
catch it by (``ValueError``, ``RuntimeError``), so catching one never needs to change. The CLI says any of them that
reaches it as its one sentence and exits 1; anything else that reaches it is a bug and keeps its traceback.
The rehearsal cluster (``kubesim``) keeps errors of its own: it shares no code with the console.
"""

from __future__ import annotations

__all__ = ["OpsConsoleError"]


class OpsConsoleError(Exception):
    """An error the operator can act on; its message is one sentence saying what went wrong and where."""

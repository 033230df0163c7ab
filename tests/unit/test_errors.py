"""One base class for the console's errors: every exception class under console/ derives from ``OpsConsoleError``,
keeps the builtin base its callers catch, and the CLI says any of them as its one sentence.

The walk imports every module found on disk, so an exception class added later is covered without touching this file.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import ModuleType

import pytest

from console.cli import CliError, _friendly
from console.errors import OpsConsoleError

REPO = Path(__file__).resolve().parents[2]


def console_modules() -> list[str]:
    """Every module under console/, found on disk (an import that fails fails the test, never skips a module)."""
    names = []
    for path in sorted((REPO / "console").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _classes_in(owner: ModuleType | type, module: str) -> list[type]:
    """The classes defined in ``module`` at its top level or inside its classes, as ``owner`` holds them."""
    found = []
    for value in vars(owner).values():
        if inspect.isclass(value) and value.__module__ == module and value is not owner:
            found.append(value)
            found.extend(_classes_in(value, module))
    return found


def console_exception_classes() -> list[type[BaseException]]:
    classes: dict[str, type[BaseException]] = {}
    for name in console_modules():
        module = importlib.import_module(name)
        for cls in _classes_in(module, name):
            if issubclass(cls, BaseException):
                classes[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [classes[k] for k in sorted(classes)]


EXCEPTIONS = console_exception_classes()


def test_the_walk_finds_the_console_errors() -> None:
    names = {f"{c.__module__}.{c.__qualname__}" for c in EXCEPTIONS}
    for expected in ("console.journal.chain.JournalError", "console.config.ConfigError", "console.cli.CliError",
                     "console.runbook.loader.RunbookError", "console.terraform.base.TerraformCommandFailed",
                     "console.cluster.lease.LockHeld", "console.governance.signatures.SigningError"):
        assert expected in names
    assert len(EXCEPTIONS) >= 40


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_console_exception_derives_from_the_base(cls: type[BaseException]) -> None:
    assert issubclass(cls, OpsConsoleError), f"{cls.__module__}.{cls.__qualname__} does not derive from OpsConsoleError"


def test_the_base_is_an_ordinary_exception() -> None:
    # Not a ValueError or RuntimeError itself: each error keeps its own builtin base, so catching the base
    # catches the console's errors and nothing else.
    assert OpsConsoleError.__bases__ == (Exception,)


# The builtin base each error had, which callers and tests catch it by; the base class must not take it away.
KEEPS = {
    "console.cluster.rollout.UnsupportedKindError": ValueError,
    "console.cluster.selectors.SelectorError": ValueError,
    "console.cluster.triggers.TriggerError": ValueError,
    "console.config.ConfigError": ValueError,
    "console.demo.DemoError": RuntimeError,
    "console.engine.linemode.AnswersError": ValueError,
    "console.governance.allowed_signers.AllowedSignersError": ValueError,
    "console.governance.allowed_signers.SignatureFormatError": ValueError,
    "console.governance.envelope.EnvelopeError": ValueError,
    "console.governance.request.RequestError": ValueError,
    "console.governance.signatures.SigningError": RuntimeError,
    "console.journal.cast.CastError": ValueError,
    "console.journal.event_data.EventDataError": ValueError,
    "console.review.export.ExportError": ValueError,
    "console.review.index.QueryError": ValueError,
    "console.review.reports.ReportError": ValueError,
    "console.runbook.params.ParamError": ValueError,
    "console.terraform.plan.PlanFormatError": ValueError,
}


@pytest.mark.parametrize("name", sorted(KEEPS))
def test_each_error_keeps_the_builtin_base_its_callers_catch(name: str) -> None:
    module, _, cls_name = name.rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    assert issubclass(cls, KEEPS[name])
    assert issubclass(cls, OpsConsoleError)


# -- the CLI's one sentence ------------------------------------------------------------------------------------


def test_the_cli_says_any_console_error_as_its_sentence() -> None:
    from console.cluster.lease import LockError
    from console.cluster.triggers import TriggerError
    from console.journal.cast import CastError
    from console.terraform.base import TerraformError

    # Errors the CLI once listed one by one, and errors it did not list (these used to end in a traceback).
    for exc in (
        TerraformError("terraform is not on PATH and the embedded engine is not installed"),
        TriggerError("rollback.triggers[0]: unknown trigger 'pods_gone'"),
        CastError("outputs/003-restart.cast: line 4: not an asciicast v2 event"),
        LockError("the lease web/opsconsole-lock cannot be read"),
        CliError("records/: no record store here (use --records-dir or OPSCONSOLE_RECORDS)"),
    ):
        assert _friendly(exc) == str(exc)


def test_a_runbook_error_keeps_its_heading() -> None:
    from console.runbook.loader import Problem, RunbookError

    exc = RunbookError([Problem("web.yaml", 3, 5, "metadata.risk", "unknown risk 'huge'")])
    message = _friendly(exc)
    assert message is not None
    assert message.startswith("the runbook is invalid:\n")
    assert "web.yaml:3:5" in message


def test_os_errors_keep_their_sentences() -> None:
    assert _friendly(PermissionError(13, "Permission denied", "/etc/shadow")) == "/etc/shadow: permission denied"
    assert _friendly(FileNotFoundError(2, "No such file or directory", "runbook.yaml")) == "runbook.yaml: no such file or directory"
    assert _friendly(OSError(28, "No space left on device", "records/x")) == "records/x: No space left on device"


def test_anything_else_is_a_bug_and_keeps_its_traceback() -> None:
    # None tells main to re-raise: a plain ValueError or KeyError is not one of the console's own.
    assert _friendly(ValueError("invalid literal for int()")) is None
    assert _friendly(KeyError("metadata")) is None
    assert _friendly(RuntimeError("boom")) is None

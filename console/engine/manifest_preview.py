"""What an apply or restore step would change, shown before its confirmation: ``kubectl diff`` of the manifest it
applies against the live objects, recorded as an ``artifact.saved`` of kind ``diff`` so the record shows what the
operator saw when they confirmed.

For an apply step the manifest is the record's copy made when the change started; for a restore step the objects
of the backup are compared with the live ones (``restore.preview_restore``) and kept too. A refused restore (a redacted backup, a Secret) is
said here as well, before anyone is asked to confirm it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.engine.binding import BoundStep
from console.engine.manifests import DIFF_KIND, ManifestError, check_copy, diff_record, run_diff
from console.engine.redact import Redactor
from console.engine.restore import preview_restore
from console.engine.step_context import write_artifact

Append = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class Preview:
    """A step's diff as shown before its confirmation: its lines, or why there is none (``problem``)."""

    lines: list[str]
    changed: bool
    problem: str | None = None


def preview_diff(bound: BoundStep, *, change_dir: Path, env: Mapping[str, str], redactor: Redactor,
                 artifacts: Mapping[str, Sequence[Mapping[str, Any]]], record: Callable[[dict[str, Any]], Any]) -> Preview | None:
    """Diff the manifest ``bound`` applies and ``record`` each artifact kept (``artifact.saved`` data); None for a step
    that applies no manifest."""
    step = bound.step
    try:
        if step.kind == "apply" and bound.manifest is not None:
            path, namespace, sha = check_copy(change_dir, bound.manifest), bound.namespace, bound.manifest["sha256"]
        elif step.kind == "restore" and step.restore is not None:
            lines, kept = preview_restore(change_dir, artifacts, step.id, bound.section, step.restore.from_step, env, redactor)
            record(kept)
            text = "\n".join(lines) + "\n" if lines else "(the live objects already match the backup)\n"
            record({"section": bound.section, "step_id": step.id, "kind": DIFF_KIND,
                    "description": f"the live objects against {step.restore.from_step}'s backup",
                    "file": write_artifact(change_dir, f"{step.id}.diff", text.encode()),
                    "manifest_sha256": kept["file"]["sha256"], "changed": bool(lines)})
            return Preview(lines, bool(lines))
        else:
            return None
    except ManifestError as exc:
        return Preview([], False, str(exc))
    lines, code, error = run_diff(path, namespace, env, redactor)
    record(diff_record(bound.section, step.id, path, change_dir, sha, lines, code, error,
                       lambda name, data: write_artifact(change_dir, name, data)))
    return Preview(lines, code == 1, error)

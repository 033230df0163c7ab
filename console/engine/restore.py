"""Restoring what a backup step captured: its objects read back from the record, cleaned of what the API server set,
and re-applied with ``kubectl apply``.

A ``restore: {from: STEP}`` step reads the newest backup that step kept (``artifact.saved`` of kind ``backup``; its
SHA-256 is checked against the record), parses it (``kubectl get ... -o yaml`` or ``-o json``: one object or a
``List``), and refuses rather than restore something other than what was there: a backup in which redaction replaced
values (each place is named), or one holding a Secret (secrets are not restored from records). Objects a controller
owns (a Deployment's ReplicaSets and pods) are left to their controller. What ``kubectl apply`` must not be given
(``resourceVersion``, ``uid``, ``creationTimestamp``, ``managedFields``, ``generation``, ``status`` and the like) is
stripped. The objects are compared with the live ones (the diff is shown before the confirmation and in the step's
output), kept under ``artifacts/``, then put back exactly: ``kubectl replace`` where the object exists (``kubectl
apply``'s three-way merge would keep fields added since the backup, restoring something other than what was there)
and ``kubectl create`` where it is gone. Parsing, cleaning and the diff are pure (``restore_manifest``,
``restore_diff``); the rest reads the cluster and writes the record.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from console.engine.manifests import ManifestError
from console.engine.redact import MASK, Redactor
from console.engine.runner import CommandRunner
from console.engine.step_context import StepContext, StepOutcome, StepOutput, write_artifact
from console.journal.cast import sha256_file

RESTORE_KIND = "restore-manifest"
LIVE_TIMEOUT_S = 60.0
# Set by the API server on every object; apply must not send them back (a stale resourceVersion is a conflict).
SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink",
                   "deletionTimestamp", "deletionGracePeriodSeconds")
# Annotations the server or kubectl itself writes: apply rewrites the one, the controller the other.
SERVER_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision")


class RestoreRefused(ManifestError):
    """A backup that cannot be restored as it was; the message says why and where."""


@dataclass(frozen=True)
class RestorePlan:
    """What a backup gives back: the objects to apply (cleaned), and those left to their controllers."""

    objects: list[dict[str, Any]]
    skipped: list[str]

    def names(self) -> list[str]:
        return [_name(o) for o in self.objects]

    def text(self) -> str:
        """The objects as one JSON document per object, ``---`` between (YAML that kubectl apply reads)."""
        return "---\n".join(json.dumps(o, indent=2, sort_keys=True) + "\n" for o in self.objects)


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind', '?')}/{meta.get('name', '?')}" + (f" (namespace {ns})" if ns else "")


def _redacted_places(value: Any, path: str = "") -> list[str]:
    """Every dotted path in ``value`` whose text redaction changed (the mask in a value or a key)."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, inner in value.items():
            here = f"{path}.{key}" if path else str(key)
            if MASK in str(key):
                found.append(here)
            found.extend(_redacted_places(inner, here))
    elif isinstance(value, list) and value == [MASK[1:-1]]:
        found.append(path or "(the value)")  # a whole value masked in YAML output reads back as a flow sequence
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found.extend(_redacted_places(inner, f"{path}[{i}]"))
    elif isinstance(value, str) and MASK in value:
        found.append(path or "(the value)")
    return found


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SERVER_METADATA}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in SERVER_ANNOTATIONS}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def restore_manifest(text: str, from_step: str) -> RestorePlan:
    """The objects of a backup's text, ready for ``kubectl apply``; raises RestoreRefused saying why not (pure)."""
    try:
        docs = [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]
    except YAMLError as exc:
        raise RestoreRefused(f"the backup of step {from_step} is not YAML or JSON ({str(exc).splitlines()[0]}): "
                             "back it up with kubectl get ... -o yaml") from None
    objects: list[dict[str, Any]] = []
    for doc in docs:
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(i for i in doc["items"] if isinstance(i, dict))
        elif isinstance(doc, dict) and doc.get("kind") and doc.get("apiVersion"):
            objects.append(doc)
        else:
            raise RestoreRefused(f"the backup of step {from_step} holds something that is not an API object: back it up "
                                 "with kubectl get ... -o yaml")
    if not objects:
        raise RestoreRefused(f"the backup of step {from_step} holds no object to restore")
    secrets = [_name(o) for o in objects if o.get("kind") == "Secret"]
    if secrets:
        raise RestoreRefused(f"the backup of step {from_step} holds {', '.join(secrets)}: restore does not restore "
                             "Secrets (their values are redacted in the record); restore them from where they are kept")
    redacted = [f"{_name(o)}: {', '.join(places)}" for o in objects if (places := _redacted_places(o))]
    if MASK in text and not redacted:
        # Redaction inside a block scalar or a key: name the lines rather than let it through.
        redacted = [f"line {n}" for n, line in enumerate(text.split("\n"), 1) if MASK in line]
    if redacted:
        raise RestoreRefused(f"the backup of step {from_step} had values redacted, so it is not what was there: "
                             + "; ".join(redacted))
    kept: list[dict[str, Any]] = []
    skipped: list[str] = []
    for obj in objects:
        owners = [r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")]
        if owners:
            skipped.append(f"{_name(obj)}: owned by {owners[0].get('kind')}/{owners[0].get('name')}, which recreates it")
            continue
        kept.append(_clean(obj))
    if not kept:
        raise RestoreRefused(f"every object in the backup of step {from_step} is owned by a controller: nothing to restore")
    return RestorePlan(kept, skipped)


def latest_backup(artifacts: Mapping[str, Sequence[Mapping[str, Any]]], from_step: str) -> Mapping[str, str]:
    """The file reference of the newest backup ``from_step`` kept; raises RestoreRefused when it kept none."""
    kept = [a for a in artifacts.get(from_step, []) if a.get("kind") == "backup" and isinstance(a.get("file"), Mapping)]
    if not kept:
        raise RestoreRefused(f"step {from_step} has kept no backup in this change (it has not run, or kept nothing)")
    file: Mapping[str, str] = kept[-1]["file"]
    return file


def prepare_restore(change_dir: Path, artifacts: Mapping[str, Sequence[Mapping[str, Any]]], step_id: str, section: str,
                    from_step: str) -> tuple[RestorePlan, dict[str, Any]]:
    """Read the backup and check it; (the plan, the ``artifact.saved`` data of the backup it read, without a file)."""
    ref = latest_backup(artifacts, from_step)
    path = change_dir / ref["path"]
    if not path.is_file() or sha256_file(path) != ref["sha256"]:
        raise RestoreRefused(f"the backup {ref['path']} of step {from_step} is missing or no longer matches the record")
    plan = restore_manifest(path.read_text(encoding="utf-8"), from_step)
    record = {
        "section": section, "step_id": step_id, "kind": RESTORE_KIND, "from_step": from_step, "backup": dict(ref),
        "description": f"objects of {from_step}'s backup, server-set fields stripped: {', '.join(plan.names())}",
    }
    return plan, record


def _key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", ""))


def _dump(obj: Mapping[str, Any] | None) -> list[str]:
    return [] if obj is None else (json.dumps(obj, indent=2, sort_keys=True) + "\n").splitlines(keepends=True)


def restore_diff(plan: RestorePlan, live: Mapping[tuple[str, str, str], Mapping[str, Any]]) -> list[str]:
    """What the restore changes, object by object: the live object (cleaned as the backup is) against the backup's
    (pure). An object that is gone shows as created whole."""
    import difflib

    lines: list[str] = []
    for obj in plan.objects:
        now = live.get(_key(obj))
        name = _name(obj)
        lines.extend(line.rstrip("\n") for line in difflib.unified_diff(
            _dump(_clean(dict(now)) if now is not None else None), _dump(obj),
            fromfile=f"live {name}" if now is not None else "(absent)", tofile=f"backup {name}"))
    return lines


def live_objects(plan: RestorePlan, env: Mapping[str, str],
                 redactor: Redactor | None = None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The live objects the plan restores (those that exist), read with kubectl; raises RestoreRefused if kubectl fails,
    with the start of what kubectl said, redacted (by ``redactor``, else the built-in rules) before it is cut."""
    wanted = "\n---\n".join(json.dumps({k: o[k] for k in ("apiVersion", "kind", "metadata")}) for o in plan.objects)
    done = subprocess.run(["kubectl", "get", "-f", "-", "-o", "json", "--ignore-not-found"], input=wanted, env=dict(env),
                          capture_output=True, text=True, timeout=LIVE_TIMEOUT_S)
    if done.returncode != 0:
        said = (redactor if redactor is not None else Redactor()).redact_cut(done.stderr.strip(), 300)
        raise RestoreRefused(f"the live objects could not be read: {said}")
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for doc in _json_documents(done.stdout):
        for obj in doc.get("items", []) if str(doc.get("kind", "")).endswith("List") else [doc]:
            found[_key(obj)] = obj
    return found


def _json_documents(text: str) -> list[dict[str, Any]]:
    """kubectl get -o json prints one document, or one per object when several are asked for."""
    decoder, out, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        doc, at = decoder.raw_decode(text, at)
        if isinstance(doc, dict):
            out.append(doc)
    return out


def preview_restore(change_dir: Path, artifacts: Mapping[str, Sequence[Mapping[str, Any]]], step_id: str, section: str,
                    from_step: str, env: Mapping[str, str], redactor: Redactor) -> tuple[list[str], dict[str, Any]]:
    """The restore's diff against the live objects, redacted for the screen, and the ``artifact.saved`` data of what
    it would write (a file of the objects); raises RestoreRefused."""
    plan, record = prepare_restore(change_dir, artifacts, step_id, section, from_step)
    lines = [redactor.redact(line) for line in restore_diff(plan, live_objects(plan, env, redactor))]
    record["file"] = write_artifact(change_dir, f"{step_id}.restore.yaml", plan.text().encode())
    return lines, record


def run_restore(ctx: StepContext) -> StepOutcome:
    """Restore the objects of the backup the step names: refused, or diffed, then replaced where they exist (exactly
    as backed up: ``kubectl apply`` would keep fields added since) and created where they are gone."""
    spec = ctx.step.restore
    if spec is None:
        return StepOutcome(False, f"step {ctx.step.id} has no restore: section")
    out = StepOutput(ctx, ctx.bound.display)
    try:
        plan, record = prepare_restore(ctx.change_dir, ctx.artifacts, ctx.step.id, ctx.bound.section, spec.from_step)
        out(f"restoring from {record['backup']['path']} (sha256 {record['backup']['sha256']}): {', '.join(plan.names())}")
        for skipped in plan.skipped:
            out(f"left to its controller: {skipped}")
        live = live_objects(plan, ctx.env, ctx.redactor)
    except ManifestError as exc:
        out(str(exc), stream="stderr")
        return out.outcome(False, str(exc))
    changes = restore_diff(plan, live)
    for line in changes or ["(the live objects already match the backup)"]:
        out(line)
    kept: list[dict[str, Any]] = []
    for verb, objects in (("replace", [o for o in plan.objects if _key(o) in live]),
                          ("create", [o for o in plan.objects if _key(o) not in live])):
        if not objects:
            continue
        part = RestorePlan(objects, [])
        file = write_artifact(ctx.change_dir, f"{ctx.step.id}.{verb}.yaml", part.text().encode())
        kept.append({**record, "file": file, "verb": verb,
                     "description": f"{verb} from {spec.from_step}'s backup: {', '.join(part.names())}"})
        out(f"$ kubectl {verb} -f {file['path']}")
        runner = CommandRunner(["kubectl", verb, "-f", str(ctx.change_dir / file["path"])], cwd=ctx.change_dir, env=ctx.env,
                               timeout_s=ctx.bound.timing.timeout_s, redactor=ctx.redactor, cast=out.cast, listeners=ctx.listeners,
                               grace=ctx.grace)
        result = runner.run()
        passed, reason = result.verdict(runner.expect)
        if not passed:
            return out.outcome(False, f"kubectl {verb}: {reason}", result.exit_code, artifacts=kept)
    return out.outcome(True, f"restored {', '.join(plan.names())} from {spec.from_step}'s backup", 0, artifacts=kept)

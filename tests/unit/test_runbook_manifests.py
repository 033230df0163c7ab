"""Apply, restore, per-step triggers and namespaces in the runbook format: the loader's located errors, lint, the
schema, and the pure parts of a restore (what a backup gives back, what it refuses).

Each runbook is written into the test's directory from the text here, so the line and column in an expected message
can be counted on the text itself (line 1 is the ``apiVersion`` line of ``HEAD``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from console.engine.manifests import ManifestError, manifest_literal_secrets, render_manifests
from console.engine.redact import Redactor
from console.engine.restore import RestoreRefused, restore_diff, restore_manifest
from console.runbook.lint import lint
from console.runbook.loader import RunbookError, load_runbook
from console.runbook.models import json_schema

HEAD = """apiVersion: opsconsole/v1
kind: Runbook
metadata: {id: t, title: T, component: web, from: "1", to: "2", risk: low, environments: [rehearsal], owners: [me]}
why: w
scope: s
blast_radius: b
done_when: [d]
params:
  version: {default: "1.5.0"}
  token: {secret: true}
preconditions:
  - id: backup
    kind: check
    run: [kubectl, get, service, web, -o, yaml]
    capture: artifact
    backup: true
"""
# HEAD is 16 lines: a runbook's own lines start at 17.


def write(tmp_path: Path, body: str, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "rb.yaml"
    path.write_text(HEAD + body)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(RunbookError) as info:
        load_runbook(path)
    return [str(p).replace(str(path.parent) + "/", "") for p in info.value.problems]


def test_an_inline_manifest_is_checked_at_the_line_and_column_of_its_text(tmp_path: Path) -> None:
    path = write(tmp_path, """steps:
  - id: svc
    apply:
      manifest: |
        apiVersion: v1
        kind: Service
        metadata:
          name: web-{versoin}
          namespace: {namespace}
          labels: {a: "{token}"}
""")
    assert problems(path) == [
        ("rb.yaml:24:21: steps[0].apply.manifest: unknown parameter {versoin} (did you mean {version}?); a manifest may "
        "name declared parameters, context, environment and namespace"),
        ("rb.yaml:25:11: steps[0].apply.manifest: document 1 of the manifest: metadata.namespace must be a string (a "
        'placeholder that is the whole value is written in quotes: "{namespace}")'),
        ("rb.yaml:26:24: steps[0].apply.manifest: {token} is a secret parameter: a manifest is copied into the change "
        "record as applied, so it cannot hold a secret (reference a Secret object created outside the runbook)"),
    ]


def test_a_manifest_file_stays_next_to_the_runbook_and_its_problems_are_located_in_it(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = write(tmp_path, """steps:
  - id: green
    apply: {manifest_file: sub/green.yaml}
  - id: away
    apply: {manifest_file: ../elsewhere.yaml}
  - id: absolute
    apply: {manifest_file: /etc/passwd}
  - id: missing
    apply: {manifest_file: nothing.yaml}
""", **{"sub/green.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-green\nspec:\n  image: x:{verison}\n"})
    found = problems(path)
    assert found[:3] == [
        f"rb.yaml:21:28: steps[1].apply.manifest_file: manifest_file '../elsewhere.yaml' leaves the runbook's directory ({tmp_path})",
        ("rb.yaml:23:28: steps[2].apply.manifest_file: manifest_file '/etc/passwd' is absolute: name a file next to the "
        "runbook (a relative path)"),
        ("rb.yaml:25:28: steps[3].apply.manifest_file: manifest_file 'nothing.yaml': no such file next to the runbook "
        "(nothing.yaml)"),  # the directory is left out of what this test compares
    ]
    # The manifest file's own problem is located in that file.
    assert found[3] == ("sub/green.yaml:6:12: steps[0].apply.manifest_file: unknown parameter {verison} (did you mean "
                        "{version}?); a manifest may name declared parameters, context, environment and namespace")


def test_a_manifest_never_applies_a_secret_and_names_objects(tmp_path: Path) -> None:
    path = write(tmp_path, """steps:
  - id: secret
    apply:
      manifest: |
        apiVersion: v1
        kind: Secret
        metadata: {name: creds}
  - id: nameless
    apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
  - id: both
    apply: {manifest: "x: 1", manifest_file: a.yaml}
""")
    assert problems(path) == [
        ("rb.yaml:21:9: steps[0].apply.manifest: document 1 of the manifest is a Secret: a manifest is copied into the "
        "change record, so Secrets are not applied from runbooks"),
        "rb.yaml:27:9: steps[1].apply.manifest: document 1 of the manifest needs metadata.name as a string",
        ("rb.yaml:30:12: steps[2].apply: apply takes exactly one of manifest (the YAML itself) or manifest_file (a file "
        "next to the runbook)"),
    ]


def test_a_restore_reads_a_backup_taken_before_it_in_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, """steps:
  - id: early
    restore: {from: later-backup}
  - id: later-backup
    kind: check
    run: [kubectl, get, deployment, web, -o, json]
    capture: artifact
    backup: true
  - id: not-a-backup
    restore: {from: early}
  - id: nowhere
    restore: {from: no-such-step}
  - id: plain
    run: [kubectl, get, pods]
    capture: artifact
    backup: true
rollback:
  steps:
    - id: from-plain
      restore: {from: plain}
    - id: from-backup
      restore: {from: backup}
""")
    assert problems(path) == [
        "rb.yaml:19:21: steps[0].restore.from: step 'later-backup' runs after this one: a restore reads a backup taken before it",
        ("rb.yaml:26:21: steps[2].restore.from: step 'early' is not a backup: a restore reads what a step with backup: true "
        "and capture: artifact kept"),
        "rb.yaml:28:21: steps[3].restore.from: step 'no-such-step' does not exist",
        ("rb.yaml:36:23: rollback.steps[0].restore.from: step 'plain' does not print YAML or JSON (add -o yaml to its "
        "kubectl get): a restore reads the objects back from its output"),
    ]


def test_triggers_and_namespaces_belong_to_watching_steps_and_name_known_parameters(tmp_path: Path) -> None:
    path = write(tmp_path, """steps:
  - id: watch
    kind: observe
    duration: 1m
    namespaces: [web, "{cache_ns}"]
    triggers:
      - pod_restarts: {selector: "app={versoin}", over: 1}
      - pod_status: {}
  - id: cmd
    run: [kubectl, get, pods]
    namespaces: [web]
""")
    assert problems(path) == [
        "rb.yaml:21:24: steps[0].namespaces[1]: unknown parameter {cache_ns}",
        "rb.yaml:23:39: steps[0].triggers[0].pod_restarts.selector: unknown parameter {versoin} (did you mean {version}?)",
        "rb.yaml:24:21: steps[0].triggers[1].pod_status.selector: required field 'selector' is missing",
        "rb.yaml:25:5: steps[1]: namespaces is for rollout and observe steps (what they watch), not a command step",
    ]


GOOD = """steps:
  - id: put
    apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "cfg-{version}"}
        data: {TOKEN: ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8}
  - id: watch
    kind: observe
    duration: 1m
    namespaces: [web, cache]
    triggers: [{pod_restarts: {selector: app=redis, over: 0}}]
rollback:
  steps:
    - id: back
      restore: {from: backup}
      confirm: none
"""


def test_lint_counts_manifest_parameters_used_and_warns_of_an_unreviewed_restore(tmp_path: Path) -> None:
    loaded = load_runbook(write(tmp_path, GOOD))
    assert loaded.runbook.step("put").kind == "apply" and loaded.runbook.rollback_step("back").kind == "restore"
    findings = [str(f).replace(str(tmp_path) + "/", "") for f in lint(loaded, warnings=True)]
    # {version} is used only in the manifest: it counts as used; {token} is used nowhere.
    assert "rb.yaml:10: unused-param: parameter 'token' is declared but never used" in findings
    assert not [f for f in findings if "'version'" in f]
    assert ("rb.yaml:32: warning: apply-reviewed: step 'back' restores with confirm: none: its diff is still recorded, "
            "but nobody reads it before the objects change (drop confirm: none)") in findings


def test_a_literal_secret_in_a_manifest_is_refused_where_it_is(tmp_path: Path) -> None:
    loaded = load_runbook(write(tmp_path, GOOD))
    found = [str(p).replace(str(tmp_path) + "/", "") for p in manifest_literal_secrets(loaded, Redactor())]
    assert len(found) == 1 and found[0].startswith("rb.yaml:24:23: steps[0].apply.manifest: data: {TOKEN: gh… is a secret"), found


def test_manifests_are_rendered_with_the_change_values_and_must_still_name_objects(tmp_path: Path) -> None:
    loaded = load_runbook(write(tmp_path, GOOD))
    (one,) = render_manifests(loaded, {"version": "1.5.0", "namespace": "web"})
    assert (one.step_id, one.source) == ("put", "inline") and 'name: "cfg-1.5.0"' in one.text
    with pytest.raises(ManifestError, match="line break"):
        render_manifests(loaded, {"version": "1\nkind: Secret", "namespace": "web"})


def test_the_schema_describes_apply_restore_triggers_and_namespaces() -> None:
    schema = json_schema()
    step = schema["$defs"]["Step"]["properties"]
    for name in ("apply", "restore", "triggers", "namespaces"):
        assert step[name].get("description"), name
    assert "apply" in json.dumps(step["kind"]) and "restore" in json.dumps(step["kind"])
    for model, fields in (("ApplySpec", ("manifest", "manifest_file")), ("RestoreSpec", ("from",))):
        for name in fields:
            assert schema["$defs"][model]["properties"][name]["description"], (model, name)


BACKUP = """apiVersion: v1
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    annotations: {deployment.kubernetes.io/revision: "3", team: web}
    creationTimestamp: "2026-11-29T01:11:14Z"
    generation: 4
    managedFields: [{manager: kubectl}]
    name: web
    namespace: web
    resourceVersion: "1015"
    uid: 923a7369
  spec: {replicas: 3}
  status: {readyReplicas: 3}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    name: web-abc
    namespace: web
    ownerReferences: [{kind: Deployment, name: web, controller: true}]
kind: List
"""


def test_a_backup_gives_back_its_objects_without_what_the_server_set() -> None:
    plan = restore_manifest(BACKUP, "backup")
    assert plan.objects == [{"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 3},
                             "metadata": {"annotations": {"team": "web"}, "name": "web", "namespace": "web"}}]
    assert plan.skipped == ["ReplicaSet/web-abc (namespace web): owned by Deployment/web, which recreates it"]
    live = {("Deployment", "web", "web"): {**plan.objects[0], "spec": {"replicas": 0}, "status": {"replicas": 0}}}
    assert '-    "replicas": 0' in restore_diff(plan, live) and '+    "replicas": 3' in restore_diff(plan, live)
    assert restore_diff(plan, {("Deployment", "web", "web"): plan.objects[0]}) == []


@pytest.mark.parametrize(("text", "why"), [
    ("apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: web}\n", ("holds Secret/creds (namespace web): "
     "restore does not restore Secrets")),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  A: ok\n  B: [REDACTED]\n  C: x-[REDACTED]\n",
     "had values redacted, so it is not what was there: ConfigMap/c: data.B, data.C"),
    ("just words\n", "holds something that is not an API object"),
    ("a: [unclosed\n", "is not YAML or JSON"),
])
def test_a_restore_refuses_what_it_cannot_put_back_as_it_was(text: str, why: str) -> None:
    with pytest.raises(RestoreRefused, match=None) as info:
        restore_manifest(text, "backup")
    assert why in str(info.value), str(info.value)


def test_the_templates_commented_examples_load_and_lint_clean_once_uncommented(tmp_path: Path) -> None:
    template = Path(__file__).resolve().parents[2] / "runbooks" / "_template.yaml"
    lines, out, indent = template.read_text().splitlines(), [], None
    for line in lines:
        m = re.match(r"^(\s*)# (- id: (deploy-green|observe-both|restore-backup))$", line)
        if m:
            indent = m.group(1)
            out.append(indent + m.group(2))
        elif indent is not None and line.startswith(indent + "#   "):
            out.append(indent + line[len(indent) + 2:])
        else:
            indent = None
            out.append(line)
    uncommented = tmp_path / "template.yaml"
    uncommented.write_text("\n".join(out) + "\n")
    loaded = load_runbook(uncommented)
    assert {"deploy-green", "observe-both"} <= {s.id for s in loaded.runbook.steps}
    assert loaded.runbook.rollback_step("restore-backup").kind == "restore"
    assert lint(loaded) == []

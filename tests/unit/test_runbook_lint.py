"""Authoring rules: each rule fails on a minimal runbook that breaks it and passes on one that keeps it.

Each case is a clean runbook with one edit, so the finding can only come from that edit; the line a finding
names is found by a marker in the text rather than counted by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.runbook.lint import RULES, SEVERITY, Finding, lint, shell_script_index
from console.runbook.loader import LoadedRunbook, load_runbook

# Low risk, read-only: no rule applies beyond the universal ones, which it keeps.
LOW = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata:
  id: low
  title: Look at the pods
  component: web
  from: "1.0.0"
  to: "1.0.0"
  risk: low
  environments: [staging]
  owners: [platform]
why: To see what runs.
scope: read-only
blast_radius: none
params:
  namespace: {type: string, default: web}
steps:
  - id: look
    kind: check
    run: [kubectl, get, pods, -n, "{namespace}"]
done_when: [the pods are listed]
"""

# High risk, everything a high-risk runbook needs: backups kept, typed confirmations, rollback for each
# mutating step, verification.
HIGH = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata:
  id: high
  title: Scale the database
  component: db
  from: "3"
  to: "5"
  risk: high
  environments: [production]
  owners: [data]
why: More read capacity.
scope: the db StatefulSet
blast_radius: database clients during the scale
params:
  replicas: {type: integer, default: 5}
preconditions:
  - id: backup-db
    title: Dump the database
    kind: check
    run: [pg_dumpall]
    capture: artifact
    backup: true
steps:
  - id: scale
    run: [kubectl, scale, statefulset/db, "--replicas={replicas}"]
    confirm: typed
    confirm_word: db
    rollback: scale-back
  - id: wait
    kind: rollout
    target: statefulset/db
rollback:
  steps:
    - id: scale-back
      run: [kubectl, scale, statefulset/db, --replicas=3]
      confirm: typed
      confirm_word: db
verification:
  - id: ready
    kind: check
    run: [kubectl, get, statefulset/db]
done_when: [five db pods ready]
"""


def load(tmp_path: Path, text: str, name: str = "case.yaml") -> LoadedRunbook:
    path = tmp_path / name
    path.write_text(text)
    return load_runbook(path)


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def line_of(text: str, marker: str, *, whole: bool = False) -> int:
    """1-based line of the only line containing ``marker`` (or, with ``whole``, being it, indentation aside)."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if (line.strip() == marker if whole else marker in line)]
    assert len(hits) == 1, f"{marker!r} on lines {hits}"
    return hits[0]


def only(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def test_the_rules_are_the_documented_ones() -> None:
    assert set(RULES) == {
        "required-sections", "rollback-defined", "rollback-coverage", "verification-required",
        "typed-confirmation", "backup-evidence", "unused-param", "confirm-word-known", "secret-default",
        "secret-in-version", "param-in-shell-script",
        "evidence-source", "apply-reviewed", "retry-mutating", "when-on-gate", "order-fails-fast",
    }
    assert all(summary for summary, _fn in RULES.values())
    # Every rule blocks a start except the advice about shell scripts, unreviewed applies and the sections' order.
    assert {name for name, level in SEVERITY.items() if level != "error"} == {
        "param-in-shell-script", "apply-reviewed", "order-fails-fast",
    }
    assert set(SEVERITY) == set(RULES)


@pytest.mark.parametrize("text", [LOW, HIGH], ids=["low", "high"])
def test_the_clean_bases_pass_every_rule(tmp_path: Path, text: str) -> None:
    assert lint(load(tmp_path, text)) == []


def test_finding_format_is_file_line_rule_message(tmp_path: Path) -> None:
    text = edit(LOW, "why: To see what runs.", 'why: ""')
    lr = load(tmp_path, text)
    [finding] = lint(lr)
    assert str(finding) == (
        f"{tmp_path / 'case.yaml'}:12: required-sections: why is empty: say it, reviewers and the operator at "
        "2 a.m. both need it"
    )
    assert (finding.file, finding.line, finding.rule) == (str(tmp_path / "case.yaml"), 12, "required-sections")


@pytest.mark.parametrize("section", ["why", "scope", "blast_radius"])
def test_required_sections_empty(tmp_path: Path, section: str) -> None:
    original = next(line for line in LOW.splitlines() if line.startswith(f"{section}:"))
    text = edit(LOW, original, f"{section}: '   '")
    [finding] = lint(load(tmp_path, text))
    assert finding.rule == "required-sections"
    assert finding.line == line_of(text, f"{section}: '   '")
    assert finding.message.startswith(f"{section} is empty")


def test_required_sections_absent_point_at_the_top(tmp_path: Path) -> None:
    text = edit(edit(LOW, "scope: read-only\n", ""), "done_when: [the pods are listed]\n", "")
    findings = lint(load(tmp_path, text))
    assert [(f.line, f.rule, f.message) for f in findings] == [
        (1, "required-sections", "scope is empty: say it, reviewers and the operator at 2 a.m. both need it"),
        (1, "required-sections", "done_when is empty: list what must be true for the change to count as done"),
    ]


def test_done_when_empty_list_points_at_it(tmp_path: Path) -> None:
    text = edit(LOW, "done_when: [the pods are listed]", "done_when: []")
    [finding] = lint(load(tmp_path, text))
    assert (finding.rule, finding.line) == ("required-sections", line_of(text, "done_when: []"))


MUTATING_MEDIUM = edit(
    edit(LOW, "risk: low", "risk: medium"),
    "  - id: look\n    kind: check\n    run: [kubectl, get, pods, -n, \"{namespace}\"]\n",
    "  - id: restart\n    run: [kubectl, rollout, restart, deployment/web, -n, \"{namespace}\"]\n",
)


def test_rollback_defined_fails_without_rollback_steps(tmp_path: Path) -> None:
    findings = lint(load(tmp_path, MUTATING_MEDIUM))
    assert [(f.line, f.rule, f.message) for f in findings] == [
        (1, "rollback-defined", "a medium-risk runbook that changes things needs rollback.steps")
    ]
    # With an empty rollback section written out, the finding points at it.
    text = MUTATING_MEDIUM + "rollback:\n  steps: []\n"
    [finding] = lint(load(tmp_path, text))
    assert (finding.rule, finding.line) == ("rollback-defined", line_of(text, "rollback:"))


def test_rollback_defined_passes(tmp_path: Path) -> None:
    with_rollback = MUTATING_MEDIUM + "rollback:\n  steps:\n    - id: undo\n      run: [kubectl, rollout, undo, deployment/web]\n"
    assert only(lint(load(tmp_path, with_rollback, "a.yaml")), "rollback-defined") == []
    # Low risk, or nothing that changes anything, needs no rollback.
    low = edit(MUTATING_MEDIUM, "risk: medium", "risk: low")
    assert only(lint(load(tmp_path, low, "b.yaml")), "rollback-defined") == []
    read_only = edit(MUTATING_MEDIUM, "    run: [kubectl, rollout", "    mutates: false\n    run: [kubectl, rollout")
    assert only(lint(load(tmp_path, read_only, "c.yaml")), "rollback-defined") == []


def test_rollback_coverage_fails_for_a_mutating_step_without_rollback(tmp_path: Path) -> None:
    text = edit(HIGH, "    rollback: scale-back\n", "")
    findings = lint(load(tmp_path, text))
    assert [(f.line, f.rule, f.message) for f in findings] == [
        (line_of(text, "- id: scale", whole=True), "rollback-coverage",
         "step 'scale' changes things but names no rollback step (rollback: ID)"),
    ]


def test_rollback_coverage_only_applies_to_high_and_critical(tmp_path: Path) -> None:
    text = edit(edit(HIGH, "    rollback: scale-back\n", ""), "risk: high", "risk: medium")
    assert only(lint(load(tmp_path, text, "m.yaml")), "rollback-coverage") == []
    critical = edit(edit(HIGH, "    rollback: scale-back\n", ""), "risk: high", "risk: critical")
    assert [f.rule for f in lint(load(tmp_path, critical, "c.yaml"))] == ["rollback-coverage"]


def test_verification_required(tmp_path: Path) -> None:
    block = "verification:\n  - id: ready\n    kind: check\n    run: [kubectl, get, statefulset/db]\n"
    text = edit(HIGH, block, "")
    findings = lint(load(tmp_path, text))
    assert [(f.line, f.rule, f.message) for f in findings] == [
        (1, "verification-required", "a high-risk runbook needs verification steps")
    ]
    empty = edit(HIGH, block, "verification: []\n")
    [finding] = lint(load(tmp_path, empty, "e.yaml"))
    assert (finding.rule, finding.line) == ("verification-required", line_of(empty, "verification: []"))
    # A medium-risk runbook may go without.
    medium = edit(text, "risk: high", "risk: medium")
    assert only(lint(load(tmp_path, medium, "m.yaml")), "verification-required") == []


def test_typed_confirmation_in_steps_and_in_rollback(tmp_path: Path) -> None:
    text = edit(HIGH, "    confirm: typed\n    confirm_word: db\n    rollback:", "    confirm: yes\n    rollback:")
    text = edit(text, "      confirm: typed\n      confirm_word: db\n", "")
    findings = lint(load(tmp_path, text))
    assert [(f.line, f.rule, f.message) for f in findings] == [
        (line_of(text, "- id: scale", whole=True), "typed-confirmation",
         "step 'scale' changes things: use confirm: typed with a confirm_word"),
        (line_of(text, "- id: scale-back"), "typed-confirmation",
         "step 'scale-back' changes things: use confirm: typed with a confirm_word"),
    ]


def test_typed_confirmation_passes_for_read_only_steps_and_lower_risk(tmp_path: Path) -> None:
    # The rollout wait in HIGH asks nothing and is not flagged: it changes nothing.
    assert only(lint(load(tmp_path, HIGH)), "typed-confirmation") == []
    text = edit(HIGH, "    confirm: typed\n    confirm_word: db\n    rollback:", "    confirm: yes\n    rollback:")
    medium = edit(text, "risk: high", "risk: medium")
    assert only(lint(load(tmp_path, medium, "m.yaml")), "typed-confirmation") == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    capture: artifact\n    backup: true\n", "    backup: true\n"),  # declared a backup
        ("    capture: artifact\n    backup: true\n", ""),  # named one: id backup-db, title "Dump ..."
    ],
    ids=["backup-flag", "backup-in-name"],
)
def test_backup_evidence_fails_when_the_backup_is_not_kept(tmp_path: Path, old: str, new: str) -> None:
    text = edit(HIGH, old, new)
    findings = lint(load(tmp_path, text))
    assert [(f.line, f.rule, f.message) for f in findings] == [
        (line_of(text, "- id: backup-db"), "backup-evidence",
         "precondition 'backup-db' takes a backup but does not keep it: capture: artifact"),
    ]


def test_backup_evidence_passes(tmp_path: Path) -> None:
    # Kept as an artifact (HIGH), or a precondition that is no backup at all.
    assert only(lint(load(tmp_path, HIGH)), "backup-evidence") == []
    text = edit(HIGH, "  - id: backup-db\n    title: Dump the database\n", "  - id: disk-free\n    title: Room on disk\n")
    text = edit(text, "    capture: artifact\n    backup: true\n", "")
    assert only(lint(load(tmp_path, text, "n.yaml")), "backup-evidence") == []


def test_unused_param(tmp_path: Path) -> None:
    text = edit(LOW, "  namespace: {type: string, default: web}\n",
                "  namespace: {type: string, default: web}\n  colour: {type: string, default: blue}\n")
    findings = lint(load(tmp_path, text))
    assert [(f.line, f.rule, f.message) for f in findings] == [
        (line_of(text, "colour:"), "unused-param", "parameter 'colour' is declared but never used"),
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('    run: [kubectl, get, pods, -n, "{namespace}"]', "    run: [kubectl, get, pods]\n    namespace: '{namespace}'"),
        ('    run: [kubectl, get, pods, -n, "{namespace}"]', "    run: [kubectl, get, pods]\n    env: {NS: '{namespace}'}"),
        ('    run: [kubectl, get, pods, -n, "{namespace}"]',
         "    run: [kubectl, get, pods]\n    expect: {output_matches: '{namespace}'}"),
    ],
    ids=["namespace-field", "env", "expect"],
)
def test_unused_param_counts_uses_outside_argv(tmp_path: Path, old: str, new: str) -> None:
    assert only(lint(load(tmp_path, edit(LOW, old, new))), "unused-param") == []


def test_unused_param_counts_evidence_and_triggers(tmp_path: Path) -> None:
    text = edit(LOW, '    run: [kubectl, get, pods, -n, "{namespace}"]', "    run: [kubectl, get, pods]")
    evidence = text + "evidence:\n  - id: pods\n    run: [kubectl, get, pods, -n, '{namespace}']\n"
    assert only(lint(load(tmp_path, evidence, "e.yaml")), "unused-param") == []
    trigger = text + "rollback:\n  triggers:\n    - pod_restarts: {selector: 'app={namespace}', over: 3}\n"
    assert only(lint(load(tmp_path, trigger, "t.yaml")), "unused-param") == []
    assert [f.rule for f in lint(load(tmp_path, text, "u.yaml"))] == ["unused-param"]


def test_confirm_word_known(tmp_path: Path) -> None:
    text = edit(HIGH, "    confirm: typed\n    confirm_word: db\n    rollback:", "    confirm: typed\n    confirm_word: 'Yes'\n    rollback:")
    findings = lint(load(tmp_path, text))
    assert [(f.line, f.rule, f.message) for f in findings] == [
        (line_of(text, "confirm_word: 'Yes'"), "confirm-word-known", "step 'scale': a typed word of 'Yes' is no better than yes"),
    ]
    # A parameter as the word is what the template does.
    param_word = edit(HIGH, "    confirm: typed\n    confirm_word: db\n    rollback:",
                      "    confirm: typed\n    confirm_word: '{replicas}'\n    rollback:")
    assert only(lint(load(tmp_path, param_word, "p.yaml")), "confirm-word-known") == []


def test_findings_are_sorted_by_line_and_can_be_limited(tmp_path: Path) -> None:
    text = edit(HIGH, "    rollback: scale-back\n", "")
    text = edit(text, "why: More read capacity.", "why: ''")
    text = edit(text, "    capture: artifact\n    backup: true\n", "")
    lr = load(tmp_path, text)
    findings = lint(lr)
    assert [f.rule for f in findings] == ["required-sections", "backup-evidence", "rollback-coverage"]
    assert [f.line for f in findings] == sorted(f.line for f in findings)
    assert [f.rule for f in lint(lr, only={"backup-evidence"})] == ["backup-evidence"]
    assert lint(lr, only=set()) == []


def test_secret_default(tmp_path: Path) -> None:
    text = edit(LOW, "  namespace: {type: string, default: web}\n",
                "  namespace: {type: string, default: web}\n  token: {type: string, secret: true, default: hunter2}\n")
    text = edit(text, '"{namespace}"]', '"{namespace}", --token, "{token}"]')
    findings = lint(load(tmp_path, text))
    assert [(f.line, f.rule, f.message) for f in findings] == [
        (line_of(text, "token:"), "secret-default",
         "secret parameter 'token' has a default: remove it and pass it with --param"),
    ]
    # given when the change starts: no default, no finding
    kept = edit(text, "secret: true, default: hunter2}", "secret: true}")
    assert lint(load(tmp_path, kept, "k.yaml")) == []


# -- param-in-shell-script: a warning, never a block -------------------------------------------------------------

LOOK = '    run: [kubectl, get, pods, -n, "{namespace}"]'


def with_run(run: str, extra: str = "") -> str:
    """LOW with the step's run replaced (a flow sequence or a block), plus extra step fields."""
    return edit(LOW, LOOK, f"    run: {run}{extra}")


def at(text: str, marker: str, token: str = "{namespace}", nth: int = 0) -> tuple[int, int]:
    """Line and column (1-based) of the nth ``token`` on the only line containing ``marker``."""
    line = line_of(text, marker)
    row = text.splitlines()[line - 1]
    col = -1
    for _ in range(nth + 1):
        col = row.index(token, col + 1)
    return line, col + 1


def warnings(tmp_path: Path, text: str, name: str = "case.yaml") -> list[Finding]:
    return only(lint(load(tmp_path, text, name), warnings=True), "param-in-shell-script")


def test_param_in_shell_script_is_located_at_each_placeholder(tmp_path: Path) -> None:
    text = with_run('[sh, -ec, "kubectl get pods -n {namespace} | grep {namespace}"]')
    lr = load(tmp_path, text)
    found = lint(lr, warnings=True)
    assert [(f.line, f.col, f.rule, f.severity) for f in found] == [
        (*at(text, "grep", nth=0), "param-in-shell-script", "warning"),
        (*at(text, "grep", nth=1), "param-in-shell-script", "warning"),
    ]
    line, col = found[0].line, found[0].col
    assert str(found[0]) == (
        f"{tmp_path / 'case.yaml'}:{line}:{col}: warning: param-in-shell-script: step 'look': {{namespace}} is "
        "written into the script of sh -c, so the shell reads its value as code rather than as one literal "
        "argument; pass it as a positional argument ([sh, -c, 'do \"$1\"', sh, '{namespace}']) or drop sh -c "
        "and set shell: true, which shell-quotes every value"
    )
    assert not found[0].blocking
    # Without asking for warnings, lint returns only what blocks a start: nothing here.
    assert lint(lr) == []


def test_param_in_shell_script_in_a_block_scalar_points_at_its_line(tmp_path: Path) -> None:
    block = "\n      - bash\n      - -lc\n      - |\n        set -e\n        kubectl get pods -n '{namespace}'\n"
    text = edit(LOW, LOOK + "\n", f"    run:{block}")
    [finding] = warnings(tmp_path, text)
    assert (finding.line, finding.col) == at(text, "kubectl get pods -n '{namespace}'")
    assert "script of bash -c" in finding.message


@pytest.mark.parametrize(
    "run",
    [
        '[sh, -c, "echo {namespace}"]',
        '[/bin/sh, -ec, "echo {namespace}"]',
        '[bash, -lc, "echo {namespace}"]',
        '[/usr/bin/bash, -euxc, "echo {namespace}"]',
        '[bash, -o, pipefail, -c, "echo {namespace}"]',
        '[bash, -eo, pipefail, -c, "echo {namespace}"]',
        '[bash, --noprofile, --norc, -c, "echo {namespace}"]',
        '[sh, -c, --, "echo {namespace}"]',
        '[env, LANG=C, sh, -c, "echo {namespace}"]',
        '[kubectl, exec, deploy/web, --, sh, -c, "echo {namespace}"]',
        '[sh, -c, "echo \'{namespace}\'"]',  # quoting inside the script does not help: the value can close it
    ],
)
def test_param_in_shell_script_trips_on_every_way_of_writing_sh_c(tmp_path: Path, run: str) -> None:
    text = with_run(run)
    [finding] = warnings(tmp_path, text)
    assert (finding.line, finding.col) == at(text, "    run:")


@pytest.mark.parametrize(
    "run",
    [
        LOOK.removeprefix("    run: "),  # a plain argv: the value is one literal argument
        "[sh, -c, 'kubectl get pods -n \"$1\"', sh, '{namespace}']",  # the recommended form
        "[bash, -ec, 'echo \"$1\"', bash, '{namespace}']",
        "[sh, ./script.sh, '{namespace}']",  # no -c: the script is a file, the value its argument
        "[bash, -e, '{namespace}']",
        "[grep, -c, '{namespace}', file]",  # -c of a program that is not a shell
        '[sh, -c, "echo {{namespace}}", sh, "{namespace}"]',  # an escaped, literal {namespace} in the script
    ],
)
def test_param_in_shell_script_leaves_safe_commands_alone(tmp_path: Path, run: str) -> None:
    assert warnings(tmp_path, with_run(run)) == []


def test_param_in_shell_script_advice_fits_the_step(tmp_path: Path) -> None:
    # Already shell: true: only the positional form is offered.
    text = with_run('[sh, -c, "echo {namespace}"]', "\n    shell: true")
    [finding] = warnings(tmp_path, text, "a.yaml")
    assert finding.message.endswith("([sh, -c, 'do \"$1\"', sh, '{namespace}'])")
    # A shell inside the pod: shell: true would quote for the local shell only, so it is not offered.
    text = with_run('[kubectl, exec, deploy/web, --, bash, -c, "echo {namespace}"]')
    [finding] = warnings(tmp_path, text, "b.yaml")
    assert finding.message.endswith("([bash, -c, 'do \"$1\"', bash, '{namespace}'])")


def test_param_in_shell_script_covers_every_section_and_evidence(tmp_path: Path) -> None:
    text = LOW.replace("done_when:", (
        "rollback:\n  steps:\n    - id: undo\n      run: [sh, -c, 'echo undo {namespace}']\n"
        "evidence:\n  - id: pods\n    run: [sh, -c, 'echo kept {namespace}']\n"
        "done_when:"
    ))
    found = warnings(tmp_path, text)
    assert [(f.line, f.col) for f in found] == [at(text, "echo undo"), at(text, "echo kept")]
    assert [f.message.split(":")[0] for f in found] == ["step 'undo'", "evidence 'pods'"]


def test_shell_script_index() -> None:
    assert shell_script_index(["sh", "-c", "x"]) == (0, 2)
    assert shell_script_index(["kubectl", "exec", "p", "--", "/bin/bash", "-xc", "x", "a0", "a1"]) == (4, 6)
    assert shell_script_index(["bash", "--rcfile", "f", "-c", "x"]) == (0, 4)
    assert shell_script_index(["sh", "-c"]) is None  # no script: sh itself refuses that
    assert shell_script_index(["sh", "-e", "x"]) is None
    assert shell_script_index(["echo", "-c", "x"]) is None


def test_the_recommended_form_passes_a_hostile_value_as_one_argument(tmp_path: Path) -> None:
    """What the warning recommends does what it says: run through a real /bin/sh, the value stays data."""
    import subprocess

    from console.runbook.params import render_argv

    text = with_run("[sh, -c, 'printf \"<%s>\" \"$1\"', sh, '{namespace}']")
    lr = load(tmp_path, text)
    assert lint(lr, warnings=True) == []
    value = "web; echo INJECTED $(id -u)"
    argv = render_argv(lr.runbook.steps[0], {"namespace": value})
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    assert out == f"<{value}>"


def test_warnings_print_but_do_not_fail_opsconsole_lint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import main

    text = with_run('[sh, -c, "echo {namespace}"]')
    path = tmp_path / "warned.yaml"
    path.write_text(text)
    line, col = at(text, "    run:")
    assert main(["lint", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{path}:{line}:{col}: warning: param-in-shell-script: step 'look': {{namespace}} is written")
    assert len(out.splitlines()) == 1
    assert err == "1 runbook(s) checked, 0 with problems, 1 warning(s)\n"
    # With an error beside it, lint fails for the error and still prints the warning.
    broken = tmp_path / "broken.yaml"
    broken.write_text(edit(text, "why: To see what runs.", "why: ''"))
    assert main(["lint", str(broken)]) == 1
    out, err = capsys.readouterr()
    assert [ln.split(": ")[1] for ln in out.splitlines()] == ["required-sections", "warning"]
    assert err == "1 runbook(s) checked, 1 with problems, 1 warning(s)\n"


def test_a_warning_does_not_block_a_start(tmp_path: Path, dead_kubeconfig: Path, records_dir: Path) -> None:
    from console.config import load_policy
    from console.engine.session import ChangeSession, StartRequest
    from console.journal.store import RecordStore

    path = tmp_path / "warned.yaml"
    path.write_text(edit(with_run('[sh, -c, "echo {namespace}"]'), "[staging]", "[rehearsal]"))
    assert lint(load_runbook(path), warnings=True) != []
    request = StartRequest(runbook_path=path, environment="rehearsal", context="rehearsal", operator="alice",
                           kubeconfig=str(dead_kubeconfig))
    session = ChangeSession.start(request, store=RecordStore(records_dir), policy=load_policy())
    try:
        assert next(e.type for e in session.events) == "change.created"
    finally:
        session.release()


SHIPPED = sorted((Path(__file__).resolve().parents[2] / "runbooks").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_runbooks_and_the_template_have_no_warnings_either(path: Path) -> None:
    assert [str(f) for f in lint(load_runbook(path), warnings=True)] == []

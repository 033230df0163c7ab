"""Policy at the start of a change, through ChangeSession and the CLI: windows and frequency limits with the emergency
override, the context guard, typed production contexts, and ``--answers`` confined to rehearsals.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import load_policy
from console.engine.session import ChangeSession, PolicyRefused, SessionError, StartRequest
from console.journal import events as ev
from console.journal.store import RecordStore

from .conftest import STAGING_POLICY, FakeClock, events_of, every_file, opsconsole, run_forward, runbook_doc, write_runbook

CLOSED_WINDOW_POLICY = STAGING_POLICY + """
[windows.low]
days = ["sat"]
start = "02:00"
end = "03:00"
"""

SIMPLE = runbook_doc(steps=[{"id": "noop", "kind": "check", "run": ["true"]}])


def nothing_written(records: Path) -> bool:
    """No change was created; the refusal itself is in the store's log of refused starts, and nothing else is."""
    from console.journal.audit import read_refusals

    if not records.exists():
        return False  # the refusal must have been recorded
    others = [p for p in every_file(records) if p.relative_to(records).parts[0] != "refused"]
    log = read_refusals(records)
    return others == [] and len(log.entries) >= 1 and log.problems == []


# -- change window ------------------------------------------------------------------------------------------------------


def test_outside_the_window_a_change_is_refused_and_nothing_is_written(start, records_dir: Path, clock: FakeClock) -> None:
    with pytest.raises(PolicyRefused) as refused:
        start(SIMPLE, environment="staging", context="stage-ctx", policy_text=CLOSED_WINDOW_POLICY, clock=clock)
    assert str(refused.value) == (
        "change window: outside the low-risk change window (sat 02:00-03:00 UTC) (mark the change as an emergency to override)"
    )
    assert {v.name: v.ok for v in refused.value.verdicts}["change window"] is False
    assert nothing_written(records_dir)


def test_the_emergency_override_of_a_window_is_recorded(start, records_dir: Path, clock: FakeClock) -> None:
    with pytest.raises(PolicyRefused, match="needs the name of who approved the break-glass"):
        start(SIMPLE, environment="staging", context="stage-ctx", policy_text=CLOSED_WINDOW_POLICY, clock=clock,
              emergency_reason="payments are down")
    assert nothing_written(records_dir)
    s = start(SIMPLE, environment="staging", context="stage-ctx", policy_text=CLOSED_WINDOW_POLICY, clock=clock,
              emergency_reason="payments are down", emergency_approver="carol")
    assert events_of(s, ev.CHANGE_CREATED)[0].data["emergency"] is True
    bg = events_of(s, ev.BREAKGLASS_RECORDED)[0].data
    assert bg == {"reason": "payments are down", "approver": "carol", "what": "emergency change (overrides: change window)",
                  "approver_role": "engineering-manager", "approval": "verbal"}
    checks = {c["name"]: c for c in events_of(s, ev.POLICY_CHECKED)[0].data["checks"]}
    assert checks["change window"]["ok"] is False and checks["change window"]["overridable"] is True
    run_forward(s)
    s.close("success")
    md = (s.ref.path / "record.md").read_text()
    assert "| Emergency | **yes (break-glass)** |" in md
    assert '**2026-11-18 12:00:00Z: emergency change (overrides: change window), approved by carol: "payments are down"**' in md
    assert "- **refused**: change window: outside the low-risk change window" in md


# -- frequency limits ---------------------------------------------------------------------------------------------------


def closed_change(start, clock: FakeClock, **kwargs) -> ChangeSession:
    s = start(SIMPLE, environment="staging", context="stage-ctx", policy_text=STAGING_POLICY, clock=clock, **kwargs)
    run_forward(s)
    s.close("success")
    return s


def test_the_fourth_change_of_the_day_is_refused_and_an_emergency_override_is_recorded(start, store: RecordStore, clock: FakeClock) -> None:
    for _ in range(3):
        clock.advance(hours=1)
        closed_change(start, clock)
    # A rehearsal change the same day does not count towards staging's limit.
    rehearsal = start(SIMPLE, clock=clock)
    rehearsal.release()
    assert len(store.list_changes()) == 4
    clock.advance(hours=1)
    with pytest.raises(PolicyRefused) as refused:
        closed_change(start, clock)
    assert str(refused.value) == (
        "frequency limits: 3 changes already today in staging (limit 3; the latest: CHG-2026-0003 by alice at "
        "2026-11-18 15:00Z) (mark the change as an emergency to override)"
    )
    assert len(store.list_changes()) == 4  # the refused change left nothing behind

    s = closed_change(start, clock, emergency_reason="certificate expires in an hour", emergency_approver="carol")
    assert events_of(s, ev.BREAKGLASS_RECORDED)[0].data["what"] == "emergency change (overrides: frequency limits)"
    # The emergency itself is not counted: the next ordinary change is refused for the same three.
    with pytest.raises(PolicyRefused, match="3 changes already today in staging"):
        closed_change(start, clock)
    # The next day the count starts again.
    clock.advance(days=1)
    closed_change(start, clock)


# -- context guard -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "context", "message"),
    [
        ("staging", "stray-ctx", "context guard: context 'stray-ctx' is not a staging context (policy maps it to no environment); staging contexts: stage-ctx"),
        ("staging", "prod-ctx", "context guard: context 'prod-ctx' is not a staging context (it belongs to 'production'); staging contexts: stage-ctx"),
        ("rehearsal", "stage-ctx", "context guard: context 'stage-ctx' is not a rehearsal context (it belongs to 'staging'); rehearsal contexts: rehearsal, rehearsal-b"),
    ],
)
def test_a_context_not_mapped_to_the_environment_is_refused_before_anything_is_written(
    start, records_dir: Path, environment: str, context: str, message: str,
) -> None:
    with pytest.raises(PolicyRefused) as refused:
        start(SIMPLE, environment=environment, context=context, policy_text=STAGING_POLICY,
              emergency_reason="an emergency does not override the context guard", emergency_approver="carol")
    assert str(refused.value) == message
    assert nothing_written(records_dir)


def test_a_runbook_not_written_for_the_environment_is_refused(start, records_dir: Path) -> None:
    doc = runbook_doc(steps=[{"id": "noop", "kind": "check", "run": ["true"]}], environments=("rehearsal",))
    with pytest.raises(PolicyRefused, match="runbook environments: the runbook is for rehearsal, not staging"):
        start(doc, environment="staging", context="stage-ctx", policy_text=STAGING_POLICY)
    assert nothing_written(records_dir)


def test_the_cli_refuses_an_unmapped_context_with_one_line_and_writes_nothing(tmp_path: Path, kubeconfig: Path, records_dir: Path) -> None:
    runbook = write_runbook(tmp_path, SIMPLE)
    policy = tmp_path / "policy.toml"
    policy.write_text(STAGING_POLICY)
    env = {"OPSCONSOLE_RECORDS": str(records_dir)}
    result = opsconsole("run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--config", str(policy),
                        "--context", "stray-ctx", "--environment", "staging", env=env, input="")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        ("opsconsole: context guard: context 'stray-ctx' is not a staging context (policy maps it to no environment); "
        "staging contexts: stage-ctx")
    ]
    # Without --environment, a context policy does not know has no environment at all.
    result = opsconsole("run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--config", str(policy),
                        "--context", "stray-ctx", env=env, input="")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"opsconsole: context 'stray-ctx' maps to no environment in policy {policy}; map it there or name one with --environment"
    ]
    assert nothing_written(records_dir)


# -- production needs the context typed ----------------------------------------------------------------------------------


def test_a_production_change_needs_the_context_name_typed(start, records_dir: Path) -> None:
    for typed in (None, "prod", "PROD-CTX"):
        with pytest.raises(PolicyRefused, match="production context: type the context name 'prod-ctx' to start a production change"):
            start(SIMPLE, environment="production", context="prod-ctx", policy_text=STAGING_POLICY, typed_context=typed)
    assert nothing_written(records_dir)
    s = start(SIMPLE, environment="production", context="prod-ctx", policy_text=STAGING_POLICY, typed_context="prod-ctx")
    assert events_of(s, ev.CHANGE_CREATED)[0].data["context"] == "prod-ctx"


def test_the_cli_asks_for_the_production_context_and_refuses_a_wrong_one(tmp_path: Path, kubeconfig: Path, records_dir: Path) -> None:
    runbook = write_runbook(tmp_path, SIMPLE)
    policy = tmp_path / "policy.toml"
    policy.write_text(STAGING_POLICY)
    args = ["run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--config", str(policy), "--context", "prod-ctx", "--operator", "alice"]
    env = {"OPSCONSOLE_RECORDS": str(records_dir)}
    wrong = opsconsole(*args, env=env, input="prod-ctx-typo\n")
    assert wrong.returncode == 1
    assert "production is a production environment: type the context name 'prod-ctx' to start: " in wrong.stdout
    assert wrong.stderr.splitlines() == ["opsconsole: production context: type the context name 'prod-ctx' to start a production change"]
    assert nothing_written(records_dir)
    # Typed right, then the close-out prompts answered with their defaults.
    right = opsconsole(*args, env=env, input="prod-ctx\n\n\n\n\n")
    assert right.returncode == 0, right.stdout + right.stderr
    assert "closed: success" in right.stdout
    (change,) = RecordStore(records_dir).list_changes()
    assert "| Kube context | prod-ctx |" in (change.path / "record.md").read_text()


# -- --answers only on rehearsals -----------------------------------------------------------------------------------------


def test_answers_files_are_refused_outside_rehearsal_environments(tmp_path: Path, kubeconfig: Path, records_dir: Path) -> None:
    runbook = write_runbook(tmp_path, SIMPLE)
    policy = tmp_path / "policy.toml"
    policy.write_text(STAGING_POLICY)
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nclose: {outcome: auto}\n")
    env = {"OPSCONSOLE_RECORDS": str(records_dir)}
    base = ["run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--config", str(policy), "--answers", str(answers)]
    for context in ("stage-ctx", "prod-ctx"):
        result = opsconsole(*base, "--context", context, "--confirm-context", context, env=env, input="")
        environment = "staging" if context == "stage-ctx" else "production"
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            f"opsconsole: --answers runs a change unattended, which policy allows only on rehearsal environments, not {environment}"
        ]
    assert nothing_written(records_dir)

    # A staging change started by hand cannot be resumed unattended either, and the refusal lets go of its lock.
    s = ChangeSession.start(
        StartRequest(runbook_path=runbook, environment="staging", context="stage-ctx", operator="alice", kubeconfig=str(kubeconfig)),
        store=RecordStore(records_dir), policy=load_policy(str(policy)),
    )
    s.release()
    resume = ["resume", s.change_id, "--plain", "--kubeconfig", str(kubeconfig), "--config", str(policy)]
    refused = opsconsole(*resume, "--answers", str(answers), env=env, input="")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "opsconsole: --answers runs a change unattended, which policy allows only on rehearsal environments, not staging"
    ]
    by_hand = opsconsole(*resume, "--operator", "alice", env=env, input="\n\n\n\n")
    assert by_hand.returncode == 0, by_hand.stdout + by_hand.stderr
    assert "closed: success" in by_hand.stdout


def test_a_rehearsal_runs_unattended_from_an_answers_file(tmp_path: Path, kubeconfig: Path, records_dir: Path) -> None:
    runbook = write_runbook(tmp_path, runbook_doc(steps=[{"id": "go", "run": ["sh", "-c", "echo went"]}]))
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nconfirm: {go: [nope, 'yes']}\nclose: {outcome: auto}\n")
    result = opsconsole("run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--answers", str(answers),
                        env={"OPSCONSOLE_RECORDS": str(records_dir)}, input="")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "refused: 'nope' is not 'yes' (recorded)" in result.stdout
    assert "| went" in result.stdout
    (change,) = RecordStore(records_dir).list_changes()
    journal = (change.path / "journal.jsonl").read_text()
    assert '"type":"step.confirmation_refused"' in journal.replace(" ", "")


def test_a_missing_context_in_the_kubeconfig_writes_nothing(start, records_dir: Path) -> None:
    with pytest.raises(SessionError, match="context 'rehearsal-c' is not in the kubeconfig"):
        policy = STAGING_POLICY + '\n[environments.rehearsal]\ncontexts = ["rehearsal-c"]\nrehearsal = true\n'
        start(SIMPLE, environment="rehearsal", context="rehearsal-c", policy_text=policy)
    assert nothing_written(records_dir)

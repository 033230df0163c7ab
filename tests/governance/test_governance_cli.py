"""Signed approvals through the command line, in fresh interpreters with real ed25519 keys: a change waits pending,
approvers sign it with ``opsconsole approve``, and ``opsconsole resume`` starts it only on signatures that hold;
the operator signs the close-out and ``records verify`` checks every signature offline.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from tests.support.approvers import Team, assert_one_sentence
from tests.support.journal_data_checks import faithful_problems

REPO = Path(__file__).resolve().parents[2]

RUNBOOK = {
    "apiVersion": "opsconsole/v1",
    "kind": "Runbook",
    "metadata": {
        "id": "signed-test", "title": "Signed approvals test", "component": "gov", "from": "1.0.0", "to": "1.1.0",
        "risk": "medium", "environments": ["rehearsal", "production"], "owners": ["platform"],
    },
    "why": "Exercise signed approvals end to end.",
    "scope": "Files in the test's temporary directory only.",
    "blast_radius": "None outside the test.",
    "params": {"replicas": {"type": "string", "default": "3"}},
    "preconditions": [],
    "gates": [],
    "steps": [{"id": "touch", "title": "Write a file", "run": ["sh", "-c", "echo ran {replicas} > \"$MARK\""],
               "env": {"MARK": "{change_dir}/ran.txt"}, "confirm": "yes", "rollback": "undo"}],
    "rollback": {"triggers": [], "steps": [{"id": "undo", "title": "Remove the file",
                                            "run": ["sh", "-c", "rm -f \"$MARK\""], "env": {"MARK": "{change_dir}/ran.txt"}}]},
    "verification": [],
    "done_when": ["the file is written"],
}

ANSWERS = "operator: olga\nconfirm: {touch: yes}\nclose: {outcome: auto}\n"


def policy_text(signers: Path, *, ttl: str = "4h", count: int = 1, extra: str = "") -> str:
    return f"""
[signatures]
allowed_signers = "{signers}"
approval_ttl = "{ttl}"

[signatures.require.rehearsal]
medium = {{senior-engineer = {count}}}
{extra}"""


class Env:
    """A record store, a policy naming the team's allowed-signers file, a runbook and a dead kubeconfig."""

    def __init__(self, tmp: Path, team: Team, *, sub: bool = False, **policy: Any) -> None:
        self.sub = sub
        self.tmp = tmp
        self.team = team
        self.records = tmp / "records"
        self.records.mkdir()
        self.runbook = tmp / "runbook.yaml"
        self.runbook.write_text(json.dumps(RUNBOOK))
        self.policy = tmp / "opsconsole.toml"
        self.policy.write_text(policy_text(team.allowed_path, **policy))
        self.answers = tmp / "answers.yaml"
        self.answers.write_text(ANSWERS)
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}}],
            "users": [{"name": "u", "user": {}}],
            "contexts": [{"name": "rehearsal", "context": {"cluster": "dead", "user": "u"}}],
            "current-context": "rehearsal",
        }))
        # HOME is the test's own, so no key of the machine's user is ever found or used.
        self.env = {**os.environ, "HOME": str(tmp), "OPSCONSOLE_RECORDS": str(self.records), "PYTHONPATH": str(REPO)}

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """The command in a fresh interpreter when the test says so (``sub``), else in this one (quicker, same code)."""
        if self.sub:
            return subprocess.run([sys.executable, "-m", "console.cli", *args], cwd=self.tmp, env=self.env,
                                  capture_output=True, text=True, timeout=120, input=input)
        out, err = io.StringIO(), io.StringIO()
        saved = dict(os.environ), sys.stdin
        os.environ.update({k: self.env[k] for k in ("HOME", "OPSCONSOLE_RECORDS")})
        sys.stdin = io.StringIO(input or "")
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        finally:
            os.environ.clear()
            os.environ.update(saved[0])
            sys.stdin = saved[1]
        return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())

    def start(self, *extra: str) -> str:
        done = self.cli("run", str(self.runbook), "--plain", "--no-wait", "--config", str(self.policy),
                        "--kubeconfig", str(self.kubeconfig), "--operator", "olga", *extra)
        assert done.returncode == 0, done.stderr
        return next(w for w in done.stdout.split() if w.startswith("CHG-"))

    def approve(self, change_id: str, who: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.cli("approve", change_id, "--key", str(self.team.keys[who]), *extra, input="y\n")

    def resume(self, change_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.cli("resume", change_id, "--plain", "--answers", str(self.answers), "--config", str(self.policy),
                        "--kubeconfig", str(self.kubeconfig), "--operator", "olga",
                        "--key", str(self.team.keys["olga"]), *extra)

    def change_dir(self, change_id: str) -> Path:
        return next(self.records.glob(f"*/*__{change_id}"))

    def journal(self, change_id: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.change_dir(change_id) / "journal.jsonl").read_text().splitlines()]


@pytest.fixture
def env(tmp_path: Path, team: Team) -> Env:
    return Env(tmp_path, team)


@pytest.mark.slow
def test_pending_approve_resume_runs_signs_the_close_out_and_verifies(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team, sub=True)
    done = env.cli("run", str(env.runbook), "--plain", "--no-wait", "--config", str(env.policy),
                   "--kubeconfig", str(env.kubeconfig), "--operator", "olga")
    assert done.returncode == 0, done.stderr
    # Who may approve, from the allowed-signers file (the operator olga holds the role but never counts).
    assert "needs 1 'senior-engineer' approval: may sign: alice, carol" in done.stdout
    change_id = next(w for w in done.stdout.split() if w.startswith("CHG-"))
    assert f"opsconsole approve {change_id}" in done.stdout
    cdir = env.change_dir(change_id)
    assert (cdir / "request.json").is_file() and (cdir / "artifacts" / "allowed_signers").is_file()
    types = [e["type"] for e in env.journal(change_id)]
    assert types == ["change.created", "params.set", "approval.requested"]
    assert not (cdir / "ran.txt").exists()

    # Nothing signed yet: resume refuses, saying what is missing, and runs nothing.
    refused = env.resume(change_id)
    assert refused.returncode == 1
    assert "1 more 'senior-engineer' approval needed." in refused.stderr
    assert not (cdir / "ran.txt").exists()

    signed = env.approve(change_id, "alice")
    assert signed.returncode == 0, signed.stderr
    # The approver saw the request in human form: the bound command and the policy's hash.
    assert 'sh -c \'echo ran 3 > "$MARK"\'' in signed.stdout or "echo ran 3" in signed.stdout
    assert "Policy       sha256" in signed.stdout and "Preflight    kubectl" in signed.stdout
    assert (cdir / "approvals" / "alice.json").is_file()

    started = env.resume(change_id)
    assert started.returncode == 0, started.stdout + started.stderr
    assert (cdir / "ran.txt").read_text() == "ran 3\n"
    events = env.journal(change_id)
    verified = next(e for e in events if e["type"] == "approval.verified")
    assert [(a["principal"], a["role"]) for a in verified["data"]["accepted"]] == [("alice", "senior-engineer")]
    checked = next(e for e in events if e["type"] == "policy.checked")
    assert checked["data"]["policy_sha256"] == verified["data"]["policy_sha256"]
    assert events[-1]["type"] == "signature.closeout", started.stdout + started.stderr
    assert events[-2]["type"] == "change.closed"
    assert events[-1]["data"]["principal"] == "olga"
    assert "| alice | senior-engineer | SSH signature " in (cdir / "record.md").read_text()

    env.sub = False  # the rest reads the record: in this interpreter
    report = env.cli("records", "verify", change_id)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "alice signed the start request as 'senior-engineer'" in report.stdout
    assert "olga signed the close-out" in report.stdout

    # Months later, the policy's allowed-signers file is gone: the record's own copy is what verifies.
    env.team.allowed_path.rename(env.team.allowed_path.with_suffix(".gone"))
    try:
        again = env.cli("records", "verify", change_id)
    finally:
        env.team.allowed_path.with_suffix(".gone").rename(env.team.allowed_path)
    assert again.returncode == 0, again.stdout
    # The new events are written as their models say and read back byte for byte.
    problems, _seen = faithful_problems(env.records)
    assert problems == []


@pytest.mark.slow
def test_run_waits_live_and_starts_when_the_signature_arrives(env: Env) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "run", str(env.runbook), "--plain", "--answers", str(env.answers),
         "--config", str(env.policy), "--kubeconfig", str(env.kubeconfig), "--operator", "olga",
         "--key", str(env.team.keys["olga"])],
        cwd=env.tmp, env=env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        change_id = None
        for line in proc.stdout:  # waits for lines, not for a time
            if change_id is None and "waits for signed approvals" in line:
                change_id = line.split()[0]
            if "waiting for signatures" in line:
                break
        assert change_id is not None
        assert env.approve(change_id, "carol").returncode == 0
        rest, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, rest + err
        assert "carol approved as senior-engineer" in rest
        assert (env.change_dir(change_id) / "ran.txt").is_file()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _refusal(env: Env, change_id: str) -> str:
    done = env.resume(change_id)
    assert done.returncode == 1, done.stdout
    assert not (env.change_dir(change_id) / "ran.txt").exists()
    reasons = [line.strip() for line in done.stderr.splitlines()[1:] if line.strip()]
    for reason in reasons:
        assert_one_sentence(reason)
    return "\n".join(reasons)


def test_wrong_role_self_approval_and_unknown_key_are_refused(env: Env) -> None:
    change_id = env.start()
    assert env.approve(change_id, "bob", "--role", "senior-engineer").returncode == 0
    assert "bob signed as 'senior-engineer', but" in _refusal(env, change_id)
    (env.change_dir(change_id) / "approvals" / "bob.json").unlink()

    assert env.approve(change_id, "olga", "--role", "senior-engineer").returncode == 0
    assert "olga is the operator starting this change and cannot approve it" in _refusal(env, change_id)
    (env.change_dir(change_id) / "approvals" / "olga.json").unlink()

    assert env.approve(change_id, "mallory", "--as", "alice", "--role", "senior-engineer").returncode == 0
    assert "the signature was made with key" in _refusal(env, change_id)  # mallory's key, claiming alice: forged


def test_replayed_request_from_another_change_is_refused(env: Env) -> None:
    first = env.start()
    second = env.start()
    assert env.approve(first, "alice").returncode == 0
    # The approval of the first change, copied into the second's approvals directory.
    src = env.change_dir(first) / "approvals" / "alice.json"
    (env.change_dir(second) / "approvals" / "alice.json").write_bytes(src.read_bytes())
    assert f"it approves a different request: its change_id is '{first}', this request's is '{second}'" in _refusal(env, second)


def test_changed_parameter_is_refused(env: Env) -> None:
    change_id = env.start()
    assert env.approve(change_id, "alice").returncode == 0
    reasons = _refusal_with(env, change_id, "--param", "replicas=9")
    assert "its parameters.replicas is '3', this request's is '9'" in reasons


def _refusal_with(env: Env, change_id: str, *extra: str) -> str:
    done = env.resume(change_id, *extra)
    assert done.returncode == 1, done.stdout
    return done.stderr


def test_tampered_signature_is_refused_as_forged(env: Env) -> None:
    change_id = env.start()
    assert env.approve(change_id, "alice").returncode == 0
    path = env.change_dir(change_id) / "approvals" / "alice.json"
    bundle = json.loads(path.read_text())
    envelope = json.loads(bundle["envelope"])
    envelope["role"] = "security"  # relabel what alice signed
    bundle["envelope"] = json.dumps(envelope, sort_keys=True, separators=(",", ":"))
    path.write_text(json.dumps(bundle))
    assert "the signature does not verify against alice's key" in _refusal(env, change_id)


def test_expired_approval_is_refused(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team, ttl="1s")
    change_id = env.start()
    assert env.approve(change_id, "alice").returncode == 0
    path = env.change_dir(change_id) / "approvals" / "alice.json"
    signed_at = json.loads(json.loads(path.read_text())["envelope"])["signed_at"]
    from console.governance.request import parse_utc

    deadline = parse_utc(signed_at, "signed_at").timestamp() + 1
    while time.time() <= deadline + 0.1:  # waits for the approval's own expiry instant, then checks
        time.sleep(0.2)
    assert "expired at" in _refusal(env, change_id)


def test_two_distinct_signers_are_needed_when_policy_asks_two(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team, count=2)
    change_id = env.start()
    assert env.approve(change_id, "alice").returncode == 0
    assert "1 more 'senior-engineer' approval needed." in _refusal(env, change_id)
    assert env.approve(change_id, "carol").returncode == 0
    assert env.resume(change_id).returncode == 0


def test_one_person_counts_once(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team, count=2)
    change_id = env.start()
    assert env.approve(change_id, "alice").returncode == 0
    approvals = env.change_dir(change_id) / "approvals"
    (approvals / "alice-again.json").write_bytes((approvals / "alice.json").read_bytes())
    reasons = _refusal(env, change_id)
    assert "alice already approved as 'senior-engineer', and each person counts once" in reasons
    assert "1 more 'senior-engineer' approval needed." in reasons


def test_a_requirement_nobody_can_meet_is_refused_at_once(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team, count=3)  # alice and carol hold the role besides the operator: three cannot sign
    done = env.cli("run", str(env.runbook), "--plain", "--no-wait", "--config", str(env.policy),
                   "--kubeconfig", str(env.kubeconfig), "--operator", "olga")
    assert done.returncode == 1
    assert "requires 3 'senior-engineer' approvals but 2 people other than the operator hold that role" in done.stderr
    assert not list(env.records.glob("*/*__CHG-*"))


def test_a_missing_allowed_signers_file_refuses_the_start_before_the_change_exists(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team)
    env.policy.write_text(policy_text(tmp_path / "nowhere"))
    done = env.cli("run", str(env.runbook), "--plain", "--no-wait", "--config", str(env.policy),
                   "--kubeconfig", str(env.kubeconfig), "--operator", "olga")
    assert done.returncode == 1
    assert "nowhere: cannot be read" in done.stderr
    assert not list(env.records.glob("*/*__CHG-*"))


def test_a_policy_changed_after_signing_is_refused(env: Env) -> None:
    change_id = env.start()
    assert env.approve(change_id, "alice").returncode == 0
    env.policy.write_text(env.policy.read_text() + "\n[limits]\nmax_changes_per_day = 9\n")
    done = env.resume(change_id)
    assert done.returncode == 1
    assert "is not the one the approvers were asked to sign" in done.stderr


def test_typed_approvals_do_not_count_for_a_signed_role(env: Env) -> None:
    change_id = env.start("--approval", "bob:senior-engineer:T-1")
    assert not [e for e in env.journal(change_id) if e["type"] == "approval.recorded"]
    assert "1 more 'senior-engineer' approval needed." in _refusal(env, change_id)


@pytest.mark.slow
def test_approve_a_request_file_sent_by_chat(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team, sub=True)
    change_id = env.start()
    sent = env.tmp / "chat" / "request.json"
    sent.parent.mkdir()
    sent.write_bytes((env.change_dir(change_id) / "request.json").read_bytes())
    done = env.cli("approve", "--request", str(sent), "--key", str(env.team.keys["carol"]), "--role", "senior-engineer",
                   "--allowed-signers", str(env.team.allowed_path), "--yes")
    assert done.returncode == 0, done.stderr
    made = sent.with_name("request.carol.approval.json")
    assert made.is_file()
    env.sub = False
    (env.change_dir(change_id) / "approvals" / made.name).write_bytes(made.read_bytes())
    assert env.resume(change_id).returncode == 0


def test_records_verify_reports_a_forged_close_out(env: Env) -> None:
    change_id = env.start()
    assert env.approve(change_id, "alice").returncode == 0
    assert env.resume(change_id).returncode == 0
    # The same close-out, re-signed by mallory (not in the file) but still claiming olga.
    from console.governance.closeout import sign_head

    jpath = env.change_dir(change_id) / "journal.jsonl"
    last = json.loads(jpath.read_text().splitlines()[-1])
    forged = sign_head(last["data"]["statement"].encode(), env.team.keys["mallory"])
    from console.journal.journal import Journal

    journal = Journal.open(jpath)
    journal.append("signature.closeout", {**last["data"], "signature": forged.decode()})
    journal.close()
    done = env.cli("records", "verify", change_id)
    assert done.returncode == 1
    assert "  BROKEN: close-out signature by olga: made with a key that is not olga's." in done.stdout

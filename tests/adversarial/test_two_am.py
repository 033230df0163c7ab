"""What an operator gets wrong at 2 a.m., and what the console must catch.

- A context name typed wrong, or one policy does not map to the environment: refused in one sentence, no change.
- A parameter given twice with different values (a namespace typed again at the end of an edited command line):
  refused as a usage error, since which one was meant is not the console's to guess.
- Enter pressed twice at a typed confirmation, in a real terminal: the second Enter waits in the terminal's input
  until the step has failed and the automatic rollback counts down, where an Enter means "hold". It must not hold
  the rollback (nor answer any later question): only what is typed after a question is asked answers it.
- A change resumed from another terminal: with a different namespace parameter, with another kubeconfig whose
  context has the same name but is another cluster, under another directory's policy file. The resumed change must
  act on what the change was admitted for, or be refused. A secret parameter typed wrong on resume (secrets are
  never on record, so they are typed again) must be refused, or at least not leave the real one unmasked.

The resume cases start the password rotation and stop it before its restart (the answers file's word for the
restart is refused, which leaves the change open), then resume it as another operator would.
"""

from __future__ import annotations

import dataclasses
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from console.journal import events as ev
from kubesim.testing import RunningCluster, running_cluster

from .conftest import SPEED
from .crashloop import ANSWERS, PY, REPO, Console
from .test_credential_rotation import run_args, secret_args

RUNBOOK = "db-credential-rotation"
pytestmark = pytest.mark.kubectl


def test_a_mistyped_context_and_an_unmapped_one_are_refused_before_any_change_exists(console: Console, runbooks: Path) -> None:
    path = runbooks / f"{RUNBOOK}.yaml"
    for extra in (["--context", "rehersal"], ["--context", "rehearsal-b", "--environment", "staging"]):
        done = console("run", str(path), "--plain", "--kubeconfig", str(console.kubeconfig), *extra, *run_args(),
                       "--approval", "mo:engineering-manager:SEC-41", "--approval", "sam:security:SEC-41", input="")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "rehersal" in done.stderr or "rehearsal-b" in done.stderr, done.stderr
        assert console.journal() is None, extra


def test_a_parameter_given_twice_with_different_values_is_a_usage_error(console: Console, runbooks: Path) -> None:
    path = runbooks / f"{RUNBOOK}.yaml"
    done = console("run", str(path), "--plain", "--answers", str(ANSWERS / f"{RUNBOOK}.yaml"), "--kubeconfig",
                   str(console.kubeconfig), *run_args(), "--param", "namespace=data", "--param", "namespace=web")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "namespace" in done.stderr and "twice" in done.stderr
    assert console.journal() is None
    # The same value twice is no contradiction; a secret given twice differently is refused without either value.
    again = console("run", str(path), "--plain", "--answers", str(ANSWERS / f"{RUNBOOK}.yaml"), "--kubeconfig",
                    str(console.kubeconfig), *run_args(), "--param", "new_password=Typo-Passw0rd-1")
    assert again.returncode == 2 and "new_password" in again.stderr, again.stdout + again.stderr
    assert "Typo-Passw0rd-1" not in again.stderr and "N3wPassw0rd-rot8" not in again.stderr


# -- a double Enter in a real terminal ------------------------------------------------------------------------------

FAILING = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata: {id: failing-change, title: A change that fails, component: web, from: "1", to: "2", risk: low,
           environments: [rehearsal], owners: [platform]}
why: A step that changes something fails and rolls back by itself.
scope: nothing outside the test
blast_radius: none
steps:
  - id: break
    title: Apply the change (it fails)
    run: [sh, -c, "echo applying; exit 3"]
    confirm: typed
    confirm_word: apply
    rollback: undo
    on_failure: rollback
rollback:
  steps:
    - id: undo
      title: Undo the change
      run: [sh, -c, "echo undone"]
done_when: [the change is undone]
"""


class Terminal:
    """The console on a pseudo-terminal, as an operator's shell runs it: what it prints, read until a text appears."""

    def __init__(self, console: Console, args: list[str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([PY, "-m", "console.cli", *args], cwd=REPO, env=console.env(), stdin=slave,
                                     stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.seen = b""

    def wait_for(self, text: str, *others: str, deadline_s: float = 60) -> str:
        """Read until ``text`` (or one of ``others``) appears; which one did."""
        end = time.monotonic() + deadline_s
        while not (found := [t for t in (text, *others) if t.encode() in self.seen]):
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} never appeared; the terminal shows:\n{self.seen.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the console ended and closed the terminal
                    time.sleep(0.05)
        return found[0]

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self.master)


def test_a_double_enter_at_a_confirmation_does_not_hold_the_automatic_rollback(console: Console, tmp_path: Path) -> None:
    runbook = tmp_path / "failing-change.yaml"
    runbook.write_text(FAILING)
    policy = tmp_path / "countdown.toml"
    policy.write_text(console.policy.read_text() + "\n[rollback]\ncountdown_s = 1\n")
    term = Terminal(dataclasses.replace(console, policy=policy),
                    ["run", str(runbook), "--plain", "--kubeconfig", str(console.kubeconfig), "--context", "rehearsal",
                     "--operator", "alice"])
    try:
        term.wait_for("type 'apply' to run this step:")
        term.type("apply\r\r")  # the word, and Enter twice
        reached = term.wait_for("outcome [", "what now?")
        assert reached == "outcome [", "the second Enter held the automatic rollback:\n" + term.seen.decode(errors="replace")
        term.type("\r")
        for prompt in ("follow-ups", "signed off by", "role ["):
            term.wait_for(prompt)
            term.type("\r")
        term.wait_for("final chain hash")
    finally:
        term.close()
    events = console.events()
    types = [e.type for e in events]
    assert ev.FAILURE_HELD not in types, term.seen.decode(errors="replace")
    started = next(e for e in events if e.type == ev.ROLLBACK_STARTED)
    assert started.data.get("automatic") is True, started.data
    assert not [e for e in events if e.type == ev.STEP_CONFIRMED and e.data["step_id"] == "undo"]
    assert events[-1].type == ev.CHANGE_CLOSED and events[-1].data["outcome"] == "rolled_back"


# -- resumed from another terminal -------------------------------------------------------------------------------------


def stopped_before_restart(console: Console, runbooks: Path, tmp_path: Path) -> str:
    """The rotation started and left open at the restart's confirmation; its change ID."""
    answers = tmp_path / "stops.yaml"
    answers.write_text((ANSWERS / f"{RUNBOOK}.yaml").read_text().replace("  restart: postgres\n", "  restart: postgress\n"))
    done = console(*console.run_args(runbooks / f"{RUNBOOK}.yaml", answers, *run_args()))
    assert done.returncode == 1, done.stdout + done.stderr
    events = console.events()
    assert [e for e in events if e.type == ev.STEP_FINISHED and e.data["step_id"] == "rotate"]
    assert not [e for e in events if e.type == ev.STEP_STARTED and e.data["step_id"] == "restart"]
    return events[0].data["change_id"]


def restarted(cluster: RunningCluster) -> bool:
    out = subprocess.run(["kubectl", "get", "statefulset", "postgres", "-n", "data", "-o",
                          "jsonpath={.spec.template.metadata.annotations}"], env=cluster.env(), capture_output=True,
                         text=True, check=True, timeout=30).stdout
    return "restartedAt" in out


def test_a_resume_with_another_namespace_does_not_retarget_the_rest_of_the_change(
        console: Console, runbooks: Path, tmp_path: Path) -> None:
    change_id = stopped_before_restart(console, runbooks, tmp_path)
    before = len(console.events())
    resumed = console(*console.resume_args(change_id, ANSWERS / f"{RUNBOOK}.yaml", "bob", *secret_args(),
                                            "--param", "namespace=web"))
    after = console.events()[before:]
    elsewhere = [e.data["argv"] for e in after if e.type == ev.STEP_STARTED and "-n" in e.data["argv"]
                 and e.data["argv"][e.data["argv"].index("-n") + 1] != "data"]
    assert elsewhere == [], (
        f"the change was admitted for namespace data; its resume ran {elsewhere} (exit {resumed.returncode})\n"
        + resumed.stdout[-2000:] + resumed.stderr)


def test_a_resume_with_a_kubeconfig_of_another_cluster_is_refused(console: Console, runbooks: Path,
                                                                   tmp_path: Path) -> None:
    change_id = stopped_before_restart(console, runbooks, tmp_path)
    # Another terminal's KUBECONFIG: a cluster of its own whose context has the same name.
    with running_cluster("default", speed=SPEED, kubeconfig_path=tmp_path / "other-kubeconfig") as other:
        resumed = console(*dataclasses.replace(console, kubeconfig=other.kubeconfig).resume_args(
            change_id, ANSWERS / f"{RUNBOOK}.yaml", "bob", *secret_args()))
        assert not restarted(other), (
            "the change was started on one cluster and its restart ran on another (same context name, other server)\n"
            + resumed.stdout[-2000:] + resumed.stderr)
        assert resumed.returncode == 1, resumed.stdout[-2000:] + resumed.stderr


CORP = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata: {id: tenant-keys, title: Print the tenant key, component: web, from: "1", to: "2", risk: low,
           environments: [rehearsal], owners: [platform]}
why: The second step prints a tenant key, a secret only this organisation's policy knows the shape of.
scope: nothing outside the test
blast_radius: none
steps:
  - id: first
    title: First
    run: [sh, -c, "echo first"]
    confirm: typed
    confirm_word: first
  - id: second
    title: Second, which prints the key
    run: [sh, -c, "printf 'tenant key CORP-%s-QX issued\\n' 552211"]
    confirm: typed
    confirm_word: second
done_when: [the key is issued]
"""


def test_a_resume_under_another_directorys_policy_keeps_the_changes_redaction(console: Console, tmp_path: Path) -> None:
    runbook = tmp_path / "tenant-keys.yaml"
    runbook.write_text(CORP)
    team = tmp_path / "team.toml"
    team.write_text(console.policy.read_text() + "\n[redaction]\npatterns = ['CORP-[0-9]{6}-[A-Z]{2}']\n")
    stops = tmp_path / "stops.yaml"
    stops.write_text("operator: alice\nconfirm: {first: first, second: secnod}\n")
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nconfirm: {first: first, second: second}\n")
    started = dataclasses.replace(console, policy=team)
    done = started(*started.run_args(runbook, stops))
    assert done.returncode == 1 and console.journal() is not None, done.stdout + done.stderr
    change_id = console.events()[0].data["change_id"]
    # The resume from a directory whose opsconsole.toml is the plain one (no redaction pattern of the team's).
    resumed = console(*console.resume_args(change_id, answers, "bob"))
    leaked = [str(p.relative_to(console.records)) for p in console.records.rglob("*") if p.is_file()
              and b"CORP-552211-QX" in p.read_bytes()]
    assert leaked == [], (
        f"resumed under another policy file (exit {resumed.returncode}), the team's redaction no longer applied: {leaked}\n"
        + resumed.stdout[-1500:] + resumed.stderr + "\n" + trail_of(console))


def trail_of(console: Console) -> str:
    return ", ".join(f"{e.type}({e.data.get('step_id', '')})" for e in console.events())


def test_a_resume_with_a_mistyped_secret_is_refused_or_still_masks_the_secret_in_use(
        console: Console, runbooks: Path, tmp_path: Path) -> None:
    """Secret parameters are never on record, so the resuming operator types them again. One typed wrong leaves the
    change running with a redaction that knows the wrong value: the verification then prints the Secret's data (the
    password the rotation set, base64) and nothing masks it."""
    from .secrets_on_disk import leaks
    from .test_credential_rotation import SECRET_PARAMS

    change_id = stopped_before_restart(console, runbooks, tmp_path)
    mistyped = [a for name, value in SECRET_PARAMS.items()
                for a in ("--param", f"{name}={value + 'x' if name == 'new_password' else value}")]
    resumed = console(*console.resume_args(change_id, ANSWERS / f"{RUNBOOK}.yaml", "bob", *mistyped))
    found = leaks(console.journal().parent, [SECRET_PARAMS["new_password"]])
    assert found == [], (f"resumed with a mistyped secret (exit {resumed.returncode}):\n" + "\n".join(found) + "\n"
                         + resumed.stdout[-1500:] + resumed.stderr)


def test_a_password_typed_into_a_confirmation_is_not_kept_but_a_slip_is(console: Console, runbooks: Path,
                                                                       tmp_path: Path) -> None:
    """At 2 a.m. the operator types a password into the console, taking it for sudo's prompt: the refusal is recorded,
    the password is not (the journal is append-only, so it would stay for good). A slip (postgress) is kept as typed:
    it tells the reviewer what went wrong."""
    from .crashloop import crash_loop
    from .secrets_on_disk import leaks

    password = "Hunter2-MyLdapPassw0rd!"
    answers = tmp_path / "answers.yaml"
    answers.write_text((ANSWERS / f"{RUNBOOK}.yaml").read_text().replace(
        "  restart: postgres\n", f"  restart: ['{password}', postgress, postgres]\n"))
    loop = crash_loop(console, runbooks / f"{RUNBOOK}.yaml", answers, [], run_extra=run_args())
    assert loop.closed and loop.outcome == "success", loop.tail()
    refused = [e.data["typed"] for e in loop.events if e.type == ev.STEP_CONFIRMATION_REFUSED]
    assert refused == ["[REDACTED]", "postgress"]
    assert leaks(console.journal().parent, [password]) == []


def test_a_resume_from_another_directory_names_the_store_it_looked_in(console: Console, tmp_path: Path) -> None:
    """The default record store is ./records: resumed from another directory, the change is not found, and the
    sentence says where the console looked and how to name the right store."""
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    env = {k: v for k, v in console.env().items() if k != "OPSCONSOLE_RECORDS"}
    done = subprocess.run([PY, "-m", "console.cli", "resume", "CHG-2026-0001", "--plain", "--kubeconfig",
                           str(console.kubeconfig)], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    said = (f"opsconsole: no change CHG-2026-0001 in {elsewhere / 'records'} (another record store: --records-dir or "
            "OPSCONSOLE_RECORDS)")
    assert done.stderr.strip().splitlines() == [said]

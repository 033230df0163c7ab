"""The refused-start log: written through ``refuse`` as a start would, read back, verified, listed by the CLI.

Every refusal here is written to a real file in the test's record store; damage is done the way a disk or a
person would do it (a flipped byte, a cut-short last line), and concurrent writers are real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.config import load_policy
from console.engine import policy as pol
from console.engine.admission import PolicyRefused, StartRequest
from console.engine.redact import Redactor
from console.engine.session import ChangeSession
from console.journal.audit import (
    REFUSED,
    RunbookId,
    log_path,
    read_refusals,
    record_refusal,
    refusal_rows,
    refuse,
    verify_refusals,
)
from console.journal.journal import GENESIS, JournalCorruptError, canonical, verify
from console.journal.store import RecordStore
from console.runbook.loader import load_runbook

REPO = Path(__file__).resolve().parents[2]

RUNBOOK = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata:
  id: rotate-token
  title: Rotate the web token
  component: web
  from: "1"
  to: "2"
  risk: low
  environments: [staging]
  owners: [platform]
why: The token expires.
scope: the web Secret
blast_radius: none
params:
  namespace: {type: string, default: web}
  token: {type: string, secret: true}
steps:
  - id: show
    kind: check
    run: [kubectl, get, secret, -n, "{namespace}", --token, "{token}"]
done_when: [the new token is in place]
"""

TOKEN = "s3cr3t-token-value"
TYPO = "also-a-secret-9"


class Clock:
    """A clock the test moves by hand (UTC)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


T0 = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    path = tmp_path / "rotate-token.yaml"
    path.write_text(RUNBOOK)
    return path


def request(runbook: Path, **kw: object) -> StartRequest:
    fields: dict = {
        "runbook_path": runbook, "environment": "production", "context": "prod-ctx", "operator": "alice",
        "params": {"namespace": "web", "token": TOKEN, "tokn": TYPO},
        "approvals": [pol.Approval("bob", "reviewer", "OPS-7")],
    }
    fields.update(kw)
    return StartRequest(**fields)  # type: ignore[arg-type]


VERDICTS = [
    pol.Verdict("context guard", True, "context 'prod-ctx' belongs to production"),
    pol.Verdict("runbook environments", False, "the runbook is for staging, not production"),
    pol.Verdict("change window", False, "outside the low-risk change window (sat 02:00-06:00 UTC)", True),
]


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


# -- writing -------------------------------------------------------------------------------------------------------


def test_refuse_appends_one_chained_fsynced_line_per_refusal(records_dir: Path, runbook: Path) -> None:
    store = RecordStore(records_dir)
    loaded = load_runbook(runbook)
    clock = Clock(T0)
    reason = "runbook environments: the runbook is for staging, not production"
    assert refuse(store, request(runbook), loaded, reason, VERDICTS, None, clock=clock, host="ops-1") is None
    assert refuse(store, request(runbook, operator="carol"), loaded, reason, VERDICTS, clock=clock, host="ops-1") is None

    path = records_dir / "refused" / "ops-1.jsonl"
    assert log_path(records_dir, "ops-1") == path
    first, second = lines_of(path)
    assert (first["seq"], first["prev"], first["type"]) == (1, GENESIS, REFUSED)
    assert (second["seq"], second["prev"]) == (2, first["hash"])
    assert first["ts"] == "2026-11-21T23:00:01.000000Z"
    assert first["data"] == {
        "operator": "alice",
        "host": "ops-1",
        "runbook": {"id": "rotate-token", "path": str(runbook.resolve()), "sha256": loaded.sha256},
        "environment": "production",
        "context": "prod-ctx",
        "reason": reason,
        "verdicts": [v.as_dict() for v in VERDICTS],
        "params": {"namespace": "web", "token": "[REDACTED]", "tokn": "[REDACTED]"},
        "approvals": [{"name": "bob", "role": "reviewer", "reference": "OPS-7"}],
        "emergency": False,
    }
    assert second["data"]["operator"] == "carol"
    # Each line is the journal's canonical form, so the journal's verifier vouches for the file.
    assert all(canonical(obj) == raw for obj, raw in zip(lines_of(path), path.read_bytes().splitlines(), strict=False))
    report = verify(path)
    assert (report.ok, report.events, report.head) == (True, 2, second["hash"])


def test_secrets_never_reach_the_log(records_dir: Path, runbook: Path) -> None:
    # The caller's redactor masks what policy patterns know; the parameter values refuse() masks itself, since
    # a redactor built before the parameters were resolved does not know them.
    redactor = Redactor((), [r"(ticket-)\d+"])
    reason = f"parameter token: {TOKEN} is rejected; password=hunter22 for ticket-4711 (typo {TYPO})"
    problem = refuse(RecordStore(records_dir), request(runbook), load_runbook(runbook), reason, VERDICTS,
                     redactor.redact, host="ops-1")
    assert problem is None
    raw = (records_dir / "refused" / "ops-1.jsonl").read_text()
    for secret in (TOKEN, TYPO, "hunter22", "4711"):
        assert secret not in raw
    [entry] = lines_of(records_dir / "refused" / "ops-1.jsonl")
    assert entry["data"]["reason"] == (
        "parameter token: [REDACTED] is rejected; password=[REDACTED] for ticket-[REDACTED] (typo [REDACTED])"
    )
    assert entry["data"]["params"] == {"namespace": "web", "token": "[REDACTED]", "tokn": "[REDACTED]"}


def test_a_runbook_that_does_not_load_is_recorded_by_path_and_hash_with_every_value_hidden(
    records_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("apiVersion: opsconsole/v1\nkind: [not, a, runbook\n")
    assert refuse(records_dir, request(bad), bad, f"{bad}: invalid YAML", host="ops-1") is None
    [entry] = lines_of(records_dir / "refused" / "ops-1.jsonl")
    import hashlib

    assert entry["data"]["runbook"] == {"id": None, "path": str(bad.resolve()),
                                        "sha256": hashlib.sha256(bad.read_bytes()).hexdigest()}
    # Which parameters are secret is unknown, so none is shown.
    assert set(entry["data"]["params"].values()) == {"[REDACTED]"}
    assert entry["data"]["verdicts"] == []
    # A runbook that is not there at all: no hash, still a record.
    gone = tmp_path / "gone.yaml"
    assert refuse(records_dir, request(gone), None, "no such runbook", host="ops-1") is None
    assert lines_of(records_dir / "refused" / "ops-1.jsonl")[1]["data"]["runbook"]["sha256"] is None


def test_the_verdicts_of_a_real_refused_start_are_recorded(records_dir: Path, runbook: Path, dead_kubeconfig: Path) -> None:
    store = RecordStore(records_dir)
    req = request(runbook, environment="rehearsal", context="rehearsal", kubeconfig=str(dead_kubeconfig),
                  params={"token": TOKEN})
    with pytest.raises(PolicyRefused) as refused:
        ChangeSession.start(req, store=store, policy=load_policy())
    # The session records its own refusal, once.
    [entry] = read_refusals(records_dir).entries
    assert entry.data["reason"] == "runbook environments: the runbook is for staging, not rehearsal"
    assert [v["name"] for v in entry.data["verdicts"]] == [v.name for v in refused.value.verdicts]
    assert {"name": "runbook environments", "ok": False, "message": "the runbook is for staging, not rehearsal",
            "overridable": False} in entry.data["verdicts"]
    assert entry.data["params"] == {"token": "[REDACTED]"}
    assert store.list_changes() == []  # a refused start still creates no change


def test_each_host_writes_its_own_file_and_the_reader_merges_them_newest_last(records_dir: Path, runbook: Path) -> None:
    loaded = load_runbook(runbook)
    times = {"ops-1": [T0, T0 + timedelta(minutes=2)], "ops-2": [T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)]}
    for host, when in times.items():
        for at in when:
            refuse(records_dir, request(runbook, operator=host), loaded, f"refused on {host}", clock=lambda at=at: at, host=host)
    assert sorted(p.name for p in (records_dir / "refused").iterdir()) == ["ops-1.jsonl", "ops-2.jsonl"]
    log = read_refusals(records_dir)
    assert log.problems == []
    assert [(r.field("host"), r.ts[11:16]) for r in log.entries] == [
        ("ops-1", "23:00"), ("ops-2", "23:01"), ("ops-1", "23:02"), ("ops-2", "23:03"),
    ]
    assert [(r.path.name, r.line) for r in log.entries] == [
        ("ops-1.jsonl", 1), ("ops-2.jsonl", 1), ("ops-1.jsonl", 2), ("ops-2.jsonl", 2),
    ]
    rows = refusal_rows(log.entries)
    assert rows[0] == ["TIME (UTC)", "HOST", "OPERATOR", "RUNBOOK", "ENVIRONMENT", "CONTEXT", "REASON"]
    assert rows[1] == ["2026-11-21 23:00:00", "ops-1", "ops-1", "rotate-token", "production", "prod-ctx", "refused on ops-1"]


WRITER = """
import sys
from pathlib import Path
from console.journal.audit import RunbookId, record_refusal
root, who, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(n):
    record_refusal(root, operator=who, environment="staging", context="stage-ctx",
                   runbook=RunbookId("rb", "/rb.yaml", None), reason=f"{who} {i}", host="shared")
"""


def test_concurrent_writers_on_one_host_keep_one_intact_chain(records_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(records_dir), f"w{k}", "15"], env=env)
        for k in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    path = records_dir / "refused" / "shared.jsonl"
    report = verify(path)
    assert report.ok, report
    assert report.events == 60
    reasons = sorted(r.field("reason") for r in read_refusals(records_dir).entries)
    assert reasons == sorted(f"w{k} {i}" for k in range(4) for i in range(15))


# -- damage ----------------------------------------------------------------------------------------------------------


def three_refusals(records_dir: Path, runbook: Path) -> Path:
    loaded = load_runbook(runbook)
    clock = Clock(T0)
    for who in ("alice", "bob", "carol"):
        assert refuse(records_dir, request(runbook, operator=who), loaded, f"refused {who}", clock=clock, host="ops-1") is None
    return records_dir / "refused" / "ops-1.jsonl"


def test_a_tampered_line_is_named_by_file_and_line(records_dir: Path, runbook: Path) -> None:
    path = three_refusals(records_dir, runbook)
    raw = path.read_bytes()
    # Someone changes who was refused on line 2.
    path.write_bytes(raw.replace(b'"operator":"bob"', b'"operator":"eve"'))
    log = read_refusals(records_dir)
    assert [r.field("operator") for r in log.entries] == ["alice"]  # nothing past the bad line is vouched for
    assert log.problems == [f"{path}:2: hash does not match its content"]
    [(checked, report)] = verify_refusals(records_dir)
    assert checked == path and not report.ok and str(report.first) == "line 2: hash does not match its content"
    # A damaged log is not appended to: the refusal comes back as a sentence saying so.
    with pytest.raises(JournalCorruptError):
        record_refusal(records_dir, operator="dan", environment="staging", context="stage-ctx",
                       runbook=RunbookId(None, "/x.yaml", None), reason="x", host="ops-1")
    problem = refuse(records_dir, request(runbook), runbook, "refused dan", host="ops-1")
    assert problem == f"the refusal could not be recorded in {path}: {path}: line 2: hash does not match its content"
    assert path.read_bytes() == raw.replace(b'"operator":"bob"', b'"operator":"eve"')


def test_a_removed_line_breaks_the_chain_at_the_next(records_dir: Path, runbook: Path) -> None:
    path = three_refusals(records_dir, runbook)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    assert read_refusals(records_dir).problems == [f"{path}:2: seq is 3, expected 2"]


def test_a_torn_last_line_is_kept_in_the_chain_and_logging_goes_on(records_dir: Path, runbook: Path) -> None:
    path = three_refusals(records_dir, runbook)
    torn = path.read_bytes().splitlines(keepends=True)[0][:40]
    with open(path, "ab") as f:
        f.write(torn)  # a power cut in the middle of a fourth write
    assert read_refusals(records_dir).problems == [f"{path}:4: no trailing newline (40 bytes): the last write was cut short"]
    assert refuse(records_dir, request(runbook, operator="dan"), runbook, "refused dan", host="ops-1") is None
    report = verify(path)
    assert report.ok and report.warnings == ["line 4: torn write of 40 bytes, recorded by the journal.torn_tail event on line 5"]
    log = read_refusals(records_dir)
    assert log.problems == []
    assert [(r.field("operator"), r.line) for r in log.entries] == [("alice", 1), ("bob", 2), ("carol", 3), ("dan", 6)]


# -- the CLI ---------------------------------------------------------------------------------------------------------


def opsconsole(*args: str, records: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSCONSOLE_RECORDS": str(records), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "console.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_records_list_refused_prints_a_table_newest_last(records_dir: Path, runbook: Path) -> None:
    loaded = load_runbook(runbook)
    for host, minute, who in (("ops-2", 5, "carol"), ("ops-1", 1, "alice"), ("ops-2", 3, "bob")):
        at = T0 + timedelta(minutes=minute)
        refuse(records_dir, request(runbook, operator=who), loaded, f"change window: refused {who}",
               clock=lambda at=at: at, host=host)
    result = opsconsole("records", "list", "--refused", records=records_dir)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TIME", "(UTC)", "HOST", "OPERATOR", "RUNBOOK", "ENVIRONMENT", "CONTEXT", "REASON"]
    assert lines[1] == "2026-11-21 23:01:00  ops-1  alice     rotate-token  production   prod-ctx  change window: refused alice"
    assert [ln.split()[3] for ln in lines[1:]] == ["alice", "bob", "carol"]
    # --json: one object per refusal, every verdict and where it is.
    result = opsconsole("records", "list", "--refused", "--json", records=records_dir)
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["operator"], o["ts"], o["log"].rsplit("/", 1)[1], o["line"]) for o in objs] == [
        ("alice", "2026-11-21T23:01:00.000000Z", "ops-1.jsonl", 1),
        ("bob", "2026-11-21T23:03:00.000000Z", "ops-2.jsonl", 2),
        ("carol", "2026-11-21T23:05:00.000000Z", "ops-2.jsonl", 1),
    ]
    # The ordinary listing is unchanged: the refused log is not a change.
    result = opsconsole("records", "list", records=records_dir)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == f"no changes in {records_dir}\n"


def test_records_list_refused_on_an_empty_store(records_dir: Path) -> None:
    result = opsconsole("records", "list", "--refused", records=records_dir)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", f"no refused starts in {records_dir}\n")


def test_records_list_refused_shows_what_can_be_read_and_fails_on_damage(records_dir: Path, runbook: Path) -> None:
    path = three_refusals(records_dir, runbook)
    path.write_bytes(path.read_bytes().replace(b'"operator":"carol"', b'"operator":"mallory"'))
    result = opsconsole("records", "list", "--refused", records=records_dir)
    assert result.returncode == 1
    assert [ln.split()[3] for ln in result.stdout.splitlines()[1:]] == ["alice", "bob"]
    assert result.stderr == (
        f"opsconsole: {path}:3: hash does not match its content (later entries of that log are not shown)\n"
    )


def test_records_verify_covers_the_refused_logs(records_dir: Path, runbook: Path) -> None:
    path = three_refusals(records_dir, runbook)
    head = verify(path).head
    result = opsconsole("records", "verify", records=records_dir)
    assert (result.returncode, result.stdout) == (0, f"refused/ops-1.jsonl: ok (3 entries, head {head})\n")
    path.write_bytes(path.read_bytes().replace(b"refused bob", b"refused Bob"))
    result = opsconsole("records", "verify", records=records_dir)
    assert (result.returncode, result.stdout) == (1, "refused/ops-1.jsonl:2: hash does not match its content\n")

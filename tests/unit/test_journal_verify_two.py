"""Verifying a long journal in two processes says exactly what one process says, whatever the damage.

The forked half runs only in a process with one thread, so each check runs in a fresh interpreter (a test worker
has more); there it compares the two-process verdict with the one-process and the full-path verdicts of many edits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r'''
import hashlib, json, pickle, random, sys, threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from console.journal import verify as V
from console.journal.journal import Journal

base = Path(sys.argv[1])
cases = int(sys.argv[2])
assert threading.active_count() == 1 and V._may_fork()
V._spare_cpu = lambda: True  # a shared machine's load must not send this check down the one-process path
cast = b'{"version": 2}\n'
(base / "outputs").mkdir()
(base / "outputs" / "a.cast").write_bytes(cast)
ticks = iter(range(10_000))
start = datetime(2026, 11, 21, 23, 20, 55, tzinfo=UTC)
path = base / "journal.jsonl"
journal = Journal.create(path, clock=lambda: start + timedelta(seconds=next(ticks)))
for n in range(40):
    ref = {"path": "outputs/a.cast" if n % 3 else "outputs/gone.cast", "sha256": hashlib.sha256(cast).hexdigest()}
    journal.append("step.finished", {"step_id": f"s{n}", "duration_s": 1.5 + n, "note": "Zoë \"q\"", "file": ref})
journal.append("change.closed", {"outcome": "success"})
journal.append("addendum.added", {"author": "ops", "text": "later"})
journal.close()
intact = path.read_bytes()
head = json.loads(intact.split(b"\n")[30])["hash"]

taken = 0
loads = pickle.loads
def counting_loads(data):
    global taken
    taken += 1
    return loads(data)
V.pickle.loads = counting_loads

def verdicts(raw):
    """In two processes, in one, in one reading runs of 5 lines (so a half is several runs), and line by line."""
    path.write_bytes(raw)
    out = []
    for lines, fast, run in ((8, True, 1000), (8, True, 5), (10**9, True, 1000), (10**9, True, 5), (10**9, False, 1000)):
        V.PARALLEL_LINES, V.RUN_LINES = lines, run
        saved = V._fast_fields, V.batch.take
        if not fast:
            V._fast_fields = lambda b: None
            V.batch.take = lambda *args, **kwargs: None
        try:
            out.append((V.verify(path), V.verify(path, head=head)))
        finally:
            V._fast_fields, V.batch.take = saved
    return out

rng = random.Random(7)
mismatches = []
for case in range(cases):
    raw = intact
    if case:
        at = rng.randrange(len(intact))
        how = rng.choice(["flip", "delete", "insert", "truncate", "swap"])
        if how == "flip":
            raw = intact[:at] + bytes([intact[at] ^ rng.randrange(1, 256)]) + intact[at + 1:]
        elif how == "delete":
            raw = intact[:at] + intact[at + 1:]
        elif how == "insert":
            raw = intact[:at] + bytes([rng.randrange(256)]) + intact[at:]
        elif how == "truncate":
            raw = intact[:at]
        else:
            lines = intact.split(b"\n")
            i = rng.randrange(len(lines) - 2)
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
            raw = b"\n".join(lines)
    two, *others = verdicts(raw)
    if any(other != two for other in others):
        mismatches.append(case)
# Each line re-chained to a wrong prev with a hash of its own that matches: only the link to the line before is wrong,
# which at the halves' seam only the parent can see.
from console.journal.chain import Event, event_hash
lines = intact.split(b"\n")
for i in range(len(lines) - 1):
    e = json.loads(lines[i])
    prev = hashlib.sha256(b"elsewhere").hexdigest()
    forged = Event(e["seq"], e["ts"], e["type"], e["data"], prev, event_hash(e["seq"], e["ts"], e["type"], e["data"], prev))
    raw = b"\n".join(lines[:i] + [forged.to_line()[:-1]] + lines[i + 1:])
    two, *others = verdicts(raw)
    if any(other != two for other in others) or two[0].ok:
        mismatches.append(f"forged {i}")
# A recovered torn tail (its record keeps verify in one process), and the last line cut at many lengths.
torn = b"\n".join(lines[:30]) + b"\n" + lines[30][:40]
path.write_bytes(torn)
Journal.recover_torn_tail(path).close()
recovered = path.read_bytes()
two, *others = verdicts(recovered)
if any(other != two for other in others) or {p.kind for p in two[0].problems} != {"file"} or not two[0].warnings:
    mismatches.append("torn")
for cut in sorted({*range(0, len(lines[-2]), 11), len(lines[-2]) - 1, len(lines[-2])}):
    two, *others = verdicts(b"\n".join(lines[:-2]) + b"\n" + lines[-2][:cut])
    if any(other != two for other in others):
        mismatches.append(f"cut {cut}")
print(json.dumps({"cases": cases, "mismatches": mismatches, "child_taken": taken,
                  "missing_output_found": verdicts(intact)[0][0].first.kind == "file"}))
'''


def test_two_processes_give_one_process_verdicts(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), "80"], env=env, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["mismatches"] == []
    # The child's half was used (each call forks once; an edit in the first half leaves it unused), and the
    # journal's one missing output is found either way.
    assert result["child_taken"] >= 80 and result["missing_output_found"]

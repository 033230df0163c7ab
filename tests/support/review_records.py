"""Change records for the review tests, written with the real API at fixed times.

``RecordStore.create_change`` makes each directory, ``Journal.create(..., clock=...)`` the journal with a clock the
builder moves, and ``CastWriter`` (with explicit ``at=`` times and a fixed start) each command's output, whose
SHA-256 goes into the ``step.finished`` event. Same inputs, same bytes: snapshots of these records are stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.journal import events as ev
from console.journal.cast import CastWriter
from console.journal.journal import Journal
from console.journal.store import ChangeRef, RecordStore


@dataclass
class FixedClock:
    """A clock that says ``now`` until told otherwise."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


class ChangeBuilder:
    """Writes one change: events at offsets (seconds) from ``start``, and real cast files for command output."""

    def __init__(self, store: RecordStore, *, start: datetime, component: str, from_version: str, to_version: str,
                 risk: str, environment: str, operator: str, title: str, emergency: bool = False) -> None:
        self.store = store
        self.start = start
        self.ref: ChangeRef = store.create_change(component=component, from_version=from_version,
                                                  to_version=to_version, when=start)
        self.clock = FixedClock(start)
        self.journal = Journal.create(store.journal_path(self.ref), clock=self.clock)
        self.at(0, ev.CHANGE_CREATED, {
            "change_id": self.ref.change_id,
            "runbook": {"id": f"{component}-upgrade", "title": title, "component": component, "from": from_version,
                        "to": to_version, "risk": risk, "path": f"runbooks/{component}-upgrade.yaml", "sha256": "ab" * 32},
            "environment": environment, "context": f"{environment}-eu-1", "operator": operator,
            "description": f"Upgrade {component} from {from_version} to {to_version}.",
            "scope": f"{component} Deployment", "blast_radius": f"{component} requests during the restart",
            "emergency": emergency, "host": "review-laptop",
        })

    def at(self, seconds: float, type: str, data: dict) -> None:
        self.clock.now = self.start + timedelta(seconds=seconds)
        self.journal.append(type, data)

    def run(self, section: str, step_id: str, *, start_s: float, duration_s: float, command: str = "",
            lines: list[tuple[float, str]] | None = None, status: str = "passed", exit_code: int = 0,
            title: str = "") -> None:
        """step.started, a cast file with ``lines`` (offset, text) if any, step.finished ``duration_s`` later."""
        self.at(start_s, ev.STEP_STARTED, {"section": section, "step_id": step_id, "title": title or step_id,
                                           "kind": "command", "command": command, "argv": command.split(), "attempt": 1})
        finished = {"section": section, "step_id": step_id, "status": status, "exit_code": exit_code,
                    "duration_s": duration_s, "reason": "" if status == "passed" else f"exit code {exit_code}"}
        if lines is not None:
            path = self.store.next_output_path(self.ref, step_id)
            writer = CastWriter(path, started=self.start + timedelta(seconds=start_s), command=command,
                                title=f"{section} {step_id}", clock=lambda: 0.0)
            for offset, text in lines:
                writer.write(text, at=offset)
            writer.marker(f"exit {exit_code}", at=duration_s)
            sha = writer.close()
            finished["file"] = {"path": path.relative_to(self.ref.path).as_posix(), "sha256": sha}
        self.at(start_s + duration_s, ev.STEP_FINISHED, finished)

    def close(self, seconds: float, outcome: str, *, followups: list[str] | None = None) -> None:
        self.at(seconds, ev.CHANGE_CLOSED, {"outcome": outcome, "followups": followups or [],
                                            "signoff": {"name": "carol", "role": "change-manager"}})
        self.journal.close()


T0 = datetime(2026, 11, 2, 22, 0, 0, tzinfo=UTC)


def web_success(store: RecordStore) -> ChangeRef:
    """CHG-2026-0001: a clean medium-risk change in production."""
    b = ChangeBuilder(store, start=T0, component="web", from_version="1.4.2", to_version="1.5.0", risk="medium",
                      environment="production", operator="alice", title="Point web at the in-cluster Ollama service")
    b.at(1, ev.PARAMS_SET, {"params": {"namespace": "web", "token": "[REDACTED]"}})
    b.at(5, ev.APPROVAL_RECORDED, {"name": "bob", "role": "reviewer", "reference": "OPS-1234"})
    b.run("precondition", "backup", start_s=10, duration_s=2.5, command="kubectl get all -n web -o yaml",
          lines=[(0.1, "apiVersion: v1\r\n"), (0.4, "kind: List\r\n"), (2.0, "items: []\r\n")])
    b.run("gate", "nodes-ready", start_s=20, duration_s=1.0, command="kubectl wait --for=condition=Ready nodes --all",
          lines=[(0.5, "node/worker-1 condition met\r\nnode/worker-2 condition met\r\n")])
    b.run("step", "restart", start_s=30, duration_s=3.0, command="kubectl rollout restart deployment/web -n web",
          lines=[(0.2, "deployment.apps/web restarted\r\n")])
    b.run("step", "wait", start_s=40, duration_s=95.0, command="kubectl rollout status deployment/web -n web",
          lines=[(0.1, "Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are available...\r\n"),
                 (0.3, "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...\r\n"),
                 (0.6, "deployment \"web\" successfully rolled out\r\n")])
    b.run("verification", "health", start_s=150, duration_s=1.5, command="kubectl exec deploy/web -- wget -qO- localhost:8080/health",
          lines=[(0.3, "{\"status\":\"ok\"}\r\n")])
    b.close(180, "success", followups=["remove the old endpoint from the docs"])
    return b.ref


def api_rolled_back(store: RecordStore) -> ChangeRef:
    """CHG-2026-0002: a high-risk emergency change that broke glass, failed and rolled back."""
    b = ChangeBuilder(store, start=T0 + timedelta(days=8), component="api", from_version="2.0.0", to_version="2.1.0",
                      risk="high", environment="production", operator="bob", title="Upgrade the API", emergency=True)
    b.at(3, ev.APPROVAL_RECORDED, {"name": "carol", "role": "change-manager", "reference": "CAB-77"})
    b.at(4, ev.BREAKGLASS_RECORDED, {"reason": "customer outage needs the fix now", "approver": "dave",
                                    "what": "change window", "step_id": "migrate"})
    b.run("step", "migrate", start_s=10, duration_s=40.0, command="kubectl apply -f migrate-job.yaml", status="failed",
          exit_code=1, lines=[(0.5, "job.batch/migrate created\r\n"), (35.0, "error: timed out waiting for the condition\r\n")])
    b.at(55, ev.FAILURE_CHOICE, {"section": "step", "step_id": "migrate", "choice": "rollback", "by": "bob"})
    b.at(56, ev.ROLLBACK_STARTED, {"reason": "migrate failed", "steps": ["undo"]})
    b.run("rollback", "undo", start_s=57, duration_s=20.0, command="kubectl rollout undo deployment/api -n api",
          lines=[(0.3, "deployment.apps/api rolled back\r\n")])
    b.at(80, ev.ROLLBACK_FINISHED, {"status": "done", "failed_step": None})
    b.close(120, "rolled_back", followups=["fix the migration's timeout"])
    return b.ref


def db_in_progress(store: RecordStore) -> ChangeRef:
    """CHG-2026-0003: a critical change in staging, still open."""
    b = ChangeBuilder(store, start=T0 + timedelta(days=20), component="db", from_version="13", to_version="14",
                      risk="critical", environment="staging", operator="carol", title="Upgrade Postgres")
    b.run("precondition", "dump", start_s=5, duration_s=60.0, command="pg_dump -Fc app", lines=[(1.0, "dumped 12 tables\r\n")])
    b.journal.close()
    return b.ref


def web_patch(store: RecordStore) -> ChangeRef:
    """CHG-2026-0004: a small low-risk change in staging."""
    b = ChangeBuilder(store, start=T0 + timedelta(days=22), component="web", from_version="1.5.0", to_version="1.5.1",
                      risk="low", environment="staging", operator="alice", title="Patch web")
    b.run("step", "restart", start_s=5, duration_s=2.0, command="kubectl rollout restart deployment/web -n web",
          lines=[(0.2, "deployment.apps/web restarted\r\n")])
    b.close(30, "success")
    return b.ref


def build_sample_store(root: Path) -> dict[str, ChangeRef]:
    """Four changes across three weeks of November 2026."""
    store = RecordStore(root)
    return {"web": web_success(store), "api": api_rolled_back(store), "db": db_in_progress(store),
            "patch": web_patch(store)}


def tamper_line(journal: Path, line: int, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` (same length) in one journal line: what an after-the-fact edit looks like."""
    assert len(old) == len(new)
    lines = journal.read_bytes().split(b"\n")
    assert old in lines[line - 1], (old, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    journal.write_bytes(b"\n".join(lines))
